"""``tunewise index``: add files to a knowledge base, query it, inspect it, remove from it.

Heavy libraries (chromadb, sentence-transformers, bm25s) load inside the commands, so
``tunewise --help`` stays fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import typer

from tunewise._errors import ConfigError
from tunewise.cli._output import print_json

if TYPE_CHECKING:
    from tunewise.retrieval import Index

index_app = typer.Typer(
    name="index",
    help="Build and search knowledge bases (Chroma vectors + BM25, hybrid search).",
    no_args_is_help=True,
)

Collection = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
PathOpt = Annotated[
    Path | None, typer.Option("--path", help="Index directory (default: <home>/indexes).", file_okay=False)
]
UrlOpt = Annotated[str | None, typer.Option("--url", help="A Chroma server, e.g. http://127.0.0.1:8000.")]
EmbedderOpt = Annotated[
    str | None,
    typer.Option("--embedder", help="e.g. sentence-transformers:all-MiniLM-L6-v2 (default: the collection's own)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _open(
    collection: str, path: Path | None, url: str | None, embedder: str | None = None, *, create: bool = False
) -> Index:
    """The index and collection; only ``index add`` (``create=True``) may create them."""
    from tunewise.retrieval import Index

    if path is not None and url is not None:
        raise ConfigError("give --path or --url, not both")
    return Index.open(url if url is not None else path, collection, embedder=embedder, create=create)


def _new_folder(path: Path | None) -> Path | None:
    """The outermost folder an ``index add`` at ``path`` would create (``None`` if it exists)."""
    from tunewise.retrieval._index import default_location

    folder = (path if path is not None else default_location()).expanduser().resolve()
    if folder.exists():
        return None
    while not folder.parent.exists():
        folder = folder.parent
    return folder


def _short(source: str) -> str:
    """A source relative to the working directory when it is an absolute path under it.

    Such absolute paths come from an index ingested before sources were relative to the ingested folder.
    """
    cwd = Path.cwd().as_posix().rstrip("/") + "/"
    return source[len(cwd) :] if source.startswith(cwd) else source


@index_app.command("add")
def add_command(
    paths: Annotated[
        list[Path], typer.Argument(exists=True, help="Files or directories (.md .txt .html .jsonl .csv).")
    ],
    collection: Collection = "default",
    path: PathOpt = None,
    url: UrlOpt = None,
    embedder: EmbedderOpt = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Tokens per chunk.")] = 200,
    chunk_overlap: Annotated[int, typer.Option(min=0, help="Tokens shared by neighbouring chunks.")] = 40,
    text_field: Annotated[
        list[str] | None, typer.Option("--text-field", help="JSONL/CSV field(s) with the text.")
    ] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="JSONL/CSV field with a record id.")] = None,
    prune: Annotated[bool, typer.Option(help="Also delete chunks of files gone from the given directories.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files; unchanged files are skipped, changed files replace only their own chunks."""
    from tunewise.retrieval import FieldMap, MarkdownChunker

    try:
        chunker = MarkdownChunker(size=chunk_size, overlap=chunk_overlap)
    except ValueError as exc:
        raise ConfigError(f"--chunk-size/--chunk-overlap: {exc}") from None
    fields = FieldMap(text=text_field or "text", id=id_field)
    new_folder = _new_folder(path if url is None else None)
    try:
        index = _open(collection, path, url, embedder, create=True)
        report = anyio.run(lambda: index.add(paths, fields=fields, chunker=chunker, prune=prune, progress=not as_json))
    except BaseException:
        if new_folder is not None:  # a failed first add leaves no empty index behind
            import shutil

            shutil.rmtree(new_folder, ignore_errors=True)
        raise
    skipped = ", ".join(
        f"{n} {suffix}" if suffix != "(none)" else f"{n} without an extension" for suffix, n in report.skipped.items()
    )
    if skipped:
        from tunewise.retrieval import SUPPORTED_SUFFIXES

        typer.secho(
            f"warning: skipped {sum(report.skipped.values())} files no loader reads ({skipped}); "
            f"supported: {' '.join(sorted(SUPPORTED_SUFFIXES))}",
            err=True,
            fg="yellow",
        )
    if as_json:
        print_json(asdict(report))
        return
    typer.echo(
        f"{report.files} files, {report.chunks} chunks: {report.embedded} embedded, {report.unchanged} unchanged, "
        f"{report.deleted} deleted"
        + (f", {skipped} skipped" if skipped else "")
        + f" ({report.seconds:.1f}s) -> {index.location} [{collection}]"
    )


