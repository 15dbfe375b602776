"""The business metric, ML metrics and bootstrap intervals, against hand-worked cases,
scikit-learn and brute force."""

from __future__ import annotations

import math
import time
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from charter.errors import UsageError
from charter.modeling._metrics import (
    ValueCurve,
    bootstrap_interval,
    business_value,
    classification_metrics,
    paired_gain_interval,
    regression_metrics,
    regression_value,
    value_curve,
    value_per_row,
)
from charter.spec import OutcomeValues

CHURN = OutcomeValues(true_positive=300, false_positive=-50, false_negative=0, true_negative=0)


def outcome_values(tp: float, fp: float, fn: float, tn: float) -> OutcomeValues:
    return OutcomeValues(true_positive=tp, false_positive=fp, false_negative=fn, true_negative=tn)


# --- value per row -------------------------------------------------------------------------------


def test_value_per_row_hand_worked():
    y = np.array([1, 1, 0, 0, 1])
    decide = np.array([1, 0, 1, 0, 1])
    values = outcome_values(10, -2, -5, 1)
    # TP, FN, FP, TN, TP -> 10 - 5 - 2 + 1 + 10 = 14 over 5 rows
    assert value_per_row(y, decide, values) == pytest.approx(14 / 5)


def test_value_per_row_accepts_booleans_and_floats():
    y = np.array([1, 0], dtype=np.int8)
    assert value_per_row(y, np.array([True, True]), CHURN) == 125.0
    assert value_per_row(y.astype(float), np.array([1.0, 0.0]), CHURN) == 150.0


def test_value_per_row_of_no_rows_is_nan():
    assert math.isnan(value_per_row(np.array([]), np.array([]), CHURN))


def test_value_per_row_refuses_mismatched_lengths():
    with pytest.raises(UsageError, match="same length"):
        value_per_row(np.array([1, 0]), np.array([1]), CHURN)


# --- value curve ---------------------------------------------------------------------------------


def test_value_curve_known_answer_uses_the_midpoint():
    y = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1])
    # cuts: none 0; top1 300; top2 600; top3 550; top4 850; top5 800; all 750 -> best: top four
    curve = value_curve(y, scores, CHURN)
    assert curve.best_value == pytest.approx(850 / 6)
    assert curve.best_threshold == pytest.approx((0.6 + 0.3) / 2)


def test_value_curve_ties_choose_the_most_conservative_threshold():
    y = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.6, 0.4, 0.2])
    values = outcome_values(1, -1, 0, 0)
    # deciding none, the top one (+1), or the top three (+1) are equal: the highest threshold wins
    curve = value_curve(y, scores, values)
    assert curve.best_value == pytest.approx(0.25)
    assert curve.best_threshold == pytest.approx(0.7)


def test_value_curve_can_decide_nobody_or_everybody():
    y = np.array([0, 0, 1])
    scores = np.array([0.2, 0.5, 1.0])
    one = value_curve(y, scores, outcome_values(1, -10, 0, 0))
    assert one.best_value == pytest.approx(1 / 3)
    assert one.best_threshold == pytest.approx(0.75)
    costly = value_curve(y, scores, outcome_values(-1, -1, 0, 0))
    assert costly.best_value == 0.0
    assert costly.best_threshold > 1.0
    assert not (scores >= costly.best_threshold).any()
    everybody = value_curve(y, scores, outcome_values(1, 1, 0, 0))
    assert everybody.best_threshold == 0.2
    assert (scores >= everybody.best_threshold).all()


def test_value_curve_separates_adjacent_floats():
    low = 0.5
    high = float(np.nextafter(low, 1.0))
    curve = value_curve(np.array([1, 0]), np.array([high, low]), outcome_values(1, -1, 0, 0))
    assert curve.best_value == 0.5
    assert (np.array([high, low]) >= curve.best_threshold).tolist() == [True, False]


