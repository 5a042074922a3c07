"""The price catalog and the cost of usage, against hand-worked examples.

Prices in the comments are the shipped catalog's, USD per 1M tokens.
"""

from __future__ import annotations

import doctest
import warnings
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunewise import ConfigError, DataError, Usage, load_settings
from tunewise.costs import (
    HOURS_PER_MONTH,
    Cost,
    MeanUsage,
    PriceCatalog,
    PriceEntry,
    Rates,
    UnknownPriceWarning,
    builtin_entries,
    cost_breakdown,
    cost_of,
    estimate,
    hosting_per_month,
    load_catalog,
    monthly_cost,
    price,
    quote,
    read_price_file,
    request_cost,
    training_cost,
)

MINI = Rates(input=0.15, cached_input=0.075, output=0.60)


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    config = tmp_path / "tunewise.toml"
    config.write_text(text)
    monkeypatch.setenv("TUNEWISE_CONFIG", str(config))
    return config


# --- arithmetic ------------------------------------------------------------------------


def test_request_cost_splits_uncached_cached_and_output() -> None:
    # 1000 prompt tokens of which 200 cached, 300 completion tokens on gpt-4o-mini:
    #   uncached  800 x 0.15  / 1M = 0.000120
    #   cached    200 x 0.075 / 1M = 0.000015
    #   output    300 x 0.60  / 1M = 0.000180
    #   total                      = 0.000315
    parts = cost_breakdown(MINI, prompt_tokens=1000, completion_tokens=300, cached_prompt_tokens=200)
    assert parts.input == pytest.approx(0.000120)
    assert parts.cached_input == pytest.approx(0.000015)
    assert parts.output == pytest.approx(0.000180)
    assert parts.total == pytest.approx(0.000315)
    # The Batch API halves it: 0.000315 x 0.5 = 0.0001575
    assert request_cost(
        MINI, prompt_tokens=1000, completion_tokens=300, cached_prompt_tokens=200, batch_discount=0.5
    ) == pytest.approx(0.0001575)


def test_no_cache_discount_bills_cached_tokens_at_input_price() -> None:
    # gpt-3.5-turbo has no cached price: 1000 prompt tokens (400 "cached") x 0.50 / 1M = 0.0005
    rates = Rates(input=0.50, output=1.50)
    assert request_cost(rates, prompt_tokens=1000, cached_prompt_tokens=400) == pytest.approx(0.0005)


def test_monthly_projection_and_hosting() -> None:
    # 0.000315 per request x 100,000 requests = 31.50; a 0.50/hour box adds 0.50 x 730 = 365.00
    assert monthly_cost(0.000315, 100_000) == pytest.approx(31.5)
    assert hosting_per_month(0.5) == pytest.approx(365.0) == 0.5 * HOURS_PER_MONTH
    assert monthly_cost(0.000315, 100_000, hosting_per_month=hosting_per_month(0.5)) == pytest.approx(396.5)


def test_training_cost_is_tokens_times_epochs_times_price() -> None:
    # 120,000 billed tokens x 3 epochs x 3.00 per 1M (gpt-4o-mini) = 1.08
    assert training_cost(120_000, 3, 3.00) == pytest.approx(1.08)
    # 2M tokens x 4 epochs x 25.00 (gpt-4o) = 200.00
    assert training_cost(2_000_000, 4, 25.00) == pytest.approx(200.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt_tokens": -1}, "prompt_tokens must be a finite number >= 0, got -1"),
        ({"prompt_tokens": 10, "cached_prompt_tokens": 11}, "cached_prompt_tokens (11) exceeds prompt_tokens (10)"),
        ({"prompt_tokens": 10, "batch_discount": 1.5}, "batch_discount is a fraction between 0 and 1, got 1.5"),
        ({"prompt_tokens": float("nan")}, "prompt_tokens must be a finite number >= 0, got nan"),
    ],
)
def test_bad_numbers_are_one_line_value_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        request_cost(MINI, **kwargs)
    assert str(info.value) == message


tokens = st.integers(min_value=0, max_value=10_000_000)


