"""The business metric, the ML metrics beside it, and bootstrap intervals: pure functions over arrays.

Conventions: classification targets are 0/1 (1 = the positive class) and scores are probabilities of
the positive class; a row is decided positive when its score is at or above the threshold. Metrics
that a sample cannot define (ROC AUC with one class present, precision with no positive decision,
R² of a constant target) are NaN rather than a warning or an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from charter.errors import UsageError
from charter.spec import OutcomeValues

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "ValueCurve",
    "bootstrap_interval",
    "business_value",
    "classification_metrics",
    "paired_gain_interval",
    "regression_metrics",
    "regression_value",
    "value_curve",
    "value_per_row",
]

Task = Literal["classification", "regression"]

# metric -> True when higher is better (a loss is reported negated as the business metric).
CLASSIFICATION_METRICS: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
}
REGRESSION_METRICS: dict[str, bool] = {"rmse": False, "mae": False, "r2": True, "mape": False}

_LOG_LOSS_EPS = 1e-15
_BOOTSTRAP_CELLS = 1 << 22  # resampled indices drawn at once: 32 MiB of int64


def _arrays(*arrays: np.ndarray, where: str) -> tuple[np.ndarray, ...]:
    out = tuple(np.asarray(a) for a in arrays)
    shapes = {a.shape for a in out}
    if len(shapes) != 1 or out[0].ndim != 1:
        raise UsageError(
            f"{where} needs one-dimensional arrays of the same length; got shapes "
            f"{', '.join(str(a.shape) for a in out)}. Pass one value per row."
        )
    return out


def _confusion(y: np.ndarray, decide: np.ndarray) -> tuple[int, int, int, int]:
    actual = y.astype(bool, copy=False)
    chosen = decide.astype(bool, copy=False)
    tp = int(np.count_nonzero(actual & chosen))
    fp = int(np.count_nonzero(chosen)) - tp
    fn = int(np.count_nonzero(actual)) - tp
    return tp, fp, fn, actual.size - tp - fp - fn


def value_per_row(y: np.ndarray, decide: np.ndarray, values: OutcomeValues) -> float:
    """Mean business value per row of deciding `decide` (0/1) when the truth is `y` (0/1).

    Each row earns the value of its outcome (true positive, false positive, false negative or true
    negative) from the charter's `success.value`. NaN for no rows.

    >>> value_per_row(np.array([1, 0]), np.array([1, 1]), OutcomeValues(true_positive=300,
    ...     false_positive=-50, false_negative=0, true_negative=0))
    125.0
    """
    y, decide = _arrays(y, decide, where="value_per_row")
    if y.size == 0:
        return math.nan
    tp, fp, fn, tn = _confusion(y, decide)
    total = (
        tp * values.true_positive
        + fp * values.false_positive
        + fn * values.false_negative
        + tn * values.true_negative
    )
    return float(total / y.size)


@dataclass(frozen=True)
class ValueCurve:
    """Value per row against the decision threshold, and the threshold that maximises it.

    `thresholds` and `values` are the downsampled curve for charts (evenly spaced in [0, 1]);
    `best_threshold` and `best_value` come from the exact search over every distinct score.
    """

    thresholds: np.ndarray
    values: np.ndarray
    best_threshold: float
    best_value: float


def value_curve(
    y: np.ndarray, scores: np.ndarray, values: OutcomeValues, *, points: int = 101
) -> ValueCurve:
    """The value-maximising threshold over every distinct score cut, and the curve for a chart.

    Rows are decided positive when `score >= threshold`. Every distinct way of cutting the sorted
    scores is evaluated exactly (one sort and cumulative sums: O(n log n)), including deciding no
    row and deciding every row. The threshold reported for the best cut is the midpoint between the
    lowest score decided positive and the next lower score, so it sits inside the gap rather than on
    a training score; deciding every row reports the lowest score, deciding none a number just
    above the highest. When several cuts reach the best value (within floating rounding), the most
    conservative one wins: the highest threshold, which acts on the fewest rows.

    Example: `value_curve(y, oof_scores, charter.success.value).best_threshold`.
    """
    y, scores = _arrays(y, scores, where="value_curve")
    if y.size == 0:
        raise UsageError("value_curve needs at least one row to choose a threshold from.")
    scores = scores.astype(np.float64, copy=False)
    if np.isnan(scores).any():
        raise UsageError("value_curve got NaN scores; score every row before choosing a threshold.")
    if points < 2:
        raise UsageError(f"points={points!r} in value_curve must be at least 2.")
    n = y.size
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    tp_cum = np.concatenate(([0], np.cumsum(y[order].astype(bool), dtype=np.int64)))
    positives = int(tp_cum[-1])
    gain_tp = values.true_positive - values.false_negative
    gain_fp = values.false_positive - values.true_negative
    base = positives * values.false_negative + (n - positives) * values.true_negative

    # Cut k decides the first `taken[k]` ranked rows: none, then each distinct score's tie group.
    ends = np.flatnonzero(ranked[1:] != ranked[:-1]) + 1
    taken = np.concatenate(([0], ends, [n]))
    tp = tp_cum[taken]
    total = tp * gain_tp + (taken - tp) * gain_fp + base
    tolerance = 1e-9 * max(abs(gain_tp), abs(gain_fp), 1.0)
    best = int(np.flatnonzero(total >= total.max() - tolerance)[0])
    best_threshold = _cut_threshold(ranked, int(taken[best]))

    grid = np.linspace(0.0, 1.0, points)
    counts = np.searchsorted(-ranked, -grid, side="right")
    tp_grid = tp_cum[counts]
    curve = (tp_grid * gain_tp + (counts - tp_grid) * gain_fp + base) / n
    return ValueCurve(
        thresholds=grid,
        values=curve.astype(np.float64),
        best_threshold=best_threshold,
        best_value=float(total[best] / n),
    )


def _cut_threshold(ranked: np.ndarray, taken: int) -> float:
    """A threshold deciding exactly the first `taken` of the descending `ranked` scores."""
    if taken == 0:
        return float(np.nextafter(ranked[0], np.inf))
    lowest_in = float(ranked[taken - 1])
    if taken == ranked.size:
        return lowest_in
    below = float(ranked[taken])
    middle = below + (lowest_in - below) / 2
    # Adjacent floats have no midpoint: the lowest decided score itself still separates them.
    return middle if below < middle <= lowest_in else lowest_in


def _ranking_metrics(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """ROC AUC (ties count half) and average precision, from one sort; NaN where undefined."""
    positives = int(np.count_nonzero(y))
    negatives = y.size - positives
    if positives == 0:
        return math.nan, math.nan
    scores = scores.astype(np.float64, copy=False)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    ends = np.concatenate((np.flatnonzero(ranked[1:] != ranked[:-1]), [y.size - 1]))
    tp = np.cumsum(y[order].astype(bool), dtype=np.int64)[ends]
    fp = ends + 1 - tp
    tp_prev = np.concatenate(([0], tp[:-1]))
    fp_prev = np.concatenate(([0], fp[:-1]))
    average_precision = float(np.sum((tp - tp_prev) * (tp / (ends + 1))) / positives)
    if negatives == 0:
        return math.nan, average_precision
    area = np.sum((fp - fp_prev) * (tp + tp_prev)) / 2
    return float(area / (positives * negatives)), average_precision


def classification_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier score, and accuracy/precision/recall/F1 at `threshold`.

    `pr_auc` is average precision (scikit-learn's definition, no interpolation); `log_loss`
    floors the probability given to the true class at 1e-15; `positive_rate` is the share of rows
    decided positive. ROC AUC is NaN when one class is absent, PR AUC and recall when there is no
    positive row, precision when no row is decided positive, F1 when neither; every metric is NaN
    for no rows.
    """
    y, scores = _arrays(y, scores, where="classification_metrics")
    roc_auc, pr_auc = _ranking_metrics(y, scores) if y.size else (math.nan, math.nan)
    return {
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "log_loss": _classification_metric("log_loss", y, scores, threshold),
        "brier": _classification_metric("brier", y, scores, threshold),
        **_decision_metrics(y, scores, threshold),
    }


