"""``tunewise data ...``: validate, stats, split, dedup, leakage and convert for fine-tune data.

Exit codes: 0 when the data is clean, 1 when it has errors (or leakage), 2 for usage
errors and files that cannot be read. ``--json`` prints one JSON object for scripts.
The data toolkit is imported inside each command, so ``tunewise --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

data_app = typer.Typer(
    name="data",
    help="Prepare fine-tune data: validate, count tokens, estimate cost, split, deduplicate, check leakage, convert.",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path,
    typer.Argument(
        help="A JSONL file in OpenAI's chat fine-tuning format.", show_default=False, exists=True, dir_okay=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Target OpenAI model; picks the tiktoken encoding (gpt-4o* -> o200k_base)."),
]
EncodingOpt = Annotated[str | None, typer.Option("--encoding", help="tiktoken encoding: o200k_base or cl100k_base.")]
TokenizerOpt = Annotated[
    Path | None,
    typer.Option("--tokenizer", exists=True, help="Hugging Face tokenizer directory, for local models."),
]
MaxTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--max-tokens", min=1, help="Per-example token limit [default: the model's published limit, else 16385]."
    ),
]
OnOpt = Annotated[
    Literal["prompt", "conversation", "all"],
    typer.Option("--on", help="Compare on: prompt (user turns), conversation (user+assistant) or all."),
]
ThresholdOpt = Annotated[
    float, typer.Option("--threshold", min=0.01, max=1.0, help="Near-duplicate threshold (estimated Jaccard, 0-1).")
]
ExactOnlyOpt = Annotated[
    bool, typer.Option("--exact-only", help="Only exact duplicates; skip MinHash near-duplicates.")
]


def _print_json(data: Any) -> None:
    from tunewise.cli._output import print_json

    print_json(data)


def _analyze(
    file: Path,
    model: str | None,
    encoding: str | None,
    tokenizer: Path | None,
    max_tokens: int | None,
    epochs: int | None = None,
    price: float | None = None,
    max_problems: int = 1000,
) -> Any:
    from tunewise.data import analyze

    return analyze(
        file,
        model=model,
        encoding=encoding,
        tokenizer=tokenizer,
        max_tokens=max_tokens,
        epochs=epochs,
        price_per_1m_training_tokens=price,
        max_problems=max_problems,
    )


@data_app.command("validate")
def validate_command(
    file: FileArg,
    model: ModelOpt = None,
    encoding: EncodingOpt = None,
    tokenizer: TokenizerOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_problems: Annotated[
        int, typer.Option("--max-problems", min=0, help="Problems to list (all are counted).")
    ] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Check a chat fine-tuning file; print every problem as FILE:LINE: FIELD: MESSAGE [code]."""
    report = _analyze(file, model, encoding, tokenizer, max_tokens, max_problems=max_problems)
    if as_json:
        _print_json(
            {
                "path": report.path,
                "ok": report.ok,
                "n_examples": report.n_examples,
                "n_valid": report.n_valid,
                "format_errors": report.format_errors,
                "warnings": report.warnings,
                "n_problems": report.n_problems,
                "problems": [p.to_dict() for p in report.problems],
            }
        )
    else:
        for problem in report.problems:
            typer.echo(str(problem))
        if report.n_problems > len(report.problems):
            typer.echo(f"... and {report.n_problems - len(report.problems)} more problems")
        n_errors = sum(report.format_errors.values())
        n_warnings = sum(report.warnings.values())
        verdict = "OK" if report.ok else "FAILED"
        typer.echo(
            f"{verdict}: {report.n_examples} examples, {report.n_valid} valid, "
            f"{n_errors} errors, {n_warnings} warnings in {report.path}"
        )
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("stats")
def stats_command(
    file: FileArg,
    model: ModelOpt = None,
    encoding: EncodingOpt = None,
    tokenizer: TokenizerOpt = None,
    max_tokens: MaxTokensOpt = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs you will train for [default: OpenAI's rule].")
    ] = None,
    price: Annotated[
        float | None,
        typer.Option(
            "--price-per-1m-training-tokens",
            min=0.0,
            help="Training price per 1M tokens; adds estimated_cost [default: the price catalog's, for --model].",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Token distributions, billed tokens, default epochs and (with a price) the training cost."""
    if price is None and model is not None:
        price = _catalog_training_price(model)
    report = _analyze(file, model, encoding, tokenizer, max_tokens, epochs, price, max_problems=0)
    data = report.to_dict()
    for key in ("problems", "n_problems"):
        data.pop(key)
    if as_json:
        _print_json(data)
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = Console()
        table = Table(title=escape(f"{report.path} ({report.counter}, limit {report.max_tokens:,} tokens)"))
        for column in ("tokens per example", "min", "p10", "median", "mean", "p90", "max"):
            table.add_column(column, justify="right")
        for label, s in (("total", report.total_tokens), ("assistant", report.assistant_tokens)):
            table.add_row(
                label,
                f"{s.min:,}",
                f"{s.p10:,.1f}",
                f"{s.median:,.1f}",
                f"{s.mean:,.1f}",
                f"{s.p90:,.1f}",
                f"{s.max:,}",
            )
        console.print(table)
        lines = [
            f"examples: {report.n_examples} ({report.n_valid} valid)",
            f"format errors: {data['format_errors'] or 'none'}",
            f"warnings: {data['warnings'] or 'none'}",
            f"missing system message: {report.n_missing_system}; missing user message: {report.n_missing_user}",
            f"over the token limit: {report.n_over_limit}",
            f"billed tokens per epoch: {report.billed_tokens_per_epoch:,}",
            f"epochs: {report.epochs} (OpenAI's default for this size: {report.default_epochs})",
            f"billed training tokens: {report.billed_training_tokens:,}",
        ]
        if report.estimated_cost is not None:
            lines.append(f"estimated training cost: {report.estimated_cost:,.2f}")
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def _catalog_training_price(model: str) -> float | None:
    """The catalog's training price per 1M tokens for ``model`` (``openai:`` assumed), if known."""
    from tunewise.costs import quote

    found = quote(model if ":" in model and not model.startswith("ft:") else f"openai:{model}")
    return found.entry.finetune_training if found is not None else None


def _ratios(train: float, validation: float, test: float) -> dict[str, float]:
    return {name: r for name, r in (("train", train), ("validation", validation), ("test", test)) if r > 0}


@data_app.command("split")
def split_command(
    file: FileArg,
    out_dir: Annotated[
        Path,
        typer.Option("--out-dir", "-o", file_okay=False, help="Folder for train/validation/test .jsonl files."),
    ],
    train: Annotated[float, typer.Option("--train", min=0.0, max=1.0, help="Share for training.")] = 0.8,
    validation: Annotated[float, typer.Option("--validation", min=0.0, max=1.0, help="Share for validation.")] = 0.1,
    test: Annotated[float, typer.Option("--test", min=0.0, max=1.0, help="Share for testing.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same split.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Split deterministically by seed into OUT_DIR/train.jsonl, validation.jsonl and test.jsonl."""
    from tunewise.data import split

    report = split(file, out_dir, ratios=_ratios(train, validation, test), seed=seed)
    if as_json:
        _print_json(report.to_dict())
        return
    for name, count in report.counts.items():
        typer.echo(f"{name}: {count} examples -> {report.paths[name]}")


@data_app.command("dedup")
def dedup_command(
    file: FileArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", dir_okay=False, help="Write the file without duplicates here.")
    ] = None,
    on: OnOpt = "prompt",
    threshold: ThresholdOpt = 0.8,
    exact_only: ExactOnlyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find exact and near-duplicate examples (keeping the first); with --out, write the file without them."""
    from tunewise.data import dedup

    report = dedup(file, out, on=on, near=not exact_only, threshold=threshold)
    if as_json:
        _print_json(report.to_dict())
        return
    for d in report.duplicates:
        typer.echo(f"{report.path}:{d.line}: {d.kind} duplicate of line {d.kept_line} (similarity {d.similarity:.2f})")
    target = f" -> {report.out}" if report.out else ""
    typer.echo(
        f"{report.n_examples} examples: kept {report.n_kept}, "
        f"{report.n_exact} exact and {report.n_near} near duplicates{target}"
    )


@data_app.command("leakage")
def leakage_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="Two or more files, e.g. train then test; each is checked against earlier ones.",
        ),
    ],
    on: OnOpt = "prompt",
    threshold: ThresholdOpt = 0.8,
    exact_only: ExactOnlyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Report examples of later files that also appear, exactly or nearly, in earlier ones. Exit 1 on leakage."""
    from tunewise.data import leakage

    report = leakage(*files, on=on, near=not exact_only, threshold=threshold)
    if as_json:
        _print_json(report.to_dict())
    else:
        for leak in report.leaks:
            typer.echo(str(leak))
        if report.n_leaks > len(report.leaks):
            typer.echo(f"... and {report.n_leaks - len(report.leaks)} more pairs")
        summary = ", ".join(
            f"{path}: {report.n_leaked[path]} of {report.n_examples[path]}" for path in report.paths[1:]
        )
        verdict = "no leakage" if report.ok else f"LEAKAGE: {report.n_leaks} pairs"
        typer.echo(f"{verdict} (examples found in an earlier file: {summary})")
    if not report.ok:
        raise typer.Exit(1)


def _field_map(values: list[str]) -> dict[str, str]:
    fields = {}
    for item in values:
        for pair in item.split(","):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise typer.BadParameter(f"expected NAME=COLUMN, got {pair!r}", param_hint="--map")
            fields[key.strip()] = value.strip()
    return fields


@data_app.command("convert")
def convert_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="Alpaca JSON/JSONL, CSV (prompt/completion) or ShareGPT file."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="The chat JSONL file to write.")],
    from_format: Annotated[
        Literal["auto", "alpaca", "csv", "sharegpt"],
        typer.Option("--from", help="Input format; auto: by extension, then by the first record's keys."),
    ] = "auto",
    field_map: Annotated[
        list[str] | None,
        typer.Option("--map", help="Rename fields, e.g. --map prompt=question,completion=answer (repeatable)."),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="System message for examples without one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Convert an instruction dataset to OpenAI chat JSONL. Rows that cannot be converted are listed; exit 1 if any."""
    from tunewise.data import convert

    fields = _field_map(field_map or [])
    report = convert(file, out, format=from_format, fields=fields, system=system)
    if as_json:
        _print_json(report.to_dict())
    else:
        for problem in report.problems:
            typer.echo(str(problem))
        typer.echo(f"{report.n_written} of {report.n_read} rows ({report.format}) -> {report.out}")
    if not report.ok:
        raise typer.Exit(1)
