"""Loading a model directory (plus an optional LoRA adapter) once, and sharing it.

Weights load from safetensors only: a ``.bin`` pickle can run code on load.
``trust_remote_code`` stays off unless the profile turns it on. Loaded models live in a
process-wide, reference-counted cache keyed by (base, adapter, device, dtype), so every
provider and embedder that names the same model shares one copy, and the last
``release`` frees it.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise import ConfigError, NotFoundError
from tunewise_local._devices import resolve_device, resolve_dtype
from tunewise_local._options import LoadOptions


@contextlib.contextmanager
def peft_quietly() -> Iterator[None]:
    """Wrap peft calls: peft reads ``is_gradient_checkpointing``, which transformers 5 deprecated.

    The FutureWarning is about peft's code, not the user's, and would otherwise land in every
    demo and CLI run that loads an adapter.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


LOAD_LOCK = threading.Lock()
"""Held around every ``from_pretrained`` of this process: transformers builds a model on the meta device
inside a process-wide context, and two threads loading at once (a thread fine-tune worker and a provider)
can leave one model's weights on the meta device ("Cannot copy out of meta tensor")."""

CacheKey = tuple[str, str | None, str, str]


@dataclass
class LoadedModel:
    """A model and its tokenizer, ready on their device, with what generation needs to know."""

    key: CacheKey
    name: str
    model: Any
    tokenizer: Any
    device: str
    max_context: int
    eos_token_ids: frozenset[int]
    pad_token_id: int
    hidden_size: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while the model runs, so generation and embedding never share it at once."""

    def chat_prompt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> list[int]:
        """Token ids of the conversation rendered with the tokenizer's chat template."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"local: model {self.name} has no chat template in its tokenizer files")
        text = self.tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids


def split_model_name(name: str) -> tuple[str, str | None]:
    """``"/base+/adapter"`` (what ``ModelRef.model`` gives) into base and adapter paths."""
    base, plus, adapter = name.partition("+")
    return base, (adapter if plus else None)


def check_model_dir(path: Path, *, adapter: bool = False) -> None:
    """A one-line error unless ``path`` is a model (or adapter) directory with safetensors weights."""
    what = "adapter" if adapter else "model"
    if not path.is_dir():
        hint = (
            ""
            if adapter
            else f" (a local model is a model directory, a .gguf file, org/name in the HF cache or {_packaged_names()})"
        )
        raise NotFoundError(f"{what} directory {path} does not exist{hint}", provider="local")
    marker = "adapter_config.json" if adapter else "config.json"
    if not (path / marker).is_file():
        raise NotFoundError(f"{path} is not a Hugging Face {what} directory (no {marker})", provider="local")
    if not any(path.glob("*.safetensors")):
        pickles = [p.name for p in path.glob("*.bin")]
        hint = f" (found {', '.join(pickles)}: convert it to safetensors first)" if pickles else ""
        raise ConfigError(f"local: {path} has no .safetensors weights; only safetensors are loaded{hint}")


def _packaged_names() -> str:
    from tunewise_local._resolve import PACKAGED

    return ", ".join(PACKAGED)


def load(base: str, adapter: str | None, options: LoadOptions) -> LoadedModel:
    """Load synchronously (call it from a worker thread): tokenizer, weights, adapter merged in."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path = Path(base).expanduser()
    check_model_dir(base_path)
    adapter_path = Path(adapter).expanduser() if adapter else None
    if adapter_path is not None:
        check_model_dir(adapter_path, adapter=True)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    common: dict[str, Any] = {"trust_remote_code": options.trust_remote_code, "local_files_only": True}
    with LOAD_LOCK:
        tokenizer = AutoTokenizer.from_pretrained(base_path, **common)
        tokenizer.padding_side = "left"
        model: Any = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, use_safetensors=True, **common)
        if adapter_path is not None:
            from peft import PeftModel

            # Merged once at load: inference then costs exactly what the base model costs.
            with peft_quietly():
                model = PeftModel.from_pretrained(model, adapter_path, is_trainable=False).merge_and_unload()
    model.to(device)
    model.eval()
    eos = model.generation_config.eos_token_id if model.generation_config is not None else None
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        tokenizer.pad_token_id = pad
    config = model.config
    name = f"{base_path}+{adapter_path}" if adapter_path else str(base_path)
    return LoadedModel(
        key=cache_key(base, adapter, options),
        name=name,
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_context=int(getattr(config, "max_position_embeddings", None) or tokenizer.model_max_length or 2048),
        eos_token_ids=frozenset(int(i) for i in eos_ids),
        pad_token_id=int(pad),
        hidden_size=int(config.hidden_size),
    )


def cache_key(base: str, adapter: str | None, options: LoadOptions) -> CacheKey:
    base_key = str(Path(base).expanduser().resolve())
    adapter_key = str(Path(adapter).expanduser().resolve()) if adapter else None
    return (base_key, adapter_key, options.device, options.dtype)


class ModelCache:
    """Process-wide cache of loaded models with reference counts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: dict[CacheKey, threading.Lock] = {}
        self._models: dict[CacheKey, LoadedModel] = {}
        self._refs: dict[CacheKey, int] = {}

    def acquire(self, name: str, options: LoadOptions) -> LoadedModel:
        """The loaded model for ``name`` (``base`` or ``base+adapter``), loading it once."""
        base, adapter = split_model_name(name)
        key = cache_key(base, adapter, options)
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # concurrent first requests for one model load it once
            with self._lock:
                if key in self._models:
                    self._refs[key] += 1
                    return self._models[key]
            loaded = load(base, adapter, options)
            with self._lock:
                self._models[key] = loaded
                self._refs[key] = 1
            return loaded

    def release(self, loaded: LoadedModel) -> None:
        """Drop one reference; the model is freed when nobody holds it."""
        with self._lock:
            count = self._refs.get(loaded.key, 0) - 1
            if count > 0:
                self._refs[loaded.key] = count
                return
            self._refs.pop(loaded.key, None)
            self._models.pop(loaded.key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


MODELS = ModelCache()
"""The one cache every local provider in this process shares."""
