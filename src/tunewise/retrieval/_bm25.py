"""Lexical retrieval with ``bm25s``, persisted next to the vector store.

The index keeps the chunks it was built from (id, text, metadata) so it can answer on
its own and be rebuilt. Saves are atomic: each save writes a fresh generation directory
and then switches the ``CURRENT`` pointer with one ``os.replace``, so a process killed
mid-save leaves the previous index intact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.retrieval._filters import check_where, matches

_WORD = re.compile(r"\w+", re.UNICODE)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def s_stem(word: str) -> str:
    """Harman's S-stemmer: folds English plurals (``batteries`` -> ``battery``, ``wires`` -> ``wire``).

    Deliberately light: it never merges unrelated words the way aggressive stemmers can,
    and needs no dependency.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


class BM25Tokenizer:
    """Lower-cased words, English stopwords removed, plurals folded (same for documents and queries)."""

    def __init__(self, stopwords: Collection[str] | None = None, *, stem: bool = True) -> None:
        self.stopwords = frozenset(stopwords) if stopwords is not None else _stopwords()
        self.stem = stem

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in self.stopwords]
        return [s_stem(w) for w in words] if self.stem else words


@dataclass(frozen=True)
class Entry:
    """One indexed chunk."""

    id: str
    text: str
    metadata: Mapping[str, Any]


class BM25Index:
    """A BM25 (Lucene variant) index over chunks, with Chroma-style ``where`` filters."""

    def __init__(self, directory: str | Path | None = None, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.k1 = k1
        self.b = b
        self.generation: str | None = None
        self._tokenize = BM25Tokenizer()
        self._entries: list[Entry] = []
        self._tokens: list[list[str] | None] = []
        self._position: dict[str, int] = {}
        self._model: Any = None
        self._masks: OrderedDict[str, Any] = OrderedDict()

    # --- contents ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._position

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self._entries]

    def entries(self) -> list[Entry]:
        return list(self._entries)

    def entry(self, chunk_id: str) -> Entry:
        return self._entries[self._position[chunk_id]]

    def update(self, upserts: Iterable[Entry] = (), deletes: Collection[str] = ()) -> None:
        """Add or replace ``upserts``, drop ``deletes``, and rebuild the index."""
        upserts = list(upserts)
        replaced = set(deletes) | {e.id for e in upserts if e.id in self._position}
        if replaced:
            keep = [i for i, e in enumerate(self._entries) if e.id not in replaced]
            self._entries = [self._entries[i] for i in keep]
            self._tokens = [self._tokens[i] for i in keep]
        for entry in upserts:
            self._entries.append(entry)
            self._tokens.append(None)
        self._position = {e.id: i for i, e in enumerate(self._entries)}
        self._build()

    def replace_all(self, entries: Iterable[Entry]) -> None:
        """Rebuild from scratch from ``entries`` (e.g. from the vector store, the source of truth)."""
        self._entries = []
        self._tokens = []
        self.update(entries)

    def _build(self) -> None:
        import bm25s

        self._masks.clear()
        if not self._entries:
            self._model = None
            return
        for i, tokens in enumerate(self._tokens):
            if tokens is None:
                self._tokens[i] = self._tokenize(self._entries[i].text)
        model = bm25s.BM25(k1=self.k1, b=self.b)
        model.index([t or [] for t in self._tokens], show_progress=False)
        self._model = model

    # --- search --------------------------------------------------------------------

    def _mask(self, where: Mapping[str, Any]) -> Any:
        import numpy as np

        key = json.dumps(where, sort_keys=True, default=str)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.fromiter((matches(where, e.metadata) for e in self._entries), dtype=np.float32)
            self._masks[key] = mask
            while len(self._masks) > 32:
                self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(key)
        return mask

    def search(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[tuple[Entry, float]]:
        """The ``k`` best entries for ``query`` with their BM25 scores; only entries sharing a term."""
        import numpy as np

        where = check_where(where)
        if self._model is None or k < 1:
            return []
        token_ids = self._model.get_tokens_ids(self._tokenize(query))
        if not token_ids:
            return []
        scores = self._model.get_scores_from_ids(token_ids)
        if where:
            scores = scores * self._mask(where)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            top = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[top]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [(self._entries[i], float(scores[i])) for i in order]

    # --- persistence ---------------------------------------------------------------

    def save(self, generation: str) -> None:
        """Write the corpus and index as ``generation`` and make it current, atomically."""
        if self.directory is None:
            self.generation = generation
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"gen-{uuid.uuid4().hex}"
        target.mkdir()
        with (target / "corpus.jsonl").open("w", encoding="utf-8") as f:
            for e in self._entries:
                f.write(json.dumps({"id": e.id, "text": e.text, "metadata": dict(e.metadata)}, ensure_ascii=False))
                f.write("\n")
        if self._model is not None:
            self._model.save(str(target / "bm25s"), show_progress=False)
        manifest = {"generation": generation, "count": len(self._entries), "k1": self.k1, "b": self.b}
        (target / "manifest.json").write_text(json.dumps(manifest))
        pointer = self.directory / f"CURRENT.{uuid.uuid4().hex}.tmp"
        pointer.write_text(target.name)
        os.replace(pointer, self.directory / "CURRENT")
        self.generation = generation
        for old in self.directory.iterdir():
            if old.name != target.name and (old.name.startswith("gen-") or old.name.endswith(".tmp")):
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)

    def reload(self) -> str | None:
        """Take over what is saved in ``directory`` now; another process may have saved a newer generation.

        Returns the generation adopted, ``None`` if nothing usable was saved.
        """
        if self.directory is None:
            return None
        saved = BM25Index.load(self.directory, k1=self.k1, b=self.b)
        if saved.generation is None:
            return None
        self._entries, self._tokens, self._position = saved._entries, saved._tokens, saved._position
        self._model = saved._model
        self._masks.clear()
        self.generation = saved.generation
        return saved.generation

    @classmethod
    def load(cls, directory: str | Path, *, k1: float = 1.5, b: float = 0.75) -> BM25Index:
        """The saved index in ``directory``, or an empty one (generation ``None``) if there is none."""
        index = cls(directory, k1=k1, b=b)
        try:
            current = (Path(directory) / "CURRENT").read_text().strip()
            folder = Path(directory) / current
            manifest = json.loads((folder / "manifest.json").read_text())
            entries = []
            with (folder / "corpus.jsonl").open(encoding="utf-8") as f:
                for line in f:
                    raw = json.loads(line)
                    entries.append(Entry(raw["id"], raw["text"], raw["metadata"]))
        except (OSError, ValueError, KeyError):
            return index
        if manifest.get("k1") != k1 or manifest.get("b") != b or len(entries) != manifest.get("count"):
            return index
        index._entries = entries
        index._tokens = [None] * len(entries)
        index._position = {e.id: i for i, e in enumerate(entries)}
        if entries:
            import bm25s

            try:
                index._model = bm25s.BM25.load(str(folder / "bm25s"), show_progress=False)
            except (OSError, ValueError):
                index._build()
        index.generation = manifest.get("generation")
        return index


def ranked_entries(results: Sequence[tuple[Entry, float]]) -> list[str]:
    """Ids of search results, best first (handy in tests and metrics)."""
    return [entry.id for entry, _ in results]
