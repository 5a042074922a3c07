"""QLoRA's 4-bit base: checked before a job starts, and the ``BitsAndBytesConfig`` it loads with.

A 4-bit base needs an NVIDIA GPU and bitsandbytes (``pip install "tunewise-local[qlora]"``).
Both are checked when the job is created, before anything is written: a job that asked for
a 4-bit base and trained a 16-bit one instead would cost four times the memory it was
sized for, so there is no silent fall-back. Whether bitsandbytes is installed is read
from the import system (``importlib.util.find_spec``) without importing it or torch.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from tunewise import ConfigError
from tunewise_local._hyper import Hyperparameters

INSTALL_HINT = 'pip install "tunewise-local[qlora]"'


def bitsandbytes_installed() -> bool:
    """Whether ``import bitsandbytes`` would find the package (it is not imported here)."""
    return importlib.util.find_spec("bitsandbytes") is not None


def quantization_problems(device: str, *, cuda: bool, bitsandbytes: bool) -> list[str]:
    """What stops a 4-bit base, in words (empty: nothing).

    ``device`` is the job's ``device`` option (``auto``, ``cpu``, ``cuda:1``...), ``cuda`` whether
    torch sees a CUDA GPU, ``bitsandbytes`` whether it is installed.
    """
    problems = []
    if device.split(":", 1)[0] in ("cpu", "mps"):
        problems.append(f"a CUDA GPU (device is {device!r})")
    elif not cuda:
        problems.append("a CUDA GPU (torch sees none)")
    if not bitsandbytes:
        problems.append(f"bitsandbytes (not installed: {INSTALL_HINT})")
    return problems


def check_quantization(hp: Hyperparameters) -> None:
    """A one-line ConfigError naming ``options.load_in_4bit`` when this machine cannot train on a 4-bit base.

    Every missing piece is named at once (the GPU and bitsandbytes), so one fix is never
    followed by a second error.
    """
    if not hp.load_in_4bit:
        return
    cuda = False
    if hp.device.split(":", 1)[0] in ("auto", "cuda"):
        import torch

        cuda = torch.cuda.is_available()
    problems = quantization_problems(hp.device, cuda=cuda, bitsandbytes=bitsandbytes_installed())
    if problems:
        raise ConfigError(
            "local fine-tune: options.load_in_4bit: a 4-bit (QLoRA) base needs "
            + " and ".join(problems)
            + "; leave load_in_4bit off to train LoRA on a 16-bit base"
        )


def quantization_kwargs(hp: Hyperparameters, compute_dtype: Any) -> dict[str, Any]:
    """The ``BitsAndBytesConfig`` arguments of ``hp``'s 4-bit base, computing in ``compute_dtype`` (a torch dtype)."""
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": hp.bnb_4bit_quant_type,
        "bnb_4bit_use_double_quant": hp.bnb_4bit_use_double_quant,
        "bnb_4bit_compute_dtype": compute_dtype,
    }


def quantization_config(hp: Hyperparameters, compute_dtype: Any) -> Any:
    """Transformers' ``BitsAndBytesConfig`` for ``hp`` (it imports transformers; bitsandbytes loads with the model)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(**quantization_kwargs(hp, compute_dtype))  # type: ignore[no-untyped-call]
