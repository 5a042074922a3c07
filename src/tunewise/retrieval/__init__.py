"""Retrieval: load and chunk documents, embed them, index them in Chroma and BM25, search.

Everything here is importable without loading chromadb, sentence-transformers or
bm25s; those load on first use.

    from tunewise.retrieval import Index

    index = Index.open("./kb", "support")
    await index.add("docs/")
    hits = await index.retriever("hybrid").retrieve("how do I reset it?", k=5)
"""

from tunewise.retrieval._bm25 import BM25Index, BM25Tokenizer
from tunewise.retrieval._chunking import (
    Chunk,
    Chunker,
    HuggingFaceTokenizer,
    MarkdownChunker,
    RegexTokenizer,
    TokenChunker,
    Tokenizer,
    chunk_documents,
    chunk_id,
)
from tunewise.retrieval._documents import SUPPORTED_SUFFIXES, Document, FieldMap, discover, discover_sources, load_file
from tunewise.retrieval._embedders import (
    EmbedderSpec,
    SentenceTransformerEmbedder,
    build_embedder,
    parse_embedder_spec,
    resolve_embedder,
)
from tunewise.retrieval._evaluation import LabeledQuery, RetrievalScores, evaluate_retriever, load_labeled_queries
from tunewise.retrieval._filters import matches
from tunewise.retrieval._hashing import HashingEmbedder
from tunewise.retrieval._index import Index, IndexStats
from tunewise.retrieval._ingest import IngestReport, ingest
from tunewise.retrieval._memory import InMemoryRetriever
from tunewise.retrieval._retrievers import BM25Retriever, DenseRetriever, HybridRetriever
from tunewise.retrieval._store import ChromaStore
from tunewise.retrieval.fusion import normalize_scores, reciprocal_rank_fusion, weighted_score_fusion

__all__ = [
    "build_embedder",
    "parse_embedder_spec",
    "InMemoryRetriever",
    "HashingEmbedder",
    "EmbedderSpec",
    "SUPPORTED_SUFFIXES",
    "BM25Index",
    "BM25Retriever",
    "BM25Tokenizer",
    "ChromaStore",
    "Chunk",
    "Chunker",
    "DenseRetriever",
    "Document",
    "FieldMap",
    "HuggingFaceTokenizer",
    "HybridRetriever",
    "Index",
    "IndexStats",
    "IngestReport",
    "LabeledQuery",
    "MarkdownChunker",
    "RegexTokenizer",
    "RetrievalScores",
    "SentenceTransformerEmbedder",
    "TokenChunker",
    "Tokenizer",
    "chunk_documents",
    "chunk_id",
    "discover",
    "discover_sources",
    "evaluate_retriever",
    "ingest",
    "load_file",
    "load_labeled_queries",
    "matches",
    "normalize_scores",
    "reciprocal_rank_fusion",
    "resolve_embedder",
    "weighted_score_fusion",
]
