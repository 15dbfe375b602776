"""Performance by segment: every sensitive group and the largest slices, against the fairness limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from charter.errors import UsageError
from charter.modeling._diagnostics import number_text
from charter.modeling._explain import show_value

__all__ = ["SegmentGroup", "SegmentResult", "segments"]

_MIN_POSITIVES = 10  # recall is compared only for groups with at least this many actual positives
_MAX_SENSITIVE_GROUPS = 20
_NUMERIC_BINS = 4  # a numeric sensitive column (age) is cut into quartiles


@dataclass(frozen=True)
class SegmentGroup:
    """One group of a column and how the model does on it (classification or regression fields)."""

    value: str
    rows: int
    decision_rate: float | None = None  # share of rows the model flags
    recall: float | None = None  # share of actual positives flagged; None under 10 positives
    outcome_rate: float | None = None  # share of rows actually positive
    mean_score: float | None = None  # mean predicted probability
    mae: float | None = None  # regression: mean absolute error


@dataclass(frozen=True)
class SegmentResult:
    """The groups of one column, the gaps between them and whether the largest is too large.

    `gaps` maps "decision_rate" and "recall" (differences of shares) or "mae" (difference of
    group MAEs divided by the overall MAE) to the largest difference between two compared groups.
    """

    column: str
    sensitive: bool
    groups: tuple[SegmentGroup, ...]  # compared groups (at least min_rows rows), largest first
    too_small: tuple[str, ...]  # groups left out for having fewer than min_rows rows
    gaps: dict[str, float]
    gap_metric: str | None
    gap: float
    exceeds: bool
    message: str


def segments(
    y: np.ndarray,
    scores_or_pred: np.ndarray,
    decisions: np.ndarray | None,
    X: pd.DataFrame,
    *,
    columns: Sequence[str],
    task: Literal["classification", "regression"],
    min_rows: int = 30,
    max_slices: int = 5,
    max_fairness_gap: float = 0.1,
) -> list[SegmentResult]:
    """Performance by group: every sensitive column, then the largest slices of the other categoricals.

    Classification compares the share of rows flagged (`decisions`, 0/1) and recall; regression
    compares MAE. Groups under `min_rows` rows are not compared; numeric sensitive columns are cut
    into quartiles. Other categorical columns show their `max_slices` largest groups and are left
    out when fewer than two groups are large enough.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(scores_or_pred, dtype=np.float64).reshape(-1)
    if task == "classification" and decisions is None:
        raise UsageError("segments needs the model's decisions (0/1) for classification.")
    flagged = (
        np.zeros_like(y)
        if decisions is None
        else np.asarray(decisions, dtype=np.float64).reshape(-1)
    )
    if not (y.size == pred.size == flagged.size == len(X)):
        raise UsageError(
            f"y, scores, decisions and X must have one length; got {y.size}, {pred.size}, {flagged.size}, {len(X)}."
        )
    unknown = [c for c in columns if c not in X.columns]
    if unknown:
        raise UsageError(
            f"sensitive column(s) {', '.join(map(repr, unknown))} are not in X; columns are: {', '.join(map(str, X.columns))}"
        )
    error = np.abs(y - pred)
    metrics = (y, pred, flagged, error, float(error.mean()) if error.size else 0.0)
    others = [c for c in X.columns if c not in columns and _is_categorical(X[c])]
    found: list[SegmentResult] = []
    for column in [*columns, *others]:
        sensitive = column in columns
        result = _segment(
            str(column),
            _labels(X[column]),
            metrics,
            task=task,
            sensitive=sensitive,
            min_rows=min_rows,
            limit=_MAX_SENSITIVE_GROUPS if sensitive else max_slices,
            max_gap=max_fairness_gap,
        )
        if sensitive or len(result.groups) >= 2:
            found.append(result)
    return found


def _is_categorical(column: pd.Series) -> bool:
    return (
        isinstance(column.dtype, pd.CategoricalDtype)
        or column.dtype == object
        or column.dtype == bool
    )


