"""Documents and the loaders that read them from Markdown, text, HTML, JSONL and CSV files.

A [`Document`][tunewise.retrieval.Document] is one unit of source text (a file, or one row of a JSONL/CSV file)
with the metadata that travels with every chunk cut from it. Loaders never guess
silently: a malformed row is a one-line [`DataError`][tunewise.DataError] naming file, line
and field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from tunewise._errors import DataError
from tunewise._jsonl import iter_jsonl_objects

MetadataValue = str | int | float | bool
Kind = Literal["markdown", "text", "html", "record"]

_SUFFIX_KIND: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".csv": "csv",
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_SUFFIX_KIND)
"""File name endings the loaders read; a directory walk skips everything else."""


@dataclass(frozen=True)
class Document:
    """One piece of source text and where it came from.

    ``path`` is the absolute path of the file it was read from (the unit that is replaced
    or removed when the file changes; it stays on the machine that ingests). ``source`` is
    the name the document is cited by, safe to show a client: the file's path relative to
    the directory it was ingested from (its file name when given on its own), plus
    ``#id`` for a row of a JSONL or CSV file.
    """

    text: str
    source: str
    path: str
    kind: Kind = "text"
    title: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a JSONL/CSV record hold the text, the id and the metadata.

    ``text`` may name several fields; they are joined with blank lines. ``metadata=None``
    keeps every other scalar field as metadata; a list keeps only those.
    """

    text: str | Sequence[str] = "text"
    id: str | None = None
    title: str | None = None
    metadata: Sequence[str] | None = None

    @property
    def text_fields(self) -> tuple[str, ...]:
        return (self.text,) if isinstance(self.text, str) else tuple(self.text)


def clean_metadata(raw: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Metadata a vector store accepts: scalars kept, ``None`` dropped, the rest as JSON."""
    out: dict[str, MetadataValue] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, str | int | float | bool):
            out[str(key)] = value
        else:
            out[str(key)] = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path=path) from None


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# "):
            return stripped[2:].strip() or None
    return None


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, with block elements turned into line breaks."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        elif not self._skip_depth:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def _record_document(record: Mapping[str, Any], fields: FieldMap, path: Path, source: str, line: int) -> Document:
    pieces = []
    for name in fields.text_fields:
        if name not in record:
            raise DataError("missing text field", path=path, line=line, field=name)
        value = record[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError("empty text", path=path, line=line, field=name)
        pieces.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    if fields.id is not None:
        if record.get(fields.id) in (None, ""):
            raise DataError("missing id", path=path, line=line, field=fields.id)
        doc_id = str(record[fields.id])
    else:
        doc_id = f"L{line}"
    used = {*fields.text_fields, fields.id, fields.title}
    if fields.metadata is None:
        meta = {k: v for k, v in record.items() if k not in used and isinstance(v, str | int | float | bool)}
    else:
        missing = [name for name in fields.metadata if name not in record]
        if missing:
            raise DataError("missing metadata field", path=path, line=line, field=missing[0])
        meta = {name: record[name] for name in fields.metadata}
    title = str(record[fields.title]) if fields.title and record.get(fields.title) else None
    return Document(
        text="\n\n".join(pieces),
        source=f"{source}#{doc_id}",
        path=path.as_posix(),
        kind="record",
        title=title,
        metadata=clean_metadata({**meta, "row": line}),
    )


def _load_jsonl(path: Path, fields: FieldMap, name: str) -> Iterator[Document]:
    for number, record in iter_jsonl_objects(path):
        yield _record_document(record, fields, path, name, number)


def _load_csv(path: Path, fields: FieldMap, name: str) -> Iterator[Document]:
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    for name in fields.text_fields:
        if name not in header:
            raise DataError(f"no such column (columns: {', '.join(header)})", path=path, line=1, field=name)
    for record in reader:
        # line_num counts physical lines read so far, which is this record's last line.
        yield _record_document(record, fields, path, name, reader.line_num)


def load_file(path: str | Path, fields: FieldMap | None = None, *, source: str | None = None) -> list[Document]:
    """The documents in one file, chosen by its suffix (``.md``, ``.txt``, ``.html``, ``.jsonl``, ``.csv``).

    ``source`` is the name they are cited by (default: the file name); ingestion passes
    the path relative to the directory being ingested.
    """
    file = Path(path).resolve()
    name = source if source is not None else file.name
    kind = _SUFFIX_KIND.get(file.suffix.lower())
    if kind is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DataError(f"unsupported file type {file.suffix or '(none)'!r}; supported: {supported}", path=file)
    if not file.is_file():
        raise DataError("no such file", path=file)
    if kind == "jsonl":
        return list(_load_jsonl(file, fields or FieldMap(), name))
    if kind == "csv":
        return list(_load_csv(file, fields or FieldMap(), name))
    raw = _read_text(file)
    if kind == "html":
        parser = _HTMLText()
        parser.feed(raw)
        parser.close()
        text, title = parser.text(), parser.title
    else:
        text, title = raw, _markdown_title(raw) if kind == "markdown" else None
    if not text.strip():
        return []
    doc_kind: Kind = "markdown" if kind == "markdown" else "html" if kind == "html" else "text"
    return [Document(text=text, source=name, path=file.as_posix(), kind=doc_kind, title=title)]


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Files to ingest: given files as they are, directories walked for supported suffixes.

    Hidden files and directories are skipped; the result is sorted and free of repeats.
    """
    return list(discover_sources(paths))


def discover_sources(paths: Iterable[str | Path], skipped: dict[str, int] | None = None) -> dict[Path, str]:
    """[`discover()`][tunewise.retrieval.discover]'s files, each with the name its documents are cited by.

    That name is its path relative to the directory given (its file name when the file itself was given).

    ``skipped``, when given, receives the number of files a directory walk passed over
    because no loader reads them, by extension (``{".pdf": 2, "(none)": 1}``); hidden files
    are not counted.
    """
    found: dict[Path, str] = {}
    for item in paths:
        root = Path(item).resolve()
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                rel = file.relative_to(root).parts
                if not file.is_file() or any(p.startswith(".") for p in rel):
                    continue
                suffix = file.suffix.lower()
                if suffix in SUPPORTED_SUFFIXES:
                    found.setdefault(file, "/".join(rel))
                elif skipped is not None:
                    skipped[suffix or "(none)"] = skipped.get(suffix or "(none)", 0) + 1
        elif root.exists():
            found.setdefault(root, root.name)
        else:
            raise DataError("no such file or directory", path=root)
    return found