def test_value_curve_downsampled_points_match_direct_evaluation():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    scores = rng.random(500)
    curve = value_curve(y, scores, CHURN, points=11)
    assert isinstance(curve, ValueCurve)
    np.testing.assert_allclose(curve.thresholds, np.linspace(0, 1, 11))
    expected = [value_per_row(y, scores >= t, CHURN) for t in curve.thresholds]
    np.testing.assert_allclose(curve.values, expected)


def test_value_curve_refuses_empty_and_nan_input():
    with pytest.raises(UsageError, match="at least one row"):
        value_curve(np.array([]), np.array([]), CHURN)
    with pytest.raises(UsageError, match="NaN"):
        value_curve(np.array([1, 0]), np.array([0.5, np.nan]), CHURN)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0, 1)),
        ),
        min_size=1,
        max_size=40,
    ),
    matrix=st.tuples(*[st.integers(-100, 100)] * 4),
)
def test_value_curve_matches_brute_force(rows, matrix):
    y = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    values = outcome_values(*matrix)
    curve = value_curve(y, scores, values)
    candidates = [*np.unique(scores), np.inf]
    brute = {t: value_per_row(y, scores >= t, values) for t in candidates}
    best = max(brute.values())
    assert curve.best_value == pytest.approx(best)
    assert value_per_row(y, scores >= curve.best_threshold, values) == pytest.approx(best)
    # the most conservative optimum: no optimal cut decides fewer rows
    fewest = min(int((scores >= t).sum()) for t, v in brute.items() if v == pytest.approx(best))
    assert int((scores >= curve.best_threshold).sum()) == fewest


def test_value_curve_is_fast_on_a_million_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1_000_000)
    scores = rng.random(1_000_000)
    started = time.perf_counter()
    value_curve(y, scores, CHURN)
    assert time.perf_counter() - started < 2.0


# --- classification metrics ----------------------------------------------------------------------


def _sklearn_classification(y, scores, threshold):
    decide = (scores >= threshold).astype(int)
    return {
        "roc_auc": skm.roc_auc_score(y, scores),
        "pr_auc": skm.average_precision_score(y, scores),
        "log_loss": skm.log_loss(y, scores, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, scores),
        "accuracy": skm.accuracy_score(y, decide),
        "precision": skm.precision_score(y, decide, zero_division=np.nan),
        "recall": skm.recall_score(y, decide, zero_division=np.nan),
        "f1": skm.f1_score(y, decide, zero_division=np.nan),
        "positive_rate": decide.mean(),
    }


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_classification_metrics_match_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.01, 0.99)
    if ties:
        scores = np.clip(np.round(scores, 1), 0.01, 0.99)
    ours = classification_metrics(y, scores, 0.4)
    theirs = _sklearn_classification(y, scores, 0.4)
    assert ours.keys() == theirs.keys()
    for name, expected in theirs.items():
        assert ours[name] == pytest.approx(expected, rel=1e-9, abs=1e-12), name


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9])),
        min_size=2,
        max_size=30,
    ).filter(lambda rows: len({r[0] for r in rows}) == 2)
)
def test_ranking_metrics_match_sklearn_with_heavy_ties(rows):
    y = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    ours = classification_metrics(y, scores, 0.5)
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores))
    assert ours["pr_auc"] == pytest.approx(skm.average_precision_score(y, scores))


def test_classification_metrics_are_nan_when_undefined():
    scores = np.array([0.2, 0.7, 0.9])
    only_negatives = classification_metrics(np.zeros(3, dtype=int), scores, 0.5)
    assert math.isnan(only_negatives["roc_auc"])
    assert math.isnan(only_negatives["pr_auc"])
    assert math.isnan(only_negatives["recall"])
    assert only_negatives["precision"] == 0.0
    assert only_negatives["log_loss"] == pytest.approx(
        skm.log_loss(np.zeros(3), scores, labels=[0, 1])
    )
    only_positives = classification_metrics(np.ones(3, dtype=int), scores, 0.95)
    assert math.isnan(only_positives["roc_auc"])
    assert only_positives["pr_auc"] == 1.0
    assert math.isnan(only_positives["precision"])  # nothing decided positive
    assert only_positives["recall"] == 0.0
    assert only_positives["f1"] == 0.0
    nobody = classification_metrics(np.zeros(2, dtype=int), np.array([0.1, 0.2]), 0.5)
    assert math.isnan(nobody["f1"])
    empty = classification_metrics(np.array([]), np.array([]), 0.5)
    assert all(math.isnan(v) for v in empty.values())


