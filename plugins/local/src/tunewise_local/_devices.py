"""Which device and dtype a model runs on: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from tunewise import ConfigError

if TYPE_CHECKING:
    import torch

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(requested: str = "auto") -> str:
    """``auto`` becomes ``cuda`` when a GPU is visible, else ``mps``, else ``cpu``.

    An explicit ``cuda``/``mps`` that is not available is a one-line ConfigError rather
    than a silent fall back to the CPU (a 50x slower run nobody asked for).
    """
    import torch

    base = requested.split(":", 1)[0]
    if base not in ("auto", "cpu", "cuda", "mps"):
        raise ConfigError(f"local: device {requested!r} is not one of auto, cpu, cuda, cuda:N, mps")
    if base == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"local: device {requested!r} asked for, but torch sees no CUDA GPU")
    if base == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"local: device {requested!r} asked for, but torch sees no MPS device")
    return requested


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX, read from ``/proc/cpuinfo``).

    On such a CPU ``dtype="bfloat16"`` decodes about 1.6-2x faster than float32 (SmolLM2-135M on
    2 cores); the demo uses it there. ``auto`` stays float32 on the CPU: exact, and fast everywhere.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return bool(set(line.split(":", 1)[1].split()) & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_dtype(requested: str, device: str, *, full_training: bool = False) -> torch.dtype:
    """``auto``: bfloat16 on GPUs that support it (float16 otherwise), float32 on the CPU.

    Full fine-tuning keeps float32 weights everywhere (pure half-precision training
    loses small updates); LoRA trains float32 adapters on half-precision base weights.
    """
    import torch

    if requested not in DTYPES:
        raise ConfigError(f"local: dtype {requested!r} is not one of {', '.join(DTYPES)}")
    if requested != "auto":
        dtype: torch.dtype = getattr(torch, requested)
        return dtype
    if full_training or device == "cpu":
        return torch.float32
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16
