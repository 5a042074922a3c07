"""The generation engine: one worker thread, continuous batching, shared prompt prefixes.

Requests wait in a queue. When nothing is decoding, the worker takes the first request,
gathers more for the same model until ``max_batch_size`` or ``max_wait_s`` is reached,
and starts a batch. While a batch decodes, requests that arrive join it at the next
step (up to ``max_batch_size`` rows), and rows that finish leave it at once, so the
batch never decodes padding for answers that are over.

All rows share one KV cache, right-aligned: every row's newest token is in the last
column and a row's earlier columns hold its prompt and answer with padding (masked)
where it is shorter than the longest row. Requests that join are prefilled on their
own and their cache is padded on the left to the running batch's width and stacked
under it; when rows leave, columns that no remaining row uses are cut out.

Prompts that start alike (a system prompt, few-shot examples) share that prefix: its
KV is computed once, kept in a small per-model cache, and expanded for each row, so
only the rest of each prompt goes through the model. Rows sharing a prefix hold it at
the left of their cache with padding between it and the rest of their prompt.

Each row keeps its own sampling settings, seed, stop sequences and token budget, and
its text is handed back token by token, so streaming and batching are the same code
path. Hugging Face's ``generate`` takes one set of sampling settings and one streamer
per call; this loop is the same greedy / temperature / top-p decoding with per-row
settings, which is what batching independent requests needs.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
from anyio.lowlevel import EventLoopToken
from anyio.streams.memory import MemoryObjectSendStream

from tunewise.plugin import FinishReason
from tunewise_local._loading import CacheKey, LoadedModel
from tunewise_local._stops import REPLACEMENT, scan

if TYPE_CHECKING:
    import torch

Deliver = Callable[[list[tuple["GenerationRequest", "Piece"]]], None]

MIN_SHARED_PREFIX = 32
"""Tokens two prompts must share before their common start is computed once for both.

A shared prefix costs one extra forward pass of one row (and a separate prefill for
the rows that use it); below a few dozen tokens that costs more than it saves.
"""

PREFIX_CACHE_BYTES = 256 * 2**20
"""KV memory kept for shared prefixes, per model (least recently used go first)."""

RECENT_PROMPTS = 64
"""Recent prompts remembered per model, to spot a prefix a new request shares with them."""


@dataclass(frozen=True)
class Piece:
    """A piece of one answer: new text, and on the last piece why it ended."""

    delta: str = ""
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0
    error: str | None = None


@dataclass
class GenerationRequest:
    """One answer to produce; ``send`` receives its pieces on the caller's event loop."""

    loaded: LoadedModel
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    stops: tuple[str, ...]
    seed: int | None
    send: MemoryObjectSendStream[Piece]
    token: EventLoopToken
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class EngineStats:
    """What the engine has done: requests served, how they were batched, what was reused.

    ``batch_sizes`` has one entry per group of requests started together: a new batch,
    or requests that joined a batch already decoding (``joined`` counts those requests).
    ``steps`` is the number of decode steps and ``rows_decoded`` the rows they decoded,
    so ``rows_decoded / steps`` is the mean running batch size. ``prompt_tokens`` counts
    the prompts' tokens and ``prefill_tokens`` those that went through the model; the
    difference came from shared prefixes (``prefix_hits`` requests used one).
    """

    requests: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    joined: int = 0
    steps: int = 0
    rows_decoded: int = 0
    prompt_tokens: int = 0
    prefill_tokens: int = 0
    prefix_hits: int = 0

    @property
    def batches(self) -> int:
        return len(self.batch_sizes)

    @property
    def reused_tokens(self) -> int:
        """Prompt tokens whose KV came from a shared prefix instead of being computed again."""
        return self.prompt_tokens - self.prefill_tokens


