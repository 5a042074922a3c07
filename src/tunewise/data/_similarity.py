"""What "the same example" means for deduplication and leakage: exact keys and MinHash near-duplicates.

Examples are compared on the text of chosen messages (by default the user turns: a
test question seen in training is leakage whatever the answer, and a shared system
prompt would make every pair look alike). Text is case-folded and whitespace-collapsed;
exact duplicates share a hash of it, near duplicates share many character 5-grams,
estimated with datasketch's MinHash and found with its LSH index.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any, Literal

import numpy as np

from tunewise._errors import ConfigError
from tunewise.data._tokens import content_text

CompareOn = Literal["prompt", "conversation", "all"]
_ROLES: dict[str, frozenset[str]] = {
    "prompt": frozenset({"user"}),
    "conversation": frozenset({"user", "assistant"}),
    "all": frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
}
SHINGLE_CHARS = 5


def check_on(on: str) -> None:
    """Reject an unknown ``on`` before any file is read."""
    if on not in _ROLES:
        raise ConfigError(f"cannot compare on {on!r}; choose prompt, conversation or all")


def example_text(data: Any, on: CompareOn = "prompt") -> str:
    """The text an example is compared on: its messages of the chosen roles, one per line.

    Non-chat values (Alpaca rows, plain objects) fall back to their JSON-ish string form.
    """
    check_on(on)
    roles = _ROLES[on]
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return str(data)
    parts = [
        content_text(m.get("content"))
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("role"), str) and m["role"] in roles
    ]
    return "\n".join(parts)


def normalize(text: str) -> str:
    """Case-folded, with runs of whitespace collapsed to one space."""
    return " ".join(text.casefold().split())


def exact_key(normalized: str) -> bytes:
    """A 16-byte digest of normalized text: equal keys mean equal text."""
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def shingles(normalized: str, k: int = SHINGLE_CHARS) -> set[bytes]:
    """Character k-grams of normalized text (the whole text when shorter than k)."""
    data = normalized.encode("utf-8", "surrogatepass")
    if len(data) <= k:
        return {data}
    return {data[i : i + k] for i in range(len(data) - k + 1)}


class MinHasher:
    """Builds MinHash signatures (uint32 arrays) with datasketch, using a fast, stable hash (CRC-32).

    CRC-32 instead of datasketch's default SHA-1 keeps signatures identical across runs
    and processes while hashing shingles several times faster. One ``MinHash`` object is
    reused so its permutations are not rebuilt per text.
    """

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        from datasketch import MinHash

        self.num_perm = num_perm
        self.probe = MinHash(num_perm=num_perm, seed=seed, hashfunc=zlib.crc32, scheme="affine32")
        self._empty = self.probe.hashvalues.copy()

    def signature(self, normalized: str) -> np.ndarray[Any, Any]:
        """The MinHash signature of the text's shingles."""
        self.probe.hashvalues = self._empty.copy()
        self.probe.update_batch(shingles(normalized))
        signature: np.ndarray[Any, Any] = self.probe.hashvalues
        return signature


def estimated_jaccard(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """Share of equal MinHash values: an unbiased estimate of the Jaccard similarity of the shingle sets."""
    return float(np.count_nonzero(a == b)) / len(a)


class NearIndex:
    """An LSH index of signatures: which stored texts are at least ``threshold`` similar to this one?

    Entries get dense integer slots in insertion order; signatures live in one array so
    candidates from the LSH are verified in a single vectorized comparison.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 128) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.hasher = MinHasher(num_perm)
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._signatures = np.empty((1024, num_perm), dtype=self.hasher.probe.hashvalues.dtype)
        self.size = 0

    def sign(self, normalized: str) -> np.ndarray[Any, Any]:
        return self.hasher.signature(normalized)

    def add(self, signature: np.ndarray[Any, Any]) -> int:
        """Store a signature; returns its slot."""
        slot = self.size
        if slot == len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.empty_like(self._signatures)])
        self._signatures[slot] = signature
        self.hasher.probe.hashvalues = signature
        self._lsh.insert(slot, self.hasher.probe, check_duplication=False)
        self.size += 1
        return slot

    def matches(self, signature: np.ndarray[Any, Any]) -> list[tuple[int, float]]:
        """Stored slots whose estimated Jaccard similarity reaches the threshold, most similar first."""
        self.hasher.probe.hashvalues = signature
        candidates = np.fromiter(self._lsh.query(self.hasher.probe), dtype=np.int64)
        if not len(candidates):
            return []
        similarity = np.count_nonzero(self._signatures[candidates] == signature, axis=1) / len(signature)
        keep = similarity >= self.threshold
        found = [(int(slot), float(sim)) for slot, sim in zip(candidates[keep], similarity[keep], strict=True)]
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found
