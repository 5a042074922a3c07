"""Switchable fault injection for the fake server: which requests fail, and how.

One [`Faults`][tunewise_openai.fake.Faults] object is shared by the server and the test that drives it (or set
over HTTP through ``POST /_fake/faults``), so a test can turn faults on, off or change
their rate while the server runs. Draws come from a seeded generator: the same seed
gives the same sequence of faults for the same sequence of requests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "rate_limit", "server_error", "unavailable", "reset", "lost", "timeout", "truncate", "malformed", "cut"
]
ALL_FAULTS: tuple[FaultKind, ...] = (
    "rate_limit",
    "server_error",
    "unavailable",
    "reset",
    "lost",
    "timeout",
    "truncate",
    "malformed",
)
KNOWN_FAULTS: tuple[FaultKind, ...] = (*ALL_FAULTS, "cut")
"""Every kind a script or ``kinds`` may name; ``cut`` (a stream that ends before its first
text) is not among the random defaults, so seeded sequences stay as they were."""


@dataclass
class Faults:
    """What fails and how often.

    Attributes:
        rate: probability that a request gets a fault (0 = never).
        seed: seed of the generator that decides which requests fail.
        kinds: the faults to draw from, uniformly. ``truncate`` applies to streams only
            (a stream cut off before ``[DONE]``); on other requests it is replaced by ``reset``.
            ``reset`` drops the connection before the request is handled; ``lost`` handles
            it (a job is created, a completion counted) and then drops the answer.
        retry_after_ms: what a 429 asks the client to wait (sent as both ``retry-after-ms``
            and ``retry-after``).
        hang_s: how long a ``timeout`` fault holds the response (longer than the client's
            read timeout).
        paths: only requests whose path starts with one of these get faults (None: all).
        script: faults for the next matching requests, in order (``None``: that request
            is served normally); once used up, ``rate`` decides again. A test that counts
            attempts scripts exactly what each attempt meets. ``cut`` ends a stream after
            its opening chunk, before any text (on other requests it is a ``reset``).
    """

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[FaultKind, ...] = ALL_FAULTS
    retry_after_ms: int = 5
    hang_s: float = 2.0
    paths: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    """Only these HTTP methods get faults (None: all)."""
    script: list[FaultKind | None] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=dict)
    """How many faults of each kind were injected so far."""
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.configure(rate=self.rate, seed=self.seed, kinds=self.kinds)

    def configure(self, **changes: Any) -> None:
        """Change settings at run time; a new seed restarts the sequence."""
        unknown = set(changes) - {"rate", "seed", "kinds", "retry_after_ms", "hang_s", "paths", "methods", "script"}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        kinds = tuple(changes.get("kinds", self.kinds))
        script = list(changes.get("script", self.script))
        bad = [k for k in (*kinds, *script) if k is not None and k not in KNOWN_FAULTS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {list(KNOWN_FAULTS)}")
        rate = float(changes.get("rate", self.rate))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self.rate, self.kinds, self.script = rate, kinds, script
            for name in ("paths", "methods"):
                if changes.get(name) is not None:
                    setattr(self, name, tuple(changes[name]))
            if "seed" in changes or not self.injected:
                self._rng = random.Random(self.seed)

    def off(self) -> None:
        self.configure(rate=0.0)

    def restore(self) -> None:
        """Back to the defaults: no faults, every kind, all paths and methods, counters at zero."""
        self.configure(
            rate=0.0, seed=0, kinds=ALL_FAULTS, retry_after_ms=5, hang_s=2.0, paths=None, methods=None, script=[]
        )
        with self._lock:
            self.injected.clear()

    def draw(self, path: str, *, streaming: bool, method: str = "POST") -> FaultKind | None:
        """The fault for this request, or None."""
        if (self.rate <= 0 or not self.kinds) and not self.script:
            return None
        if self.paths is not None and not any(path.startswith(p) for p in self.paths):
            return None
        if self.methods is not None and method not in self.methods:
            return None
        with self._lock:
            kind: FaultKind | None
            if self.script:
                kind = self.script.pop(0)
                if kind is None:
                    return None
            elif self.rate <= 0 or not self.kinds or self._rng.random() >= self.rate:
                return None
            else:
                kind = self.kinds[self._rng.randrange(len(self.kinds))]
            if kind in ("truncate", "cut") and not streaming:
                kind = "reset"
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seed": self.seed,
            "kinds": list(self.kinds),
            "retry_after_ms": self.retry_after_ms,
            "hang_s": self.hang_s,
            "paths": list(self.paths) if self.paths is not None else None,
            "methods": list(self.methods) if self.methods is not None else None,
            "script": list(self.script),
            "injected": dict(self.injected),
        }