class Engine:
    """Owns the worker thread. ``submit`` from any event loop; ``close`` to stop it."""

    def __init__(self, *, max_batch_size: int = 8, max_wait_s: float = 0.01, share_prefixes: bool = True) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.share_prefixes = share_prefixes
        self.stats = EngineStats()
        self._queue: queue.Queue[GenerationRequest | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._prefixes: dict[CacheKey, PrefixCache] = {}

    def submit(self, request: GenerationRequest) -> None:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the local provider is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tunewise-local-engine", daemon=True)
                self._thread.start()
        self._queue.put(request)

    def close(self) -> None:
        """Finish the rows in flight, fail what still waits, and join the thread (blocking)."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    # -- worker thread ------------------------------------------------------------------

    def _run(self) -> None:
        pending: deque[GenerationRequest] = deque()
        batch: Batch | None = None
        stopping = False
        while True:
            if batch is None:
                if stopping:
                    break
                if not pending:
                    item = self._queue.get()
                    if item is None:
                        stopping = True
                        continue
                    pending.append(item)
                loaded = pending[0].loaded
                group = _take(pending, loaded.key, self.max_batch_size, in_order=False)
                stopping = self._gather(group, pending, loaded.key) or stopping
                batch = self._start(None, group)
            else:
                stopping = self._poll(pending) or stopping
                room = self.max_batch_size - len(batch.rows)
                if not stopping and room > 0 and batch.dynamic and pending:
                    group = _take(pending, batch.loaded.key, room, in_order=True)
                    batch = self._start(batch, group)
                batch = self._step(batch) if batch is not None else None
        self._prefixes.clear()
        for request in [*pending, *_drain(self._queue)]:
            if request is not None:
                _deliver([(request, Piece(error="the local provider was closed", finish_reason="error"))])

    def _gather(self, group: list[GenerationRequest], pending: deque[GenerationRequest], key: CacheKey) -> bool:
        """Wait up to ``max_wait_s`` for more requests for the model; True if ``close`` came."""
        deadline = time.monotonic() + self.max_wait_s
        while len(group) < self.max_batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if item is None:
                return True
            if item.loaded.key == key:
                group.append(item)
            else:
                pending.append(item)
        return False

    def _poll(self, pending: deque[GenerationRequest]) -> bool:
        """Move what has arrived to ``pending`` without waiting; True if ``close`` came."""
        stopping = False
        for item in _drain(self._queue, keep_none=True):
            if item is None:
                stopping = True
            else:
                pending.append(item)
        return stopping

    def _start(self, batch: Batch | None, group: list[GenerationRequest]) -> Batch | None:
        """Prefill ``group`` and add it to ``batch`` (or start a batch); failures fail the group only."""
        live = [r for r in group if not r.cancelled.is_set()]
        if not live:
            return batch
        self.stats.requests += len(live)
        self.stats.batch_sizes.append(len(live))
        if batch is not None:
            self.stats.joined += len(live)
        try:
            prefixes = self._prefix_cache(live[0].loaded)
            block = prefill(live, _deliver, prefixes=prefixes, stats=self.stats)
            if batch is None:
                return block if block.active else None
            if block.rows:
                batch.merge(block)
        except Exception as exc:  # one bad request must not kill the engine or the running batch
            _fail(live, exc)
        return batch

    def _step(self, batch: Batch) -> Batch | None:
        try:
            batch.step(_deliver, self.stats)
        except Exception as exc:  # one bad batch must not kill the engine
            _fail([row.request for row in batch.rows if not row.done], exc)
            return None
        return batch if batch.active else None

    def _prefix_cache(self, loaded: LoadedModel) -> PrefixCache | None:
        if not self.share_prefixes:
            return None
        cache = self._prefixes.get(loaded.key)
        if cache is None or cache.owner is not loaded:  # a model reloaded under the same key starts afresh
            cache = self._prefixes[loaded.key] = PrefixCache(loaded)
        return cache if cache.supported else None


def _take(pending: deque[GenerationRequest], key: CacheKey, limit: int, *, in_order: bool) -> list[GenerationRequest]:
    """Up to ``limit`` waiting requests for model ``key``, removed from ``pending``.

    ``in_order``: stop at the first request for another model, so that a running batch
    stops growing (and soon drains) once another model has a request waiting.
    """
    taken: list[GenerationRequest] = []
    for request in list(pending):
        if len(taken) >= limit:
            break
        if request.cancelled.is_set():
            pending.remove(request)
        elif request.loaded.key == key:
            pending.remove(request)
            taken.append(request)
        elif in_order:
            break
    return taken


def _drain(q: queue.Queue[GenerationRequest | None], *, keep_none: bool = False) -> list[GenerationRequest | None]:
    items: list[GenerationRequest | None] = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return items
        if item is not None or keep_none:
            items.append(item)


def _fail(requests: Iterable[GenerationRequest | None], exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    _deliver([(r, Piece(error=message, finish_reason="error")) for r in requests if r is not None])


def _deliver(pieces: list[tuple[GenerationRequest, Piece]]) -> None:
    """Hand pieces to their event loops: one cross-thread call per loop per step.

    On asyncio the call is queued without waiting (the decode loop never waits on a busy
    event loop); on other anyio backends it waits for the loop to take the pieces.
    """
    by_loop: dict[int, list[tuple[GenerationRequest, Piece]]] = {}
    for request, piece in pieces:
        by_loop.setdefault(id(request.token), []).append((request, piece))
    for group in by_loop.values():
        token = group[0][0].token
        try:
            if isinstance(token.native_token, asyncio.AbstractEventLoop):
                token.native_token.call_soon_threadsafe(_send_all, group)
            else:
                anyio.from_thread.run_sync(_send_all, group, token=token)
        except Exception:  # the caller's loop is gone: nobody is listening any more
            for request, _ in group:
                request.cancelled.set()


def _send_all(group: list[tuple[GenerationRequest, Piece]]) -> None:
    for request, piece in group:
        try:
            request.send.send_nowait(piece)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            request.cancelled.set()


# -- decoding ----------------------------------------------------------------------------


@dataclass
class _Row:
    """One request in a batch and its decoding state."""

    request: GenerationRequest
    generator: Any
    decoder: IncrementalDecoder
    emitted: int = 0
    done: bool = False


class Batch:
    """Rows decoding together: their KV cache (right-aligned), attention mask and next tokens.

    ``dynamic`` batches (a plain ``DynamicCache``, one tensor pair per layer) take rows in
    and let rows go; others (sliding-window or hybrid caches) decode the rows they
    started with to the end, feeding padding to rows that are done.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        rows: list[_Row],
        cache: Any,
        mask: torch.Tensor,
        positions: torch.Tensor,
        dynamic: bool,
    ) -> None:
        self.loaded = loaded
        self.rows = rows
        self.cache = cache
        self.mask = mask
        """[rows, width] 1 where the cache column holds the row's token, 0 for padding."""
        self.positions = positions
        """[rows, 1] position id of the next token to feed."""
        self.tokens: torch.Tensor | None = None
        """[rows, 1] the next token to feed (the last one chosen)."""
        self.dynamic = dynamic

    @property
    def active(self) -> bool:
        return any(not row.done for row in self.rows)

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    def step(self, deliver: Deliver, stats: EngineStats | None = None) -> None:
        """One forward pass for every row, then each row's next token."""
        import torch

        loaded = self.loaded
        assert self.tokens is not None
        mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], dim=1)
        with loaded.lock, torch.inference_mode():
            out = loaded.model(
                input_ids=self.tokens,
                attention_mask=mask,
                position_ids=self.positions,
                use_cache=True,
                logits_to_keep=1,
                **{_cache_argument(loaded.model): self.cache},
            )
        self.cache = _output_cache(out)
        self.mask = mask
        self.positions = self.positions + 1
        if stats is not None:
            stats.steps += 1
            stats.rows_decoded += len(self.rows)
        self.advance(out.logits[:, -1, :], deliver)

    def advance(self, logits: torch.Tensor, deliver: Deliver) -> None:
        """Pick each row's next token from ``logits``, hand out the text, and let finished rows go."""
        import torch

        loaded = self.loaded
        rows = self.rows
        done = [row.done for row in rows]
        chosen = _choose(logits.float(), [row.request for row in rows], [row.generator for row in rows], done)
        pieces: list[tuple[GenerationRequest, Piece]] = []
        for row, token in zip(rows, chosen, strict=True):
            if row.done:
                continue
            request = row.request
            if request.cancelled.is_set():
                row.done = True
                continue
            piece = _next_piece(row, token, loaded.eos_token_ids)
            if piece is not None:
                pieces.append((request, piece))
        if pieces:
            deliver(pieces)
        feed = [loaded.pad_token_id if row.done else token for row, token in zip(rows, chosen, strict=True)]
        self.tokens = torch.tensor(feed, dtype=torch.long, device=self.mask.device).unsqueeze(1)
        if self.dynamic and any(row.done for row in rows):
            self._drop_finished()

    def _drop_finished(self) -> None:
        """Let finished rows go, and cut out cache columns no remaining row uses (when it pays)."""
        import torch

        keep = [i for i, row in enumerate(self.rows) if not row.done]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache = None
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        used = mask.any(dim=0)
        unused = self.width - int(used.sum())
        columns = used.nonzero().squeeze(1) if unused >= max(8, self.width // 8) else None
        layers = _layers(self.cache)
        new_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        for layer in layers:
            keys, values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
            if columns is not None:
                keys, values = keys.index_select(2, columns), values.index_select(2, columns)
            new_kv.append((keys, values))
        for layer, (keys, values) in zip(layers, new_kv, strict=True):
            layer.keys, layer.values = keys, values
        self.mask = mask.index_select(1, columns) if columns is not None else mask
        self.positions = self.positions.index_select(0, index)
        assert self.tokens is not None
        self.tokens = self.tokens.index_select(0, index)

    def merge(self, other: Batch) -> None:
        """Stack ``other``'s rows under these, padding the narrower cache on the left."""
        import torch
        import torch.nn.functional as F

        assert self.tokens is not None and other.tokens is not None
        width = max(self.width, other.width)
        pad_a, pad_b = width - self.width, width - other.width
        layers_a, layers_b = _layers(self.cache), _layers(other.cache)
        merged: list[tuple[torch.Tensor, torch.Tensor]] = []
        for a, b in zip(layers_a, layers_b, strict=True):
            keys = torch.cat([F.pad(a.keys, (0, 0, pad_a, 0)), F.pad(b.keys, (0, 0, pad_b, 0))], dim=0)
            values = torch.cat([F.pad(a.values, (0, 0, pad_a, 0)), F.pad(b.values, (0, 0, pad_b, 0))], dim=0)
            merged.append((keys, values))
        mask = torch.cat([F.pad(self.mask, (pad_a, 0)), F.pad(other.mask, (pad_b, 0))], dim=0)
        for layer, (keys, values) in zip(layers_a, merged, strict=True):
            layer.keys, layer.values = keys, values
        self.mask = mask
        self.positions = torch.cat([self.positions, other.positions], dim=0)
        self.tokens = torch.cat([self.tokens, other.tokens], dim=0)
        self.rows = self.rows + other.rows


def _next_piece(row: _Row, token: int, eos_token_ids: frozenset[int]) -> Piece | None:
    """Take ``token`` for ``row``: the text it settles, and whether the answer is over."""
    request, decoder = row.request, row.decoder
    finish: FinishReason | None = None
    if token in eos_token_ids:
        finish = "stop"
        end, _ = scan(decoder.text, row.emitted, request.stops, final=True)
        count = len(decoder.tokens) + 1
    else:
        decoder.add(token)
        count = len(decoder.tokens)
        last = count >= request.max_new_tokens
        end, stopped = scan(decoder.text, row.emitted, request.stops, final=last)
        finish = "stop" if stopped else "length" if last else None
    delta = decoder.text[row.emitted : end]
    row.emitted = end
    if finish is not None:
        row.done = True
        return Piece(delta=delta, finish_reason=finish, completion_tokens=count)
    return Piece(delta=delta) if delta else None


def prefill(
    requests: list[GenerationRequest],
    deliver: Deliver,
    *,
    prefixes: PrefixCache | None = None,
    stats: EngineStats | None = None,
) -> Batch:
    """Run the prompts of ``requests`` (one model) and choose their first tokens: a new batch.

    With ``prefixes``, prompts that share a long enough start reuse (or compute once)
    its KV, and rows are prefilled in one group per prefix.
    """
    loaded = requests[0].loaded
    groups: dict[int, list[GenerationRequest]] = {}
    if prefixes is not None:
        lengths = prefixes.plan([r.prompt_ids for r in requests])
        for request, length in zip(requests, lengths, strict=True):
            groups.setdefault(length, []).append(request)
        prefixes.remember(r.prompt_ids for r in requests)
    else:
        groups[0] = requests
    batch: Batch | None = None
    for length, group in sorted(groups.items()):
        part, logits = _prefill_group(loaded, group, length, prefixes, stats)
        part.advance(logits, deliver)
        if batch is None or not batch.rows:
            batch = part
        elif part.rows:
            batch.merge(part)
    assert batch is not None
    return batch


def _prefill_group(
    loaded: LoadedModel,
    requests: list[GenerationRequest],
    shared: int,
    prefixes: PrefixCache | None,
    stats: EngineStats | None,
) -> tuple[Batch, torch.Tensor]:
    """Prefill rows whose first ``shared`` prompt tokens are the same (0: nothing shared)."""
    import torch

    model, device = loaded.model, loaded.device
    n = len(requests)
    suffixes = [r.prompt_ids[shared:] for r in requests]
    width = max(len(s) for s in suffixes)
    ids = torch.full((n, width), loaded.pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, shared + width), dtype=torch.long)
    mask[:, :shared] = 1
    positions = torch.zeros((n, width), dtype=torch.long)
    for i, suffix in enumerate(suffixes):
        start = width - len(suffix)
        ids[i, start:] = torch.tensor(suffix, dtype=torch.long)
        mask[i, shared + start :] = 1
        positions[i, start:] = torch.arange(shared, shared + len(suffix), dtype=torch.long)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    if shared:
        assert prefixes is not None
        cache = prefixes.expanded(requests[0].prompt_ids[:shared], n, stats)
    else:
        cache = _dynamic_cache(model)  # None: the model makes its own
    with loaded.lock, torch.inference_mode():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{_cache_argument(model): cache},
        )
    cache = _output_cache(out)
    if stats is not None:
        stats.prompt_tokens += sum(len(r.prompt_ids) for r in requests)
        stats.prefill_tokens += sum(len(s) for s in suffixes)
        stats.prefix_hits += n if shared else 0
    rows = [
        _Row(request=r, generator=_generator(r, device), decoder=IncrementalDecoder(loaded.tokenizer)) for r in requests
    ]
    last = torch.tensor([[len(r.prompt_ids)] for r in requests], dtype=torch.long, device=device)
    batch = Batch(loaded, rows, cache, mask, last, dynamic=_layers(cache, strict=False) is not None)
    return batch, out.logits[:, -1, :]


