"""What can go wrong with a fitted model, measured and said in plain words.

Overfitting and underfitting (`fit_gap`, `underfit`), calibration (`reliability`, `calibrate`),
performance by segment (`segments`) and the leakage re-check (`leakage_recheck`). Each function
is pure: arrays in, a small frozen dataclass with the numbers and a `message` out.

Thresholds, decided before looking at any model:
- Overfitting: for scores bounded by 1 where higher is better (ROC AUC, PR AUC, R², accuracy,
  F1, precision, recall) the training score beats validation by more than 0.05; for every other
  metric (errors, log loss, business value) by more than 10% of the validation score's size.
- Learning curve still rising: the last step of the curve gained more than 0.005 (bounded
  scores) or 1% of the score's size (other metrics).
- Calibration: a calibration map is kept only when it lowers out-of-fold log loss by at least 1%
  in an inner cross-validation; the expected calibration error (ECE) reads "well calibrated" up
  to 0.02 and "poorly calibrated" above 0.05.
- Leakage: validation ROC AUC or R² of at least 0.98 with one feature holding more than half of
  the importance and more than five times the next feature's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from charter.errors import UsageError

__all__ = [
    "Calibration",
    "CalibrationMethod",
    "FitGap",
    "Reliability",
    "Underfit",
    "calibrate",
    "calibration_map",
    "fit_gap",
    "leakage_recheck",
    "log_loss",
    "reliability",
    "underfit",
]

_BOUNDED = frozenset({"roc_auc", "auc", "pr_auc", "r2", "accuracy", "f1", "precision", "recall"})
_OVERFIT_ABSOLUTE = 0.05
_OVERFIT_RELATIVE = 0.10
_RISING_ABSOLUTE = 0.005
_RISING_RELATIVE = 0.01
_ECE_GOOD = 0.02
_ECE_POOR = 0.05
_CALIBRATION_GAIN = 0.01
_EPS = 1e-15  # log loss and log-odds clip probabilities to [_EPS, 1 - _EPS], as _metrics does
_ISOTONIC_EPS = 1e-6  # an isotonic step estimated at 0 or 1 from finite rows is kept off the edge
_NEAR_PERFECT = 0.98
_DOMINANT_SHARE = 0.5
_DOMINANT_RATIO = 5.0

CalibrationMethod = Literal["none", "sigmoid", "isotonic"]


def number_text(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def _scale(metric: str, value: float, absolute: float, relative: float) -> float:
    """The smallest difference that counts for `metric` around `value`."""
    if metric.lower() in _BOUNDED:
        return absolute
    return relative * max(abs(value), 1e-12)


@dataclass(frozen=True)
class FitGap:
    """Training versus validation score; `gap` > 0 means training scores better."""

    metric: str
    train: float
    valid: float
    gap: float
    overfit: bool
    message: str


def fit_gap(
    train_score: float, valid_score: float, *, metric: str, higher_is_better: bool = True
) -> FitGap:
    """Whether the model does much better on the rows it learned from than on new rows.

    Example: ``fit_gap(0.99, 0.85, metric="roc_auc").overfit`` is True (gap 0.14 > 0.05).
    """
    gap = (train_score - valid_score) if higher_is_better else (valid_score - train_score)
    limit = _scale(metric, valid_score, _OVERFIT_ABSOLUTE, _OVERFIT_RELATIVE)
    overfit = gap > limit
    scores = f"{metric} is {number_text(train_score)} on the training rows and {number_text(valid_score)} on validation rows"
    if overfit:
        message = (
            f"Overfitting: {scores}, a gap of {number_text(gap)} (more than {number_text(limit)}). The model "
            "memorises its training rows more than it learns patterns that carry over to new ones; "
            "stronger regularisation, simpler trees or more data would help."
        )
    else:
        message = f"No sign of overfitting: {scores}, a gap of {number_text(gap)} (at most {number_text(limit)})."
    return FitGap(
        metric, float(train_score), float(valid_score), float(gap), bool(overfit), message
    )


@dataclass(frozen=True)
class Underfit:
    """Model versus baseline on validation, and where the learning curve is heading."""

    metric: str
    model: float
    baseline: float
    gain: float  # how much better the model is than the baseline (negative: worse)
    no_better: bool
    still_rising: bool | None  # None without a learning curve
    message: str


def underfit(
    model_value: float,
    baseline_value: float,
    *,
    metric: str,
    higher_is_better: bool = True,
    curve: Sequence[tuple[float, float]] | None = None,
) -> Underfit:
    """Whether the model fails to beat the baseline, and whether more data would still help.

    `curve` holds learning-curve points (training rows, validation score); it is still rising when
    its last step gained more than the documented threshold.
    """
    gain = (model_value - baseline_value) if higher_is_better else (baseline_value - model_value)
    no_better = gain <= 0
    if no_better:
        parts = [
            f"Underfitting: the model's validation {metric} is {number_text(model_value)} against "
            f"{number_text(baseline_value)} for the baseline, so it does no better than today's rule. "
            "The features may carry too little signal, or the model is too simple for them."
        ]
    else:
        parts = [
            f"The model beats the baseline on validation: {metric} {number_text(model_value)} against "
            f"{number_text(baseline_value)}."
        ]
    rising = _still_rising(curve, metric=metric, higher_is_better=higher_is_better)
    if rising is not None and curve is not None:
        (rows_a, score_a), (rows_b, score_b) = sorted(curve)[-2:]
        step = f"{number_text(score_a)} at {rows_a:,.0f} rows to {number_text(score_b)} at {rows_b:,.0f} rows"
        if rising:
            parts.append(
                f"The learning curve is still rising ({step}): more data would likely help."
            )
        else:
            parts.append(
                f"The learning curve has levelled off ({step}): more rows like these would add little."
            )
    return Underfit(
        metric,
        float(model_value),
        float(baseline_value),
        float(gain),
        bool(no_better),
        rising,
        " ".join(parts),
    )


def _still_rising(
    curve: Sequence[tuple[float, float]] | None, *, metric: str, higher_is_better: bool
) -> bool | None:
    if curve is None or len(curve) < 2:
        return None
    (_, before), (_, last) = sorted(curve)[-2:]
    step = (last - before) if higher_is_better else (before - last)
    return bool(step > _scale(metric, last, _RISING_ABSOLUTE, _RISING_RELATIVE))


@dataclass(frozen=True, eq=False)
class Reliability:
    """A reliability curve with equal-width bins on [0, 1] and its expected calibration error.

    Arrays have one entry per bin; empty bins have count 0 and NaN mean score and rate.
    """

    bin_mean_score: np.ndarray
    bin_rate: np.ndarray
    bin_count: np.ndarray
    ece: float
    message: str


def _binary(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != scores.shape or y.size == 0:
        raise UsageError(
            f"y and scores must be non-empty and of one length; got {y.size} and {scores.size}."
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise UsageError("y must hold 0 and 1 only (1 = the positive class).")
    if not (np.isfinite(scores).all() and scores.min() >= 0 and scores.max() <= 1):
        raise UsageError("scores must be probabilities between 0 and 1.")
    return y, scores


def reliability(y: np.ndarray, scores: np.ndarray, *, bins: int = 10) -> Reliability:
    """Predicted probability against the observed rate, in `bins` equal-width bins.

    ECE = Σ (rows in bin / rows) · |mean score in bin − positive rate in bin|. A score of exactly
    1 falls in the last bin.
    """
    if bins < 1:
        raise UsageError(f"bins={bins} must be at least 1.")
    y, scores = _binary(y, scores)
    index = np.minimum((scores * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.bincount(index, weights=scores, minlength=bins) / count
        rate = np.bincount(index, weights=y, minlength=bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / y.size * np.abs(mean_score[filled] - rate[filled])))
    average, actual = float(scores.mean()), float(y.mean())
    direction = "too high" if average > actual else "too low" if average < actual else "right"
    verdict = "well" if ece <= _ECE_GOOD else "roughly" if ece <= _ECE_POOR else "poorly"
    message = (
        f"The probabilities are {verdict} calibrated: they are off by {100 * ece:.1f} points on "
        f"average (expected calibration error {ece:.3f}). On average the model predicts "
        f"{100 * average:.1f}% where {100 * actual:.1f}% happen ({direction} overall)."
    )
    if ece > _ECE_POOR:
        message += " Read them as chances only after calibration."
    return Reliability(mean_score, rate, count, ece, message)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The chosen calibration of out-of-fold probabilities and what it does to log loss.

    `log_loss_after` is measured in an inner cross-validation (each row calibrated by a map fitted
    without it). `params` holds the map as plain numbers (for saving); `apply` maps scores to
    calibrated probabilities. `tried` gives each method's inner cross-validated log loss.
    """

    method: CalibrationMethod
    log_loss_before: float
    log_loss_after: float
    params: dict[str, list[float]]
    apply: Callable[[np.ndarray], np.ndarray]
    tried: dict[CalibrationMethod, float]
    message: str


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log loss, probabilities clipped to [1e-15, 1 − 1e-15]."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def calibration_map(
    method: CalibrationMethod, params: dict[str, list[float]]
) -> Callable[[np.ndarray], np.ndarray]:
    """The function a saved calibration applies: scores → calibrated probabilities."""
    if method == "none":
        return lambda s: np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    if method == "sigmoid":
        a, b = params["ab"]
        return lambda s: np.asarray(expit(a * _logit(s) + b), dtype=np.float64)
    if method == "isotonic":
        x, y = np.asarray(params["x"]), np.asarray(params["y"])
        return lambda s: np.clip(
            np.interp(np.asarray(s, dtype=np.float64), x, y), _ISOTONIC_EPS, 1 - _ISOTONIC_EPS
        )
    raise UsageError(f"calibration method={method!r} must be 'none', 'sigmoid' or 'isotonic'.")


