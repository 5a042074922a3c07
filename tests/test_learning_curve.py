"""The fine-tune rung's learning curve: the fit on synthetic curves whose truth is known, then whole ladders
(scripted jobs on disk, killed and resumed; a budget too small for the curve; the report and the CLI).

The OpenAI fake server's jobs and the local plugin's tiny model are in test_learning_curve_plugins.py.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from ladder_world import DiskTuner, World, WorldProvider, lookup, write_world

from tunewise import ChatRequest, ConfigError
from tunewise.evaluation._charts import Interval, SizePoint, learning_curve_chart, overlapping
from tunewise.ladder import build_ladder_report, load_ladder_config, run_ladder
from tunewise.ladder._curve import EXPONENT_TWO_POINTS, fit_curve, power_law

# --- the fit ---------------------------------------------------------------------------------------------


def synthetic(sizes: list[int], a: float, b: float, c: float, cases: int, noise: float, seed: int) -> list[Any]:
    """Per-case scores around a known curve: a case's own difficulty (shared by every size) plus noise."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, noise, cases)
    return [
        np.clip(power_law(n / sizes[-1], a, b, c) + difficulty + rng.normal(0, noise / 4, cases), 0, 1) for n in sizes
    ]


def test_a_known_curve_is_recovered_with_its_extrapolation_inside_the_interval() -> None:
    sizes, truth = [50, 100, 200], (0.9, 0.3, 0.5)
    fit = fit_curve(sizes, synthetic(sizes, *truth, cases=300, noise=0.05, seed=3), replicates=300)
    assert fit.converged and fit.failed == 0 and not fit.flat
    assert fit.a is not None and fit.b is not None and fit.c is not None
    assert (fit.a, fit.b, fit.c) == pytest.approx(truth, abs=0.08)
    for multiple in (2.0, 4.0):
        projected = fit.at(multiple)
        expected = power_law(multiple, *truth)
        assert projected is not None and projected.n == 200 * multiple
        assert projected.mean == pytest.approx(expected, abs=0.02)
        assert projected.low <= expected <= projected.high
        assert 0 < projected.gain_low <= projected.gain <= projected.gain_high
    assert "expected at 2x the data" in fit.why


def test_a_flat_curve_is_called_flat() -> None:
    sizes = [40, 80, 160]
    fit = fit_curve(sizes, synthetic(sizes, 0.7, 0.0, 0.5, cases=120, noise=0.15, seed=5))
    assert fit.flat
    assert fit.observed_low <= 0 <= fit.observed_high
    assert "not better than the smallest beyond the noise" in fit.why
    assert fit.at(4.0) is not None and fit.at(4.0).gain_low < 0.005  # type: ignore[union-attr]


def test_a_bounded_metric_is_never_projected_above_its_ceiling() -> None:
    sizes = [40, 80, 160]  # near the top already: a steep rise would cross 1 if the asymptote were free
    fit = fit_curve(sizes, synthetic(sizes, 1.2, 0.35, 0.3, cases=150, noise=0.02, seed=4))
    assert fit.a is not None and fit.a <= 1.0
    assert all(p.high <= 1.0 for p in fit.projections)
    free = fit_curve(sizes, synthetic(sizes, 1.2, 0.35, 0.3, cases=150, noise=0.02, seed=4), ceiling=None)
    assert free.a is not None and free.a > 1.0


def test_two_runs_fix_the_exponent_and_still_give_intervals() -> None:
    sizes = [100, 200]
    fit = fit_curve(sizes, synthetic(sizes, 0.9, 0.3, 0.5, cases=200, noise=0.05, seed=1))
    assert fit.exponent_fixed and fit.c == EXPONENT_TWO_POINTS
    projected = fit.at(2.0)
    assert projected is not None and projected.low < projected.mean < projected.high


def test_fits_that_do_not_converge_are_counted_not_fatal() -> None:
    sizes = [10, 20, 40]
    fit = fit_curve(sizes, synthetic(sizes, 0.9, 0.3, 0.5, cases=50, noise=0.05, seed=2), replicates=50, max_nfev=1)
    assert not fit.converged and fit.failed == 50 and fit.projections == []
    assert fit.a is None and fit.predict(80) is None
    assert "could not be fitted" in fit.why  # the measured points still say the curve rose