def decode_batch(rows: list[GenerationRequest], deliver: Deliver) -> None:
    """Decode ``rows`` (all on one model) together to the end, handing each step's pieces to ``deliver``."""
    batch = prefill(rows, deliver)
    while batch.active:
        batch.step(deliver)


# -- shared prefixes ---------------------------------------------------------------------


class PrefixCache:
    """KV of shared prompt prefixes for one model (one row each), and its recent prompts.

    Only for models whose cache is a plain ``DynamicCache`` (one key/value tensor pair per
    layer); ``supported`` is False for the others.
    """

    def __init__(self, loaded: LoadedModel, *, budget_bytes: int = PREFIX_CACHE_BYTES) -> None:
        self.owner = loaded
        self.budget_bytes = budget_bytes
        self.entries: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._sizes: dict[tuple[int, ...], int] = {}
        self._recent: OrderedDict[tuple[int, ...], None] = OrderedDict()
        self.supported = _dynamic_cache(loaded.model) is not None

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def plan(self, prompts: Sequence[Sequence[int]]) -> list[int]:
        """How many leading tokens of each prompt to take from a shared prefix (0: none)."""
        return plan_prefixes(prompts, self.entries, self._recent)

    def remember(self, prompts: Iterable[Sequence[int]]) -> None:
        for prompt in prompts:
            key = tuple(prompt)
            self._recent[key] = None
            self._recent.move_to_end(key)
        while len(self._recent) > RECENT_PROMPTS:
            self._recent.popitem(last=False)

    def expanded(self, prefix: Sequence[int], rows: int, stats: EngineStats | None = None) -> Any:
        """A new cache holding ``prefix``'s KV for ``rows`` rows, computing (and keeping) what is missing."""
        kv = self._kv(tuple(prefix), stats)
        cache = _dynamic_cache(self.owner.model)
        for i, (keys, values) in enumerate(kv):
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), i)
        return cache

    def _kv(self, prefix: tuple[int, ...], stats: EngineStats | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        import torch

        found = self.entries.get(prefix)
        if found is not None:
            self.entries.move_to_end(prefix)
            return found
        loaded = self.owner
        start = max((len(k) for k in self.entries if len(k) < len(prefix) and prefix[: len(k)] == k), default=0)
        cache = self.expanded(prefix[:start], 1) if start else _dynamic_cache(loaded.model)
        ids = torch.tensor([prefix[start:]], dtype=torch.long, device=loaded.device)
        positions = torch.arange(start, len(prefix), dtype=torch.long, device=loaded.device).unsqueeze(0)
        mask = torch.ones((1, len(prefix)), dtype=torch.long, device=loaded.device)
        with loaded.lock, torch.inference_mode():
            out = loaded.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{_cache_argument(loaded.model): cache},
            )
        if stats is not None:
            stats.prefill_tokens += len(prefix) - start
        layers = _layers(_output_cache(out))
        assert layers is not None
        kv = [(layer.keys.contiguous(), layer.values.contiguous()) for layer in layers]
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if size <= self.budget_bytes:
            self.entries[prefix] = kv
            self._sizes[prefix] = size
            while self.bytes > self.budget_bytes:
                oldest, _ = self.entries.popitem(last=False)
                del self._sizes[oldest]
        return kv