@given(prompt=tokens, completion=tokens, cached_share=st.floats(0, 1), discount=st.sampled_from([0.0, 0.5]))
def test_request_cost_matches_its_parts(prompt: int, completion: int, cached_share: float, discount: float) -> None:
    cached = int(prompt * cached_share)
    parts = cost_breakdown(
        MINI, prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=cached, batch_discount=discount
    )
    total = request_cost(
        MINI, prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=cached, batch_discount=discount
    )
    assert total == pytest.approx(parts.total)
    # Caching and batching only ever lower the bill; the full price bounds it.
    full = (prompt * 0.15 + completion * 0.60) / 1e6
    assert 0 <= total <= full + 1e-15
    assert total == pytest.approx((full - cached * 0.075 / 1e6) * (1 - discount))


def test_mean_usage_of_measured_calls() -> None:
    usages = [Usage(prompt_tokens=100, completion_tokens=10), Usage(prompt_tokens=300, completion_tokens=30)]
    assert MeanUsage.of(usages) == MeanUsage(prompt_tokens=200, completion_tokens=20, cached_prompt_tokens=0)
    with pytest.raises(ValueError, match="no token counts"):
        MeanUsage.of([Usage(prompt_tokens=1, completion_tokens=None)])


# --- the shipped catalog ------------------------------------------------------------------


def test_every_shipped_entry_is_sourced_and_dated() -> None:
    entries = builtin_entries()
    assert len(entries) >= 15
    for entry in entries:
        assert entry.source and entry.source.startswith("https://"), entry.ref
        assert entry.as_of is not None and entry.as_of <= date.today(), entry.ref
    refs = {e.ref for e in entries}
    for expected in ("openai:gpt-4o-mini", "openai:gpt-4o", "openai:gpt-4.1", "openai:gpt-3.5-turbo"):
        assert expected in refs
    # Fine-tuned models cost more per token than their base.
    for entry in entries:
        if entry.finetune_input is not None and entry.input is not None:
            assert entry.finetune_input > entry.input, entry.ref


