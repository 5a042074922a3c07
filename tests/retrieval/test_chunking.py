import itertools

from hypothesis import given
from hypothesis import strategies as st

from tunewise.retrieval import Document, MarkdownChunker, RegexTokenizer, TokenChunker, chunk_documents
from tunewise.retrieval._chunking import markdown_sections, windows


def doc(text: str, kind: str = "text") -> Document:
    return Document(text=text, source="/kb/a.md", path="/kb/a.md", kind=kind, metadata={"lang": "en"})  # type: ignore[arg-type]


@given(n=st.integers(0, 400), size=st.integers(1, 50), data=st.data())
def test_windows_cover_every_token_with_the_given_overlap(n: int, size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    spans = windows(n, size, overlap)
    covered = set()
    for start, end in spans:
        assert 0 < end - start <= size
        covered.update(range(start, end))
    assert covered == set(range(n))
    for (_, a1), (b0, _) in itertools.pairwise(spans):
        assert a1 - b0 == overlap


def test_token_chunks_are_exact_slices_with_stable_ids() -> None:
    text = " ".join(f"word{i}" for i in range(25))
    chunks = TokenChunker(size=10, overlap=3).chunk(doc(text))
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.metadata["lang"] == "en" and c.metadata["start"] == c.start and c.metadata["path"] == "/kb/a.md"
    assert chunks[1].text.startswith("word7 ")  # 3 tokens of overlap
    again = TokenChunker(size=10, overlap=3).chunk(doc(text))
    assert [c.id for c in again] == [c.id for c in chunks]
    changed = TokenChunker(size=10, overlap=3).chunk(doc(text.replace("word20", "changed")))
    assert [a.id == b.id for a, b in zip(chunks, changed, strict=True)] == [True, True, False, True]


def test_markdown_chunks_follow_headings_and_ignore_fenced_hashes() -> None:
    text = "# Setup\nIntro.\n## Wiring\nUse R and C.\n```\n# not a heading\n```\n## Wi-Fi\nHold the dial.\n"
    sections = markdown_sections(text)
    assert [h for _, _, h in sections] == [["Setup"], ["Setup", "Wiring"], ["Setup", "Wi-Fi"]]
    chunks = MarkdownChunker(size=50, overlap=5).chunk(doc(text, "markdown"))
    assert [c.metadata["section"] for c in chunks] == ["Setup", "Setup > Wiring", "Setup > Wi-Fi"]
    assert chunks[1].text == "## Wiring\nUse R and C.\n```\n# not a heading\n```"
    assert "".join(text[c.start : c.end] for c in chunks).replace("\n", "") == text.replace("\n", "")


def test_chunk_documents_uses_markdown_chunker_by_default() -> None:
    chunks = chunk_documents([doc("# A\nx\n# B\ny", "markdown"), doc("plain text")])
    assert [c.text for c in chunks] == ["# A\nx", "# B\ny", "plain text"]


def test_bad_sizes_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="overlap"):
        TokenChunker(size=10, overlap=10)
    assert RegexTokenizer().spans("a, b") == [(0, 1), (1, 2), (3, 4)]