def _labels(column: pd.Series) -> np.ndarray:
    if _is_categorical(column) or column.nunique(dropna=True) <= 2 * _NUMERIC_BINS:
        return np.array([show_value(v) for v in column], dtype=object)
    bins = pd.qcut(column, _NUMERIC_BINS, duplicates="drop")
    text = {b: f"{show_value(b.left)} to {show_value(b.right)}" for b in bins.cat.categories}
    return np.array(["missing" if pd.isna(b) else text[b] for b in bins], dtype=object)


def _segment(
    column: str,
    labels: np.ndarray,
    metrics: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
    *,
    task: str,
    sensitive: bool,
    min_rows: int,
    limit: int,
    max_gap: float,
) -> SegmentResult:
    y, pred, flagged, error, overall_mae = metrics
    values, inverse = np.unique(labels.astype(str), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(values))
    order = sorted(range(len(values)), key=lambda k: (-counts[k], values[k]))
    groups: list[SegmentGroup] = []
    for k in order:
        if counts[k] < min_rows or len(groups) >= limit:
            continue
        rows = inverse == k
        if task == "classification":
            positives = rows & (y == 1)
            recall = float(flagged[positives].mean()) if positives.sum() >= _MIN_POSITIVES else None
            groups.append(
                SegmentGroup(
                    str(values[k]),
                    int(counts[k]),
                    float(flagged[rows].mean()),
                    recall,
                    float(y[rows].mean()),
                    float(pred[rows].mean()),
                )
            )
        else:
            groups.append(
                SegmentGroup(str(values[k]), int(counts[k]), mae=float(error[rows].mean()))
            )
    small = tuple(str(values[k]) for k in order if counts[k] < min_rows)
    gaps = _gaps(groups, overall_mae)
    if not gaps:
        message = f"{column}: fewer than two groups have at least {min_rows} rows, so there is nothing to compare."
        return SegmentResult(column, sensitive, tuple(groups), small, {}, None, 0.0, False, message)
    metric = max(gaps, key=lambda m: gaps[m])
    exceeds = gaps[metric] > max_gap
    message = _segment_message(
        column, groups, metric, gaps[metric], exceeds=exceeds, sensitive=sensitive, max_gap=max_gap
    )
    if small:
        message += (
            f" Groups with fewer than {min_rows} rows are not compared: {', '.join(small[:10])}."
        )
    return SegmentResult(
        column, sensitive, tuple(groups), small, gaps, metric, gaps[metric], exceeds, message
    )


def _gaps(groups: list[SegmentGroup], overall_mae: float) -> dict[str, float]:
    gaps: dict[str, float] = {}
    for name in ("decision_rate", "recall", "mae"):
        seen = [v for g in groups if (v := getattr(g, name)) is not None]
        if len(seen) >= 2:
            spread = max(seen) - min(seen)
            gaps[name] = spread / overall_mae if name == "mae" and overall_mae > 0 else spread
    return gaps


def _segment_message(
    column: str,
    groups: list[SegmentGroup],
    metric: str,
    gap: float,
    *,
    exceeds: bool,
    sensitive: bool,
    max_gap: float,
) -> str:
    ranked = sorted(
        (g for g in groups if getattr(g, metric) is not None), key=lambda g: getattr(g, metric)
    )
    low, high = ranked[0], ranked[-1]
    if metric == "mae":
        what = f"the typical error (MAE) is {number_text(high.mae or 0.0)} where {column} = {high.value} but {number_text(low.mae or 0.0)} where {column} = {low.value}"
        size, allowed = f"{gap:.0%} of the overall MAE", f"{max_gap:.0%}"
    else:
        doing = "flags" if metric == "decision_rate" else "catches"
        share = "of rows" if metric == "decision_rate" else "of the actual positives"
        what = f"the model {doing} {_pct(getattr(high, metric))} {share} where {column} = {high.value} but {_pct(getattr(low, metric))} where {column} = {low.value}"
        size, allowed = f"{100 * gap:.1f} points", f"{100 * max_gap:.0f} points"
    if sensitive:
        verdict = "above" if exceeds else "within"
        return f"{column}: {what}, a gap of {size}, {verdict} the charter's max_fairness_gap of {allowed}."
    if exceeds:
        return f"{column}: {what}, a gap of {size} (more than {allowed}): the model works unevenly across {column}."
    return f"{column}: {what}, a gap of {size} (at most {allowed})."


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"
