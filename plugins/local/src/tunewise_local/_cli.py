"""``tunewise local ...``: tiny models, fine-tune jobs and adapter merges on this machine.

The plugin contributes these commands through ``ProviderPlugin.commands``; tunewise's root
command finds them by the plugin's name. torch is imported only when a command runs, so
``tunewise --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from tunewise import ConfigError

if TYPE_CHECKING:
    from tunewise_local._provider import LocalProvider

local_app = typer.Typer(
    name="local",
    help="Models on this machine: build a tiny model, fine-tune (LoRA or full), follow jobs, merge adapters.",
    no_args_is_help=True,
)


def _provider(profile: str) -> LocalProvider:
    from tunewise import Registry
    from tunewise_local._provider import LocalProvider

    provider = Registry().provider(profile)
    if not isinstance(provider, LocalProvider):
        raise ConfigError(f"profile {profile!r} is not served by the local plugin")
    return provider


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"--option {pair!r}: write it as KEY=VALUE, e.g. lora_r=16")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


async def _follow(job: Any, *, quiet: bool) -> None:
    async for event in job.events():
        if quiet and event.type == "step":
            continue
        colour = {"error": "red", "warn": "yellow"}.get(event.level)
        typer.secho(event.message, fg=colour)


@local_app.command("tiny")
def tiny_command(
    directory: Annotated[Path, typer.Argument(file_okay=False, help="Where to write the model (created).")],
    corpus: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A text file, one text per line, for the tokenizer and pre-training."
        ),
    ] = None,
    vocab_size: Annotated[int, typer.Option(min=264, max=262_144, help="BPE vocabulary size.")] = 512,
    hidden_size: Annotated[int, typer.Option(min=2, max=4096, help="Hidden size (heads x an even head size).")] = 64,
    layers: Annotated[int, typer.Option(min=1, max=64, help="Transformer layers.")] = 2,
    heads: Annotated[int, typer.Option(min=1, max=64, help="Attention heads.")] = 4,
    pretrain_steps: Annotated[int, typer.Option(min=0, help="Causal-LM steps on the corpus before saving.")] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed for weights and pre-training.")] = 0,
) -> None:
    """Build a tiny Llama-style chat model from text, with no download (tests, demos, CI)."""
    from tunewise_local.tiny import TinyShape, build_tiny_model

    shape = TinyShape(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_layers=layers,
        num_heads=heads,
        pretrain_steps=pretrain_steps,
        seed=seed,
    )
    texts = None
    if corpus is not None:
        texts = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not texts:
            raise ConfigError(f"--corpus {corpus}: the file has no text (one text per line)")
    out = build_tiny_model(directory, texts, shape)
    typer.echo(f"local:{out.resolve()}")


def _spec(**fields: Any) -> Any:
    from tunewise import FineTuneSpec

    return FineTuneSpec(**fields)


@local_app.command("train")
def train_command(
    base_model: Annotated[str, typer.Argument(help="Model directory to fine-tune.")],
    training_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Chat JSONL, one {'messages': [...]} per line.")
    ],
    validation_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Held-out chat JSONL for validation loss.")
    ] = None,
    method: Annotated[Literal["lora", "full"], typer.Option(help="LoRA adapters or every weight.")] = "lora",
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default 3).")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Examples per micro-batch (default 4).")] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Peak learning rate (above 0).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed for data order and initialisation.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="KEY=VALUE, e.g. -o lora_r=16 -o max_steps=100.")
    ] = None,
    follow: Annotated[bool, typer.Option(help="Stream events until the job ends.")] = True,
    quiet: Annotated[bool, typer.Option(help="With --follow, hide per-step events.")] = False,
    profile: Annotated[str, typer.Option(help="The local profile whose settings to use.")] = "local",
) -> None:
    """Start a fine-tune job; prints its id, then (with --follow) its events and the model ref."""
    import anyio
    from pydantic import ValidationError

    if learning_rate == 0:
        raise ConfigError("--learning-rate must be above 0")
    try:
        spec = _spec(
            base_model=base_model,
            training_file=training_file,
            validation_file=validation_file,
            method=method,
            n_epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            options=_parse_options(option or []),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = {"n_epochs": "epochs"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise ConfigError(f"--{field.replace('_', '-')}: {first['msg']}") from None

    async def run() -> None:
        provider = _provider(profile)
        try:
            job = await provider.fine_tuner().start(spec)
            typer.echo(f"job {job.id}")
            if follow:
                await _follow(job, quiet=quiet)
                ref = await job.wait(poll_interval=0.2)
                typer.echo(str(ref))
        finally:
            await provider.aclose()

    anyio.run(run)


@local_app.command("jobs")
def jobs_command(profile: Annotated[str, typer.Option(help="The local profile.")] = "local") -> None:
    """List fine-tune jobs on this machine with their status (restarting any whose worker died)."""
    import anyio

    async def run() -> None:
        provider = _provider(profile)
        tuner = provider.fine_tuner()
        for job_id in tuner.list_jobs():
            job = await tuner.attach(job_id)
            typer.echo(f"{job.id}  {job.status:<10}  {job.model or job.error or ''}")
        await provider.aclose()

    anyio.run(run)


@local_app.command("status")
def status_command(
    job_id: Annotated[str, typer.Argument(help="The job id printed by `tunewise local train`.")],
    follow: Annotated[bool, typer.Option(help="Stream events until the job ends.")] = False,
    profile: Annotated[str, typer.Option(help="The local profile.")] = "local",
) -> None:
    """Show a job (resuming it from its last checkpoint if its worker died); --follow streams events."""
    import anyio

    async def run() -> None:
        provider = _provider(profile)
        job = await provider.fine_tuner().attach(job_id)
        if follow:
            await _follow(job, quiet=False)
        typer.echo(f"{job.id}  {job.status}  {job.model or job.error or ''}")
        await provider.aclose()

    anyio.run(run)


@local_app.command("cancel")
def cancel_command(
    job_id: Annotated[str, typer.Argument(help="The job to cancel.")],
    profile: Annotated[str, typer.Option(help="The local profile.")] = "local",
) -> None:
    """Cancel a job at its next step (its checkpoints stay on disk)."""
    import anyio

    async def run() -> None:
        provider = _provider(profile)
        job = await provider.fine_tuner().attach(job_id)
        await job.cancel()
        typer.echo(f"{job.id}  {job.status}")
        await provider.aclose()

    anyio.run(run)


@local_app.command("merge")
def merge_command(
    base_model: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The base model directory.")],
    adapter: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The LoRA adapter directory.")],
    output: Annotated[Path, typer.Argument(file_okay=False, help="Where to write the merged model.")],
) -> None:
    """Merge a LoRA adapter into its base model, giving a standalone model directory."""
    from tunewise_local.merge import merge_adapter

    out = merge_adapter(base_model, adapter, output)
    typer.echo(f"local:{out.resolve()}")