def plan_prefixes(
    prompts: Sequence[Sequence[int]],
    known: Iterable[tuple[int, ...]],
    recent: Iterable[tuple[int, ...]],
    *,
    min_shared: int = MIN_SHARED_PREFIX,
) -> list[int]:
    """Per prompt, how many leading tokens to take from a shared prefix (0: none).

    A prompt uses the longest ``known`` prefix it starts with, or a new one: its longest
    common start with another of ``prompts`` or a ``recent`` prompt, when that is at least
    ``min_shared`` tokens and ``min_shared`` longer than a prefix already chosen (so
    prompts that differ a few tokens after a common start share that start, not several
    near-copies). Every prompt keeps at least its last token to run.
    """
    known = list(known)
    limits = [len(p) - 1 for p in prompts]
    tuples = [tuple(p) for p in prompts]
    chosen: list[tuple[int, ...]] = list(known)
    ordered = sorted([(t, i) for i, t in enumerate(tuples)] + [(r, -1) for r in recent])
    candidates: set[tuple[int, ...]] = set()
    for j, (sequence, i) in enumerate(ordered):
        if i < 0:
            continue
        common = max(
            (_common_length(sequence, ordered[k][0]) for k in (j - 1, j + 1) if 0 <= k < len(ordered)), default=0
        )
        common = min(common, limits[i])
        if common >= min_shared:
            candidates.add(sequence[:common])
    for candidate in sorted(candidates, key=len):
        if not any(
            len(candidate) - len(q) < min_shared and candidate[: len(q)] == q
            for q in chosen
            if len(q) <= len(candidate)
        ):
            chosen.append(candidate)
    return [
        max((len(q) for q in chosen if len(q) <= limit and t[: len(q)] == q), default=0)
        for t, limit in zip(tuples, limits, strict=True)
    ]


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


