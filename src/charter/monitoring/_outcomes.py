"""What happened after the predictions: live performance, its label-free estimate, adoption and value.

Everything here is a pure function over arrays aligned with logged predictions:
- `live_performance`: once outcomes arrive, the metrics and the business value per row with a 95%
  interval (normal approximation of a mean; Wilson for shares), against what validation promised.
- `estimated_performance`: before outcomes arrive, what the calibrated scores imply. Each logged
  score p is the chance the case is positive, so the expected value of a decision is
  p·value(positive) + (1-p)·value(negative), and the variance of the window's mean follows from
  the Bernoulli variances. This is confidence-based performance estimation; it holds while the
  scores stay calibrated, i.e. under a change in the inputs but not in how they relate to the outcome.
- `adoption_and_value`: the share of decisions that were followed and the value realised given what
  was actually done, against today's rule on the same cases and the charter's target.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from charter.modeling._metrics import classification_metrics, regression_metrics
from charter.spec import OutcomeValues

__all__ = [
    "Adoption",
    "Estimate",
    "Interval",
    "Performance",
    "adoption_and_value",
    "decision_values",
    "estimated_performance",
    "live_performance",
    "mean_interval",
    "share_interval",
]

_Z = 1.959963984540054  # the 97.5% point of the standard normal


@dataclass(frozen=True)
class Interval:
    """A figure and its 95% interval (low, high); NaN where it cannot be told."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        return {k: _json(v) for k, v in asdict(self).items()}


