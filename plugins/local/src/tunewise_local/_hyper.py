"""Fine-tuning hyperparameters: the spec's fields and ``options``, resolved once and recorded.

They are resolved when the job starts and written into the job directory, so a resumed
run trains with exactly the settings the first run had.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise import ConfigError, FineTuneSpec
from tunewise.plugin import config_error


class Hyperparameters(BaseModel):
    """Everything the training loop reads. ``FineTuneSpec.options`` may set any field but the first five."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    method: Literal["lora", "full"] = "lora"
    n_epochs: int = Field(default=3, ge=1)
    batch_size: int = Field(default=4, ge=1)
    learning_rate: float = Field(default=2e-4, gt=0)
    seed: int = 0
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    lora_r: int = Field(default=8, ge=1)
    lora_alpha: float = Field(default=16.0, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"
    lora_layers: int | None = Field(default=None, ge=1)
    """LoRA on the last N transformer layers only (None: all). The backward pass then stops at the
    lowest adapted layer, so a CPU fine-tune costs a fraction of the time; style lives near the top."""
    max_length: int = Field(default=1024, ge=8)
    validation_split: float = Field(default=0.1, ge=0, lt=1)
    eval_every: int = Field(default=0, ge=0)
    """Validation loss every N optimizer steps (0: at the end of each epoch only)."""
    checkpoint_every: int = Field(default=50, ge=0)
    """A checkpoint every N optimizer steps (0: at the end of each epoch)."""
    keep_checkpoints: int = Field(default=2, ge=1)
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: much less memory, about a third more time."""
    max_steps: int | None = Field(default=None, ge=1)
    """Stop after this many optimizer steps, whatever ``n_epochs`` says."""
    device: str = "auto"
    num_threads: int | None = Field(default=None, ge=1)
    """CPU threads for the worker (``torch.set_num_threads``); None keeps torch's default."""
    dtype: str = "auto"
    """Weights' dtype (``auto``: bfloat16 on GPUs that have it, float32 on the CPU); with ``load_in_4bit``,
    the dtype of the layers left unquantized and of the 4-bit layers' computation."""
    trust_remote_code: bool = False
    load_in_4bit: bool = False
    """QLoRA: load the frozen base in 4 bits (bitsandbytes) and train LoRA adapters on it. Needs a CUDA GPU,
    ``pip install "tunewise-local[qlora]"`` and method ``lora``; checked before the job starts."""
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    """The 4-bit data type: ``nf4`` (NormalFloat, the QLoRA paper's) or ``fp4``."""
    bnb_4bit_use_double_quant: bool = True
    """Quantize the quantization constants too (about 0.4 bit per parameter saved, as in the QLoRA paper)."""
    worker: Literal["process", "thread"] = "process"
    """``process`` (default) survives the caller and can be killed and resumed; ``thread`` starts faster."""
    max_resumes: int = Field(default=3, ge=0)
    """How many times a job whose worker died is restarted from its last checkpoint."""
    output_dir: str | None = None


_SPEC_FIELDS = {"method", "n_epochs", "batch_size", "learning_rate", "seed"}
_FOUR_BIT_FIELDS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant")
DEFAULT_LEARNING_RATE = {"lora": 2e-4, "full": 2e-5}


def resolve(spec: FineTuneSpec) -> Hyperparameters:
    """The spec's hyperparameters with defaults filled in; a bad option is a one-line ConfigError."""
    options = dict(spec.options)
    clash = sorted(set(options) & _SPEC_FIELDS)
    if clash:
        raise ConfigError(f"local fine-tune: set {', '.join(clash)} on FineTuneSpec itself, not in options")
    method = "full" if spec.method == "full" else "lora"
    learning_rate = spec.learning_rate or DEFAULT_LEARNING_RATE[method] * (spec.learning_rate_multiplier or 1.0)
    values: dict[str, Any] = {"method": method, "learning_rate": learning_rate, **options}
    if spec.n_epochs is not None:
        values["n_epochs"] = spec.n_epochs
    if spec.batch_size is not None:
        values["batch_size"] = spec.batch_size
    if spec.seed is not None:
        values["seed"] = spec.seed
    try:
        hp = Hyperparameters.model_validate(values)
    except ValidationError as exc:
        known = sorted(set(Hyperparameters.model_fields) - _SPEC_FIELDS)
        raise config_error(exc, "local fine-tune: options", known=known) from None
    _check_four_bit(hp)
    return hp


def _check_four_bit(hp: Hyperparameters) -> None:
    """``load_in_4bit`` with LoRA only, and the ``bnb_4bit_*`` options only with it (never ignored)."""
    if hp.load_in_4bit and hp.method != "lora":
        raise ConfigError(
            f'local fine-tune: options.load_in_4bit: needs method "lora", not {hp.method!r} '
            "(QLoRA trains LoRA adapters on a frozen 4-bit base; 4-bit weights cannot be trained)"
        )
    stray = [name for name in _FOUR_BIT_FIELDS if name in hp.model_fields_set]
    if stray and not hp.load_in_4bit:
        raise ConfigError(
            f"local fine-tune: options.{stray[0]}: applies only to a 4-bit base; set load_in_4bit=true as well"
        )