# -- transformers glue -------------------------------------------------------------------


GROWTH_ROOM = 64
"""Spare columns a cache layer keeps, so most decode steps write in place instead of copying the cache."""


def _dynamic_cache(model: Any) -> Any:
    """An empty cache for ``model`` whose layers we can reshape (plain dynamic ones), else None.

    Its layers are `_growing_layer()` ones: a step writes the new token's key and value
    into spare room rather than concatenating (copying) the whole cache, as
    ``DynamicLayer`` does on every step.
    """
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        cache = DynamicCache(config=model.config)
        layers = getattr(cache, "layers", None)
        if not layers or any(type(layer) is not DynamicLayer for layer in layers):
            return None  # sliding-window, linear-attention or hybrid layers: not ours to reshape
        growing = _growing_layer()
        cache.layers = [growing() for _ in layers]
    except Exception:  # an older transformers, or a model whose cache is not a DynamicCache
        return None
    return cache


def _layers(cache: Any, *, strict: bool = True) -> Any:
    """The per-layer key/value holders of ``cache`` when it is one of `_dynamic_cache()`'s, else None."""
    layers = getattr(cache, "layers", None)
    growing = _growing_layer()
    if not layers or any(type(layer) is not growing or not layer.is_initialized for layer in layers):
        if strict:
            raise TypeError(f"cannot reshape a {type(cache).__name__}")
        return None
    return layers


