"""Live performance, the label-free estimate, adoption and value: checked against independent sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from charter.monitoring._outcomes import (
    adoption_and_value,
    decision_values,
    estimated_performance,
    live_performance,
    mean_interval,
    share_interval,
)
from charter.spec import OutcomeValues

VALUES = OutcomeValues(true_positive=300, false_positive=-50, false_negative=0, true_negative=0)


def test_decision_values_pick_the_cell_of_each_case() -> None:
    act = np.array([1, 1, 0, 0])
    positive = np.array([1, 0, 1, 0])
    assert decision_values(act, positive, VALUES).tolist() == [300, -50, 0, 0]


def test_mean_interval_matches_the_t_interval_for_large_samples() -> None:
    values = np.random.default_rng(0).normal(3, 2, 5_000)
    found = mean_interval(values)
    low, high = stats.t.interval(0.95, values.size - 1, loc=values.mean(), scale=stats.sem(values))
    assert found.value == pytest.approx(values.mean())
    assert found.low == pytest.approx(low, rel=1e-3)
    assert found.high == pytest.approx(high, rel=1e-3)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (81, 263, 0.2553, 0.3662)],  # textbook values
)
def test_share_interval_is_wilson(successes: int, n: int, low: float, high: float) -> None:
    found = share_interval(successes, n)
    assert found.low == pytest.approx(low, abs=1e-4)
    assert found.high == pytest.approx(high, abs=1e-4)


def test_live_performance_values_the_decisions_as_answered() -> None:
    truth = np.array([1, 0, 1, 0, 0] * 40, dtype=float)
    act = np.array([1, 1, 0, 0, 0] * 40, dtype=bool)
    scores = np.array([0.9, 0.6, 0.3, 0.2, 0.1] * 40)
    found = live_performance(
        task="classification",
        metric="net_value",
        truth=truth,
        scores=scores,
        act=act,
        values=VALUES,
        cost_per_unit=None,
        promised=50.0,
        margin=0.1,
        min_labels=100,
    )
    assert found.value.value == pytest.approx((300 - 50) / 5)
    assert found.metrics["precision"] == pytest.approx(0.5)
    assert found.metrics["recall"] == pytest.approx(0.5)
    assert found.judged and found.decayed is False  # 50 per row, as promised


def test_decay_needs_the_whole_interval_below_the_promise() -> None:
    rng = np.random.default_rng(1)
    truth = (rng.random(400) < 0.1).astype(float)
    act = rng.random(400) < 0.5
    common = dict(
        task="classification",
        metric="net_value",
        truth=truth,
        scores=act * 0.7,
        act=act,
        values=VALUES,
        cost_per_unit=None,
        margin=0.1,
        min_labels=100,
    )
    value = live_performance(promised=0.0, **common).value  # type: ignore[arg-type]
    assert live_performance(promised=value.high + 100, **common).decayed is True  # type: ignore[arg-type]
    assert live_performance(promised=value.value, **common).decayed is False  # type: ignore[arg-type]
    few = dict(common, truth=truth[:50], scores=act[:50] * 0.7, act=act[:50])
    assert live_performance(promised=1e6, **few).judged is False  # type: ignore[arg-type]


def test_the_estimate_tracks_the_real_value_when_scores_are_calibrated() -> None:
    """Simulated: outcomes drawn from the scores; the real value falls inside the estimate's
    interval about 95% of the time."""
    rng = np.random.default_rng(2)
    inside = 0
    runs = 200
    for _ in range(runs):
        p = rng.beta(1, 4, 2_000)
        act = p >= 0.2
        truth = rng.random(p.size) < p
        estimate = estimated_performance(p, act, VALUES, promised=None, margin=0.1, min_rows=100)
        real = decision_values(act, truth, VALUES).mean()
        assert estimate.value is not None
        inside += estimate.value.low <= real <= estimate.value.high
        assert estimate.precision == pytest.approx(p[act].mean())
    assert 0.9 <= inside / runs <= 0.99


def test_the_estimate_says_decay_when_the_scores_imply_it() -> None:
    p = np.full(1_000, 0.05)
    act = np.ones(1_000, dtype=bool)  # acting on everybody at a 5% positive rate loses money
    estimate = estimated_performance(p, act, VALUES, promised=20.0, margin=0.1, min_rows=100)
    assert estimate.value is not None and estimate.value.value == pytest.approx(
        0.05 * 300 - 0.95 * 50
    )
    assert estimate.decayed is True


def test_adoption_counts_what_was_done() -> None:
    act = np.array([1, 1, 1, 0])
    followed = np.array([1, 0, np.nan, 1])  # the second decision was ignored; the third not said
    truth = np.array([1, 1, 0, 1], dtype=float)
    baseline = np.array([0, 0, 0, 0], dtype=bool)
    found = adoption_and_value(act, followed, truth, VALUES, baseline_act=baseline, target=0.1)
    assert found.answered == 3
    assert found.followed.value == pytest.approx(2 / 3)
    # Done: act (TP 300), nothing (FN 0), act (FP -50, counted as followed), nothing (FN 0).
    assert found.realised is not None and found.realised.value == pytest.approx(250 / 4)
    assert found.total == pytest.approx(250)
    assert found.baseline is not None and found.baseline.value == 0
    assert found.gain_share is None and found.met is None  # a zero baseline has no relative gain


def test_adoption_without_outcomes_still_reports_following() -> None:
    found = adoption_and_value(
        np.array([1, 0]),
        np.array([1.0, 0.0]),
        np.array([np.nan, np.nan]),
        VALUES,
        baseline_act=None,
        target=None,
    )
    assert found.followed.value == 0.5 and found.realised is None and found.labelled == 0


@settings(max_examples=50)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=100))
def test_mean_interval_contains_the_mean(values: list[float]) -> None:
    found = mean_interval(np.array(values))
    assert found.low <= found.value + 1e-6 and found.value <= found.high + 1e-6
    assert not math.isnan(found.value)