def test_log_loss_clips_certain_mistakes():
    result = classification_metrics(np.array([1, 0]), np.array([0.0, 1.0]), 0.5)
    assert result["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-6)


def test_classification_metrics_accept_zero_one_baseline_decisions():
    y = np.array([1, 0, 1, 0], dtype=np.int8)
    rule = np.array([1.0, 1.0, 0.0, 0.0])
    result = classification_metrics(y, rule, 0.5)
    assert result["roc_auc"] == pytest.approx(0.5)
    assert result["precision"] == 0.5


# --- regression metrics --------------------------------------------------------------------------


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 200)
    pred = y + rng.normal(0, 1, 200)
    ours = regression_metrics(y, pred)
    assert ours["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert ours["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert ours["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))


def test_mape_ignores_rows_where_the_truth_is_zero():
    y = np.array([0.0, 2.0, 4.0])
    pred = np.array([5.0, 1.0, 5.0])
    assert regression_metrics(y, pred)["mape"] == pytest.approx((0.5 + 0.25) / 2)
    assert math.isnan(regression_metrics(np.zeros(2), np.ones(2))["mape"])


def test_r2_is_nan_for_a_constant_target():
    assert math.isnan(regression_metrics(np.ones(3), np.array([1.0, 2.0, 3.0]))["r2"])
    assert all(math.isnan(v) for v in regression_metrics(np.array([]), np.array([])).values())


def test_regression_value_is_minus_cost_times_mean_absolute_error():
    assert regression_value(np.array([1.0, 5.0]), np.array([2.0, 2.0]), 10.0) == -20.0


# --- business value ------------------------------------------------------------------------------


def test_business_value_uses_the_value_matrix_at_the_threshold():
    y = np.array([1, 0, 1])
    scores = np.array([0.9, 0.6, 0.2])
    name, value = business_value(
        "classification",
        y,
        scores,
        threshold=0.5,
        values=CHURN,
        cost_per_unit=None,
        metric="net_value",
    )
    assert (name, value) == ("net_value", pytest.approx(250 / 3))


def test_business_value_needs_a_threshold_with_a_value_matrix():
    with pytest.raises(UsageError, match="threshold"):
        business_value(
            "classification",
            np.array([1]),
            np.array([0.5]),
            threshold=None,
            values=CHURN,
            cost_per_unit=None,
            metric=None,
        )


def test_business_value_for_regression_with_a_cost():
    name, value = business_value(
        "regression",
        np.array([1.0, 3.0]),
        np.array([2.0, 2.0]),
        threshold=None,
        values=None,
        cost_per_unit=4.0,
        metric="net_value",
    )
    assert (name, value) == ("net_value", -4.0)


@pytest.mark.parametrize(
    ("task", "metric", "name", "sign"),
    [
        ("classification", None, "roc_auc", 1),
        ("classification", "pr_auc", "pr_auc", 1),
        ("classification", "F1 ", "f1", 1),
        ("classification", "log_loss", "neg_log_loss", -1),
        ("classification", "neg_brier", "neg_brier", -1),
        ("regression", None, "neg_mae", -1),
        ("regression", "rmse", "neg_rmse", -1),
        ("regression", "r2", "r2", 1),
        ("regression", "neg_mape", "neg_mape", -1),
    ],
)
def test_business_value_falls_back_to_the_named_metric_higher_is_better(task, metric, name, sign):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50) if task == "classification" else rng.normal(5, 1, 50)
    scores = np.clip(y * 0.5 + rng.random(50) * 0.5, 0.01, 0.99)
    got_name, value = business_value(
        task, y, scores, threshold=0.5, values=None, cost_per_unit=None, metric=metric
    )
    if task == "classification":
        plain = classification_metrics(y, scores, 0.5)[name.removeprefix("neg_")]
    else:
        plain = regression_metrics(y, scores)[name.removeprefix("neg_")]
    assert got_name == name
    assert value == pytest.approx(sign * plain)


def test_business_value_threshold_metrics_default_to_one_half():
    y = np.array([1, 0, 1, 0])
    scores = np.array([0.6, 0.4, 0.45, 0.7])
    _, accuracy = business_value(
        "classification",
        y,
        scores,
        threshold=None,
        values=None,
        cost_per_unit=None,
        metric="accuracy",
    )
    assert accuracy == 0.5


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        ("classification", "rmse"),
        ("regression", "roc_auc"),
        ("classification", "neg_roc_auc"),
        ("regression", "lift"),
    ],
)
def test_business_value_refuses_an_unknown_metric_and_lists_the_known_ones(task, metric):
    with pytest.raises(UsageError, match="Use one of: net_value") as caught:
        business_value(
            task,
            np.array([0, 1]),
            np.array([0.2, 0.8]),
            threshold=0.5,
            values=None,
            cost_per_unit=None,
            metric=metric,
        )
    assert ("neg_mae" in str(caught.value)) == (task == "regression")
    assert ("roc_auc" in str(caught.value).split("Use one of")[1]) == (task == "classification")