@functools.cache
def _growing_layer() -> type[Any]:
    """``DynamicLayer`` with room to grow: new tokens are written in place, not concatenated.

    ``keys`` and ``values`` are views of the filled part of larger buffers. Whoever sets
    them (the engine when rows join or leave, or transformers' own ``crop`` and
    ``batch_select_indices``) replaces them with plain tensors; the next ``update`` then
    copies them into new buffers with room again.
    """
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):  # type: ignore[no-untyped-call]
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None
            self._views: tuple[torch.Tensor, torch.Tensor] | None = None

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            new = key_states.shape[-2]
            keys, values = self.keys, self.values
            assert keys is not None and values is not None  # set by lazy_initialization
            if (
                self._buffers is not None
                and self._views is not None
                and keys is self._views[0]
                and values is self._views[1]
                and keys.shape[-2] + new <= self._buffers[0].shape[-2]
            ):
                key_buffer, value_buffer = self._buffers
                start = keys.shape[-2]
            else:
                start = keys.shape[-2] if keys.dim() == 4 else 0
                batch, heads, _, _ = key_states.shape
                room = start + new + GROWTH_ROOM
                key_buffer = key_states.new_empty((batch, heads, room, key_states.shape[-1]))
                value_buffer = value_states.new_empty((batch, heads, room, value_states.shape[-1]))
                if start:
                    key_buffer[:, :, :start] = keys
                    value_buffer[:, :, :start] = values
                self._buffers = (key_buffer, value_buffer)
            end = start + new
            key_buffer[:, :, start:end] = key_states
            value_buffer[:, :, start:end] = value_states
            self.keys, self.values = key_buffer[:, :, :end], value_buffer[:, :, :end]
            self._views = (self.keys, self.values)
            return self.keys, self.values

    return GrowingLayer


