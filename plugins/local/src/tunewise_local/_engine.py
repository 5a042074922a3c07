"""The generation engine: one worker thread that batches concurrent requests.

Requests wait in a queue; the worker takes the first, gathers more for the same model
until ``max_batch_size`` or ``max_wait_s`` is reached, and decodes them together in one
left-padded batch with a shared KV cache. Each row keeps its own sampling settings,
seed, stop sequences and token budget, and its text is handed back token by token, so
streaming and batching are the same code path.

Hugging Face's ``generate`` takes one set of sampling settings and one streamer per
call; this loop is the same greedy / temperature / top-p decoding with per-row
settings, which is what batching independent requests needs.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
from anyio.lowlevel import EventLoopToken
from anyio.streams.memory import MemoryObjectSendStream

from tunewise._types import FinishReason
from tunewise_local._loading import LoadedModel
from tunewise_local._stops import REPLACEMENT, scan


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
    """What the engine has done: requests served and the size of each batch it ran."""

    requests: int = 0
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def batches(self) -> int:
        return len(self.batch_sizes)


class Engine:
    """Owns the worker thread. ``submit`` from any event loop; ``close`` to stop it."""

    def __init__(self, *, max_batch_size: int = 8, max_wait_s: float = 0.01) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.stats = EngineStats()
        self._queue: queue.Queue[GenerationRequest | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, request: GenerationRequest) -> None:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the local provider is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tunewise-local-engine", daemon=True)
                self._thread.start()
        self._queue.put(request)

    def close(self) -> None:
        """Finish the batch in flight, fail what still waits, and join the thread (blocking)."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    # -- worker thread ------------------------------------------------------------------

    def _run(self) -> None:
        pending: deque[GenerationRequest] = deque()
        stopping = False
        while True:
            if pending:
                first = pending.popleft()
            elif stopping:
                return
            else:
                item = self._queue.get()
                if item is None:
                    return
                first = item
            batch = [first]
            for request in list(pending):
                if len(batch) < self.max_batch_size and request.loaded.key == first.loaded.key:
                    pending.remove(request)
                    batch.append(request)
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size and not stopping:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                elif item.loaded.key == first.loaded.key:
                    batch.append(item)
                else:
                    pending.append(item)
            live = [r for r in batch if not r.cancelled.is_set()]
            if live:
                self.stats.requests += len(live)
                self.stats.batch_sizes.append(len(live))
                try:
                    decode_batch(live, _deliver)
                except Exception as exc:  # one bad batch must not kill the engine
                    message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    _deliver([(r, Piece(error=message, finish_reason="error")) for r in live])
            if stopping:
                for request in list(pending) + _drain(self._queue):
                    _deliver([(request, Piece(error="the local provider was closed", finish_reason="error"))])
                return


def _drain(q: queue.Queue[GenerationRequest | None]) -> list[GenerationRequest]:
    items: list[GenerationRequest] = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return items
        if item is not None:
            items.append(item)


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


def decode_batch(
    rows: list[GenerationRequest], deliver: Callable[[list[tuple[GenerationRequest, Piece]]], None]
) -> None:
    """Decode ``rows`` (all on one model) together, handing each step's pieces to ``deliver``."""
    import torch

    loaded = rows[0].loaded
    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    n = len(rows)
    width = max(len(r.prompt_ids) for r in rows)
    ids = torch.full((n, width), loaded.pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids, dtype=torch.long)
        mask[i, width - len(row.prompt_ids) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = [_generator(row, device) for row in rows]
    decoders = [IncrementalDecoder(tokenizer) for _ in rows]
    emitted = [0] * n
    done = [False] * n
    steps = max(r.max_new_tokens for r in rows)
    cache_arg = _cache_argument(model)
    past: Any = None
    with loaded.lock, torch.inference_mode():
        for _ in range(steps):
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{cache_arg: past},
            )
            past = out.cache if cache_arg == "cache" else out.past_key_values
            chosen = _choose(out.logits[:, -1, :].float(), rows, generators, done)
            pieces: list[tuple[GenerationRequest, Piece]] = []
            for i, row in enumerate(rows):
                if done[i]:
                    continue
                if row.cancelled.is_set():
                    done[i] = True
                    continue
                token = chosen[i]
                decoder = decoders[i]
                finish: FinishReason | None = None
                if token in loaded.eos_token_ids:
                    finish = "stop"
                    end, _ = scan(decoder.text, emitted[i], row.stops, final=True)
                    count = len(decoder.tokens) + 1
                else:
                    decoder.add(token)
                    count = len(decoder.tokens)
                    last = count >= row.max_new_tokens
                    end, stopped = scan(decoder.text, emitted[i], row.stops, final=last)
                    finish = "stop" if stopped else "length" if last else None
                text = decoder.text
                delta = text[emitted[i] : end]
                emitted[i] = end
                if finish is not None:
                    done[i] = True
                    pieces.append((row, Piece(delta=delta, finish_reason=finish, completion_tokens=count)))
                elif delta:
                    pieces.append((row, Piece(delta=delta)))
            if pieces:
                deliver(pieces)
            if all(done):
                return
            feed = [t if not d else loaded.pad_token_id for t, d in zip(chosen, done, strict=True)]
            ids = torch.tensor(feed, dtype=torch.long, device=device).unsqueeze(1)
            mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=device)], dim=1)
            positions = positions[:, -1:] + 1


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


def _cache_argument(model: Any) -> str:
    """``cache`` in transformers 5, ``past_key_values`` before it."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


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
