"""Break-even of a fine-tune against a prompt-heavy setup, against hand-worked examples.

A month is 730 hours = 30.4167 days (the cloud billing convention).
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunewise import Usage
from tunewise.costs import (
    DAYS_PER_MONTH,
    MeanUsage,
    UnknownCostError,
    UnknownPriceWarning,
    break_even,
    break_even_from_prices,
    break_even_from_usage,
)


def test_the_blogs_worked_example() -> None:
    # 500 tokens saved x 100,000 requests at 0.002 per 1K = 500 x 0.000002 x 100,000 = 100.00 a month.
    # A 50.00 fine-tune pays back in 50 / 100 = 0.5 months = 15.2 days.
    # Spread over 12 months, it breaks even at (50 / 12) / 0.001 = 4,167 requests a month.
    result = break_even_from_prices(tokens_saved=500, requests_per_month=100_000, price_per_1k=0.002, finetune_cost=50)
    assert result.savings_per_request == pytest.approx(0.001)
    assert result.monthly_savings == pytest.approx(100.0)
    assert result.payback_days == pytest.approx(0.5 * DAYS_PER_MONTH) == pytest.approx(15.21, abs=0.01)
    assert result.break_even_requests_per_month == pytest.approx(4166.67, abs=0.01)
    assert result.pays_back
    assert "pays back in 15.2 days" in result.summary()


def test_fine_tuned_tokens_cost_more() -> None:
    # Prompt-heavy: 1500 input tokens at 0.00015/1K = 0.000225 per request.
    # Fine-tuned: 300 input tokens at 0.0003/1K (twice the price) = 0.00009 per request.
    # Savings 0.000135 x 1,000,000 requests = 135.00 a month; 30.00 of training pays back in
    # 30 / 135 x 30.4167 = 6.76 days.
    result = break_even_from_prices(
        tokens_saved=1200,
        prompt_tokens=1500,
        requests_per_month=1_000_000,
        price_per_1k=0.00015,
        finetuned_price_per_1k=0.0003,
        finetune_cost=30,
    )
    assert result.prompt_cost_per_request == pytest.approx(0.000225)
    assert result.finetuned_cost_per_request == pytest.approx(0.00009)
    assert result.monthly_savings == pytest.approx(135.0)
    assert result.payback_days == pytest.approx(6.76, abs=0.01)


def test_negative_savings_never_pay_back() -> None:
    # Prompt-heavy: 600 x 0.00015/1K = 0.00009. Fine-tuned: 400 x 0.0003/1K = 0.00012.
    # The fine-tune costs 0.00003 more per request: -3.00 a month at 100,000 requests.
    result = break_even_from_prices(
        tokens_saved=200,
        prompt_tokens=600,
        requests_per_month=100_000,
        price_per_1k=0.00015,
        finetuned_price_per_1k=0.0003,
        finetune_cost=10,
    )
    assert result.savings_per_request == pytest.approx(-0.00003)
    assert result.monthly_savings == pytest.approx(-3.0)
    assert result.payback_days is None and result.break_even_requests_per_month is None
    assert not result.pays_back
    summary = result.summary()
    assert "costs $0.000030 more" in summary and "costs $3.00 a month more" in summary
    assert "never pays back" in summary and "no request volume" in summary


def test_zero_savings_is_never_not_a_division_by_zero() -> None:
    result = break_even_from_prices(tokens_saved=0, requests_per_month=100_000, price_per_1k=0.002, finetune_cost=50)
    assert result.savings_per_request == 0 and result.monthly_savings == 0
    assert result.payback_days is None and result.break_even_requests_per_month is None
    assert "never pays back" in result.summary()


def test_hosting_can_outweigh_savings_until_the_volume_grows() -> None:
    # 0.001 saved per request x 100,000 = 100.00, minus 150.00 hosting = -50.00 a month: never at this volume,
    # but from (150 + 50 / 12) / 0.001 = 154,167 requests a month it pays.
    result = break_even(savings_per_request=0.001, requests_per_month=100_000, training_cost=50, hosting_per_month=150)
    assert result.monthly_savings == pytest.approx(-50.0)
    assert result.payback_days is None
    assert result.break_even_requests_per_month == pytest.approx(154_166.67, abs=0.01)
    assert "breaks even from 154,167 requests a month" in result.summary()


def test_no_training_cost_pays_from_the_first_request() -> None:
    result = break_even(savings_per_request=0.001, requests_per_month=10, training_cost=0)
    assert result.payback_days == 0 and result.break_even_requests_per_month == 0
    assert "pays from the first request" in result.summary()


def test_from_two_measured_runs_priced_by_the_catalog() -> None:
    # Prompt-heavy gpt-4o-mini: 1500 x 0.15/1M + 100 x 0.60/1M = 0.000225 + 0.00006 = 0.000285
    # Fine-tuned gpt-4o-mini:    300 x 0.30/1M + 100 x 1.20/1M = 0.00009  + 0.00012 = 0.00021
    # Savings 0.000075 x 1,000,000 = 75.00 a month.
    # Training: 200,000 tokens x 3 epochs x 3.00/1M = 1.80; payback 1.80 / 75 x 30.4167 = 0.73 days.
    prompt_runs = [Usage(prompt_tokens=1400, completion_tokens=90), Usage(prompt_tokens=1600, completion_tokens=110)]
    result = break_even_from_usage(
        prompt_model="openai:gpt-4o-mini",
        prompt_usage=MeanUsage.of(prompt_runs),
        finetuned_model="openai:ft:gpt-4o-mini-2024-07-18:acme::abc",
        finetuned_usage=Usage(prompt_tokens=300, completion_tokens=100),
        requests_per_month=1_000_000,
        training_tokens=200_000,
        epochs=3,
    )
    assert result is not None
    assert result.prompt_cost_per_request == pytest.approx(0.000285)
    assert result.finetuned_cost_per_request == pytest.approx(0.00021)
    assert result.tokens_saved_per_request == pytest.approx(1200)
    assert result.training_cost == pytest.approx(1.80)
    assert result.monthly_savings == pytest.approx(75.0)
    assert result.payback_days == pytest.approx(0.73, abs=0.01)


def test_from_runs_with_an_unknown_price_warns_and_is_none() -> None:
    with pytest.warns(UnknownPriceWarning, match="ollama:llama3.2"):
        result = break_even_from_usage(
            prompt_model="ollama:llama3.2",
            prompt_usage=Usage(prompt_tokens=1500, completion_tokens=100),
            finetuned_model="openai:ft:gpt-4o-mini-2024-07-18",
            finetuned_usage=Usage(prompt_tokens=300, completion_tokens=100),
            requests_per_month=1000,
            training_cost=5,
        )
    assert result is None


def test_from_runs_strict_raises_the_reason_instead_of_warning() -> None:
    common = {
        "finetuned_model": "openai:ft:gpt-4o-mini-2024-07-18",
        "finetuned_usage": Usage(prompt_tokens=300, completion_tokens=100),
        "requests_per_month": 1000,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnknownCostError, match=r"no price known for 'ollama:llama3\.2'"):
            break_even_from_usage(
                prompt_model="ollama:llama3.2",
                prompt_usage=Usage(prompt_tokens=1500, completion_tokens=100),
                training_cost=5,
                strict=True,
                **common,  # type: ignore[arg-type]
            )
        with pytest.raises(UnknownCostError, match="no token counts"):
            break_even_from_usage(
                prompt_model="openai:gpt-4o-mini",
                prompt_usage=Usage(),
                training_cost=5,
                strict=True,
                **common,  # type: ignore[arg-type]
            )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tokens_saved": -5}, "tokens_saved must be a finite number >= 0, got -5"),
        ({"requests_per_month": -1}, "requests_per_month must be a finite number >= 0, got -1"),
        ({"finetune_cost": float("inf")}, "training_cost must be a finite number >= 0, got inf"),
        ({"finetuned_price_per_1k": 0.004}, "a different fine-tuned price needs prompt_tokens"),
        ({"prompt_tokens": 100}, "tokens_saved (500) exceeds prompt_tokens (100)"),
        ({"horizon_months": 0}, "horizon_months must be a finite number > 0, got 0"),
    ],
)
def test_bad_input_is_a_one_line_value_error(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"tokens_saved": 500, "requests_per_month": 100_000, "price_per_1k": 0.002}
    args["finetune_cost"] = 50
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        break_even_from_prices(**args)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


money = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
per_request = st.floats(min_value=-1, max_value=1, allow_nan=False, allow_infinity=False)


@given(savings=per_request, volume=money, training=money, hosting=money)
def test_break_even_is_consistent(savings: float, volume: float, training: float, hosting: float) -> None:
    result = break_even(
        savings_per_request=savings, requests_per_month=volume, training_cost=training, hosting_per_month=hosting
    )
    assert result.monthly_savings == pytest.approx(savings * volume - hosting)
    # It pays back exactly when it saves money each month, and the payback recovers the training.
    assert result.pays_back <= (result.monthly_savings > 0)
    if result.payback_days is not None:
        assert result.payback_days / DAYS_PER_MONTH * result.monthly_savings == pytest.approx(training)
    # At the break-even volume, a year's savings cover a year's hosting plus the training.
    if result.break_even_requests_per_month is None:
        assert savings <= 0 or (hosting + training / 12) / savings == float("inf")
    else:
        yearly = (savings * result.break_even_requests_per_month - hosting) * 12
        assert yearly == pytest.approx(training, abs=1e-6 * max(1.0, training, hosting * 12))
