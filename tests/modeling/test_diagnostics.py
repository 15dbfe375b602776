"""Diagnostics against hand-worked cases, scikit-learn and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import log_loss as sklearn_log_loss

from charter.errors import UsageError
from charter.modeling._diagnostics import (
    _fit_sigmoid,
    calibrate,
    calibration_map,
    fit_gap,
    leakage_recheck,
    log_loss,
    reliability,
    underfit,
)
from charter.modeling._segments import segments

# --- fitting --------------------------------------------------------------------------------


def test_fit_gap_flags_a_large_gap_on_a_bounded_score() -> None:
    result = fit_gap(0.99, 0.85, metric="roc_auc")
    assert result.overfit
    assert result.gap == pytest.approx(0.14)
    assert "Overfitting" in result.message
    assert "0.990" in result.message and "0.850" in result.message


def test_fit_gap_accepts_a_small_gap() -> None:
    result = fit_gap(0.90, 0.88, metric="roc_auc")
    assert not result.overfit
    assert result.message.startswith("No sign of overfitting")


def test_fit_gap_on_an_error_metric_is_relative_and_lower_is_better() -> None:
    assert fit_gap(800.0, 1000.0, metric="rmse", higher_is_better=False).overfit  # 20% > 10%
    assert not fit_gap(950.0, 1000.0, metric="rmse", higher_is_better=False).overfit  # 5%
    assert not fit_gap(
        1100.0, 1000.0, metric="rmse", higher_is_better=False
    ).overfit  # worse on train


def test_underfit_when_no_better_than_the_baseline() -> None:
    result = underfit(1200.0, 1350.0, metric="value")
    assert result.no_better
    assert result.gain == pytest.approx(-150.0)
    assert result.still_rising is None
    assert "no better than today's rule" in result.message
    assert "1,200" in result.message and "1,350" in result.message


def test_underfit_reads_the_learning_curve() -> None:
    rising = underfit(
        0.81, 0.70, metric="roc_auc", curve=[(40_000, 0.79), (10_000, 0.74), (80_000, 0.81)]
    )
    assert not rising.no_better
    assert rising.still_rising
    assert "still rising (0.790 at 40,000 rows to 0.810 at 80,000 rows)" in rising.message
    flat = underfit(0.81, 0.70, metric="roc_auc", curve=[(40_000, 0.808), (80_000, 0.81)])
    assert flat.still_rising is False
    assert "levelled off" in flat.message
    # a loss that keeps falling is still improving
    assert underfit(
        0.3, 0.5, metric="log_loss", higher_is_better=False, curve=[(1, 0.4), (2, 0.3)]
    ).still_rising


# --- reliability ----------------------------------------------------------------------------


def test_reliability_hand_worked() -> None:
    y = np.array([0, 0, 1, 1, 1, 1])
    scores = np.array([0.05, 0.15, 0.15, 0.85, 0.95, 1.0])
    result = reliability(y, scores, bins=10)
    assert result.bin_count.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 1, 2]
    np.testing.assert_allclose(result.bin_mean_score[[0, 1, 8, 9]], [0.05, 0.15, 0.85, 0.975])
    np.testing.assert_allclose(result.bin_rate[[0, 1, 8, 9]], [0.0, 0.5, 1.0, 1.0])
    assert np.isnan(result.bin_rate[2]) and np.isnan(result.bin_mean_score[5])
    # (1·0.05 + 2·0.35 + 1·0.15 + 2·0.025) / 6
    assert result.ece == pytest.approx((0.05 + 0.70 + 0.15 + 0.05) / 6)
    assert "poorly calibrated" in result.message


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 6)), min_size=1, max_size=10))
def test_reliability_of_scores_equal_to_their_group_rate_is_zero(
    groups: list[tuple[int, int]],
) -> None:
    """Groups of n rows, k positive, each row scored k / n: in every bin mean score = rate."""
    y: list[int] = []
    scores: list[float] = []
    for n, k in groups:
        k = min(k, n)
        y += [1] * k + [0] * (n - k)
        scores += [k / n] * n
    result = reliability(np.array(y), np.array(scores), bins=10)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert result.bin_count.sum() == len(y)


def test_reliability_refuses_scores_that_are_not_probabilities() -> None:
    with pytest.raises(UsageError, match="probabilities"):
        reliability(np.array([0, 1]), np.array([0.5, 1.5]))


# --- calibration ----------------------------------------------------------------------------


def test_log_loss_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 500)
    y = (rng.random(500) < p).astype(int)
    assert log_loss(y, p) == pytest.approx(sklearn_log_loss(y, p), rel=1e-12)


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < expit(z)).astype(int)
    return y, expit(3 * z + 1)  # three times too sure, and shifted up


def test_calibration_repairs_a_miscalibrated_score() -> None:
    y, scores = _overconfident()
    result = calibrate(y, scores, seed=0)
    assert result.method in {"sigmoid", "isotonic"}
    assert result.log_loss_after < 0.9 * result.log_loss_before
    assert set(result.tried) == {"sigmoid", "isotonic"}
    assert reliability(y, result.apply(scores)).ece < reliability(y, scores).ece / 3
    assert "calibrated with" in result.message


def test_calibration_leaves_a_calibrated_score_alone() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(0.02, 0.98, 4000)
    y = (rng.random(4000) < scores).astype(int)
    result = calibrate(y, scores, seed=0)
    assert result.method == "none"
    assert result.log_loss_after == result.log_loss_before == pytest.approx(log_loss(y, scores))
    np.testing.assert_array_equal(result.apply(scores), scores)


def test_calibration_is_deterministic_and_saved_as_numbers() -> None:
    y, scores = _overconfident(1500, seed=2)
    first, second = calibrate(y, scores, seed=4), calibrate(y, scores, seed=4)
    assert (first.method, first.params, first.tried) == (second.method, second.params, second.tried)
    rebuilt = calibration_map(first.method, first.params)
    np.testing.assert_array_equal(rebuilt(scores), first.apply(scores))


def test_sigmoid_calibration_recovers_the_true_map() -> None:
    """Scores σ(3z + 1) for outcomes drawn with σ(z): Platt on log-odds finds a ≈ 1/3, b ≈ −1/3."""
    y, scores = _overconfident(20_000, seed=3)
    params = _fit_sigmoid(y, scores)
    np.testing.assert_allclose(params["ab"], [1 / 3, -1 / 3], atol=0.05)
    exact = calibration_map("sigmoid", {"ab": [1 / 3, -1 / 3]})
    np.testing.assert_allclose(
        exact(scores), expit((np.log(scores / (1 - scores)) - 1) / 3), atol=1e-6
    )


def test_isotonic_map_matches_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    s = rng.random(300)
    y = (rng.random(300) < s**2).astype(int)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
    params = {"x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}
    fresh = np.linspace(-0.1, 1.1, 50)
    expected = np.clip(model.predict(fresh), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(calibration_map("isotonic", params)(fresh), expected, atol=1e-12)


def test_calibration_with_too_few_positives_does_nothing() -> None:
    result = calibrate(np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.9]), seed=0)
    assert result.method == "none" and result.tried == {}


# --- segments -------------------------------------------------------------------------------


def _people(
    n: int = 2000, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "gender": pd.Categorical(rng.choice(["female", "male"], n)),
            "region": pd.Categorical(
                rng.choice(list("ABCDEFG"), n, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.04, 0.01])
            ),
            "age": rng.integers(18, 80, n).astype(float),
            "spend": rng.normal(100, 10, n),
        }
    )
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.1, n), 0, 1)
    flagged = (scores >= 0.4).astype(int)
    # the model flags women 20 points more often than men, whatever the outcome
    women = (X["gender"] == "female").to_numpy()
    flagged[women & (rng.random(n) < 0.3)] = 1
    return X, y, scores, flagged


def test_segments_match_pandas_groupby_and_flag_the_gap() -> None:
    X, y, scores, flagged = _people()
    found = segments(y, scores, flagged, X, columns=["gender", "age"], task="classification")
    assert [r.column for r in found] == ["gender", "age", "region"]
    assert [r.sensitive for r in found] == [True, True, False]

    frame = X.assign(y=y, flagged=flagged, score=scores)
    gender = found[0]
    by = frame.groupby("gender", observed=True)
    expected_rate = by["flagged"].mean()
    expected_recall = frame[frame.y == 1].groupby("gender", observed=True)["flagged"].mean()
    for group in gender.groups:
        assert group.rows == by.size()[group.value]
        assert group.decision_rate == pytest.approx(expected_rate[group.value])
        assert group.recall == pytest.approx(expected_recall[group.value])
        assert group.outcome_rate == pytest.approx(by["y"].mean()[group.value])
        assert group.mean_score == pytest.approx(by["score"].mean()[group.value])
    assert gender.gaps["decision_rate"] == pytest.approx(expected_rate.max() - expected_rate.min())
    assert gender.exceeds and gender.gap > 0.1
    assert "above the charter's max_fairness_gap of 10 points" in gender.message
    assert "where gender = female" in gender.message

    age = found[1]
    assert len(age.groups) == 4  # quartiles of a numeric sensitive column
    assert sum(g.rows for g in age.groups) == len(X)
    assert " to " in age.groups[0].value

    region = found[2]
    counts = X["region"].value_counts()
    assert [g.value for g in region.groups] == list(counts.index[:5])
    assert [g.rows for g in region.groups] == counts.iloc[:5].tolist()


def test_segments_leave_out_small_groups_and_respect_the_gap_limit() -> None:
    X, y, scores, flagged = _people()
    found = segments(
        y,
        scores,
        flagged,
        X,
        columns=["region"],
        task="classification",
        min_rows=100,
        max_fairness_gap=0.9,
    )
    region = found[0]
    assert region.too_small == ("F", "G")
    assert {g.value for g in region.groups} == set("ABCDE")
    assert not region.exceeds
    assert "within the charter's max_fairness_gap" in region.message
    assert "fewer than 100 rows are not compared: F, G" in region.message


def test_segments_for_regression_compare_mae_against_pandas() -> None:
    rng = np.random.default_rng(4)
    n = 600
    X = pd.DataFrame({"region": pd.Categorical(rng.choice(["north", "south"], n))})
    y = rng.normal(1000, 100, n)
    noise = np.where(X["region"] == "north", 200.0, 50.0)
    pred = y + rng.normal(0, 1, n) * noise
    found = segments(y, pred, None, X, columns=["region"], task="regression")
    frame = X.assign(error=np.abs(y - pred))
    mae = frame.groupby("region", observed=True)["error"].mean()
    result = found[0]
    assert {g.value: g.mae for g in result.groups} == pytest.approx(mae.to_dict())
    assert result.gap_metric == "mae"
    assert result.gap == pytest.approx((mae.max() - mae.min()) / frame["error"].mean())
    assert result.exceeds
    assert "typical error (MAE)" in result.message and "where region = north" in result.message


def test_segments_say_when_there_is_nothing_to_compare() -> None:
    X, y, scores, flagged = _people(50)
    found = segments(y, scores, flagged, X, columns=["gender"], task="classification")
    assert found[0].gap_metric is None and not found[0].exceeds
    assert "nothing to compare" in found[0].message
    with pytest.raises(UsageError, match="'income'"):
        segments(y, scores, flagged, X, columns=["income"], task="classification")


# --- leakage --------------------------------------------------------------------------------


def test_leakage_recheck_warns_on_a_near_perfect_model_ruled_by_one_feature() -> None:
    warning = leakage_recheck(
        0.995, {"cancel_date": 0.40, "tenure": 0.05, "plan": 0.01}, metric="roc_auc"
    )
    assert warning is not None
    assert "'cancel_date'" in warning and "87%" in warning and "8× the next feature" in warning


@pytest.mark.parametrize(
    ("score", "importance"),
    [
        (0.90, {"cancel_date": 0.40, "tenure": 0.01}),  # not near-perfect
        (0.99, {"a": 0.30, "b": 0.25, "c": 0.20}),  # importance spread out
        (0.99, {"a": 0.60, "b": 0.20}),  # dominant share but only 3× the next
        (0.99, {"a": 0.0, "b": -0.1}),  # nothing matters
    ],
)
def test_leakage_recheck_stays_quiet_otherwise(score: float, importance: dict[str, float]) -> None:
    assert leakage_recheck(score, importance, metric="r2") is None


def test_leakage_recheck_knows_its_metrics() -> None:
    assert leakage_recheck(0.99, {"a": 1.0}, metric="r2") is not None
    with pytest.raises(UsageError, match="'roc_auc' or 'r2'"):
        leakage_recheck(0.99, {"a": 1.0}, metric="rmse")