@pytest.mark.parametrize(
    ("sizes", "scores", "message"),
    [
        ([10], [[1.0]], "at least two"),
        ([20, 10], [[1.0], [1.0]], "ascending"),
        ([10, 20], [[1.0, 0.0], [1.0]], "same test cases"),
    ],
)
def test_bad_input_is_refused(sizes: list[int], scores: list[list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_curve(sizes, scores)


def test_the_chart_shows_points_curve_and_shaded_extrapolation() -> None:
    measured = [SizePoint(n, Interval(m, m - 0.05, m + 0.05), str(n)) for n, m in ((10, 0.4), (20, 0.55), (40, 0.65))]
    projected = [SizePoint(80, Interval(0.72, 0.66, 0.76), "80 (2x)"), SizePoint(160, Interval(0.77, 0.68, 0.82), "x")]
    curve = [(n, 0.9 - 0.25 * (n / 40) ** -0.5) for n in np.geomspace(10, 160, 30)]
    chart = learning_curve_chart(
        measured, curve=curve, projected=projected, metric="exact_match", level="95%", threshold=0.8, verdict="rising"
    )
    assert chart is not None and chart.key == "learning_curve"
    assert chart.layout["shaded"][0] == 40 and chart.layout["shaded"][1] > 160
    assert [p["examples"] for p in chart.layout["measured"]] == [10, 20, 40]
    assert not overlapping(chart.layout["texts"]) and chart.layout["size_px"][0] <= 1000
    assert "expected at 80 examples: 0.72 (0.66..0.76)" in chart.alt
    assert learning_curve_chart([], curve=[], projected=[], metric="m", level="95%") is None


# --- config ---------------------------------------------------------------------------------------------


def test_the_option_is_checked_in_one_line_and_off_leaves_the_fingerprint(tmp_path: Path) -> None:
    config = write_world(tmp_path)
    plain = load_ladder_config(config)
    assert plain.fine_tune.curve_fractions == ()
    assert load_ladder_config(config, learning_curve=True).fine_tune.curve_fractions == (0.25, 0.5, 1.0)
    text = config.read_text()
    config.write_text(text.replace("[fine_tune]\n", "[fine_tune]\nlearning_curve = false\n"))
    assert load_ladder_config(config).fingerprint() == plain.fingerprint()  # older ladders still resume
    config.write_text(text.replace("[fine_tune]\n", "[fine_tune]\nlearning_curve = [0.5, 1.0]\n"))
    on = load_ladder_config(config, learning_curve=True)  # the file's fractions win over the flag's default
    assert on.fine_tune.curve_fractions == (0.5, 1.0) and on.fingerprint() != plain.fingerprint()
    config.write_text(text.replace("[fine_tune]\n", "[fine_tune]\nlearning_curve = [0.25, 0.5]\n"))
    with pytest.raises(ConfigError) as caught:
        load_ladder_config(config)
    assert str(caught.value) == (
        f"{config}: fine_tune.learning_curve: the last fraction must be 1.0: "
        "the rung's own fine-tune on the whole training set"
    )
    config.write_text(text.replace("[fine_tune]\n", "[fine_tune]\nlearning_curve = true\n"))
    config.write_text(re.sub(r"(?m)^rungs = .*$", 'rungs = ["zero_shot"]', config.read_text()))
    with pytest.raises(ConfigError, match="learning_curve is measured by the fine_tune rung; add fine_tune"):
        load_ladder_config(config)  # a curve no rung would measure is said, not silently dropped


# --- whole ladders ---------------------------------------------------------------------------------------

TRUTH = (0.95, 0.3, 0.5)
"""The scripted fine-tune's accuracy: a - b (n / 40) ** -c on 40 training examples at most."""


class LearningWorld(World):
    """Fine-tuned models answer a test case right when its difficulty is below the curve at their data size."""

    def __init__(self, jobs: Path) -> None:
        super().__init__()
        self.jobs = jobs

    def __call__(self, request: ChatRequest) -> str:
        if not request.model.startswith("ft:"):
            return super().__call__(request)
        job = json.loads(self.jobs.read_text())[request.model.rsplit(":", 1)[1]]
        examples = len(Path(job["training_file"]).read_text().splitlines())
        user = [m.content or "" for m in request.messages if m.role == "user"][-1]
        item = int("".join(ch for ch in user if ch.isdigit()))
        difficulty = (item * 0.6180339887) % 1  # spread evenly over [0, 1)
        right = difficulty < power_law(examples / 40, *TRUTH)
        return (lookup(user) or "") if right else "unknown"


class HeldTuner(DiskTuner):
    """Jobs on a file whose name holds ``held`` run until ``release`` exists; the others succeed at once."""

    def __init__(self, file: Path, release: Path, held: str) -> None:
        super().__init__(file, None)
        self.gate, self.held = release, held

    async def attach(self, job_id: str) -> Any:
        job = await super().attach(job_id)
        return self._gated(job)

    async def start(self, spec: Any) -> Any:
        return self._gated(await super().start(spec))

    def _gated(self, job: Any) -> Any:
        if self.held in json.loads(self.file.read_text())[job.id]["training_file"] and not self.gate.exists():
            job.tuner = DiskTuner(self.file, self.gate)
        return job


def curve_world(folder: Path, *, extra: str = "", budget: str = "") -> Path:
    config = write_world(folder, train=40, test=60, extra=extra)
    text = config.read_text().replace(
        '["zero_shot", "few_shot", "optimized_prompt", "fine_tune", "rag_fine_tuned"]', '["zero_shot", "fine_tune"]'
    )
    text = text.replace("[fine_tune]\n", "[fine_tune]\nlearning_curve = true\ntimeout = 0.5\n")
    config.write_text(text + budget)
    return config


def climb(config: Path, provider: WorldProvider) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scripted models have no price: said once per model
        return anyio.run(lambda: run_ladder(config, providers={"scripted": provider}))


def lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def test_a_killed_curve_resumes_without_retraining_and_recommends_more_data(tmp_path: Path) -> None:
    config = curve_world(tmp_path)
    jobs, release = tmp_path / "jobs.json", tmp_path / "release"
    provider = WorldProvider(LearningWorld(jobs), jobs)
    provider.tuner = HeldTuner(jobs, release, held="50pct")  # the 50% job is still running when the ladder stops
    first = climb(config, provider)
    assert "still running after waiting" in first.state.skipped["fine_tune"]
    curve = first.state.learning_curve
    assert curve is not None and [p.done for p in curve.points] == [True, False, True]
    assert len(json.loads(jobs.read_text())) == 3
    assert "In progress: 2 of 3 runs measured" in (tmp_path / "ladder-out" / "report.md").read_text()

    release.touch()
    outcome = climb(config, provider)
    recorded = json.loads(jobs.read_text())
    assert list(recorded) == ["ftjob-0001", "ftjob-0002", "ftjob-0003"]  # re-attached, nothing trained twice
    curve = outcome.state.learning_curve
    assert curve is not None and curve.fit is not None and curve.skipped is None
    files = [job["training_file"] for job in recorded.values()]
    full, quarter, half = (lines(f) for f in files)
    assert (len(quarter), len(half), len(full)) == (10, 20, 40)
    assert set(quarter) < set(half) < set(full)  # nested subsets of one shuffle
    assert {j["epochs"] for j in recorded.values()} == {2}  # one recipe
    fit = curve.fit
    assert fit.sizes == [10, 20, 40] and fit.cases == 60
    expected = [
        sum((i * 0.6180339887) % 1 < power_law(n / 40, *TRUTH) for i in range(2000, 2060)) / 60 for n in (10, 20, 40)
    ]
    assert fit.means == pytest.approx(expected)
    assert not fit.flat
    near = fit.at(2.0)
    assert near is not None and near.low <= power_law(2, *TRUTH) <= near.high
    rec = outcome.recommendation()
    assert rec.chosen is None
    assert rec.next_steps[0].startswith("Collect about 40 more examples: +")
    assert "training on 80 examples costs unknown" in rec.next_steps[0]  # scripted models have no price
    assert any(r.startswith("Learning curve of fine_tune") for r in rec.reasons)
    tuned = outcome.state.results["fine_tune"]
    assert any(note.startswith("learning curve on 25% (10 examples), 50% (20 examples)") for note in tuned.notes)
    report = build_ladder_report(outcome.out)
    assert report.learning_curve is not None and report.learning_curve.layout["shaded"] is not None
    md = (outcome.out / "report.md").read_text()
    assert "## Learning curve" in md and "| 2x (expected) | 80 |" in md and "**Still rising:**" in md
    html = (outcome.out / "report.html").read_text()
    assert 'id="learning-curve"' in html and html.count("data:image/png;base64,") == 2  # quality-cost + curve


def test_a_budget_too_small_for_the_curve_skips_the_curve_not_the_rung(tmp_path: Path) -> None:
    # zero_shot (about 1,000 tokens) and the rung (estimated at 4,565) fit; the curve's two runs (4,290) on top do not
    config = curve_world(tmp_path, budget="\n[budget]\nmax_tokens = 8000\n")
    jobs = tmp_path / "jobs.json"
    outcome = climb(config, WorldProvider(LearningWorld(jobs), jobs))
    assert "fine_tune" in outcome.state.results
    curve = outcome.state.learning_curve
    assert curve is not None and curve.fit is None
    assert curve.skipped is not None and "exceed the 8,000-token budget" in curve.skipped
    assert len(json.loads(jobs.read_text())) == 1  # only the rung's own job
    assert any(
        r.startswith("The learning curve was not measured: the budget:") for r in outcome.recommendation().reasons
    )
    assert "Not measured: the budget:" in (outcome.out / "report.md").read_text()


def test_the_curve_costs_count_in_the_rung_and_the_budget(tmp_path: Path) -> None:
    config = curve_world(tmp_path)
    jobs = tmp_path / "jobs.json"
    outcome = climb(config, WorldProvider(LearningWorld(jobs), jobs))
    curve = outcome.state.learning_curve
    assert curve is not None and curve.fit is not None
    tuned = outcome.state.results["fine_tune"]
    runs = [p for p in curve.points if p.fraction < 1]
    assert all(p.tokens > 0 for p in runs)
    record = outcome.state.fine_tune
    assert record is not None
    answers = tuned.tokens - record.training_tokens * record.epochs - sum(p.tokens for p in runs)
    assert 0 < answers < tuned.tokens / 2  # the rung's tokens: its own training and answers, and the curve's runs
    assert outcome.state.tokens == outcome.state.results["zero_shot"].tokens + tuned.tokens


CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")


def test_ladder_run_learning_curve_flag(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, n in (("train", 40), ("dev", 4), ("test", 10)):
        rows = [{"id": f"{name}{i}", "input": f"question number {i}", "reference": f"answer {i}"} for i in range(n)]
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ladder.toml").write_text(
        'rungs = ["fine_tune"]\n[dataset]\ntrain = "data/train.jsonl"\ndev = "data/dev.jsonl"\n'
        'test = "data/test.jsonl"\n[target]\nmetric = "token_f1"\nthreshold = 0.9\n'
        '[models]\nbase = "scripted:echo"\n[fine_tune]\npoll_interval = 0\n'
    )
    done = subprocess.run(
        [CLI, "ladder", "run", "ladder.toml", "--learning-curve", "--json", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    curve = json.loads(done.stdout)["learning_curve"]
    assert [p["examples"] for p in curve["points"]] == [10, 20, 40]
    assert curve["fit"]["flat"] is True and math.isclose(curve["fit"]["means"][0], curve["fit"]["means"][-1])
    assert sorted(p.name for p in (tmp_path / "ladder-out").glob("*_train.jsonl")) == [
        "fine_tune_25pct_train.jsonl",
        "fine_tune_50pct_train.jsonl",
        "fine_tune_train.jsonl",
    ]
