"""Paired statistics checked against enumerated and hand-computed values, and against scipy.stats."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tunewise import Usage
from tunewise.evaluation import (
    PairwiseSummary,
    adjust_p_values,
    apply_correction,
    bootstrap_mean_ci,
    cohens_dz,
    compare_scores,
    mcnemar_exact,
    paired_permutation_test,
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


def enumerated_signed_rank_p(differences: list[float]) -> float:
    """Oracle: the two-sided Wilcoxon p by listing every sign pattern of the non-zero differences."""
    d = [x for x in differences if x != 0]
    magnitudes = sorted(abs(x) for x in d)
    rank = {m: sum(i + 1 for i, v in enumerate(magnitudes) if v == m) / magnitudes.count(m) for m in magnitudes}
    ranks = [rank[abs(x)] for x in d]
    observed = sum(r for r, x in zip(ranks, d, strict=True) if x > 0)
    sums = [
        sum(r for r, up in zip(ranks, signs, strict=True) if up) for signs in itertools.product((0, 1), repeat=len(d))
    ]
    below, above = sum(w <= observed for w in sums), sum(w >= observed for w in sums)
    return min(1.0, 2 * min(below, above) / len(sums))


def test_wilcoxon_is_exact_up_to_50_non_zero_differences_zeros_or_not() -> None:
    small = [0.1, -0.25, 0.3, 0.45, 0.05, 0.6, -0.15, 0.7]
    assert wilcoxon_signed_rank(small) == pytest.approx(0.1484375)  # 38 of 256 sign patterns, doubled
    # 4 equal wins among 40 cases: the normal approximation said 0.046; exactly, 2 of 16 patterns are as extreme
    assert wilcoxon_signed_rank([0.5] * 4 + [0.0] * 36) == pytest.approx(2 / 16, rel=1e-12)
    # 30 untied wins and 10 zeros: only "all positive" and "all negative" are as extreme
    wins = [0.01 * (i + 1) for i in range(30)] + [0.0] * 10
    assert wilcoxon_signed_rank(wins) == pytest.approx(2 / 2**30, rel=1e-12)
    # all magnitudes tied: every rank is the same, so the exact test is the sign test
    tied = [0.25] * 20 + [-0.25] * 5 + [0.0] * 15
    assert wilcoxon_signed_rank(tied) == pytest.approx(sign_test(20, 5), rel=1e-12)
    assert wilcoxon_signed_rank([0, 0, 0]) == 1.0


def test_wilcoxon_above_50_is_scipys_normal_approximation() -> None:
    rng = np.random.default_rng(2)
    big = np.round(rng.normal(0.05, 0.3, 300), 1)  # ties and zeros, well over 50 non-zero
    assert wilcoxon_signed_rank(big) == pytest.approx(stats.wilcoxon(big, zero_method="wilcox").pvalue, rel=1e-9)
    untied = rng.normal(0.1, 1.0, 80)
    assert wilcoxon_signed_rank(untied) == pytest.approx(stats.wilcoxon(untied, method="approx").pvalue, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-6, 6).filter(bool), min_size=1, max_size=12), st.integers(0, 40))
def test_wilcoxon_matches_enumeration_with_ties_and_zeros(values: list[int], zeros: int) -> None:
    d = [v / 4 for v in values] + [0.0] * zeros
    assert wilcoxon_signed_rank(d) == pytest.approx(enumerated_signed_rank_p(d), rel=1e-12)


def enumerated_permutation_p(differences: list[float]) -> float:
    """Oracle: the share of sign patterns whose |sum| reaches the observed |sum|, listed one by one."""
    observed = abs(sum(differences))
    sums = [
        abs(sum(s * x for s, x in zip(signs, differences, strict=True)))
        for signs in itertools.product((1, -1), repeat=len(differences))
    ]
    return sum(total >= observed - 1e-9 for total in sums) / len(sums)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-8, 8), min_size=1, max_size=12), st.integers(0, 30))
def test_permutation_test_is_exact_for_few_differences(values: list[int], zeros: int) -> None:
    d = [v / 8 for v in values]
    assert paired_permutation_test(d + [0.0] * zeros) == pytest.approx(enumerated_permutation_p(d), rel=1e-12)


def test_permutation_test_by_hand() -> None:
    assert paired_permutation_test([0.5] * 4 + [0.0] * 36) == pytest.approx(2 / 16)  # all + or all -
    assert paired_permutation_test([0.0, 0.0]) == 1.0
    assert paired_permutation_test([0.3, -0.3]) == 1.0  # sum 0: every pattern is as far from 0
    # 12 small wins, 3 big losses: count the flips of each kind that reach |sum| >= 0.6
    d = [0.05] * 12 + [-0.40] * 3
    hits = sum(
        math.comb(12, i) * math.comb(3, j)
        for i in range(13)
        for j in range(4)
        if abs(0.05 * (12 - 2 * i) - 0.40 * (3 - 2 * j)) >= 0.6 - 1e-9
    )
    assert paired_permutation_test(d) == pytest.approx(hits / 2**15, rel=1e-12)


def test_permutation_test_monte_carlo_is_close_seeded_and_never_zero() -> None:
    d = [0.05] * 30 + [-0.40] * 6  # 36 differing cases: sampled, not enumerated
    hits = sum(
        math.comb(30, i) * math.comb(6, j)
        for i in range(31)
        for j in range(7)
        if abs(0.05 * (30 - 2 * i) - 0.40 * (6 - 2 * j)) >= 0.9 - 1e-9
    )
    exact = hits / 2**36
    assert exact == pytest.approx(0.4192, abs=1e-4)
    p = paired_permutation_test(d)
    assert p == pytest.approx(exact, abs=0.012)  # 20,000 flips: standard error 0.0035
    assert p == paired_permutation_test(d) and p != paired_permutation_test(d, seed=1)
    # 30 wins and no loss: no sampled pattern reaches it, and the +1 correction reports 1/20,001, not 0
    assert paired_permutation_test([0.1] * 30) == pytest.approx(1 / 20_001)
    with pytest.raises(ValueError, match="exact_max"):
        paired_permutation_test(d, exact_max=40)  # 2**36 sums would not fit in memory


def test_permutation_test_holds_its_level_under_no_difference() -> None:
    rng = np.random.default_rng(11)
    rejected = sum(paired_permutation_test(rng.normal(0, 0.2, 40), seed=i) < 0.05 for i in range(300))
    assert 0.02 <= rejected / 300 <= 0.08


def test_holm_and_bonferroni_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_p_values(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005 x4, 0.01 x3, 0.03 x2, 0.04 x1 -> 0.02, 0.03, 0.06, max(0.04, 0.06)
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_p_values([0.5, 0.9], "bonferroni") == [1.0, 1.0]
    assert adjust_p_values([], "holm") == []
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1], "sidak")  # type: ignore[arg-type]


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


def hand_written_bootstrap_ci(
    values: np.ndarray, confidence: float, n_resamples: int, seed: int
) -> tuple[float, float]:
    """Oracle: the percentile bootstrap tunewise computed by hand before it called scipy (same draws, same quantile)."""
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // values.size)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, values.size, size=(stop - start, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


@pytest.mark.parametrize(
    ("size", "confidence", "n_resamples", "seed"),
    [(2, 0.95, 10_000, 0), (80, 0.9, 3_001, 4), (700, 0.99, 10_000, 7), (4000, 0.95, 1_000, 2)],
)
def test_bootstrap_ci_is_unchanged_by_the_move_to_scipy(
    size: int, confidence: float, n_resamples: int, seed: int
) -> None:
    values = np.round(np.random.default_rng(size).normal(0.1, 0.4, size), 2)
    expected = hand_written_bootstrap_ci(values, confidence, n_resamples, seed)
    got = bootstrap_mean_ci(values, confidence=confidence, n_resamples=n_resamples, seed=seed)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def absolute_sum(x: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(np.sum(x, axis=axis))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-8, 8).filter(bool), min_size=2, max_size=10))  # scipy needs two
def test_permutation_test_matches_scipy_permutation_test_exactly(values: list[int]) -> None:
    d = np.array(values) / 8
    reference = stats.permutation_test(
        (d,), absolute_sum, permutation_type="samples", vectorized=True, n_resamples=np.inf, alternative="greater"
    )
    assert paired_permutation_test(d) == pytest.approx(reference.pvalue, rel=1e-12)


def test_permutation_test_sampled_agrees_with_scipy_permutation_test() -> None:
    d = np.round(np.random.default_rng(12).normal(0.03, 0.3, 60), 2)  # 60 differences: sampled by both
    reference = stats.permutation_test(
        (d,),
        absolute_sum,
        permutation_type="samples",
        vectorized=True,
        n_resamples=20_000,
        alternative="greater",
        rng=np.random.default_rng(0),
    )
    assert paired_permutation_test(d) == pytest.approx(reference.pvalue, abs=0.02)  # two 20,000-draw estimates
    assert paired_permutation_test([0.1] * 30) == pytest.approx(  # the same +1 correction: never an impossible 0
        stats.permutation_test(
            (np.full(30, 0.1),),
            absolute_sum,
            permutation_type="samples",
            vectorized=True,
            n_resamples=20_000,
            alternative="greater",
            rng=np.random.default_rng(0),
        ).pvalue
    )


def test_wilcoxon_exact_is_scipys_without_ties_and_conditional_on_ties_where_scipy_is_not() -> None:
    rng = np.random.default_rng(13)
    untied = rng.normal(0.1, 1.0, 30)
    assert wilcoxon_signed_rank(untied) == pytest.approx(stats.wilcoxon(untied, method="exact").pvalue, rel=1e-9)
    # tied magnitudes: scipy's exact distribution assumes untied ranks, so it is not the exact p here
    tied = [0.25] * 20 + [-0.25] * 5
    assert wilcoxon_signed_rank(tied) == pytest.approx(sign_test(20, 5), rel=1e-12)  # all tied: the sign test
    assert stats.wilcoxon(tied, method="exact").pvalue != pytest.approx(wilcoxon_signed_rank(tied), rel=0.1)


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
    assert better.significant and better.test == "paired permutation"
    assert better.p_value == pytest.approx(1 / 20_001)  # no sampled sign pattern comes near
    assert better.verdict.startswith(f"fine-tuned better than zero-shot by {better.difference:.2f} on token_f1 (95% CI")
    assert "(paired permutation, 120 paired cases)" in better.verdict
    worse = compare_scores(b, a, metric="token_f1", a_name="fine-tuned", b_name="zero-shot")
    assert worse.verdict.startswith("fine-tuned better than zero-shot by")

    same_a = rng.random(40) < 0.7
    same_b = same_a.copy()
    same_b[:3] = ~same_b[:3]
    none = compare_scores(same_a.astype(float), same_b.astype(float), metric="exact_match", binary=True)
    assert not none.significant and none.test == "McNemar exact"
    assert none.verdict.startswith("no difference detected on exact_match with 40 cases")
    assert none.needed is not None and none.needed > 40
    assert f"40 cases had less than 80% power for 0.05 (about {none.needed} needed)" in none.verdict


def test_many_small_wins_and_a_few_big_losses_name_no_winner() -> None:
    """The reviewer's case: Wilcoxon (ranks) said p=0.03 while the mean and its CI said nothing."""
    a = [0.50] * 36
    b = [0.55] * 30 + [0.10] * 6
    c = compare_scores(a, b, metric="token_f1")
    assert wilcoxon_signed_rank(np.subtract(b, a)) < 0.05  # the old test would have called it
    assert c.ci_low < 0 < c.ci_high and c.difference < 0
    assert c.test == "paired permutation" and c.p_value > 0.3
    assert not c.significant and "better than" not in c.verdict
    assert c.verdict.startswith("no difference detected on token_f1 with 36 cases (B - A = -0.02, p=0.42")
    assert "the 95% CI -0.09..0.03 bounds it" in c.verdict


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10)), min_size=2, max_size=40), st.booleans())
def test_a_winner_is_named_only_when_test_and_interval_agree(pairs: list[tuple[int, int]], binary: bool) -> None:
    a = [x / 10 if not binary else float(x > 5) for x, _ in pairs]
    b = [y / 10 if not binary else float(y > 5) for _, y in pairs]
    c = compare_scores(a, b, binary=binary, n_resamples=500)
    assert c.significant == (c.p_value < c.alpha and c.interval_excludes_zero)
    assert ("better than" in c.verdict) == c.significant
    if not c.interval_excludes_zero:
        assert not c.significant
    if (c.p_value < c.alpha) != c.interval_excludes_zero:
        assert c.verdict.startswith("inconclusive") and "the test and the interval disagree" in c.verdict


