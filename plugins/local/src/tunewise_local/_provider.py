"""``LocalProvider``: chat, streaming, embeddings and fine-tuning with models on this machine."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from tunewise import (
    BadRequestError,
    BaseProvider,
    Capability,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ProviderConfig,
    ProviderError,
    TunewiseError,
    Usage,
)
from tunewise.interfaces.embedder import check_texts
from tunewise_local import CAPABILITIES
from tunewise_local._clock import CLOCK, device_kind
from tunewise_local._engine import Engine, EngineStats, GenerationRequest, Piece
from tunewise_local._loading import MODELS, LoadedModel
from tunewise_local._options import LocalOptions
from tunewise_local._resolve import resolve_model_name

if TYPE_CHECKING:
    from tunewise_local._finetune import LocalFineTuner


class LocalProvider(BaseProvider):
    """Serves ``local:/path/to/model`` and ``local:/path/base+/path/adapter``.

    Models load on first use in a worker thread and are shared process-wide; concurrent
    requests for one model are batched by one engine thread. Close with `aclose()`.
    """

    capabilities: frozenset[Capability] = CAPABILITIES

    def __init__(
        self, *, name: str = "local", home: str | Path | None = None, options: LocalOptions | None = None
    ) -> None:
        self.name = name
        self.options = options or LocalOptions()
        self.home = Path(home) if home is not None else None
        self._engine = Engine(max_batch_size=self.options.max_batch_size, max_wait_s=self.options.max_wait_ms / 1000)
        self._loaded: dict[str, LoadedModel] = {}
        self._devices: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ProviderConfig) -> LocalProvider:
        return cls(name=config.name, home=config.home, options=LocalOptions.parse(config.options, profile=config.name))

    @property
    def stats(self) -> EngineStats:
        """Requests served and batch sizes, to see batching at work."""
        return self._engine.stats

    # -- models -------------------------------------------------------------------------

    def _acquire_sync(self, model: str) -> LoadedModel:
        with self._lock:
            if model not in self._loaded:
                self._loaded[model] = MODELS.acquire(resolve_model_name(model, self.home), self.options.load)
            return self._loaded[model]

    async def load(self, model: str) -> LoadedModel:
        """Load ``model`` (``base`` or ``base+adapter``) now, off the event loop, and keep it until close.

        Requests load their model on first use; call this to pay the load before the first one.
        """
        loaded = self._loaded.get(model)
        if loaded is not None:
            return loaded
        try:
            return await anyio.to_thread.run_sync(self._acquire_sync, model)
        except TunewiseError:
            raise
        except Exception as exc:  # a broken model folder: transformers' errors become one line
            raise ProviderError(f"cannot load {model}: {_first_line(exc)}", provider=self.name) from exc

    # -- chat ---------------------------------------------------------------------------

    async def _pieces(self, request: ChatRequest) -> AsyncIterator[tuple[Piece, Usage | None]]:
        """The answer's pieces; the last one comes with its usage (tokens and compute time)."""
        loaded = await self.load(request.model)
        messages = [m.to_openai() for m in request.messages]
        tools = [dict(t) for t in request.tools] if request.tools else None
        try:
            prompt_ids = await anyio.to_thread.run_sync(loaded.chat_prompt, messages, tools)
        except TunewiseError:
            raise
        except Exception as exc:  # the chat template refused the conversation (roles out of order...)
            raise BadRequestError(
                f"{loaded.name}'s chat template cannot render this conversation: {_first_line(exc)}",
                provider=self.name,
            ) from exc
        room = loaded.max_context - len(prompt_ids)
        if room < 1:
            raise BadRequestError(
                f"the prompt is {len(prompt_ids)} tokens; {loaded.name} takes at most {loaded.max_context}",
                provider=self.name,
            )
        send, receive = anyio.create_memory_object_stream[Piece](math.inf)
        job = GenerationRequest(
            loaded=loaded,
            prompt_ids=prompt_ids,
            max_new_tokens=min(request.max_tokens or self.options.max_tokens, room),
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            stops=tuple(s for s in request.stop or () if s),
            seed=request.seed,
            send=send,
            token=anyio.lowlevel.current_token(),
        )
        mark = CLOCK.start()
        stopped = False
        try:
            self._engine.submit(job)
        except RuntimeError as exc:
            CLOCK.stop(mark)
            raise ProviderError(str(exc), provider=self.name) from None
        try:
            async with receive:
                async for piece in receive:
                    if piece.error is not None:
                        raise ProviderError(f"generation failed: {piece.error}", provider=self.name)
                    usage = None
                    if piece.finish_reason is not None:
                        stopped = True
                        usage = Usage(
                            prompt_tokens=len(prompt_ids),
                            completion_tokens=piece.completion_tokens,
                            compute_s=CLOCK.stop(mark),
                            compute_device=self._device_kind(loaded),
                        )
                    yield piece, usage
                    if usage is not None:
                        return
        finally:
            job.cancelled.set()
            if not stopped:
                CLOCK.stop(mark)

    def _device_kind(self, loaded: LoadedModel) -> str:
        kind = self._devices.get(loaded.device)
        if kind is None:
            kind = self._devices[loaded.device] = device_kind(loaded.device)
        return kind

    async def chat(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        parts: list[str] = []
        final = Piece()
        usage = Usage()
        async for piece, last in self._pieces(request):
            parts.append(piece.delta)
            final, usage = piece, last or usage
        return ChatResponse(
            text="".join(parts),
            model=request.model,
            finish_reason=final.finish_reason,
            usage=usage,
            latency_s=time.perf_counter() - started,
            request_id=f"local-{uuid.uuid4().hex[:12]}",
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        request_id = f"local-{uuid.uuid4().hex[:12]}"
        async for piece, usage in self._pieces(request):
            if piece.finish_reason is None:
                yield ChatChunk(delta=piece.delta, model=request.model, request_id=request_id)
            else:
                yield ChatChunk(
                    delta=piece.delta,
                    finish_reason=piece.finish_reason,
                    usage=usage,
                    model=request.model,
                    request_id=request_id,
                )

    # -- embeddings and fine-tuning -------------------------------------------------------

    def embedder(self, model: str) -> LocalEmbedder:
        return LocalEmbedder(self, model)

    def fine_tuner(self) -> LocalFineTuner:
        from tunewise_local._finetune import LocalFineTuner

        return LocalFineTuner(self)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._engine.close)
        with self._lock:
            loaded, self._loaded = list(self._loaded.values()), {}
        for entry in loaded:
            MODELS.release(entry)

    def __repr__(self) -> str:
        return f"<LocalProvider {self.name!r} device={self.options.load.device!r} models={len(self._loaded)}>"


class LocalEmbedder:
    """Mean-pooled, L2-normalised last hidden states of a local model (masking padding)."""

    def __init__(self, provider: LocalProvider, model: str, *, batch_size: int = 32) -> None:
        self.name = f"{provider.name}:{model}"
        self._provider = provider
        self._model = model
        self._batch_size = batch_size
        self._dimension: int | None = None

    @property
    def dimension(self) -> int | None:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        check_texts(texts)
        if not texts:
            return []
        loaded = await self._provider.load(self._model)
        self._dimension = loaded.hidden_size
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            chunk = list(texts[start : start + self._batch_size])
            try:
                vectors.extend(await anyio.to_thread.run_sync(_embed_sync, loaded, chunk))
            except TunewiseError:
                raise
            except Exception as exc:
                raise ProviderError(f"embedding failed: {_first_line(exc)}", provider=self._provider.name) from exc
        return vectors


def _first_line(exc: BaseException) -> str:
    """``Type: message`` on one line, for errors from torch, transformers or jinja."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _embed_sync(loaded: LoadedModel, texts: list[str]) -> list[list[float]]:
    import torch

    batch = loaded.tokenizer(
        texts, return_tensors="pt", padding=True, truncation=True, max_length=loaded.max_context
    ).to(loaded.device)
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    with loaded.lock, torch.inference_mode():
        out = loaded.model(**batch, position_ids=positions, output_hidden_states=True)
        hidden = out.hidden_states[-1].float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
    result: list[list[float]] = pooled.cpu().tolist()
    return result
