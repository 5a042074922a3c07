"""The learning curve's arithmetic: a power law fitted to 2-4 runs, its intervals, "flat within noise".

The curve is a saturating power law in the number of training examples, fitted to 2-4 measured
points, with bootstrap intervals from the per-case scores, and the call "flat within noise".

The curve is ``score(n) = a - b * (n / n_max) ** -c``: ``a`` is the level it saturates at (at most
``ceiling``, 1 for the ladder's metrics, which all score in [0, 1]), ``b >= 0`` the gap left at the
largest run ``n_max`` (so more data never predicts a loss) and ``c`` the exponent, held to
[`EXPONENT_RANGE`][tunewise.ladder._curve.EXPONENT_RANGE]. Three parameters on two or three points
would fit anything, so the exponent is bounded (and with two sizes fixed at
[`EXPONENT_TWO_POINTS`][tunewise.ladder._curve.EXPONENT_TWO_POINTS]), and the uncertainty comes from
the data: the test cases are resampled with replacement, the same cases for every size (the sizes
were measured on the same cases, so their differences are paired), and the curve refitted each time.
A refit that does not converge is counted, never fatal.

Pure functions (numpy and scipy loaded when a curve is fitted); the fine-tune rung calls
[`fit_curve`][tunewise.ladder._curve.fit_curve] and keeps the [`CurveFit`][tunewise.ladder._curve.CurveFit]
in the ladder's state.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 1.0)
"""``learning_curve = true``: a quarter, half and all of the training set."""
EXPONENT_RANGE = (0.1, 1.0)
"""Bounds of ``c``. Learning curves of fine-tuned language models fall in between (a slow 0.1 is nearly
log-linear, 1.0 saturates fast); outside it two or three points cannot tell an exponent from noise."""
EXPONENT_TWO_POINTS = 0.5
"""With only two sizes the exponent is not identified: it is fixed here, mid-range, and the report says so."""
MULTIPLES: tuple[float, ...] = (2.0, 4.0)
"""The data sizes projected, as multiples of the largest run."""
NEGLIGIBLE = 0.005
"""A gain at 4x whose interval starts below this (half a point of a 0..1 metric) cannot be told from none."""
REPLICATES = 400
"""Bootstrap refits: enough for a 95% interval's ends to settle to about a hundredth on 20-200 cases."""


class Projection(BaseModel):
    """The fitted curve at ``multiple`` x the largest run: the expected metric and its gain, with intervals."""

    model_config = ConfigDict(frozen=True)

    multiple: float
    n: int
    """Training examples at that size."""
    mean: float
    low: float
    high: float
    gain: float
    """Expected metric there minus the fitted metric at the largest run (never negative: ``b >= 0``)."""
    gain_low: float
    gain_high: float


class CurveFit(BaseModel):
    """A fitted learning curve: the measured points, the curve, its projections and whether it is flat."""

    model_config = ConfigDict(frozen=True)

    sizes: list[int]
    """Training examples of each measured run, ascending."""
    means: list[float]
    lows: list[float]
    highs: list[float]
    """Each point's bootstrap interval (the same resamples as the fits)."""
    cases: int
    """Test cases every point was measured on (paired)."""
    confidence: float
    a: float | None
    """The level the curve saturates at; ``None`` (with ``b`` and ``c``) when the fit did not converge."""
    b: float | None
    c: float | None
    exponent_fixed: bool = False
    """Two sizes: ``c`` was fixed at [`EXPONENT_TWO_POINTS`][tunewise.ladder._curve.EXPONENT_TWO_POINTS]."""
    converged: bool = True
    """Whether the fit on all the cases converged (when not, there is no projection)."""
    projections: list[Projection] = Field(default_factory=list)
    observed_gain: float
    """The largest run's mean minus the smallest run's."""
    observed_low: float
    observed_high: float
    replicates: int
    failed: int = 0
    """Bootstrap refits that did not converge (left out of the intervals)."""
    flat: bool
    why: str
    """One sentence: why the curve is called flat, or what the extra data is expected to bring."""

    @property
    def n_max(self) -> int:
        return self.sizes[-1]

    def at(self, multiple: float) -> Projection | None:
        """The projection at ``multiple`` x the largest run, if it was made."""
        return next((p for p in self.projections if p.multiple == multiple), None)

    def predict(self, n: float) -> float | None:
        """The fitted curve at ``n`` training examples (``None`` when the fit did not converge)."""
        if self.a is None or self.b is None or self.c is None:
            return None
        return float(power_law(n / self.n_max, self.a, self.b, self.c))