def test_test_and_interval_disagreeing_is_said_not_resolved() -> None:
    # four +0.5 wins in 40: the bootstrap interval excludes 0, the exact test cannot (p = 2/16)
    swings = compare_scores([0.0] * 40, [0.5] * 4 + [0.0] * 36, metric="token_f1")
    assert swings.ci_low > 0 and swings.p_value == pytest.approx(0.125) and not swings.significant
    assert swings.verdict.startswith("inconclusive on token_f1 with 40 cases: the test and the interval disagree")
    assert "the 95% CI 0.01..0.10 excludes 0 but p=0.12 is not below 0.05" in swings.verdict
    assert "B scored higher on 4 cases and lower on 0" in swings.verdict


def test_no_difference_wording_claims_only_what_holds() -> None:
    def outcomes(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[bool], list[bool]]:
        a = [True] * (both + a_only) + [False] * (b_only + neither)
        b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
        return a, b

    powered = compare_scores(*outcomes(800, 30, 34, 136), binary=True)
    assert not powered.significant and powered.needed is not None and powered.needed <= 1000
    assert "were enough" not in powered.verdict and "any real difference is smaller" not in powered.verdict
    assert powered.verdict.endswith(
        "the 95% CI -0.012..0.020 bounds it; 1000 cases had at least 80% power for a difference of 0.05"
    )
    same = compare_scores([1.0, 0.0, 1.0], [1.0, 0.0, 1.0], binary=True)
    assert same.verdict.endswith("no case scored differently, so no power estimate")
    # a tiny significant difference keeps enough decimals not to print "by 0.00" or a bound of "0.00"
    rng = np.random.default_rng(4)
    base = rng.uniform(0.2, 0.8, 4000)
    tiny = compare_scores(base, base + rng.normal(0.004, 0.02, 4000))
    assert tiny.significant and "by 0.00 " not in tiny.verdict and "CI 0.00.." not in tiny.verdict


