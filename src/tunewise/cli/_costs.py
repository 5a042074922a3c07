"""``tunewise breakeven``, ``tunewise cost`` and ``tunewise prices``: the cost commands.

The arithmetic lives in `tunewise.costs` (imported when a command runs); this
module turns flags into calls and results into a paragraph, a table or JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tunewise._errors import ConfigError
from tunewise.cli._output import print_json

if TYPE_CHECKING:
    from tunewise.costs import BreakEven, CostEstimate, PriceEntry

_FLAGS = {
    "tokens_saved": "--tokens-saved",
    "requests_per_month": "--requests-per-month",
    "price_per_1k": "--price-per-1k",
    "finetune_cost": "--finetune-cost",
    "training_cost": "--finetune-cost",
    "finetuned_price_per_1k": "--finetuned-price-per-1k",
    "finetuned_output_price_per_1k": "--finetuned-output-price-per-1k",
    "output_price_per_1k": "--output-price-per-1k",
    "prompt_tokens": "--prompt-tokens",
    "completion_tokens": "--completion-tokens",
    "cached_prompt_tokens": "--cached-tokens",
    "hosting_per_month": "--hosting-per-month",
    "hosting_per_hour": "--hosting-per-hour",
    "horizon_months": "--horizon-months",
    "training_tokens": "--training-tokens",
    "epochs": "--epochs",
    "compute_seconds": "--compute-seconds",
}


def _flag_error(exc: ValueError) -> ConfigError:
    """A ValueError from the arithmetic, with parameter names spelled as the flags the user typed."""
    message = str(exc)
    for name in sorted(_FLAGS, key=len, reverse=True):
        message = message.replace(name, _FLAGS[name])
    return ConfigError(message)


def _check_flags(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ConfigError(f"{_FLAGS.get(name, name)} must be a number >= 0, got {value:g}")


def _money(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def breakeven_command(
    tokens_saved: Annotated[
        float | None, typer.Option("--tokens-saved", help="Prompt tokens per request the fine-tune no longer needs.")
    ] = None,
    requests_per_month: Annotated[
        float | None, typer.Option("--requests-per-month", help="Expected request volume (required).")
    ] = None,
    price_per_1k: Annotated[
        float | None, typer.Option("--price-per-1k", help="Input price per 1K tokens of the prompt-heavy setup.")
    ] = None,
    finetune_cost: Annotated[
        float | None, typer.Option("--finetune-cost", help="Training cost in dollars (one-off).")
    ] = None,
    finetuned_price_per_1k: Annotated[
        float | None,
        typer.Option("--finetuned-price-per-1k", help="Input price per 1K tokens of the fine-tuned model, if higher."),
    ] = None,
    prompt_tokens: Annotated[
        float | None,
        typer.Option("--prompt-tokens", help="Input tokens per request of the prompt-heavy setup (mean)."),
    ] = None,
    completion_tokens: Annotated[
        float, typer.Option("--completion-tokens", help="Output tokens per request (mean).")
    ] = 0.0,
    output_price_per_1k: Annotated[
        float | None, typer.Option("--output-price-per-1k", help="Output price per 1K tokens of the prompt setup.")
    ] = None,
    finetuned_output_price_per_1k: Annotated[
        float | None, typer.Option("--finetuned-output-price-per-1k", help="Output price per 1K, fine-tuned.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Price both setups from the catalog: base model vs its fine-tune."),
    ] = None,
    training_tokens: Annotated[
        float | None, typer.Option("--training-tokens", help="Billed tokens in one pass over the training file.")
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Training epochs.")] = None,
    hosting_per_month: Annotated[
        float | None, typer.Option("--hosting-per-month", help="Fixed monthly cost the fine-tuned setup adds.")
    ] = None,
    hosting_per_hour: Annotated[
        float | None, typer.Option("--hosting-per-hour", help="The same as an hourly rate (x 730 hours a month).")
    ] = None,
    horizon_months: Annotated[
        float, typer.Option("--horizon-months", help="Months the training cost is spread over for break-even volume.")
    ] = 12.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """When does a fine-tune pay for itself? Monthly savings, payback and break-even volume.

    From flags (the blog's example: --tokens-saved 500 --requests-per-month 100000
    --price-per-1k 0.002 --finetune-cost 50), or with --model priced from the catalog
    using the measured mean --prompt-tokens and --completion-tokens of the prompt-heavy setup.
    """
    result = _breakeven(
        _BreakevenFlags(
            tokens_saved=tokens_saved,
            requests_per_month=requests_per_month,
            price_per_1k=price_per_1k,
            finetune_cost=finetune_cost,
            finetuned_price_per_1k=finetuned_price_per_1k,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            output_price_per_1k=output_price_per_1k,
            finetuned_output_price_per_1k=finetuned_output_price_per_1k,
            hosting_per_month=hosting_per_month,
            hosting_per_hour=hosting_per_hour,
            horizon_months=horizon_months,
            training_tokens=training_tokens,
            epochs=epochs,
            model=model,
        )
    )
    if as_json:
        print_json(_breakeven_json(result))
        return
    _print_breakeven(result)


@dataclass(frozen=True)
class _BreakevenFlags:
    """The numbers ``tunewise breakeven`` was given, in the order they are checked."""

    tokens_saved: float | None
    requests_per_month: float | None
    price_per_1k: float | None
    finetune_cost: float | None
    finetuned_price_per_1k: float | None
    prompt_tokens: float | None
    completion_tokens: float
    output_price_per_1k: float | None
    finetuned_output_price_per_1k: float | None
    hosting_per_month: float | None
    hosting_per_hour: float | None
    horizon_months: float
    training_tokens: float | None
    epochs: float | None
    model: str | None


def _breakeven(flags: _BreakevenFlags) -> BreakEven:
    """Check the flags, then price both setups from the catalog (``--model``) or from the given prices."""
    _check_flags(**{name: value for name, value in vars(flags).items() if name != "model"})
    if flags.tokens_saved is None:
        raise ConfigError("--tokens-saved is required (prompt tokens per request the fine-tune no longer needs)")
    if flags.requests_per_month is None:
        raise ConfigError("--requests-per-month is required (the expected request volume)")
    hosting_per_month = _monthly_hosting(flags.hosting_per_month, flags.hosting_per_hour)
    try:
        if flags.model is not None:
            return _breakeven_for_model(
                flags.model,
                tokens_saved=flags.tokens_saved,
                requests_per_month=flags.requests_per_month,
                prompt_tokens=flags.prompt_tokens,
                completion_tokens=flags.completion_tokens,
                finetune_cost=flags.finetune_cost,
                training_tokens=flags.training_tokens,
                epochs=flags.epochs,
                hosting_per_month=hosting_per_month,
                horizon_months=flags.horizon_months,
            )
        return _breakeven_for_prices(flags, flags.tokens_saved, flags.requests_per_month, hosting_per_month)
    except ValueError as exc:
        raise _flag_error(exc) from None


def _monthly_hosting(per_month: float | None, per_hour: float | None) -> float:
    if per_month is not None and per_hour is not None:
        raise ConfigError("give --hosting-per-month or --hosting-per-hour, not both")
    if per_hour is not None:
        from tunewise.costs import HOURS_PER_MONTH

        return per_hour * HOURS_PER_MONTH
    return per_month or 0.0


def _breakeven_for_prices(
    flags: _BreakevenFlags, tokens_saved: float, requests_per_month: float, hosting_per_month: float
) -> BreakEven:
    from tunewise.costs import break_even_from_prices

    if flags.price_per_1k is None:
        raise ConfigError("give --price-per-1k (input price per 1K tokens), or --model to use the catalog")
    if flags.finetune_cost is None:
        raise ConfigError("give --finetune-cost (the training cost in dollars)")
    return break_even_from_prices(
        tokens_saved=tokens_saved,
        requests_per_month=requests_per_month,
        price_per_1k=flags.price_per_1k,
        finetune_cost=flags.finetune_cost,
        finetuned_price_per_1k=flags.finetuned_price_per_1k,
        prompt_tokens=flags.prompt_tokens,
        completion_tokens=flags.completion_tokens,
        output_price_per_1k=flags.output_price_per_1k,
        finetuned_output_price_per_1k=flags.finetuned_output_price_per_1k,
        hosting_per_month=hosting_per_month,
        horizon_months=flags.horizon_months,
    )


def _breakeven_for_model(
    model: str,
    *,
    tokens_saved: float,
    requests_per_month: float,
    prompt_tokens: float | None,
    completion_tokens: float,
    finetune_cost: float | None,
    training_tokens: float | None,
    epochs: float | None,
    hosting_per_month: float,
    horizon_months: float,
) -> BreakEven:
    from tunewise._refs import ModelRef
    from tunewise.costs import MeanUsage, break_even_from_usage, quote, unknown_price_message

    if prompt_tokens is None:
        raise ConfigError("--model needs --prompt-tokens (the prompt-heavy request's mean input tokens)")
    ref = ModelRef.parse(model)
    base_quote = quote(str(ref))
    if base_quote is None:
        raise ConfigError(unknown_price_message(str(ref)))
    finetuned = f"{ref.prefix}:ft:{ref.name}"
    if quote(finetuned) is None:
        raise ConfigError(f"no fine-tuned price known for {str(ref)!r}; give the prices with --price-per-1k flags")
    if finetune_cost is None and (training_tokens is None or epochs is None):
        raise ConfigError("give --finetune-cost, or --training-tokens and --epochs to price the training")
    if tokens_saved > prompt_tokens:
        raise ConfigError(f"--tokens-saved ({tokens_saved:g}) exceeds --prompt-tokens ({prompt_tokens:g})")
    result = break_even_from_usage(
        prompt_model=str(ref),
        prompt_usage=MeanUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        finetuned_model=finetuned,
        finetuned_usage=MeanUsage(prompt_tokens=prompt_tokens - tokens_saved, completion_tokens=completion_tokens),
        requests_per_month=requests_per_month,
        training_cost=finetune_cost,
        training_tokens=training_tokens,
        epochs=epochs,
        hosting_per_month=hosting_per_month,
        horizon_months=horizon_months,
    )
    if result is None:
        raise ConfigError(f"no per-token training price known for {str(ref)!r}; give --finetune-cost")
    return result


def _breakeven_json(result: BreakEven) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["pays_back"] = result.pays_back
    data["summary"] = result.summary()
    return data


def _print_breakeven(result: BreakEven) -> None:
    console = Console(markup=False)  # model refs and notes are user text, never markup
    console.print(result.summary())
    table = Table(title="Prompt-heavy vs fine-tuned")
    table.add_column("")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [("requests per month", f"{result.requests_per_month:,.0f}")]
    if result.tokens_saved_per_request is not None:
        rows.append(("prompt tokens saved per request", f"{result.tokens_saved_per_request:,.0f}"))
    if result.prompt_cost_per_request is not None:
        rows.append(("cost per request, prompt-heavy", _money(result.prompt_cost_per_request, 6)))
    if result.finetuned_cost_per_request is not None:
        rows.append(("cost per request, fine-tuned", _money(result.finetuned_cost_per_request, 6)))
    rows += [
        ("savings per request", _money(result.savings_per_request, 6)),
        ("hosting per month", _money(result.hosting_per_month)),
        ("monthly savings", _money(result.monthly_savings)),
        ("training cost", _money(result.training_cost)),
        ("payback", "never" if result.payback_days is None else f"{result.payback_days:,.1f} days"),
        (
            f"break-even volume ({result.horizon_months:g}-month horizon)",
            "never"
            if result.break_even_requests_per_month is None
            else f"{result.break_even_requests_per_month:,.0f} requests/month",
        ),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def cost_command(
    model: Annotated[str, typer.Option("--model", help="Model reference, e.g. openai:gpt-4o-mini.")],
    prompt_tokens: Annotated[float, typer.Option("--prompt-tokens", help="Input tokens per request.")],
    completion_tokens: Annotated[float, typer.Option("--completion-tokens", help="Output tokens per request.")] = 0.0,
    cached_tokens: Annotated[
        float, typer.Option("--cached-tokens", help="How many of the input tokens hit the prompt cache.")
    ] = 0.0,
    requests_per_month: Annotated[
        float | None, typer.Option("--requests-per-month", help="Project a monthly cost at this volume.")
    ] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Apply the provider's batch discount.")] = False,
    compute_seconds: Annotated[
        float | None,
        typer.Option("--compute-seconds", help="Local models: seconds of compute per request (priced per hour)."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="Local models: the device kind (cpu, nvidia-h100, ...).")
    ] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """What a request costs on a model, per 1k requests and per month."""
    from tunewise.costs import MeanUsage, estimate, quote, unknown_price_message

    _check_flags(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_prompt_tokens=cached_tokens,
        requests_per_month=requests_per_month,
        compute_seconds=compute_seconds,
    )
    if cached_tokens > prompt_tokens:
        raise ConfigError(f"--cached-tokens ({cached_tokens:g}) exceeds --prompt-tokens ({prompt_tokens:g})")
    found = quote(model)
    if found is None:
        raise ConfigError(unknown_price_message(model))
    if found.rates is None:
        if compute_seconds is None:
            raise ConfigError(f"{model} is priced by compute time ({found.entry.ref}): give --compute-seconds")
        if found.entry.compute_rate(device) is None:
            raise ConfigError(f"{model}: no compute_per_hour rate for device {device!r} in {found.entry.ref}")
    elif completion_tokens > 0 and found.rates.output is None:
        raise ConfigError(f"{model}: {found.entry.ref} has no output price (an embedding model?)")
    if batch and found.entry.batch_discount is None:
        raise ConfigError(f"{model}: no batch discount known for {found.entry.ref}")
    usage = MeanUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_prompt_tokens=cached_tokens,
        compute_s=compute_seconds,
        compute_device=device,
    )
    result = estimate(model, usage, requests_per_month=requests_per_month, batch=batch)
    assert result is not None
    if as_json:
        print_json(result.model_dump(mode="json") | {"total": result.breakdown.total})
        return
    _print_cost(result, found.describe())


def _print_cost(result: CostEstimate, described: str) -> None:
    console = Console(markup=False)  # model refs and notes are user text, never markup
    console.print(described)
    table = Table(title=f"Cost of {result.model}" + (" (batch)" if result.batch else ""))
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("input", _money(result.breakdown.input, 6))
    table.add_row("cached input", _money(result.breakdown.cached_input, 6))
    table.add_row("output", _money(result.breakdown.output, 6))
    if result.breakdown.compute:
        table.add_row("compute time", _money(result.breakdown.compute, 6))
    if result.batch:
        table.add_row("batch discount", f"{result.breakdown.batch_discount:.0%}")
    table.add_row("per request", _money(result.per_request, 6))
    table.add_row("per 1k requests", _money(result.per_1k_requests, 4))
    if result.requests_per_month is not None:
        if result.hosting_per_month:
            table.add_row("hosting per month", _money(result.hosting_per_month))
        table.add_row(f"per month at {result.requests_per_month:,.0f} requests", _money(result.per_month))
    console.print(table)


def prices_command(
    model: Annotated[str | None, typer.Argument(help="Show the price that applies to this model reference.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The price catalog, with each price's source and the date it was read."""
    from tunewise.costs import default_catalog, unknown_price_message

    catalog = default_catalog()
    if model is None:
        entries = catalog.entries
        if as_json:
            print_json([e.model_dump(mode="json", exclude_none=True) for e in entries])
            return
        _print_entries(entries, title="Prices, USD per 1M tokens")
        return
    found = catalog.quote(model)
    if found is None:
        raise ConfigError(unknown_price_message(model))
    if as_json:
        print_json(found.model_dump(mode="json", exclude_none=True))
        return
    console = Console(markup=False)  # model refs and notes are user text, never markup
    console.print(found.describe())
    _print_entries([found.entry], title="USD per 1M tokens", show_aliases=True)