def _logit(s: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(np.asarray(s, dtype=np.float64), _EPS, 1 - _EPS)))


def _fit_sigmoid(y: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
    """Platt scaling on the log-odds, with Platt's smoothed targets so it never diverges."""
    f = _logit(s)
    positives = y.sum()
    t = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (y.size - positives + 2))

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * f + ab[1]
        p = expit(z)
        # log(1 + e^z) − t·z, written to stay finite for large |z|
        value = float(np.sum(np.logaddexp(0, z) - t * z))
        grad = p - t
        return value, np.array([np.dot(grad, f), grad.sum()])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return {"ab": [float(result.x[0]), float(result.x[1])]}


def _fit_isotonic(y: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
    return {
        "x": [float(v) for v in model.X_thresholds_],
        "y": [float(v) for v in model.y_thresholds_],
    }


_FITTERS: dict[CalibrationMethod, Callable[[np.ndarray, np.ndarray], dict[str, list[float]]]] = {
    "sigmoid": _fit_sigmoid,
    "isotonic": _fit_isotonic,
}


def calibrate(
    y_oof: np.ndarray, scores_oof: np.ndarray, *, seed: int, folds: int = 5
) -> Calibration:
    """Choose Platt (sigmoid on log-odds), isotonic or no calibration for out-of-fold scores.

    Each method is judged by an inner stratified cross-validation over the out-of-fold rows, so a
    map is never fitted and judged on the same rows; the best is kept when it lowers log loss by at
    least 1%, then refitted on all rows. Otherwise the method is "none".
    """
    y, s = _binary(y_oof, scores_oof)
    before = log_loss(y, s)
    splits = int(min(folds, y.sum(), y.size - y.sum()))
    tried: dict[CalibrationMethod, float] = {}
    if splits >= 2:
        inner = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
        for method, fit in _FITTERS.items():
            calibrated = np.empty_like(s)
            for fit_rows, held_out in inner.split(s.reshape(-1, 1), y):
                calibrated[held_out] = calibration_map(method, fit(y[fit_rows], s[fit_rows]))(
                    s[held_out]
                )
            tried[method] = log_loss(y, calibrated)
    best: CalibrationMethod = min(tried, key=lambda m: tried[m]) if tried else "none"
    if best == "none" or tried[best] > before * (1 - _CALIBRATION_GAIN):
        message = (
            f"Probabilities are left as they are: no calibration lowered out-of-fold log loss "
            f"({before:.4f}) by at least {_CALIBRATION_GAIN:.0%}."
        )
        return Calibration("none", before, before, {}, calibration_map("none", {}), tried, message)
    params = _FITTERS[best](y, s)
    name = (
        "Platt scaling (a sigmoid on the log-odds)" if best == "sigmoid" else "isotonic regression"
    )
    message = (
        f"Probabilities are calibrated with {name}: out-of-fold log loss falls from {before:.4f} "
        f"to {tried[best]:.4f}, measured on rows the calibration was not fitted on."
    )
    return Calibration(
        best, before, tried[best], params, calibration_map(best, params), tried, message
    )


def leakage_recheck(valid_score: float, importance: dict[str, float], *, metric: str) -> str | None:
    """A warning when a near-perfect model rests on one feature; None when nothing looks wrong.

    `metric` is "roc_auc" or "r2"; importance values below zero count as zero.
    """
    if metric.lower() not in {"roc_auc", "auc", "r2"}:
        raise UsageError(f"metric={metric!r} must be 'roc_auc' or 'r2' for the leakage re-check.")
    if valid_score < _NEAR_PERFECT or not importance:
        return None
    ranked = sorted(((max(float(v), 0.0), k) for k, v in importance.items()), reverse=True)
    total = sum(v for v, _ in ranked)
    top, feature = ranked[0]
    following = ranked[1][0] if len(ranked) > 1 else 0.0
    if total <= 0 or top / total <= _DOMINANT_SHARE or top <= _DOMINANT_RATIO * following:
        return None
    ratio = (
        "no other feature matters" if following == 0 else f"{top / following:.0f}× the next feature"
    )
    return (
        f"Possible leakage: the model is near-perfect ({metric} {valid_score:.3f} on validation) and "
        f"one feature, {feature!r}, carries {top / total:.0%} of the importance ({ratio}). A single "
        "feature that predicts the outcome this well is usually a leak: a value recorded after the "
        f"outcome, or the target in disguise. Check how {feature!r} is recorded before trusting this model."
    )
