"""``tunewise eval``: run an evaluation from TOML, compare two runs, write a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tunewise.cli._output import dumps

if TYPE_CHECKING:
    from tunewise.evaluation import BatchOptions, Comparison, PairwiseSummary, RunStore, RunSummary

eval_app = typer.Typer(
    name="eval",
    help="Evaluate strategies on test cases: run, compare, report.",
    no_args_is_help=True,
)


def _store_path(store: Path | None) -> Path:
    if store is not None:
        return store
    from tunewise._settings import load_settings

    return load_settings().home / "runs.sqlite"


StoreOption = Annotated[
    Path | None, typer.Option("--store", help="Run store (SQLite); default: runs.sqlite in TUNEWISE_HOME.")
]
ConfidenceOption = Annotated[
    float,
    typer.Option("--confidence", min=0.5, max=0.9999, help="Confidence of the intervals; tests use alpha = 1 - it."),
]


GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group-by",
        help="Also split results by this case metadata key (e.g. kind); default: the run's group_by, if any.",
    ),
]


async def _run_file(
    config: Path, run_id: str | None, concurrency: int | None, progress: bool, batch: BatchOptions | None
) -> RunSummary:
    """Evaluate what an eval TOML describes (flags over the file's values), closing its cache and models."""
    from tunewise._registry import Registry
    from tunewise.evaluation import evaluate, load_config

    async with Registry() as registry:
        cfg = load_config(config, registry=registry)
        cache = cfg.open_cache()
        try:
            return await evaluate(
                cfg.strategies,
                cfg.cases,
                cfg.metrics,
                store=cfg.store,
                run_id=run_id or cfg.run_id,
                concurrency=concurrency or cfg.concurrency,
                timeout=cfg.timeout,
                cost=cfg.cost,
                cache=cache,
                budget=cfg.budget,
                progress=progress,
                # group_by changes no answer: leave it out of the run id, so adding it resumes the same run
                config={"config_file": {k: v for k, v in cfg.raw.items() if k != "group_by"}},
                group_by=cfg.group_by,
                batch=batch or False,
            )
        finally:
            if cache is not None:
                cache.close()


def _print_summary(summary: RunSummary, *, json_output: bool, batch: bool) -> None:
    """The run's one-line summary on stdout (or its JSON)."""
    data = {
        "run_id": summary.run_id,
        "store": str(summary.store),
        "ran": summary.ran,
        "ok": summary.ok,
        "errors": summary.errors,
        "skipped": summary.skipped,
        "cost": summary.cost,
        "cache_hits": summary.cache_hits,
        "wall_s": round(summary.wall_s, 3),
        "stopped": summary.stopped,
        "not_run": summary.not_run,
        "causes": [cause.model_dump() for cause in summary.causes],
        **({"batches": list(summary.batches), "notes": list(summary.notes)} if batch else {}),
    }
    if json_output:
        typer.echo(dumps(data, indent=None))
        return
    cost = "unknown" if summary.cost is None else f"${summary.cost:.4f}"
    resumed = f", {summary.skipped} already done (resumed)" if summary.skipped else ""
    batches = f"; batch {', '.join(summary.batches)}" if summary.batches else ""
    typer.echo(
        f"run {summary.run_id}: {summary.ok} ok, {summary.errors} errors{resumed}; cost {cost}; "
        f"{summary.wall_s:.1f}s; store {summary.store}{batches}"
    )


@eval_app.command("run")
def run_command(
    config: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="Evaluation TOML: cases, strategies, metrics, concurrency..."),
    ],
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (re-using one resumes that run).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1, help="Override concurrency.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Send the model calls as one batch per provider (OpenAI's Batch API: half price, within 24 h). "
            "Running the same command again re-attaches to the batch.",
        ),
    ] = False,
    batch_retry: Annotated[
        Literal["batch", "live", "none"],
        typer.Option("--batch-retry", help="Requests that failed in the batch: a follow-up batch, live, or none."),
    ] = "batch",
    batch_timeout: Annotated[
        float | None,
        typer.Option("--batch-timeout", min=1, help="Seconds to wait for the batch (it keeps running after)."),
    ] = None,
) -> None:
    """Run every strategy on every case; each result is stored as it arrives, so re-running resumes.

    Failed cases are listed on stderr by cause, with one example each; the exit status is 1
    when any case failed (the run is saved: running the same command again retries them).
    With --batch, the requests go to the provider's batch API and the command waits for it with progress;
    if it is stopped, the same command again collects the batch already submitted.
    """
    import anyio

    from tunewise.evaluation import BatchOptions

    options = BatchOptions(retry=batch_retry, timeout=batch_timeout) if batch else None
    try:
        summary = anyio.run(lambda: _run_file(config, run_id, concurrency, progress and not json_output, options))
    except KeyboardInterrupt:
        typer.secho("interrupted: every finished case is stored; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    _print_summary(summary, json_output=json_output, batch=batch)
    for note in summary.notes:
        typer.echo(note, err=True)
    _show_failures(summary)
    if summary.errors:
        raise typer.Exit(1)


def _show_failures(summary: RunSummary) -> None:
    """The run's errors on stderr, grouped by cause, and why it stopped early if it did."""
    from tunewise.evaluation._failures import describe_errors

    lines = describe_errors(summary.causes, summary.ran)
    if summary.stopped is not None and summary.not_run:
        lines.insert(
            0,
            f"stopped early: {summary.stopped}; {summary.not_run} cases not run, since every one would fail alike "
            "(fix the cause, then run the same command again to resume)",
        )
    for line in lines:
        typer.echo(line, err=True)


@eval_app.command("compare")
def compare_command(
    run_a: Annotated[str, typer.Argument(help="RUN, RUN/STRATEGY, or a strategy of the newest run (baseline).")],
    run_b: Annotated[str, typer.Argument(help="The same for the challenger.")],
    store: StoreOption = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="Metric(s) to compare.")] = None,
    target: Annotated[float, typer.Option(help="Difference the sample-size estimate is for.")] = 0.05,
    confidence: ConfidenceOption = 0.95,
    correction: Annotated[
        Literal["none", "holm", "bonferroni"],
        typer.Option(help="Correct the p-values of the metrics (and the judge) compared at once for their number."),
    ] = "none",
    judge: Annotated[
        str | None, typer.Option("--judge", help="Also judge pairwise with this model (both orders).")
    ] = None,
    group_by: GroupOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the comparisons as JSON.")] = False,
) -> None:
    """Paired comparison of B against A: difference with bootstrap CI, McNemar / permutation p, verdict."""
    from tunewise.evaluation import RunStore, compare_runs, resolve

    with RunStore(_store_path(store), create=False) as runs:
        if group_by is None:  # the key the runs were evaluated with (eval TOML group_by), if any
            recorded = [runs.run(resolve(runs, s)[0]).config.get("group_by") for s in (run_a, run_b)]
            group_by = next((g for g in recorded if isinstance(g, str) and g), None)
        comparisons = compare_runs(
            runs, run_a, run_b, metrics=metric, target=target, confidence=confidence, group_by=group_by or None
        )
        pairwise = None
        if judge is not None:
            pairwise = _judge(runs, run_a, run_b, judge, alpha=1 - confidence)
    method = None if correction == "none" else correction
    if method is not None:
        comparisons, pairwise = _corrected(comparisons, pairwise, method)
    if json_output:
        out = [{**c.model_dump(), "verdict": c.verdict, "significant": c.significant} for c in comparisons]
        payload: dict[str, object] = {"comparisons": out}
        if pairwise is not None:
            payload["pairwise"] = {
                **pairwise.model_dump(),
                "verdict": pairwise.verdict,
                "significant": pairwise.significant,
            }
        typer.echo(dumps(payload, indent=None))
        return
    _print_comparisons(comparisons, pairwise, confidence=confidence, method=method, group_by=group_by)