def test_corrections_adjust_the_family_and_the_verdict_says_so() -> None:
    def outcomes(a_only: int, b_only: int) -> tuple[list[bool], list[bool]]:
        return [True] * (100 + a_only) + [False] * (b_only + 60), [True] * 100 + [False] * a_only + [True] * b_only + [
            False
        ] * 60

    strong = compare_scores(*outcomes(10, 40), binary=True, metric="strong")
    borderline = compare_scores(*outcomes(20, 36), binary=True, metric="borderline")
    null = compare_scores(*outcomes(25, 25), binary=True, metric="null")
    assert borderline.significant and 0.01 < borderline.p_value < 0.05
    holm = apply_correction([strong, borderline, null], "holm")
    assert [c.p_adjusted for c in holm] == pytest.approx(
        adjust_p_values([strong.p_value, borderline.p_value, 1.0], "holm")
    )
    assert all(c.correction == "holm" and c.family == 3 for c in holm)
    assert holm[0].significant and holm[0].verdict.startswith("B better than A by")
    assert not holm[1].significant and holm[1].interval_excludes_zero
    assert holm[1].verdict.startswith(
        "no difference on borderline with 216 cases survives the Holm correction for 3 comparisons"
    )
    assert f"McNemar exact; Holm-adjusted for 3 comparisons, p={borderline.p_value:.2f} before)" in holm[1].verdict
    assert "is per comparison, not corrected" in holm[1].verdict
    assert holm[0].verdict.endswith(
        "(McNemar exact, 210 paired cases; Holm-adjusted for 3 comparisons, p<0.001 before)"
    )
    # not significant before the correction either: the adjusted p is the one quoted, and marked as adjusted
    swings = compare_scores([0.0] * 40, [0.5] * 4 + [0.0] * 36, metric="swings")
    (corrected_swings, _) = apply_correction([swings, null], "holm")  # the smaller p, doubled
    assert "but p=0.25 is not below 0.05; paired permutation; Holm-adjusted for 2 comparisons, p=0.12 before)" in (
        corrected_swings.verdict
    )
    bonferroni = apply_correction([strong, borderline, null], "bonferroni")
    assert bonferroni[1].p_adjusted == pytest.approx(min(1.0, 3 * borderline.p_value))
    assert apply_correction([borderline], None) == [borderline]
    assert apply_correction([borderline], "holm") == [borderline]  # a family of one: nothing to correct for

    judge = PairwiseSummary(
        a="A", b="B", n=30, b_wins=8, a_wins=1, ties=21, inconsistent=0, p_value=sign_test(8, 1), usage=Usage()
    )
    assert judge.significant and judge.verdict.startswith("judge prefers B")
    (corrected,) = apply_correction([judge, null], "bonferroni")[:1]
    assert corrected.p_adjusted == pytest.approx(min(1.0, 2 * judge.p_value))
    assert not corrected.significant and corrected.verdict.startswith("judge shows no clear preference over 30 pairs")
    assert corrected.verdict.endswith(
        f"(sign test; Bonferroni-adjusted for 2 comparisons, p={judge.p_value:.2f} before)"
    )