def test_business_value_net_value_without_values_says_what_is_missing():
    with pytest.raises(UsageError, match="success.value"):
        business_value(
            "classification",
            np.array([0, 1]),
            np.array([0.2, 0.8]),
            threshold=0.5,
            values=None,
            cost_per_unit=None,
            metric="net_value",
        )
    with pytest.raises(UsageError, match="error_cost_per_unit"):
        business_value(
            "regression",
            np.array([0.0, 1.0]),
            np.array([0.2, 0.8]),
            threshold=None,
            values=None,
            cost_per_unit=None,
            metric="net_value",
        )


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed():
    x = np.random.default_rng(0).normal(size=500)
    first = bootstrap_interval(np.mean, x, n=300, seed=7)
    assert bootstrap_interval(np.mean, x, n=300, seed=7) == first
    assert bootstrap_interval(np.mean, x, n=300, seed=8) != first
    low, high = first
    assert low < x.mean() < high


def test_bootstrap_interval_of_a_mean_matches_the_normal_approximation():
    x = np.random.default_rng(1).normal(size=2000)
    low, high = bootstrap_interval(np.mean, x, n=2000)
    half_width = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    trials = 200
    covered = 0
    for seed in range(trials):
        sample = rng.exponential(1.0, size=100)  # true mean 1, skewed
        low, high = bootstrap_interval(np.mean, sample, n=400, seed=seed)
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / trials <= 0.99


def test_paired_interval_is_narrower_than_unpaired_on_correlated_data():
    rng = np.random.default_rng(3)
    size = 2000
    y = rng.integers(0, 2, size)
    shared = rng.normal(size=size)
    baseline = (shared + 0.8 * y > 0.6).astype(int)
    model = ((shared + 0.8 * y + 0.3 * rng.normal(size=size)) > 0.5).astype(int)
    value_fn = partial(value_per_row, values=CHURN)
    paired = paired_gain_interval(y, model, baseline, value_fn, n=500, seed=0)
    alone_model = bootstrap_interval(value_fn, y, model, n=500, seed=1)
    alone_baseline = bootstrap_interval(value_fn, y, baseline, n=500, seed=2)
    unpaired_width = math.hypot(
        alone_model[1] - alone_model[0], alone_baseline[1] - alone_baseline[0]
    )
    assert paired[1] - paired[0] < 0.6 * unpaired_width
    point = value_fn(y, model) - value_fn(y, baseline)
    assert paired[0] <= point <= paired[1]