def test_cost_of_gpt_4o_mini() -> None:
    # 1000 x 0.15 / 1M + 200 x 0.60 / 1M = 0.00015 + 0.00012 = 0.00027
    assert cost_of("openai:gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200)) == pytest.approx(0.00027)
    # batch: half of that
    assert cost_of("openai:gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200), batch=True) == pytest.approx(
        0.000135
    )
    # A bare name is found across providers.
    assert cost_of("gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200)) == pytest.approx(0.00027)


def test_dated_snapshots_resolve_to_their_price() -> None:
    alias = quote("openai:gpt-4o-mini-2024-07-18")
    assert alias is not None and alias.entry.ref == "openai:gpt-4o-mini" and alias.matched_by == "alias"
    # A snapshot with its own (older, higher) price is not folded into the alias.
    old = quote("openai:gpt-4o-2024-05-13")
    assert old is not None and old.rates.input == 5.00 and old.matched_by == "exact"
    current = quote("openai:gpt-4o-2024-08-06")
    assert current is not None and current.rates.input == 2.50
    # An unseen future snapshot of a known model falls back to the model's price.
    future = quote("openai:gpt-4.1-mini-2031-01-01")
    assert future is not None and future.entry.ref == "openai:gpt-4.1-mini" and future.matched_by == "snapshot"


def test_fine_tuned_models_are_billed_at_their_base_models_fine_tuned_price() -> None:
    ref = "openai:ft:gpt-4o-mini-2024-07-18:acme:support:9xYz"
    found = quote(ref)
    assert found is not None and found.fine_tuned and found.entry.ref == "openai:gpt-4o-mini"
    assert found.rates == Rates(input=0.30, cached_input=0.15, output=1.20)
    # 1000 x 0.30 / 1M + 300 x 1.20 / 1M = 0.0003 + 0.00036 = 0.00066
    assert cost_of(ref, Usage(prompt_tokens=1000, completion_tokens=300)) == pytest.approx(0.00066)
    assert "fine-tuned inference price of openai:gpt-4o-mini" in found.describe()
    # A model with no published fine-tuning price is unknown when fine-tuned.
    with pytest.warns(UnknownPriceWarning):
        assert cost_of("openai:ft:o3-2025-04-16:acme::x", Usage(prompt_tokens=1, completion_tokens=1)) is None


def test_unknown_price_warns_and_returns_none_never_zero(caplog: pytest.LogCaptureFixture) -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=100)
    with pytest.warns(UnknownPriceWarning, match=r"no price known for 'ollama:llama3.2'") as record:
        assert cost_of("ollama:llama3.2", usage) is None
    assert '[prices."ollama:llama3.2"]' in str(record[0].message)
    assert "no price known for 'ollama:llama3.2'" in caplog.text
    with pytest.warns(UnknownPriceWarning, match="measured no compute time"):
        assert cost_of("local:/models/qwen2.5-0.5b", usage) is None  # a local model's price is its compute time
    with pytest.warns(UnknownPriceWarning, match="no token counts"):
        assert cost_of("openai:gpt-4o-mini", Usage()) is None
    # Embedding models price input only: output tokens cannot be priced.
    with pytest.warns(UnknownPriceWarning, match="no output price"):
        assert cost_of("openai:text-embedding-3-small", usage) is None
    # 1M embedded tokens x 0.02 = 0.02
    assert cost_of("openai:text-embedding-3-small", Usage(prompt_tokens=1_000_000, completion_tokens=0)) == 0.02


def test_price_says_why_a_cost_is_unknown_without_warning() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # price() never warns: the Cost carries the reason
        known = price("openai:gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200))
        no_price = price("ollama:llama3.2", usage)
        no_counts = price("openai:gpt-4o-mini", Usage())
        no_time = price("local:/models/qwen2.5-0.5b", usage)
    assert known.known and known.dollars == pytest.approx(0.00027) and str(known) == "$0.000270"
    assert known.dollars == cost_of("openai:gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200))
    assert not no_price.known and no_price.dollars is None
    assert no_price.unknown is not None and "no price known for 'ollama:llama3.2'" in no_price.unknown
    assert str(no_counts) == "unknown (openai:gpt-4o-mini: the provider reported no token counts)"
    assert no_time.unknown is not None and "measured no compute time" in no_time.unknown
    batch = price("openai:gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200), batch=True)
    assert batch.dollars == pytest.approx(0.000135)


def test_costs_add_and_an_unknown_part_makes_the_sum_unknown() -> None:
    assert Cost.total([]) == Cost(0.0)
    assert (Cost(0.25) + Cost(0.5)).dollars == pytest.approx(0.75)
    assert (Cost(0.25) * 4).dollars == pytest.approx(1.0)
    first, second = Cost.unknown_because("no price for a"), Cost.unknown_because("no price for b")
    total = Cost.total([Cost(1.0), first, Cost(2.0), second])
    assert total == first and str(total) == "unknown (no price for a)"  # the first reason is kept
    assert (first * 3) == first
    for bad in ((None, None), (1.0, "but also unknown")):
        with pytest.raises(ValueError, match="either dollars or a reason"):
            Cost(*bad)


def test_an_unknown_cost_warns_and_logs_its_reason_from_the_callers_line(caplog: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Cost(0.5).warn()  # known: nothing to say
        Cost.unknown_because("no price known for 'x'").warn()
    (warned,) = caught
    assert warned.category is UnknownPriceWarning and str(warned.message) == "no price known for 'x'"
    assert warned.filename == __file__  # the line that called warn(), not tunewise's
    assert caplog.text.count("no price known for 'x'") == 1


def test_estimate_per_1k_and_per_month() -> None:
    result = estimate(
        "openai:gpt-4o-mini",
        MeanUsage(prompt_tokens=1000, completion_tokens=300, cached_prompt_tokens=200),
        requests_per_month=100_000,
    )
    assert result is not None
    assert result.per_request == pytest.approx(0.000315)
    assert result.per_1k_requests == pytest.approx(0.315)
    assert result.per_month == pytest.approx(31.5)
    assert (result.priced_as, result.as_of, result.fine_tuned) == ("openai:gpt-4o-mini", date(2026, 11, 25), False)


# --- overrides from settings ------------------------------------------------------------


def test_settings_override_and_add_prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(
        tmp_path,
        monkeypatch,
        '[prices."openai:gpt-4o-mini"]\ninput = 0.20\n\n'
        '[prices."ollama:llama3.2"]\ninput = 0\noutput = 0\nhosting_per_hour = 0.5\n\n'
        '[prices."vllm:*"]\ninput = 0.01\noutput = 0.02\n',
    )
    usage = Usage(prompt_tokens=1000, completion_tokens=200)
    # Overridden input, shipped output: 1000 x 0.20 / 1M + 200 x 0.60 / 1M = 0.0002 + 0.00012 = 0.00032
    assert cost_of("openai:gpt-4o-mini", usage) == pytest.approx(0.00032)
    mini = quote("openai:gpt-4o-mini")
    assert mini is not None and mini.entry.source == str(config) and mini.entry.as_of is None
    # The override keeps the shipped fine-tuning prices and follows the snapshot alias.
    assert mini.entry.finetune_training == 3.00
    assert cost_of("openai:gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.00032)
    # A local model is free per token only because the user said so; hosting is 0.5 x 730 = 365 a month.
    assert cost_of("ollama:llama3.2", usage) == 0.0
    local = estimate("ollama:llama3.2", usage, requests_per_month=10_000)
    assert local is not None and local.per_month == pytest.approx(365.0)
    # A wildcard prices every model of a profile: 1000 x 0.01 / 1M + 200 x 0.02 / 1M = 0.000014
    found = quote("vllm:Qwen/Qwen2.5-7B-Instruct")
    assert found is not None and found.matched_by == "wildcard"
    assert cost_of("vllm:Qwen/Qwen2.5-7B-Instruct", usage) == pytest.approx(0.000014)


def test_price_file_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "our-prices.toml"
    prices.write_text(
        '[[prices]]\nprovider = "lab"\nmodel = "qwen-7b"\ninput = 0.05\noutput = 0.10\n'
        'source = "our GPU invoice"\nas_of = 2026-10-01\n'
    )
    monkeypatch.setenv("TUNEWISE_PRICES_FILE", str(prices))
    found = quote("lab:qwen-7b")
    assert found is not None and found.entry.source == "our GPU invoice" and found.entry.as_of == date(2026, 10, 1)
    # 2000 x 0.05 / 1M + 500 x 0.10 / 1M = 0.0001 + 0.00005 = 0.00015
    assert cost_of("lab:qwen-7b", Usage(prompt_tokens=2000, completion_tokens=500)) == pytest.approx(0.00015)


def test_bad_override_is_one_line_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, monkeypatch, '[prices."openai:gpt-4o-mini"]\ninput = -1\n')
    with pytest.raises(ConfigError) as info:
        load_catalog(load_settings())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{config}: prices.'openai:gpt-4o-mini': input:")
    write_config(tmp_path, monkeypatch, '[prices."gpt-4o-mini"]\ninput = 1\n')
    with pytest.raises(ConfigError, match="needs a provider prefix"):
        load_catalog(load_settings())
    write_config(tmp_path, monkeypatch, '[prices."openai:mystery"]\nnotes = "typo"\n')
    with pytest.raises(ConfigError, match=r"prices\.'openai:mystery'"):
        load_catalog(load_settings())


def test_bad_price_file_names_file_entry_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text(
        '[[prices]]\nprovider = "lab"\nmodel = "a"\ninput = 1\n\n[[prices]]\nprovider = "lab"\nmodel = "b"\n'
    )
    with pytest.raises(DataError) as info:
        read_price_file(bad)
    assert str(info.value).startswith(f"{bad}: prices[1] (b): an entry needs at least one of")
    bad.write_text('[[prices]]\nprovider = "lab"\nmodel = "a"\ninput = "cheap"\n')
    with pytest.raises(DataError) as info:
        read_price_file(bad)
    assert str(info.value).startswith(f"{bad}: prices[0] (a).input:")
    bad.write_text("[[prices]\n")
    with pytest.raises(DataError, match="not valid TOML"):
        read_price_file(bad)
    with pytest.raises(DataError, match="cannot read price file"):
        read_price_file(tmp_path / "missing.toml")


def test_catalog_is_reloaded_when_settings_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0)
    assert cost_of("openai:gpt-4o-mini", usage) == pytest.approx(0.15)
    write_config(tmp_path, monkeypatch, '[prices."openai:gpt-4o-mini"]\ninput = 0.25\n')
    assert cost_of("openai:gpt-4o-mini", usage) == pytest.approx(0.25)


def test_local_adapters_and_wildcards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, '[prices."local:*"]\ninput = 0\noutput = 0\nhosting_per_hour = 0.3\n')
    # A LoRA adapter on a local base model runs on the same box at the same price.
    adapter = quote("local:/models/qwen+/adapters/support")
    assert adapter is not None and adapter.fine_tuned and adapter.rates == Rates(input=0, output=0)
    assert cost_of("local:/models/qwen+/adapters/support", Usage(prompt_tokens=9, completion_tokens=9)) == 0.0
    # A bare name is not captured by another provider's wildcard.
    found = quote("gpt-4o-mini")
    assert found is not None and found.entry.ref == "openai:gpt-4o-mini"
    assert quote("mystery-model") is None


def test_ambiguous_bare_name_and_explicit_catalog() -> None:
    catalog = PriceCatalog(
        [PriceEntry(provider="a", model="m", input=1.0), PriceEntry(provider="b", model="m", input=2.0)]
    )
    assert cost_of("b:m", Usage(prompt_tokens=1_000_000, completion_tokens=0), catalog=catalog) == 2.0
    with pytest.raises(ConfigError, match="matches several prices"):
        cost_of("m", Usage(prompt_tokens=1, completion_tokens=0), catalog=catalog)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "a:m" in catalog and "c:m" not in catalog


def test_docstring_examples() -> None:
    import tunewise.costs
    import tunewise.costs._catalog

    for module in (tunewise.costs, tunewise.costs._catalog):
        failures, tried = doctest.testmod(module)
        assert tried > 0 and failures == 0, module.__name__


def test_local_models_are_priced_by_compute_time_and_device() -> None:
    usage = Usage(prompt_tokens=300, completion_tokens=60, compute_s=2.0, compute_device="cpu")
    found = quote("local:smollm2-135m-instruct")
    assert found is not None and found.rates is None and found.entry.by_compute
    assert found.entry.as_of is not None and found.entry.source  # dated and sourced like the API prices
    assert cost_of("local:smollm2-135m-instruct", usage) == pytest.approx(2.0 * 0.0816 / 3600)
    # An adapter runs on the same machine at the same rate; a GPU kind picks its own rate, any other GPU "gpu".
    h100 = usage.model_copy(update={"compute_device": "NVIDIA H100 80GB HBM3"})
    assert cost_of("local:/m+/adapter", h100) == pytest.approx(2.0 * 3.50 / 3600)
    other = usage.model_copy(update={"compute_device": "NVIDIA GeForce RTX 4090"})
    assert cost_of("local:/m", other) == pytest.approx(2.0 * 1.50 / 3600)
    # A call that made no model call (a hand-off) is free; one with tokens but no measured time is unknown.
    assert cost_of("local:/m", Usage(prompt_tokens=0, completion_tokens=0)) == 0.0
    # Usage adds compute time up, and loses it when one part was not measured.
    assert (usage + usage).compute_s == 4.0
    assert (usage + Usage(prompt_tokens=1, completion_tokens=1)).compute_s is None
    mean = MeanUsage.of([usage, usage.model_copy(update={"compute_s": 4.0})])
    assert mean.compute_s == 3.0 and mean.compute_device == "cpu"
    projected = estimate("local:/m", mean, requests_per_month=1000)
    assert projected is not None and projected.breakdown.compute == pytest.approx(3.0 * 0.0816 / 3600)
    assert projected.per_month == pytest.approx(1000 * 3.0 * 0.0816 / 3600)


def test_local_compute_rate_overrides_one_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, '[prices."local:*"]\ncompute_per_hour = { cpu = 0.36 }\n')
    usage = Usage(prompt_tokens=1, completion_tokens=1, compute_s=10.0, compute_device="cpu")
    assert cost_of("local:/m", usage) == pytest.approx(0.001)
    gpu = usage.model_copy(update={"compute_device": "nvidia-h200"})
    assert cost_of("local:/m", gpu) == pytest.approx(10 * 4.50 / 3600)  # the shipped GPU rates stay
    (tmp_path / "bad").mkdir()
    write_config(tmp_path / "bad", monkeypatch, '[prices."local:*"]\ncompute_per_hour = { cpu = -1 }\n')
    with pytest.raises(ConfigError, match=r"compute_per_hour\.cpu: must be a finite number"):
        cost_of("local:/m", usage)