def power_law(x: Any, a: Any, b: Any, c: Any) -> Any:
    """``a - b * x ** -c`` where ``x`` is the data size relative to the largest run (floats or numpy arrays)."""
    return a - b * x ** (-c)


def fit_curve(
    sizes: Sequence[int],
    scores: Sequence[Sequence[float]],
    *,
    confidence: float = 0.95,
    replicates: int = REPLICATES,
    seed: int = 0,
    ceiling: float | None = 1.0,
    multiples: Sequence[float] = MULTIPLES,
    max_nfev: int | None = None,
) -> CurveFit:
    """Fit the curve to runs of ``sizes`` training examples whose per-case scores are ``scores[k][i]``.

    Every ``scores[k]`` scores the same test cases in the same order (case ``i`` is one case at every
    size). ``ceiling`` bounds the asymptote (``None``: unbounded). ``max_nfev`` caps the solver's
    evaluations per fit (tests use it to make fits fail). Raises ``ValueError`` on fewer than two sizes,
    sizes not strictly ascending, or rows of different lengths.
    """
    import numpy as np

    _check(sizes, scores)
    matrix = np.asarray(scores, dtype=float)  # sizes x cases
    x = np.asarray(sizes, dtype=float) / sizes[-1]
    fixed = len(sizes) == 2
    rng = np.random.default_rng(seed)
    cases = matrix.shape[1]
    picks = rng.integers(0, cases, size=(replicates, cases))
    boot_means = matrix[:, picks].mean(axis=2).T  # replicates x sizes
    main = _fit(x, matrix.mean(axis=1), ceiling=ceiling, fixed=fixed, max_nfev=max_nfev)
    fits = [_fit(x, row, ceiling=ceiling, fixed=fixed, max_nfev=max_nfev) for row in boot_means]
    good = np.asarray([f for f in fits if f is not None])
    tail = (1 - confidence) / 2
    means = matrix.mean(axis=1)
    lows, highs = np.quantile(boot_means, [tail, 1 - tail], axis=0)
    gains = boot_means[:, -1] - boot_means[:, 0]
    gain_low, gain_high = np.quantile(gains, [tail, 1 - tail])
    observed = (float(means[-1] - means[0]), float(gain_low), float(gain_high))
    projections = []
    if main is not None and len(good):
        projections = [_project(main, good, m, sizes[-1], tail) for m in multiples]
    a, b, c = main if main is not None else (None, None, None)
    flat, why = _verdict(observed, projections, converged=main is not None, level=f"{confidence:.0%}", cases=cases)
    return CurveFit(
        sizes=list(sizes),
        means=[float(v) for v in means],
        lows=[float(v) for v in lows],
        highs=[float(v) for v in highs],
        cases=cases,
        confidence=confidence,
        a=a,
        b=b,
        c=c,
        exponent_fixed=fixed,
        converged=main is not None,
        projections=projections,
        observed_gain=observed[0],
        observed_low=observed[1],
        observed_high=observed[2],
        replicates=replicates,
        failed=replicates - len(good),
        flat=flat,
        why=why,
    )


def _check(sizes: Sequence[int], scores: Sequence[Sequence[float]]) -> None:
    if len(sizes) < 2:
        raise ValueError(f"a learning curve needs at least two training sizes, got {len(sizes)}")
    if any(later <= earlier for earlier, later in itertools.pairwise(sizes)) or sizes[0] < 1:
        raise ValueError(f"training sizes must be positive and strictly ascending, got {list(sizes)}")
    if len(scores) != len(sizes):
        raise ValueError(f"{len(sizes)} sizes but {len(scores)} rows of scores")
    lengths = {len(row) for row in scores}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"every size needs scores on the same test cases, got rows of {sorted(lengths)} cases")