def _print_entries(entries: list[PriceEntry], *, title: str, show_aliases: bool = False) -> None:
    """Two narrow tables (calling, fine-tuning) rather than one too wide for a terminal."""
    console = Console(markup=False)  # model refs and notes are user text, never markup
    hosting = any(e.hosting_per_hour is not None for e in entries)
    table = Table(title=title)
    columns = ["model", "input", "cached", "output", "batch", *(["host/h"] if hosting else []), "as of"]
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=column == "model")
    for e in entries:
        if e.by_compute:
            continue  # priced by the hour: their own table below
        row = [e.ref, _price(e.input), _price(e.cached_input), _price(e.output)]
        row.append("-" if e.batch_discount is None else f"-{e.batch_discount:.0%}")
        if hosting:
            row.append(_price(e.hosting_per_hour))
        row.append(e.as_of.isoformat() if e.as_of else "-")
        table.add_row(*row)
    if table.row_count:
        console.print(table)
    timed = [e for e in entries if e.compute_per_hour]
    if timed:
        rates = Table(title="Compute time (models on your machine), USD per hour")
        for column in ("model", "device", "per hour", "as of"):
            rates.add_column(column, justify="right" if column == "per hour" else "left", no_wrap=True)
        for e in timed:
            for device, rate in (e.compute_per_hour or {}).items():
                rates.add_row(e.ref, device, f"{rate:g}", e.as_of.isoformat() if e.as_of else "-")
        console.print(rates)
    tunable = [e for e in entries if e.finetune_input is not None or e.finetune_training is not None]
    if tunable:
        ft = Table(title="Fine-tuning, USD per 1M tokens")
        for column in ("base model", "training", "ft input", "ft cached", "ft output"):
            ft.add_column(column, justify="left" if column == "base model" else "right", no_wrap=True)
        for e in tunable:
            train = _price(e.finetune_training)
            if e.finetune_training_per_hour is not None:
                train = f"{e.finetune_training_per_hour:g}/hour"
            ft.add_row(
                e.ref, train, _price(e.finetune_input), _price(e.finetune_cached_input), _price(e.finetune_output)
            )
        console.print(ft)
    if show_aliases:
        for e in entries:
            if e.aliases:
                console.print(f"{e.ref} also prices: {', '.join(e.aliases)}")
            if e.note:
                console.print(f"note: {e.note}")
    for source in sorted({e.source for e in entries if e.source}):
        console.print(f"source: {source}")


def register(app: typer.Typer) -> None:
    """Add the cost commands to the root ``tunewise`` app."""
    app.command("breakeven")(breakeven_command)
    app.command("cost")(cost_command)
    app.command("prices")(prices_command)
