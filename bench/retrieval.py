"""Retrieval benchmarks, each measured side by side in one run (the machine is shared and noisy).

1. Ingestion throughput: ``Index.add`` (load, chunk, embed with MiniLM, write Chroma and
   BM25) vs raw ``SentenceTransformer.encode`` of the very same chunk texts. Target >= 0.9x.
2. Hybrid query latency at N chunks (synthetic Zipf-worded texts, random unit vectors of
   dimension 384): ``Index.retriever("hybrid").retrieve`` vs raw chromadb + raw bm25s +
   fusion by hand, interleaved query by query. Targets: p50 <= 25 ms, ratio <= 1.1x.
3. nDCG@10 / recall@10 / MRR of dense, BM25 and hybrid on tests/data/retrieval.

    .venv/bin/python bench/retrieval.py [--ingest-chunks 1000] [--query-chunks 100000] [--queries 300]
                                        [--workdir DIR] [--skip ingest,query,quality]

The 100k-chunk index is built once under --workdir and reused by later runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "retrieval"


_CUM_WEIGHTS: dict[int, list[float]] = {}


def _words(rng: random.Random, vocab: int, n: int) -> list[str]:
    """``n`` words drawn Zipf-like (word i with weight 1/(i+1)), like natural text."""
    if vocab not in _CUM_WEIGHTS:
        total, cum = 0.0, []
        for i in range(vocab):
            total += 1.0 / (i + 1)
            cum.append(total)
        _CUM_WEIGHTS[vocab] = cum
    return [f"w{i}" for i in rng.choices(range(vocab), cum_weights=_CUM_WEIGHTS[vocab], k=n)]


class RandomEmbedder:
    """Deterministic pseudo-random unit vectors (seeded by the text), for the latency benchmark."""

    name = "bench-random-384"
    dimension = 384

    def vector(self, text: str) -> list[float]:
        import numpy as np

        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        out: list[float] = (v / np.linalg.norm(v)).tolist()
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]


# --- 1. ingestion ------------------------------------------------------------------------


def bench_ingest(n_chunks: int, rounds: int, workdir: Path) -> None:
    from tunewise.retrieval import Index, SentenceTransformerEmbedder, chunk_documents, load_file

    rng = random.Random(1)
    english = " ".join(p.read_text() for p in sorted((DATA / "docs").glob("*.md"))).split()
    corpus_dir = workdir / f"ingest-{n_chunks}"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    per_file = 10
    for f in range(max(1, n_chunks // per_file)):
        paragraphs = [" ".join(rng.choices(english, k=120)) for _ in range(per_file)]
        (corpus_dir / f"doc{f:05d}.md").write_text("\n\n".join(f"## Part {i}\n\n{p}" for i, p in enumerate(paragraphs)))
    embedder = SentenceTransformerEmbedder(batch_size=64)
    texts = [c.text for f in sorted(corpus_dir.glob("*.md")) for c in chunk_documents(load_file(f))]
    model = embedder._model()
    model.encode(texts[:64], batch_size=64)  # warm up

    def raw() -> float:
        started = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return time.perf_counter() - started

    def ours(i: int) -> float:
        index = Index.open(workdir / f"ingest-index-{i}", "bench", embedder=embedder)
        started = time.perf_counter()
        report = anyio.run(lambda: index.add(corpus_dir, batch_size=256))
        elapsed = time.perf_counter() - started
        assert report.embedded == len(texts), report
        return elapsed

    raw_times, our_times = [], []
    for i in range(rounds):
        if i % 2 == 0:
            raw_times.append(raw())
            our_times.append(ours(i))
        else:
            our_times.append(ours(i))
            raw_times.append(raw())
    raw_med, our_med = statistics.median(raw_times), statistics.median(our_times)
    print(f"\n## 1. Ingestion: {len(texts)} chunks ({len(texts) // per_file} Markdown files), {rounds} rounds, medians")
    print(f"raw SentenceTransformer.encode : {raw_med:7.2f} s  ({len(texts) / raw_med:7.1f} chunks/s)")
    print(f"tunewise Index.add             : {our_med:7.2f} s  ({len(texts) / our_med:7.1f} chunks/s)")
    print(f"throughput ratio (ours / raw)  : {raw_med / our_med:7.3f}x   (target >= 0.9x)")


# --- 2. hybrid query latency --------------------------------------------------------------


def build_synthetic(n: int, workdir: Path) -> tuple[Any, Path]:
    from tunewise.retrieval import FieldMap, Index

    rng = random.Random(7)
    data = workdir / f"synthetic-{n}.jsonl"
    if not data.exists():
        with data.open("w") as f:
            for i in range(n):
                f.write(json.dumps({"id": f"c{i}", "text": " ".join(_words(rng, 20000, 60)), "shard": i % 10}) + "\n")
    index = Index.open(workdir / f"query-index-{n}", "synthetic", embedder=RandomEmbedder())  # type: ignore[arg-type]
    started = time.perf_counter()
    report = anyio.run(lambda: index.add(data, fields=FieldMap(id="id"), batch_size=2000, progress=True))
    took = time.perf_counter() - started
    print(f"(index of {n} chunks ready: {report.embedded} written, {report.unchanged} reused, {took:.1f} s)")
    return index, data


def bench_query(n: int, n_queries: int, workdir: Path) -> None:
    import numpy as np

    index, _ = build_synthetic(n, workdir)
    embedder: RandomEmbedder = index.embedder
    retriever = index.retriever("hybrid")  # weighted 0.75/0.25, min-max, 40 candidates each for k=10
    collection = index.store.collection
    model = index.bm25._model
    tokenize = index.bm25._tokenize
    entries = index.bm25._entries
    rng = random.Random(11)
    queries = [" ".join(_words(rng, 20000, 4)) for _ in range(n_queries)]
    k, depth = 10, 40

    def raw(query: str) -> list[str]:
        vector = embedder.vector(query)
        dense = collection.query(
            query_embeddings=[vector], n_results=depth, include=["documents", "metadatas", "distances"]
        )
        d_ids, d_scores = dense["ids"][0], [1.0 - x for x in dense["distances"][0]]
        scores = model.get_scores_from_ids(model.get_tokens_ids(tokenize(query)))
        top = np.argpartition(-scores, depth)[:depth]
        top = top[np.argsort(-scores[top])]
        top = [int(i) for i in top if scores[i] > 0]
        b_ids, b_scores = [entries[i].id for i in top], [float(scores[i]) for i in top]
        fused: dict[str, float] = {}
        for ids, sc, w in ((d_ids, d_scores, 0.75), (b_ids, b_scores, 0.25)):
            if not sc:
                continue
            lo, hi = min(sc), max(sc)
            for i, s in zip(ids, sc, strict=True):
                fused[i] = fused.get(i, 0.0) + w * ((s - lo) / (hi - lo) if hi > lo else 1.0)
        return sorted(fused, key=lambda i: -fused[i])[:k]

    async def run() -> tuple[list[float], list[float], int]:
        ours_t, raw_t, agree = [], [], 0
        for q in queries[:20]:  # warm up both paths
            await retriever.retrieve(q, k)
            raw(q)
        for i, q in enumerate(queries):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                started = time.perf_counter()
                if which == 0:
                    mine = [h.id for h in await retriever.retrieve(q, k)]
                    ours_t.append(time.perf_counter() - started)
                else:
                    theirs = raw(q)
                    raw_t.append(time.perf_counter() - started)
            agree += mine == theirs
        return ours_t, raw_t, agree

    ours_t, raw_t, agree = anyio.run(run)
    p = lambda xs, q: statistics.quantiles(xs, n=100)[q - 1] * 1000  # noqa: E731
    print(f"\n## 2. Hybrid query at {n} chunks, {len(queries)} queries interleaved, k={k}, {depth} candidates each")
    print(f"{'':28} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    print(f"{'tunewise hybrid retrieve':28} {p(ours_t, 50):8.2f} {p(ours_t, 90):8.2f} {p(ours_t, 99):8.2f}")
    print(f"{'raw chromadb+bm25s+fusion':28} {p(raw_t, 50):8.2f} {p(raw_t, 90):8.2f} {p(raw_t, 99):8.2f}")
    print(f"p50 ratio (ours / raw): {p(ours_t, 50) / p(raw_t, 50):.3f}x   (targets: p50 <= 25 ms, ratio <= 1.1x)")
    print(f"identical top-{k} lists: {agree}/{len(queries)}")


# --- 3. quality ---------------------------------------------------------------------------


def bench_quality(workdir: Path) -> None:
    from tunewise.retrieval import Index, evaluate_retriever, load_labeled_queries

    index = Index.open(workdir / "quality", "lumen")
    queries = load_labeled_queries(DATA / "queries.jsonl")

    def doc(hit: Any) -> str:
        return Path(hit.source).stem

    async def run() -> list[tuple[str, Any]]:
        await index.add(DATA / "docs")
        rows = []
        for label, retriever in (
            ("dense (MiniLM)", index.retriever("dense")),
            ("bm25", index.retriever("bm25")),
            ("hybrid (default: weighted .75/.25)", index.retriever("hybrid")),
            ("hybrid weighted .5/.5", index.retriever("hybrid", weights={"dense": 0.5, "bm25": 0.5})),
            ("hybrid rrf k=60", index.retriever("hybrid", fusion="rrf")),
        ):
            rows.append((label, await evaluate_retriever(retriever, queries, k=10, key=doc)))
        return rows

    rows = anyio.run(run)
    print(f"\n## 3. Quality on tests/data/retrieval ({len(queries)} queries, 45 docs), k=10")
    print(f"{'retriever':36} {'nDCG@10':>8} {'recall@10':>10} {'MRR':>7}")
    for label, s in rows:
        print(f"{label:36} {s.ndcg:8.4f} {s.recall:10.4f} {s.mrr:7.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ingest-chunks", type=int, default=1000)
    parser.add_argument("--ingest-rounds", type=int, default=3)
    parser.add_argument("--query-chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip", default="", help="comma-separated: ingest,query,quality")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tunewise-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# bench/retrieval.py  python {sys.version.split()[0]}  cpus={os.cpu_count()}  workdir={workdir}")
    if "quality" not in skip:
        bench_quality(workdir)
    if "ingest" not in skip:
        bench_ingest(args.ingest_chunks, args.ingest_rounds, workdir)
    if "query" not in skip:
        bench_query(args.query_chunks, args.queries, workdir)


if __name__ == "__main__":
    main()