def _fit(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    ceiling: float | None,
    fixed: bool,
    max_nfev: int | None,
) -> tuple[float, float, float] | None:
    """Bounded least squares of the curve on the points ``(x, y)``; ``None`` when the solver did not converge."""
    import numpy as np
    from scipy.optimize import least_squares

    top = math.inf if ceiling is None else ceiling
    start_a = min(float(y.max()) + 0.05, top - 1e-6) if ceiling is not None else float(y.max()) + 0.05
    start = [start_a, max(start_a - float(y[-1]), 1e-3)]
    lower, upper = [-math.inf, 0.0], [top, math.inf]
    if fixed:
        start.append(EXPONENT_TWO_POINTS)
        lower.append(EXPONENT_TWO_POINTS - 1e-9)  # the solver needs an open interval: c is pinned here
        upper.append(EXPONENT_TWO_POINTS + 1e-9)
    else:
        start.append(float(np.mean(EXPONENT_RANGE)))
        lower.append(EXPONENT_RANGE[0])
        upper.append(EXPONENT_RANGE[1])
    log_x = np.log(x)

    def residuals(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(power_law(x, p[0], p[1], p[2]) - y)

    def jacobian(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        powered = x ** (-p[2])
        return np.stack([np.ones_like(x), -powered, p[1] * powered * log_x], axis=1)

    try:  # dogbox: made for small problems with bounds (a few times faster here than trf)
        found = least_squares(residuals, start, jac=jacobian, bounds=(lower, upper), max_nfev=max_nfev, method="dogbox")
    except (ValueError, FloatingPointError):
        return None
    if found.status <= 0 or not np.all(np.isfinite(found.x)):
        return None
    a, b, c = (float(v) for v in found.x)
    return a, b, EXPONENT_TWO_POINTS if fixed else c


def _project(
    main: tuple[float, float, float], good: npt.NDArray[np.float64], multiple: float, n_max: int, tail: float
) -> Projection:
    """The curve at ``multiple`` x the largest run: the fit on all cases, the interval from the refits."""
    import numpy as np

    a, b, c = main
    boot = power_law(multiple, good[:, 0], good[:, 1], good[:, 2])
    boot_gain = boot - power_law(1.0, good[:, 0], good[:, 1], good[:, 2])
    low, high = np.quantile(boot, [tail, 1 - tail])
    gain_low, gain_high = np.quantile(boot_gain, [tail, 1 - tail])
    mean = float(power_law(multiple, a, b, c))
    return Projection(
        multiple=multiple,
        n=round(n_max * multiple),
        mean=mean,
        low=float(low),
        high=float(high),
        gain=mean - float(power_law(1.0, a, b, c)),
        gain_low=float(gain_low),
        gain_high=float(gain_high),
    )


def _verdict(
    observed: tuple[float, float, float], projections: Sequence[Projection], *, converged: bool, level: str, cases: int
) -> tuple[bool, str]:
    """Whether the curve is flat, and the verdict's words.

    Flat when the largest run is not better than the smallest beyond the bootstrap noise, or when the
    gain at the largest projection cannot be told from none; else what the projections promise.
    """
    gain, low, high = observed
    if low <= 0:
        return True, (
            f"the largest run is not better than the smallest beyond the noise: {gain:+.3f} "
            f"({level} interval {low:+.3f}..{high:+.3f} on {cases} test cases includes 0)"
        )
    if not converged or not projections:
        return False, f"the largest run beats the smallest by {gain:+.3f}, but the curve could not be fitted"
    far = projections[-1]
    if far.gain_low < NEGLIGIBLE:
        return True, (
            f"the curve is flat within noise: {far.gain:+.3f} expected at {far.multiple:g}x the data "
            f"({level} interval {far.gain_low:+.3f}..{far.gain_high:+.3f}, which includes no gain)"
        )
    near = projections[0]
    return False, (
        f"{near.gain:+.3f} expected at {near.multiple:g}x the data ({level} interval "
        f"{near.gain_low:+.3f}..{near.gain_high:+.3f}), {far.gain:+.3f} at {far.multiple:g}x"
    )