def _classification_metric(name: str, y: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """One of `classification_metrics`, computing only what it needs (for bootstrap loops)."""
    if y.size == 0:
        return math.nan
    if name in ("roc_auc", "pr_auc"):
        return _ranking_metrics(y, scores)[name == "pr_auc"]
    truth = y.astype(bool, copy=False)
    scores = scores.astype(np.float64, copy=False)
    if name == "log_loss":
        given_to_truth = np.where(truth, scores, 1 - scores)
        return -float(np.mean(np.log(np.maximum(given_to_truth, _LOG_LOSS_EPS))))
    if name == "brier":
        return float(np.mean((scores - truth) ** 2))
    return _decision_metrics(y, scores, threshold)[name]


def _decision_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    if y.size == 0:
        return dict.fromkeys(("accuracy", "precision", "recall", "f1", "positive_rate"), math.nan)
    tp, fp, fn, tn = _confusion(y, scores >= threshold)
    return {
        "accuracy": (tp + tn) / y.size,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
        "positive_rate": (tp + fp) / y.size,
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, R² and MAPE of predictions `pred` against the truth `y`.

    MAPE is the mean of |error| / |y| over the rows where y != 0 only (a relative error against
    zero is undefined), as a fraction (0.1 = 10%); NaN when every y is 0. R² is NaN for fewer than
    two rows or a constant target; every metric is NaN for no rows.
    """
    y, pred = _arrays(y, pred, where="regression_metrics")
    if y.size == 0:
        return dict.fromkeys(("rmse", "mae", "r2", "mape"), math.nan)
    y = y.astype(np.float64, copy=False)
    error = y - pred.astype(np.float64, copy=False)
    spread = float(np.sum((y - y.mean()) ** 2))
    nonzero = y != 0
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1 - float(np.sum(error**2)) / spread if spread > 0 else math.nan,
        "mape": float(np.mean(np.abs(error[nonzero] / y[nonzero]))) if nonzero.any() else math.nan,
    }


def regression_value(y: np.ndarray, pred: np.ndarray, cost_per_unit: float) -> float:
    """Mean value per row of predicting `pred`: minus `cost_per_unit` times the absolute error."""
    y, pred = _arrays(y, pred, where="regression_value")
    if y.size == 0:
        return math.nan
    return -cost_per_unit * float(np.mean(np.abs(y.astype(np.float64) - pred)))


def business_value(
    task: Task,
    y: np.ndarray,
    scores_or_pred: np.ndarray,
    *,
    threshold: float | None,
    values: OutcomeValues | None,
    cost_per_unit: float | None,
    metric: str | None,
) -> tuple[str, float]:
    """The charter's business metric: its name and its value on these rows (higher is better).

    - classification with a value matrix (`success.value`): `("net_value", value per row)` of
      deciding `score >= threshold`;
    - regression with `success.error_cost_per_unit`: `("net_value", -cost × mean |error|)`;
    - otherwise the named ML metric (`success.metric`; default `roc_auc`, or `neg_mae` for
      regression). Losses (log_loss, brier, rmse, mae, mape) are negated and named `neg_<loss>`,
      so that higher is always better; `neg_mae` and `mae` name the same metric. Metrics at a
      threshold use 0.5 when `threshold` is None.

    Raises UsageError for an unknown metric, one of the other task, or `net_value` without the
    values it is computed from.
    """
    requested = (metric or "").strip().lower() or None
    if task == "classification" and values is not None:
        if threshold is None:
            raise UsageError(
                "business_value needs the decision threshold to value decisions; "
                "choose one with value_curve(...).best_threshold."
            )
        return "net_value", value_per_row(y, np.asarray(scores_or_pred) >= threshold, values)
    if task == "regression" and cost_per_unit is not None:
        return "net_value", regression_value(y, scores_or_pred, cost_per_unit)
    if requested == "net_value":
        needed = "success.value" if task == "classification" else "success.error_cost_per_unit"
        raise UsageError(
            f"success.metric=net_value needs {needed} in the charter, and it is missing. "
            f"Add {needed}, or choose another metric."
        )
    known = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    name = requested or ("roc_auc" if task == "classification" else "mae")
    base = name.removeprefix("neg_")
    if base not in known or (name != base and known[base]):
        listed = ", ".join(["net_value", *(m if up else f"neg_{m}" for m, up in known.items())])
        raise UsageError(
            f"success.metric={metric!r} is not a known {task} metric. Use one of: {listed}."
        )
    if task == "classification":
        at = 0.5 if threshold is None else threshold
        y, scores = _arrays(y, scores_or_pred, where="business_value")
        measured = _classification_metric(base, y, scores, at)
    else:
        measured = regression_metrics(y, scores_or_pred)[base]
    return (base, measured) if known[base] else (f"neg_{base}", -measured)


def _resamples(size: int, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """`n` rows of `size` indices drawn with replacement, generated in large blocks."""
    block = max(1, min(n, _BOOTSTRAP_CELLS // max(size, 1)))
    for start in range(0, n, block):
        yield from rng.integers(0, size, size=(min(block, n - start), size))


def _group_resamples(groups: np.ndarray, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Row indices of `n` resamples that draw whole groups with replacement."""
    # factorize, unlike np.unique, takes object labels that mix types or hold None.
    codes, _ = pd.factorize(groups, use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    for chosen in _resamples(sizes.size, n, rng):
        lengths = sizes[chosen]
        ends = np.cumsum(lengths)
        # Position j of the output belongs to drawn group g: starts[g] + (j - where g's run begins).
        offsets = np.repeat(starts[chosen] - (ends - lengths), lengths)
        yield order[offsets + np.arange(int(ends[-1]))]


def bootstrap_interval(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(*arrays)`, resampling rows (or whole groups).

    Every resample takes the same rows from each array, so a statistic of two predictions on the
    same rows (a paired gain) keeps its pairing. With `groups` (one label per row, e.g. the entity)
    whole groups are drawn with replacement, so rows of one customer move together. Resampled
    indices are drawn in large blocks from `numpy.random.default_rng(seed)`: the same inputs and
    seed give the same interval. Resamples where the statistic is NaN (ROC AUC of a resample with
    one class, say) are left out; the interval is (NaN, NaN) when all are.

    Example: `bootstrap_interval(lambda y, p: value_per_row(y, p >= t, values), y, scores)`.
    """
    if not arrays:
        raise UsageError("bootstrap_interval needs at least one array to resample.")
    columns = _arrays(*arrays, where="bootstrap_interval")
    if n < 1:
        raise UsageError(f"n={n!r} in bootstrap_interval must be at least 1 resample.")
    if not 0 < level < 1:
        raise UsageError(
            f"level={level!r} in bootstrap_interval must be between 0 and 1, e.g. 0.95."
        )
    size = columns[0].size
    if size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = _resamples(size, n, rng)
    else:
        (labels,) = _arrays(groups, where="bootstrap_interval groups")
        if labels.size != size:
            raise UsageError(
                f"groups in bootstrap_interval has {labels.size} labels for {size} rows; "
                "pass one group label per row."
            )
        draws = _group_resamples(labels, n, rng)
    stats = np.fromiter(
        (statistic(*(column[rows] for column in columns)) for rows in draws), np.float64, n
    )
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def paired_gain_interval(
    y: np.ndarray,
    decisions_or_pred_a: np.ndarray,
    decisions_or_pred_b: np.ndarray,
    value_fn: Callable[[np.ndarray, np.ndarray], float],
    *,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Bootstrap interval of `value_fn(y, a) - value_fn(y, b)`, both valued on the same resamples.

    Pairing cancels the row-to-row noise the two share, so the interval on the gain of a model over
    the baseline is much narrower than the difference of two separate intervals.

    Example: `paired_gain_interval(y, model >= t, baseline, partial(value_per_row, values=v))`.
    """

    def gain(truth: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return value_fn(truth, a) - value_fn(truth, b)

    return bootstrap_interval(
        gain,
        y,
        decisions_or_pred_a,
        decisions_or_pred_b,
        n=n,
        seed=seed,
        level=level,
        groups=groups,
    )