def _output_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


class IncrementalDecoder:
    """Token ids to text one token at a time, decoding only a short window each step.

    Byte-level tokenizers can split a character (or a word's leading space) across
    tokens, so the newest tokens are decoded together with a few before them and only
    text that has settled (no trailing replacement character) is appended.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.tokens: list[int] = []
        self.text = ""
        self._prefix = 0
        self._read = 0

    def add(self, token: int) -> None:
        self.tokens.append(token)
        decode = self._tokenizer.decode
        before = decode(self.tokens[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self.tokens[self._prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self.text += after[len(before) :]
            self._prefix, self._read = self._read, len(self.tokens)


_CACHE_ARGUMENTS: dict[type, str] = {}


def _cache_argument(model: Any) -> str:
    """``cache`` in transformers 5, ``past_key_values`` before it."""
    import inspect

    kind = type(model)
    if kind not in _CACHE_ARGUMENTS:
        parameters = inspect.signature(model.forward).parameters
        _CACHE_ARGUMENTS[kind] = "cache" if "cache" in parameters else "past_key_values"
    return _CACHE_ARGUMENTS[kind]


def _generator(row: GenerationRequest, device: str) -> Any:
    import torch

    if row.temperature <= 0:
        return None
    generator = torch.Generator(device=device)
    if row.seed is not None:
        generator.manual_seed(row.seed)
    else:
        generator.seed()
    return generator


def _choose(logits: Any, rows: list[GenerationRequest], generators: list[Any], done: list[bool]) -> list[int]:
    """Next token per row: argmax for temperature 0, else temperature + top-p sampling."""
    import torch

    chosen: list[int] = logits.argmax(dim=-1).tolist()
    for i, row in enumerate(rows):
        if done[i] or row.temperature <= 0:
            continue
        probs = torch.softmax(logits[i] / row.temperature, dim=-1)
        if row.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < row.top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        chosen[i] = int(torch.multinomial(probs, 1, generator=generators[i]).item())
    return chosen