def test_paired_gain_interval_equals_the_bootstrap_of_the_difference():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    a = rng.integers(0, 2, 300)
    b = rng.integers(0, 2, 300)
    value_fn = partial(value_per_row, values=CHURN)
    assert paired_gain_interval(y, a, b, value_fn, n=200, seed=5) == bootstrap_interval(
        lambda t, p, q: value_fn(t, p) - value_fn(t, q), y, a, b, n=200, seed=5
    )


def test_group_bootstrap_resamples_whole_groups():
    groups = np.repeat(np.array(["a", "b", "c", "d", "e"]), [1, 2, 3, 4, 5])
    sizes = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    rows = np.arange(groups.size)
    seen: list[np.ndarray] = []

    def whole_groups(labels: np.ndarray, index: np.ndarray) -> float:
        seen.append(index)
        uniques, counts = np.unique(labels, return_counts=True)
        assert all(c % sizes[g] == 0 for g, c in zip(uniques, counts, strict=True))
        # rows come as complete groups: each drawn group contributes all of its rows
        assert all(set(index[labels == g]) == set(rows[groups == g]) for g in uniques)
        return float(labels.size)

    bootstrap_interval(whole_groups, groups, rows, n=50, seed=0, groups=groups)
    assert len(seen) == 50
    assert len({len(s) for s in seen}) > 1  # resample sizes vary with the groups drawn


def test_group_bootstrap_takes_object_labels_with_missing_values():
    groups = np.array(["a", None, "a", 3, None], dtype=object)
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    low, high = bootstrap_interval(np.mean, x, n=100, groups=groups)
    assert 1.0 <= low <= high <= 5.0


def test_group_bootstrap_is_wider_when_rows_within_a_group_move_together():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(100), 20)
    x = rng.normal(size=100)[groups] + 0.1 * rng.normal(size=groups.size)
    by_row = bootstrap_interval(np.mean, x, n=400)
    by_group = bootstrap_interval(np.mean, x, n=400, groups=groups)
    assert (by_group[1] - by_group[0]) > 3 * (by_row[1] - by_row[0])


def test_bootstrap_leaves_out_resamples_where_the_statistic_is_undefined():
    y = np.array([1] + [0] * 9)
    scores = np.linspace(0, 1, 10)

    def auc(truth: np.ndarray, s: np.ndarray) -> float:
        return classification_metrics(truth, s, 0.5)["roc_auc"]

    low, high = bootstrap_interval(auc, y, scores, n=200)
    assert 0 <= low <= high <= 1
    assert bootstrap_interval(lambda v: math.nan, y, n=10) == pytest.approx(
        (math.nan,) * 2, nan_ok=True
    )


def test_bootstrap_refuses_bad_arguments():
    x = np.arange(5.0)
    with pytest.raises(UsageError, match="at least one array"):
        bootstrap_interval(np.mean)
    with pytest.raises(UsageError, match="same length"):
        bootstrap_interval(lambda a, b: 0.0, x, x[:3])
    with pytest.raises(UsageError, match="n=0"):
        bootstrap_interval(np.mean, x, n=0)
    with pytest.raises(UsageError, match="level=1.5"):
        bootstrap_interval(np.mean, x, level=1.5)
    with pytest.raises(UsageError, match="one group label per row"):
        bootstrap_interval(np.mean, x, groups=np.arange(4))


def test_bootstrap_of_a_mean_on_100k_rows_is_quick():
    x = np.random.default_rng(0).normal(size=100_000)
    started = time.perf_counter()
    bootstrap_interval(np.mean, x, n=1000)
    assert time.perf_counter() - started < 4.0
