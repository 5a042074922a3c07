"""Cutting documents into chunks: by tokens with overlap, and Markdown-heading aware.

A chunk is always an exact slice of its document's text (``start``/``end`` are
character offsets), so what was retrieved can be shown in context. Token spans come
from a [`Tokenizer`][tunewise.retrieval.Tokenizer]; the default splits words and punctuation with a regex, which
is fast and dependency-free and tracks subword counts closely enough for sizing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tunewise.retrieval._documents import Document, MetadataValue


@dataclass(frozen=True)
class Chunk:
    """A passage cut from a document, ready to embed and index.

    ``id`` is a content hash of (path, source, position, text): ingesting the same
    corpus twice yields the same ids, and a changed document yields new ones.
    """

    id: str
    text: str
    source: str
    path: str
    index: int
    start: int
    end: int
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


def chunk_id(path: str, source: str, index: int, text: str) -> str:
    """The content-hash id of a chunk (32 hex digits of SHA-256)."""
    digest = hashlib.sha256()
    for part in (path, source, str(index), text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


@runtime_checkable
class Tokenizer(Protocol):
    """Splits text into token spans (character offsets into the text)."""

    def spans(self, text: str) -> list[tuple[int, int]]: ...


class RegexTokenizer:
    """Words, numbers and single punctuation marks as tokens."""

    _TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._TOKEN.finditer(text)]


class HuggingFaceTokenizer:
    """Token spans from a Hugging Face tokenizer (size chunks by the embedder's own tokens).

    ``name_or_path`` is a local directory (loaded offline), e.g. the MiniLM model path.
    """

    def __init__(self, name_or_path: str) -> None:
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)

    def spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self._tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(s), int(e)) for s, e in encoded["offset_mapping"] if e > s]


@runtime_checkable
class Chunker(Protocol):
    """Cuts one document into chunks."""

    def chunk(self, document: Document) -> list[Chunk]: ...


def _base_metadata(document: Document) -> dict[str, MetadataValue]:
    meta: dict[str, MetadataValue] = dict(document.metadata)
    meta.update({"source": document.source, "path": document.path, "kind": document.kind})
    if document.title:
        meta["title"] = document.title
    return meta


def windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Token index ranges ``[start, end)`` of ``size`` tokens, each overlapping the last by ``overlap``."""
    if size < 1:
        raise ValueError("chunk size must be at least 1 token")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and smaller than the chunk size")
    if n_tokens == 0:
        return []
    out = []
    start = 0
    step = size - overlap
    while True:
        end = min(start + size, n_tokens)
        out.append((start, end))
        if end >= n_tokens:
            return out
        start += step


class TokenChunker:
    """Fixed-size windows of ``size`` tokens overlapping by ``overlap`` tokens."""

    def __init__(self, size: int = 200, overlap: int = 40, tokenizer: Tokenizer | None = None) -> None:
        windows(1, size, overlap)  # validates the numbers up front
        self.size = size
        self.overlap = overlap
        self.tokenizer = tokenizer or RegexTokenizer()

    def _cut(
        self, document: Document, text: str, offset: int, first_index: int, extra: dict[str, MetadataValue]
    ) -> list[Chunk]:
        spans = self.tokenizer.spans(text)
        base = _base_metadata(document) | extra
        chunks = []
        for i, (a, b) in enumerate(windows(len(spans), self.size, self.overlap), start=first_index):
            start, end = offset + spans[a][0], offset + spans[b - 1][1]
            piece = document.text[start:end]
            meta = base | {"chunk_index": i, "start": start, "end": end}
            chunks.append(
                Chunk(
                    chunk_id(document.path, document.source, i, piece),
                    piece,
                    document.source,
                    document.path,
                    i,
                    start,
                    end,
                    meta,
                )
            )
        return chunks

    def chunk(self, document: Document) -> list[Chunk]:
        return self._cut(document, document.text, 0, 0, {})


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[tuple[int, int, list[str]]]:
    """``(start, end, heading path)`` for each section of a Markdown text; fenced code is not split."""
    sections: list[tuple[int, int, list[str]]] = []
    path: list[str] = []
    start = 0
    current: list[str] = []
    in_fence = False
    pos = 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line.rstrip("\r\n"))
        if match:
            if text[start:pos].strip():
                sections.append((start, pos, list(current)))
            level = len(match.group(1))
            path = [*path[: level - 1], match.group(2).strip()]
            current = [p for p in path if p]
            start = pos
        pos += len(line)
    if text[start:].strip():
        sections.append((start, len(text), list(current)))
    return sections


class MarkdownChunker(TokenChunker):
    """Splits at headings first, then windows long sections by tokens.

    A chunk never straddles two sections; each carries its heading path as ``section``
    metadata (``Setup > Wiring``).
    """

    def chunk(self, document: Document) -> list[Chunk]:
        if document.kind != "markdown":
            return super().chunk(document)
        chunks: list[Chunk] = []
        for start, end, headings in markdown_sections(document.text):
            extra: dict[str, MetadataValue] = {"section": " > ".join(headings)} if headings else {}
            chunks.extend(self._cut(document, document.text[start:end], start, len(chunks), extra))
        return chunks


def chunk_documents(documents: Sequence[Document], chunker: Chunker | None = None) -> list[Chunk]:
    """All chunks of ``documents`` in order (Markdown-aware token chunking by default)."""
    chunker = chunker or MarkdownChunker()
    return [chunk for document in documents for chunk in chunker.chunk(document)]
