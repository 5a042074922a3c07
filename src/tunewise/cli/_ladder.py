"""``tunewise ladder``: climb zero-shot -> few-shot -> optimized prompt -> fine-tune -> RAG + fine-tune."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tunewise.cli._output import dumps

if TYPE_CHECKING:
    from tunewise.ladder import LadderReport

ladder_app = typer.Typer(
    name="ladder",
    help="Prompt harder or fine-tune? Climb the ladder until quality is good enough, then see what it costs.",
    no_args_is_help=True,
)


def event_printer(enabled: bool) -> Callable[[str], None]:
    """Prints ladder/demo events to stderr, one timestamped line each (nothing when not ``enabled``)."""
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True)

    def say(message: str) -> None:
        if enabled:
            err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(message)}", soft_wrap=True, highlight=False)

    return say


def _summary(report: LadderReport) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    rec = report.recommendation
    console = Console()
    others = report.other_metrics
    table = Table(title=escape(f"{rec.metric}, target: lower {rec.confidence:.0%} bound >= {rec.threshold:g}"))
    for column in ("rung", "mean", "CI", "status", *others, "per 1k requests", "per month"):
        table.add_column(column)
    for row in report.rows:
        cost = rec.costs[row.rung]
        table.add_row(
            row.rung,
            f"{row.mean:.3f}",
            f"{row.ci_low:.3f}..{row.ci_high:.3f}",
            row.status,
            *(f"{row.metrics[m].mean:.3f}" if m in row.metrics else "n/a" for m in others),
            "unknown" if cost.per_1k_requests is None else f"${cost.per_1k_requests:.4f}",
            "unknown" if cost.per_month is None else f"${cost.per_month:,.2f}",
        )
    failure = report.state.failure
    if failure is not None:
        table.add_row(failure.rung, "", "", escape(failure.status()), *([""] * len(others)), "", "")
    for rung, why in report.state.skipped.items():
        table.add_row(rung, "", "", escape(f"not run: {why}"), *([""] * len(others)), "", "")
    console.print(table)
    if report.group_names:
        groups = Table(title=escape(f"mean per {report.group_by} ({', '.join(report.group_metrics)})"))
        for column in (report.group_by or "group", "cases", *(row.rung for row in report.rows)):
            groups.add_column(column)
        for group in report.group_names:
            cells = []
            for row in report.rows:
                found = row.groups[group].metrics if group in row.groups else {}
                cells.append(" / ".join(f"{found[m].mean:.2f}" if m in found else "n/a" for m in report.group_metrics))
            groups.add_row(escape(group), str(report.group_size(group)), *cells)
        console.print(groups)
    decision = f"use {rec.chosen}" if rec.chosen else "no rung reached the target"
    if rec.failure is not None and not rec.chosen:
        decision = f"stopped: {rec.failure}"
    console.print(f"[bold]Decision:[/bold] {escape(decision)}", soft_wrap=True)
    for reason in rec.reasons[:3]:
        console.print(f"  - {escape(reason)}", soft_wrap=True)
    if rec.break_even is not None:
        console.print(f"[bold]Break-even:[/bold] {escape(rec.break_even.summary())}", soft_wrap=True)
    curve = report.curve
    if curve is not None:
        said = curve.skipped and f"not measured: {curve.skipped}"
        if curve.fit is not None:
            runs = ", ".join(f"{n} examples {m:.3f}" for n, m in zip(curve.fit.sizes, curve.fit.means, strict=True))
            said = f"{runs}; {'flat' if curve.fit.flat else 'rising'}: {curve.fit.why}"
        console.print(f"[bold]Learning curve:[/bold] {escape(said or 'in progress')}", soft_wrap=True)
    for step in rec.next_steps:
        console.print(f"  next: {escape(step)}", soft_wrap=True)


def failed_cases(report: LadderReport) -> list[str]:
    """Lines for stderr: the rung that failed and each rung's errors by cause, with an example case each."""
    from tunewise.evaluation._failures import describe_errors

    lines: list[str] = []
    failure = report.state.failure
    if failure is not None:
        lines.append(f"stopped: {failure.summary()}")
        lines += [f"  {line}" for line in describe_errors(failure.causes, failure.cases)]
    for row in report.rows:
        if row.causes:
            lines.append(f"{row.rung}: errors count as 0")
            lines += [f"  {line}" for line in describe_errors(row.causes, row.n)]
    return lines


def _exit_status(report: LadderReport) -> int:
    """1 when a rung failed or any measured case failed with an error (they count as 0), else 0."""
    errors = report.state.failure is not None or any(row.errors for row in report.rows)
    return 1 if errors else 0


@ladder_app.command("run")
def run_command(
    config: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Ladder TOML: dataset, target, budget, models, rungs.")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Base (and fine-tune base) model, e.g. openai:gpt-4o-mini or local:/models/x."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", file_okay=False, help="Output folder (state, run store, report).")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the recommendation as JSON.")] = False,
    learning_curve: Annotated[
        bool,
        typer.Option(
            "--learning-curve",
            help="Also fine-tune on 25% and 50% of the training set and fit a learning curve: would more data pay?",
        ),
    ] = False,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Measure each rung on the test split through the provider's batch API (OpenAI: half the price, "
            "answers within 24 hours; a killed run re-attaches to its batch). The prompt optimizer's rounds stay live.",
        ),
    ] = False,
) -> None:
    """Run the ladder; killed or stopped by the budget, the same command resumes where it was.

    Cases that failed with an error are listed on stderr by cause. A rung whose cases mostly
    failed stops the ladder with that cause. The exit status is 1 when any case failed.
    """
    import anyio

    from tunewise.ladder import build_ladder_report, run_ladder

    say = event_printer(progress and not json_output)
    try:
        outcome = anyio.run(
            lambda: run_ladder(
                config,
                model=model,
                out=out,
                progress=progress and not json_output,
                on_event=say,
                learning_curve=learning_curve,
                batch=batch,
            )
        )
    except KeyboardInterrupt:
        typer.secho("interrupted: progress is saved; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    report = build_ladder_report(outcome.out)
    if json_output:
        data = {
            "out": str(outcome.out),
            "recommendation": report.recommendation.model_dump(mode="json"),
            "rungs": {r.rung: r.model_dump(mode="json") for r in report.rows},
            "skipped": report.state.skipped,
            "spent": report.state.spent,
            "tokens": report.state.tokens,
            "failure": report.state.failure.model_dump(mode="json") if report.state.failure else None,
            "learning_curve": report.curve.model_dump(mode="json") if report.curve else None,
        }
        typer.echo(dumps(data, indent=None))
    else:
        _summary(report)
        typer.echo(f"report: {outcome.out / 'report.md'} and {outcome.out / 'report.html'}")
    for line in failed_cases(report):
        typer.echo(line, err=True)
    status = _exit_status(report)
    if status:
        raise typer.Exit(status)


@ladder_app.command("report")
def report_command(
    out: Annotated[Path, typer.Argument(help="The ladder's output folder.")] = Path("ladder-out"),
) -> None:
    """Rewrite report.md and report.html from a ladder's output folder (finished or not) and print the summary."""
    from tunewise.ladder import build_ladder_report, write_report

    md, html = write_report(out)
    report = build_ladder_report(out)
    _summary(report)
    typer.echo(f"report: {md} and {html}")
    for line in failed_cases(report):
        typer.echo(line, err=True)
