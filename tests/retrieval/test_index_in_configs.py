"""A strategy config can point at an existing tunewise.retrieval Index (``type = "index"``)."""

from pathlib import Path

import pytest

from tunewise import ConfigError
from tunewise.retrieval import Index
from tunewise.strategies import build_strategy


@pytest.mark.anyio
async def test_rag_strategy_over_an_index_from_config(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "refunds.md").write_text("# Refunds\n\nRefunds are possible within 14 days of purchase.\n")
    (kb / "sso.md").write_text("# Single sign-on\n\nSSO needs a verified domain and a DNS TXT record.\n")
    # scripted:hashing-64 is the scripted provider's deterministic hashing embedder: no model to load
    index = Index.open(tmp_path / "idx", "support-kb", embedder="scripted:hashing-64")
    await index.add(kb)

    spec = {
        "type": "rag",
        "model": "scripted:echo",
        "retriever": {
            "type": "index",
            "location": "idx",
            "collection": "support-kb",
            "embedder": "scripted:hashing-64",
        },
        "k": 1,
    }
    strategy = build_strategy(spec, base_dir=tmp_path)
    answer = await strategy.respond("within how many days are refunds possible")
    assert len(answer.hits) == 1
    assert answer.hits[0].source == "refunds.md"  # relative to the ingested folder
    sent = "\n".join(m.content or "" for m in answer.requests[0].messages)
    assert "within 14 days of purchase" in sent

    with pytest.raises(ConfigError, match=r"unknown keys \['colection'\]"):
        build_strategy({**spec, "retriever": {"type": "index", "colection": "kb"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="mode must be hybrid, dense or bm25"):
        build_strategy({**spec, "retriever": {"type": "index", "mode": "fuzzy"}}, base_dir=tmp_path)
