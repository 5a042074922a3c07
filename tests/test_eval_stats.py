"""Paired statistics checked against scipy.stats on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tunewise.evaluation import (
    bootstrap_mean_ci,
    cohens_dz,
    compare_scores,
    mcnemar_exact,
    power_paired,
    sample_size_mcnemar,
    sample_size_paired,
    sign_test,
    wilcoxon_signed_rank,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60))
def test_sign_test_matches_scipy_binomtest(wins: int, losses: int) -> None:
    expected = 1.0 if wins + losses == 0 else stats.binomtest(wins, wins + losses, 0.5).pvalue
    assert sign_test(wins, losses) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_sign_test_large_n_matches_scipy() -> None:
    assert sign_test(1020, 980) == pytest.approx(stats.binomtest(1020, 2000, 0.5).pvalue, rel=1e-6)


def test_mcnemar_exact_counts_discordant_pairs_and_matches_binomtest() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(200) < 0.6
    b = rng.random(200) < 0.7
    result = mcnemar_exact(a, b)
    assert result.a_only == int(np.sum(a & ~b)) and result.b_only == int(np.sum(b & ~a))
    n = result.a_only + result.b_only
    assert result.p_value == pytest.approx(stats.binomtest(result.b_only, n, 0.5).pvalue, rel=1e-9)
    assert mcnemar_exact([1, 0], [1, 0]).p_value == 1.0


def test_wilcoxon_matches_scipy_exact_and_approximate() -> None:
    small = [0.1, -0.25, 0.3, 0.45, 0.05, 0.6, -0.15, 0.7]
    assert wilcoxon_signed_rank(small) == pytest.approx(stats.wilcoxon(small, method="exact").pvalue, rel=1e-12)
    assert wilcoxon_signed_rank(small) == pytest.approx(0.1484375)  # 38 of 256 sign patterns, doubled
    rng = np.random.default_rng(2)
    big = np.round(rng.normal(0.05, 0.3, 300), 1)  # ties and zeros: normal approximation with tie correction
    assert wilcoxon_signed_rank(big) == pytest.approx(stats.wilcoxon(big, zero_method="wilcox").pvalue, rel=1e-9)
    untied = rng.normal(0.1, 1.0, 80)  # more than 50: approximation
    assert wilcoxon_signed_rank(untied) == pytest.approx(stats.wilcoxon(untied, method="approx").pvalue, rel=1e-9)
    assert wilcoxon_signed_rank([0, 0, 0]) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-6, 6), min_size=1, max_size=60), st.booleans())
def test_wilcoxon_matches_scipy_default_on_any_data(values: list[int], spread: bool) -> None:
    d = np.array(values, dtype=float) / 4
    if spread:  # mostly untied magnitudes: the exact distribution up to 50 differences
        d = d + np.arange(len(d)) * 1e-3 * np.sign(d)
    if not np.any(d != 0):
        assert wilcoxon_signed_rank(d) == 1.0
        return
    assert wilcoxon_signed_rank(d) == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-9, abs=1e-12)


def test_bootstrap_ci_agrees_with_scipy_bootstrap() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 0.4, 80)
    low, high = bootstrap_mean_ci(d, n_resamples=20_000, seed=4)
    reference = stats.bootstrap((d,), np.mean, n_resamples=20_000, method="percentile", rng=np.random.default_rng(5))
    assert low == pytest.approx(reference.confidence_interval.low, abs=0.01)
    assert high == pytest.approx(reference.confidence_interval.high, abs=0.01)
    assert low < d.mean() < high
    assert bootstrap_mean_ci(d, seed=7) == bootstrap_mean_ci(d, seed=7)  # deterministic
    assert bootstrap_mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(6)
    covered = 0
    for trial in range(200):
        sample = rng.normal(0.2, 1.0, 60)
        low, high = bootstrap_mean_ci(sample, n_resamples=2000, seed=trial)
        covered += low <= 0.2 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_effect_size_is_mean_over_sd_of_differences() -> None:
    d = np.array([0.2, 0.1, 0.4, -0.1, 0.3])
    assert cohens_dz(d) == pytest.approx(d.mean() / d.std(ddof=1))
    assert cohens_dz([0.0, 0.0]) == 0.0


def test_sample_size_reaches_the_asked_power_and_no_more() -> None:
    sd, delta = 0.3, 0.05
    n = sample_size_paired(sd, delta)
    assert power_paired(n, sd, delta) >= 0.8 > power_paired(n - 1, sd, delta)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert n == math.ceil((z * sd / delta) ** 2)
    # McNemar: simulate the exact test at the computed size; power should be close to 80%
    n_mc = sample_size_mcnemar(0.2, 0.1)
    rng = np.random.default_rng(8)
    p_b_only, p_a_only = 0.15, 0.05  # discordant share 0.2, difference 0.1
    hits = 0
    for _ in range(400):
        u = rng.random(n_mc)
        b_only, a_only = int(np.sum(u < p_b_only)), int(np.sum((u >= p_b_only) & (u < p_b_only + p_a_only)))
        hits += stats.binomtest(b_only, b_only + a_only, 0.5).pvalue < 0.05
    assert 0.72 <= hits / 400 <= 0.9


def test_verdicts_read_as_the_issue_asks() -> None:
    rng = np.random.default_rng(9)
    a = np.clip(rng.normal(0.6, 0.15, 120), 0, 1)
    b = np.clip(a + rng.normal(0.12, 0.1, 120), 0, 1)
    better = compare_scores(a, b, metric="token_f1", a_name="zero-shot", b_name="fine-tuned")
    assert better.significant and better.test == "Wilcoxon signed-rank"
    assert better.p_value == pytest.approx(stats.wilcoxon(b - a).pvalue)
    assert better.verdict.startswith(f"fine-tuned better than zero-shot by {better.difference:.2f} on token_f1 (95% CI")
    worse = compare_scores(b, a, metric="token_f1", a_name="fine-tuned", b_name="zero-shot")
    assert worse.verdict.startswith("fine-tuned better than zero-shot by")

    same_a = rng.random(40) < 0.7
    same_b = same_a.copy()
    same_b[:3] = ~same_b[:3]
    none = compare_scores(same_a.astype(float), same_b.astype(float), metric="exact_match", binary=True)
    assert not none.significant and none.test == "McNemar exact"
    assert none.verdict.startswith("no detectable difference on exact_match with 40 cases")
    assert none.needed is not None and none.needed > 40
    assert f"about {none.needed} needed for 0.05" in none.verdict