@index_app.command("query")
def query_command(
    text: Annotated[str, typer.Argument(help="The query.")],
    collection: Collection = "default",
    path: PathOpt = None,
    url: UrlOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="How many hits.")] = 5,
    embedder: EmbedderOpt = None,
    mode: Annotated[Literal["hybrid", "dense", "bm25"], typer.Option(help="Which retriever.")] = "hybrid",
    fusion: Annotated[Literal["weighted", "rrf"], typer.Option(help="How hybrid search fuses rankings.")] = "weighted",
    where: Annotated[str | None, typer.Option(help='Metadata filter as JSON, e.g. {"kind": "markdown"}.')] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a collection and print the hits with the retrievers that found each."""
    filters = _where(where)
    index = _open(collection, path, url, embedder)
    retriever = index.retriever(mode, fusion=fusion)
    hits = anyio.run(lambda: retriever.retrieve(text, k, filters))
    if as_json:
        print_json([h.model_dump() for h in hits])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Hit text, sources and the query are the user's data: shown as Text, never read as markup.
    table = Table(title=Text(f"{mode} results for {text!r}"))
    table.add_column("rank", justify="right")
    table.add_column("score")
    table.add_column("source", overflow="fold")
    table.add_column("found by (raw score)")
    table.add_column("text", max_width=60)
    for h in hits:
        found = ", ".join(
            f"{name}#{rank}" + (f" ({h.scores[name]:.3f})" if name in h.scores else "")
            for name, rank in h.found_by.items()
        )
        snippet = " ".join(h.document.split())[:100]
        table.add_row(str(h.rank), f"{h.score:.4f}", Text(_short(h.source)), Text(found), Text(snippet))
    Console().print(table)


def _where(where: str | None) -> dict[str, Any] | None:
    """``--where`` parsed and checked against the operators the index supports, before anything opens."""
    from tunewise.retrieval._filters import check_where

    if where is None:
        return None
    try:
        filters = json.loads(where, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--where is not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ConfigError("--where is nested too deeply") from None
    if not isinstance(filters, dict):
        raise ConfigError('--where must be a JSON object, e.g. {"kind": "markdown"}')
    try:
        return check_where(filters)
    except (ConfigError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ConfigError) else "where: nested too deeply"
        raise ConfigError(f"--where: {reason.removeprefix('where: ')}") from None


def _no_constant(name: str) -> Any:
    raise ConfigError(f"--where: {name} is not a number JSON allows")


@index_app.command("stats")
def stats_command(
    collection: Collection = "default",
    path: PathOpt = None,
    url: UrlOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Chunks, files, embedder and BM25 state of a collection."""
    index = _open(collection, path, url, embedder)
    stats = anyio.run(index.stats)
    if as_json:
        print_json(asdict(stats))
        return
    for key, value in asdict(stats).items():
        typer.echo(f"{key:12} {value}")


@index_app.command("remove")
def remove_command(
    paths: Annotated[list[Path], typer.Argument(help="Files, or directories whose files to drop.")],
    collection: Collection = "default",
    path: PathOpt = None,
    url: UrlOpt = None,
    embedder: EmbedderOpt = None,
) -> None:
    """Delete the chunks of files (they may already be gone from disk)."""
    index = _open(collection, path, url, embedder)
    removed = anyio.run(lambda: index.remove(paths))
    typer.echo(f"removed {len(removed)} files from [{collection}]")
    for file in removed:
        typer.echo(f"  {file}")


@index_app.command("drop")
def drop_command(
    collection: Collection = "default",
    path: PathOpt = None,
    url: UrlOpt = None,
    embedder: EmbedderOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a whole collection and its BM25 index."""
    index = _open(collection, path, url, embedder)  # a missing collection fails before the question
    if not yes:
        typer.confirm(f"Delete collection {collection!r} and everything in it?", abort=True)
    anyio.run(index.drop)
    typer.echo(f"dropped [{collection}]")
