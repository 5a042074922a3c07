"""The RAG rung's retriever: a knowledge base (folder of documents or JSONL) behind a configurable retriever."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tunewise._errors import ConfigError
from tunewise._jsonl import iter_jsonl_objects
from tunewise.retrieval import InMemoryRetriever
from tunewise.strategies import BuildContext

if TYPE_CHECKING:
    from tunewise._registry import Registry
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.retriever import Retriever
    from tunewise.ladder._config import LadderConfig

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt", ".rst")


def read_knowledge_base(path: Path) -> list[dict[str, Any]]:
    """Documents from a folder (every ``.md``/``.txt``/``.rst`` file, recursively) or a JSONL file.

    A folder's documents are identified by their path relative to it (``kb/refunds.md``
    cites as ``refunds.md``).
    """
    if path.is_dir():
        docs = []
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES):
            text = file.read_text(encoding="utf-8").strip()
            if text:
                name = file.relative_to(path).as_posix()
                docs.append({"id": name, "text": text, "source": name})
        if not docs:
            raise ConfigError(f"{path}: no documents ({', '.join(DOCUMENT_SUFFIXES)}) in the knowledge base folder")
        return docs
    return [row for _, row in iter_jsonl_objects(path)]


INDEX_KINDS = ("hybrid", "dense", "bm25")
"""Retrievers served by ``tunewise.retrieval``'s ``Index`` (Chroma + BM25), built in the ladder's output folder."""


async def build_retriever(config: LadderConfig, registry: Registry | None, embedder: Embedder) -> Retriever:
    """The RAG rung's retriever over the knowledge base.

    - ``"memory"``: exact cosine over the documents (``tunewise.retrieval.InMemoryRetriever``);
    - ``"hybrid"``, ``"dense"``, ``"bm25"``: a ``tunewise.retrieval.Index`` (Chroma + BM25,
      chunked) built once in ``<out>/index`` from the knowledge base; re-running adds nothing
      for unchanged files;
    - a ``{type = ..., ...}`` table: any retriever kind registered with
      ``tunewise.strategies.register_retriever``; it gets ``documents = <knowledge base>``
      unless it names its own.
    """
    retrieval = config.retrieval
    where = f"{config.path}: retrieval.retriever"
    if retrieval.retriever == "memory":
        assert retrieval.knowledge_base is not None
        return InMemoryRetriever(read_knowledge_base(retrieval.knowledge_base), embedder, name="knowledge_base")
    if retrieval.retriever in ("hybrid", "dense", "bm25"):
        return await _index_retriever(config, embedder, retrieval.retriever)
    context = BuildContext(registry=registry, base_dir=config.path.parent, embedders={"ladder": embedder})
    spec = retrieval.retriever
    if isinstance(spec, dict) and retrieval.knowledge_base is not None and "documents" not in spec:
        spec = {**spec, "documents": str(retrieval.knowledge_base)}
    return context.retriever(spec, where)


async def _index_retriever(
    config: LadderConfig, embedder: Embedder, kind: Literal["hybrid", "dense", "bm25"]
) -> Retriever:
    from tunewise.retrieval import Index

    knowledge_base = config.retrieval.knowledge_base
    assert knowledge_base is not None
    index = Index.open(config.out / "index", "ladder-kb", embedder=embedder)
    await index.add(knowledge_base)
    return index.retriever(kind)