def _corrected(
    comparisons: list[Comparison], pairwise: PairwiseSummary | None, method: Literal["holm", "bonferroni"]
) -> tuple[list[Comparison], PairwiseSummary | None]:
    """The overall comparisons and the judge's sign test corrected as one family (per-group ones are exploratory)."""
    from tunewise.evaluation import Comparison, PairwiseSummary, apply_correction

    overall = [c for c in comparisons if c.group is None]
    family: list[Comparison | PairwiseSummary] = [*overall, *([pairwise] if pairwise else [])]
    tests = apply_correction(family, method)
    corrected = [t for t in tests if isinstance(t, Comparison)] + [c for c in comparisons if c.group is not None]
    return corrected, next((t for t in tests if isinstance(t, PairwiseSummary)), None)


def _print_comparisons(
    comparisons: list[Comparison],
    pairwise: PairwiseSummary | None,
    *,
    confidence: float,
    method: str | None,
    group_by: str | None,
) -> None:
    """The comparison table, then each verdict (and the judge's) in a sentence."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tunewise.evaluation._compare import format_level

    console = Console()
    grouped = any(c.group is not None for c in comparisons)
    table = Table(title=escape(f"{comparisons[0].b} vs {comparisons[0].a}"))
    columns = ["metric", "n", "A", "B", "B - A", f"{format_level(confidence)} CI", "test", "p"]
    columns = [*columns, *([f"p {method}"] if method else []), "d_z", "W/L/T"]
    for column in [group_by or "group", *columns] if grouped else columns:
        table.add_column(escape(column))
    for c in comparisons:
        first = [escape(c.group) if c.group is not None else "(all)"] if grouped else []
        table.add_row(
            *first,
            escape(c.metric),
            str(c.n),
            f"{c.mean_a:.3f}",
            f"{c.mean_b:.3f}",
            f"{c.difference:+.3f}",
            f"{c.ci_low:+.3f}..{c.ci_high:+.3f}",
            c.test,
            f"{c.p_value:.3g}",
            *([f"{c.p:.3g}" if c.group is None else "-"] if method else []),
            f"{c.effect_size:.2f}",
            f"{c.wins}/{c.losses}/{c.ties}",
        )
    console.print(table)
    for c in comparisons:
        console.print(f"[bold]{escape(c.subject)}[/bold]: {escape(c.verdict)}", highlight=False, soft_wrap=True)
    if pairwise is not None:
        console.print(f"[bold]pairwise judge[/bold]: {escape(pairwise.verdict)}", highlight=False, soft_wrap=True)


def _judge(runs: RunStore, run_a: str, run_b: str, judge_ref: str, *, alpha: float) -> PairwiseSummary:
    import anyio

    from tunewise._registry import Registry
    from tunewise.evaluation import PairwiseJudge, judge_pairs, resolve

    (ra, sa), (rb, sb) = resolve(runs, run_a), resolve(runs, run_b)

    async def main() -> PairwiseSummary:
        async with Registry() as registry:
            judge = PairwiseJudge(judge_ref, registry=registry)
            return await judge_pairs(
                judge,
                runs.results(ra, sa),
                runs.results(rb, sb),
                a_name=f"{ra}/{sa}",
                b_name=f"{rb}/{sb}",
                alpha=alpha,
            )

    return anyio.run(main)


@eval_app.command("report")
def report_command(
    run: Annotated[str, typer.Argument(help="Run id.")],
    store: StoreOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for RUN.md and RUN.html.")] = Path("reports"),
    baseline: Annotated[str | None, typer.Option(help="Strategy the others are compared to.")] = None,
    metric: Annotated[str | None, typer.Option("--metric", "-m", help="Primary metric.")] = None,
    confidence: ConfidenceOption = 0.95,
    correction: Annotated[
        Literal["auto", "holm", "bonferroni", "none"],
        typer.Option(help="Correction over the report's comparisons; auto: Holm with more than two strategies."),
    ] = "auto",
    group_by: GroupOption = None,
) -> None:
    """Write a Markdown report and a self-contained HTML page for a run."""
    from tunewise.evaluation import RunStore, build_report

    with RunStore(_store_path(store), create=False) as runs:
        report = build_report(
            runs,
            run,
            baseline=baseline,
            primary=metric,
            confidence=confidence,
            correction=None if correction == "none" else correction,
            group_by=group_by,
        )
        md, html = report.write(out)
    typer.echo(f"wrote {md} and {html}")


@eval_app.command("runs")
def runs_command(store: StoreOption = None) -> None:
    """List the runs in a store, newest first."""
    from tunewise.evaluation import RunStore

    with RunStore(_store_path(store), create=False) as runs:
        for info in runs.runs():
            state = "complete" if info.complete else f"{info.ok}/{info.expected} done, {info.errors} errors"
            typer.echo(f"{info.run_id}\t{', '.join(info.strategies)}\t{state}")


@eval_app.command("export")
def export_command(
    run: Annotated[str, typer.Argument(help="Run id.")],
    store: StoreOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSONL file to write (default: stdout).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy's results.")] = None,
) -> None:
    """Every stored result of a run as JSON Lines: case, requests sent, response, usage, cost, scores, error."""
    from tunewise.evaluation import RunStore

    with RunStore(_store_path(store), create=False) as runs:
        runs.run(run)  # a one-line error for an unknown run
        lines = [r.model_dump_json() for r in runs.results(run, strategy)]
    text = "\n".join(lines) + ("\n" if lines else "")
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(lines)} results to {out}")