def mean_interval(values: np.ndarray) -> Interval:
    """The mean of `values` with a normal-approximation 95% interval (the t interval's large-n form)."""
    n = values.size
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    mean = float(np.mean(values))
    if n == 1:
        return Interval(mean, math.nan, math.nan)
    half = _Z * float(np.std(values, ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


def share_interval(successes: int, n: int) -> Interval:
    """A share with its Wilson 95% interval (sound near 0 and 1 and for small n)."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    p = successes / n
    denominator = 1 + _Z**2 / n
    centre = (p + _Z**2 / (2 * n)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def decision_values(act: np.ndarray, positive: np.ndarray, values: OutcomeValues) -> np.ndarray:
    """The business value of each case: the value-matrix cell of (decision, real outcome)."""
    act, positive = act.astype(bool), positive.astype(bool)
    return np.where(
        act,
        np.where(positive, values.true_positive, values.false_positive),
        np.where(positive, values.false_negative, values.true_negative),
    ).astype(np.float64)


@dataclass(frozen=True)
class Performance:
    """Live performance of one window's labelled predictions.

    `metric` and `value` are the charter's business metric (value per row for net_value) with its
    interval; `promised` is the validated test figure of the serving version; `decayed` is True when
    the whole interval lies below the promise by more than the margin, None when `judged` is False
    (fewer labelled predictions than the charter's `monitoring.min_labels`).
    """

    labelled: int
    metric: str
    value: Interval
    metrics: dict[str, float]
    promised: float | None
    judged: bool
    decayed: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "metric": self.metric,
            "value": self.value.to_dict(),
            "metrics": {k: _json(v) for k, v in self.metrics.items()},
            "promised": _json(self.promised),
            "judged": self.judged,
            "decayed": self.decayed,
        }


def live_performance(
    *,
    task: str,
    metric: str,
    truth: np.ndarray,
    scores: np.ndarray,
    act: np.ndarray | None,
    values: OutcomeValues | None,
    cost_per_unit: float | None,
    promised: float | None,
    margin: float,
    min_labels: int,
) -> Performance:
    """Metrics and business value of labelled predictions (classification: `truth` 0/1, `act` the
    logged decisions; regression: `truth` the real values, `scores` the predictions)."""
    n = int(truth.size)
    if task == "classification":
        assert act is not None
        metrics = classification_metrics(truth, scores, 0.5)
        # Threshold metrics from the decisions as answered (fallbacks included), not from scores.
        decided = classification_metrics(truth, act.astype(np.float64), 0.5)
        for name in ("accuracy", "precision", "recall", "f1", "positive_rate"):
            metrics[name] = decided[name]
        per_row = decision_values(act, truth, values) if values is not None else None
    else:
        metrics = regression_metrics(truth, scores) if n else {}
        errors = np.abs(truth.astype(np.float64) - scores)
        per_row = -cost_per_unit * errors if cost_per_unit is not None else None
    if metric == "net_value" and per_row is not None:
        value = mean_interval(per_row)
    else:
        value = _metric_interval(metric, metrics)
    judged = n >= min_labels and promised is not None and not math.isnan(value.value)
    decayed = None
    if judged:
        assert promised is not None
        floor = promised - margin * abs(promised)
        upper = value.high if not math.isnan(value.high) else value.value
        decayed = bool(upper < floor)
    return Performance(n, metric, value, metrics, promised, judged, decayed)


def _metric_interval(metric: str, metrics: dict[str, float]) -> Interval:
    """A named ML metric (losses negated as `neg_<loss>`), without an interval."""
    base = metric.removeprefix("neg_")
    found = metrics.get(base, math.nan)
    figure = -found if metric.startswith("neg_") else found
    return Interval(figure, math.nan, math.nan)


@dataclass(frozen=True)
class Estimate:
    """What the calibrated scores imply about a window before its outcomes are known."""

    rows: int
    value: Interval | None  # value per row (needs the charter's value matrix)
    positive_rate: float  # the expected share of positive cases
    precision: float
    recall: float
    accuracy: float
    promised: float | None
    decayed: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "value": None if self.value is None else self.value.to_dict(),
            "positive_rate": _json(self.positive_rate),
            "precision": _json(self.precision),
            "recall": _json(self.recall),
            "accuracy": _json(self.accuracy),
            "promised": _json(self.promised),
            "decayed": self.decayed,
        }


def estimated_performance(
    scores: np.ndarray,
    act: np.ndarray,
    values: OutcomeValues | None,
    *,
    promised: float | None,
    margin: float,
    min_rows: int,
) -> Estimate:
    """The expected performance of decisions `act` given calibrated probabilities `scores`."""
    p = np.clip(scores.astype(np.float64), 0.0, 1.0)
    chosen = act.astype(bool)
    n = int(p.size)
    expected_tp = float(p[chosen].sum())
    positives = float(p.sum())
    acted = int(chosen.sum())
    accuracy = float(np.mean(np.where(chosen, p, 1 - p))) if n else math.nan
    value = None
    decayed = None
    if values is not None and n:
        win = np.where(chosen, values.true_positive, values.false_negative)
        lose = np.where(chosen, values.false_positive, values.true_negative)
        mean = float(np.mean(p * win + (1 - p) * lose))
        half = _Z * math.sqrt(float(np.sum(p * (1 - p) * (win - lose) ** 2))) / n
        value = Interval(mean, mean - half, mean + half)
        if promised is not None and n >= min_rows:
            decayed = bool(value.high < promised - margin * abs(promised))
    return Estimate(
        rows=n,
        value=value,
        positive_rate=positives / n if n else math.nan,
        precision=expected_tp / acted if acted else math.nan,
        recall=expected_tp / positives if positives > 0 else math.nan,
        accuracy=accuracy,
        promised=promised,
        decayed=decayed,
    )


@dataclass(frozen=True)
class Adoption:
    """Whether decisions were followed, and what they earned given what was actually done.

    `followed` is the share of answered feedback saying the decision was followed. `realised` is
    the value per row of what was done (a decision not followed counts as its opposite), `total`
    its sum; `baseline` the value per row today's rule would have earned on the same cases (as if
    followed); `gain_share` the realised gain over it as a share of |baseline|, against the
    charter's `target` (success.beat_baseline_by); `met` None when it cannot be told.
    """

    labelled: int
    answered: int  # feedback that says whether the decision was followed
    followed: Interval
    realised: Interval | None
    total: float | None
    baseline: Interval | None
    gain_share: float | None
    target: float | None
    met: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "answered": self.answered,
            "followed": self.followed.to_dict(),
            "realised": None if self.realised is None else self.realised.to_dict(),
            "total": _json(self.total),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "gain_share": _json(self.gain_share),
            "target": _json(self.target),
            "met": self.met,
        }


def adoption_and_value(
    act: np.ndarray,
    followed: np.ndarray,
    truth: np.ndarray,
    values: OutcomeValues | None,
    *,
    baseline_act: np.ndarray | None,
    target: float | None,
) -> Adoption:
    """Adoption and value of the predictions that got feedback, all arrays aligned with them:
    `act` the decisions, `followed` 1, 0 or NaN (not said), `truth` 1/0 or NaN (no outcome),
    `baseline_act` today's rule's decisions. Adoption counts every answered `followed`; value
    counts the rows with an outcome, a decision whose following was not said counting as followed.
    """
    known = ~np.isnan(followed)
    answered = int(known.sum())
    followed_share = share_interval(int(np.sum(followed[known] == 1)), answered)
    labelled = ~np.isnan(truth)
    count = int(labelled.sum())
    if values is None or count == 0:
        return Adoption(count, answered, followed_share, None, None, None, None, target, None)
    chosen = act.astype(bool)[labelled]
    not_followed = (known & (followed == 0))[labelled]
    done = np.where(not_followed, ~chosen, chosen)
    outcome = truth[labelled].astype(bool)
    per_row = decision_values(done, outcome, values)
    realised = mean_interval(per_row)
    baseline = gain_share = met = None
    if baseline_act is not None:
        baseline = mean_interval(decision_values(baseline_act[labelled], outcome, values))
        if baseline.value != 0 and not math.isnan(baseline.value):
            gain_share = (realised.value - baseline.value) / abs(baseline.value)
            if target is not None:
                met = bool(gain_share >= target)
    return Adoption(
        labelled=count,
        answered=answered,
        followed=followed_share,
        realised=realised,
        total=float(per_row.sum()),
        baseline=baseline,
        gain_share=gain_share,
        target=target,
        met=met,
    )


def _json(value: float | None) -> float | None:
    """NaN and infinities as null, so the figures are plain JSON."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
