"""``tunewise demo support-bot``: the whole ladder on the support-bot example, offline (``make demo``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

demo_app = typer.Typer(
    name="demo",
    help="Offline demos: the whole ladder on an example, on SmolLM2-135M-Instruct (or a tiny model with --quick).",
    no_args_is_help=True,
)


@demo_app.command("support-bot")
def support_bot_command(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Run on this model instead of local:smollm2-135m-instruct: openai:gpt-4o-mini, "
            "ollama:llama3.2, local:/path/to/model.",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Output folder: demo model, ladder state, report.")
    ] = Path(".tunewise-demo"),
    example: Annotated[
        Path | None,
        typer.Option(
            "--example",
            exists=True,
            file_okay=False,
            help="The example folder (default: examples/support-bot here or above).",
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="A reduced run on a tiny model trained here (8 test cases, a few training steps): seconds.",
        ),
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")] = True,
) -> None:
    """Ingest the knowledge base, climb every rung, print the decision and write the HTML report.

    Killed at any point, the same command continues where it stopped; once finished it
    re-prints the result in seconds.
    """
    import anyio
    from rich.console import Console
    from rich.markup import escape

    from tunewise.cli._ladder import _summary, event_printer
    from tunewise.demo import DEMO_NOTICE, FULL, QUICK, TINY_NOTICE, find_example, real_model_commands, run_demo
    from tunewise.ladder import build_ladder_report

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars; ours suffice
    console = Console()
    root = example.resolve() if example is not None else find_example()
    notice = (TINY_NOTICE if quick else DEMO_NOTICE) if model is None else None
    if notice:
        console.print(f"[bold yellow]Note:[/bold yellow] {notice}", soft_wrap=True)

    say = event_printer(progress)
    started = time.perf_counter()
    try:
        done = anyio.run(
            lambda: run_demo(
                example=root, model=model, out=out, size=QUICK if quick else FULL, progress=progress, on_event=say
            )
        )
    except KeyboardInterrupt:
        typer.secho("interrupted: progress is saved; run the same command again to continue", err=True)
        raise typer.Exit(130) from None
    _summary(build_ladder_report(done.ladder_out))
    console.print(f"model: {done.model}", soft_wrap=True, markup=False)
    console.print(f"ladder config: {done.config}", soft_wrap=True, markup=False)
    console.print(f"finished in {time.perf_counter() - started:.0f}s", soft_wrap=True)
    if notice:
        console.print(f"[bold yellow]Note:[/bold yellow] {notice}", soft_wrap=True)
        console.print("The same ladder on another model:")
        for command in real_model_commands(Path(os.path.relpath(root))):
            console.print(f"  {command}", soft_wrap=True, markup=False)
    console.print(f"[bold]report:[/bold] {escape(str(done.report_html))}", soft_wrap=True)
