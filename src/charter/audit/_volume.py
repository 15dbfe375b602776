"""Volume: is there enough data? Rows, rows per class and per feature, and a learning curve.

Thresholds (documented constants):
- rows with a known target: error below `MIN_ROWS_ERROR` (100: too few to validate anything),
  warning below `MIN_ROWS_WARNING` (1,000: estimates will be noisy);
- smallest class: error below `MIN_CLASS_ERROR` (20), warning below `MIN_CLASS_WARNING` (100);
- rows per feature: warning below `MIN_ROWS_PER_FEATURE` (10), a categorical counting as its
  one-hot width (levels - 1, at most `MAX_CATEGORY_WIDTH`);
- learning curve: a quick LightGBM model (`QUICK_TREES` trees, at most 2 threads) fitted on growing
  fractions of three quarters of the sample and scored on the other quarter, with
  `CURVE_SEEDS` seeds. More data would likely help when the score still rises between the last
  two points by more than the seeds' noise; the curve is steep (a warning) when, over the last
  three points, each doubling of the rows also adds `STEEP_GAIN` (0.02) or more.

The quick model itself (`QUICK_TREES` trees on the encoded sample) lives in `_quickmodel`, shared
with the leakage checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from charter.audit._bias import TargetClasses, target_classes
from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.audit._quickmodel import (
    ModelFrame,
    ModelKind,
    fit_quick_model,
    model_frame,
    quick_score,
    threads,
)
from charter.data import DATASET, quote_identifier

__all__ = [
    "CURVE_FRACTIONS",
    "CURVE_SEEDS",
    "MAX_CATEGORY_WIDTH",
    "MIN_CLASS_ERROR",
    "MIN_CLASS_WARNING",
    "MIN_ROWS_ERROR",
    "MIN_ROWS_PER_FEATURE",
    "MIN_ROWS_WARNING",
    "STEEP_GAIN",
    "CurvePoint",
    "check_volume",
    "count_findings",
    "curve_verdict",
    "gain_per_doubling",
]

MIN_ROWS_ERROR = 100
MIN_ROWS_WARNING = 1_000
MIN_CLASS_ERROR = 20
MIN_CLASS_WARNING = 100
MIN_ROWS_PER_FEATURE = 10
MAX_CATEGORY_WIDTH = 50
CURVE_FRACTIONS = (0.1, 0.2, 0.4, 0.7, 1.0)
CURVE_SEEDS = 3
STEEP_GAIN = 0.02  # score gained per doubling of the rows
_HOLDOUT_SHARE = 0.25
_MIN_CURVE_ROWS = 200


def check_volume(ctx: AuditContext) -> list[Finding]:
    """Rows, rows per class, rows per feature, and whether more data would likely help.

    Checks: `volume.rows`, `volume.class_size` (classification), `volume.rows_per_feature`,
    `volume.learning_curve`.
    """
    classes = target_classes(ctx) if ctx.task == "classification" else None
    findings = count_findings(ctx, rows=_known_rows(ctx), classes=classes)
    curve = _learning_curve(ctx)
    if curve is not None:
        findings.append(curve)
    return findings


def count_findings(ctx: AuditContext, *, rows: int, classes: TargetClasses | None) -> list[Finding]:
    """`volume.rows`, `volume.class_size` (when `classes` are given) and `volume.rows_per_feature`.

    `rows` is the number of rows with a known target; `ctx.profile` gives the total and the
    features' widths. A cluster passes the counts of all its rows here.
    """
    findings = [_rows(ctx, rows)]
    if classes is not None:
        findings.append(_class_size(ctx, classes))
    findings.append(_rows_per_feature(ctx, rows))
    return findings


def _known_rows(ctx: AuditContext) -> int:
    target = ctx.charter.target
    if target not in ctx.dataset.columns:
        return ctx.profile.rows
    return int(ctx.dataset.sql(f"SELECT count({quote_identifier(target)}) FROM {DATASET}")[0][0])


def _rows(ctx: AuditContext, rows: int) -> Finding:
    if rows < MIN_ROWS_ERROR:
        severity, verdict = (
            Severity.ERROR,
            f"too few to train and validate a model (under {MIN_ROWS_ERROR})",
        )
        advice = "Collect more rows (a longer period, more sources) before modelling."
    elif rows < MIN_ROWS_WARNING:
        severity, verdict = (
            Severity.WARNING,
            f"few (under {MIN_ROWS_WARNING:,}): estimates will be noisy",
        )
        advice = "Expect wide error bars; prefer simple models and collect more rows if you can."
    else:
        severity, verdict = Severity.INFO, "enough to start"
        advice = "No action needed."
    return Finding(
        check="volume.rows",
        severity=severity,
        columns=(),
        message=(
            f"{rows:,} rows have a known {ctx.charter.target!r} (of {ctx.profile.rows:,}): "
            if ctx.charter.target in ctx.dataset.columns
            else f"{rows:,} rows (the target {ctx.charter.target!r} is not in the data): "
        )
        + f"{verdict}.",
        recommendation=advice,
        evidence={
            "rows": rows,
            "total_rows": ctx.profile.rows,
            "min_rows_error": MIN_ROWS_ERROR,
            "min_rows_warning": MIN_ROWS_WARNING,
        },
    )


def _class_size(ctx: AuditContext, classes: TargetClasses) -> Finding:
    total = classes.rows
    table = [
        {"class": lbl, "rows": n, "share": round(n / total, 4)} for _, lbl, n in classes.counts
    ]
    _, smallest, rows = classes.counts[-1]
    if rows < MIN_CLASS_ERROR:
        severity, verdict = Severity.ERROR, "far too few to learn it or to measure the model on it"
    elif rows < MIN_CLASS_WARNING:
        severity, verdict = Severity.WARNING, "few: the model's results on it will be unreliable"
    else:
        severity, verdict = Severity.INFO, "enough to learn from"
    return Finding(
        check="volume.class_size",
        severity=severity,
        columns=(ctx.charter.target,),
        message=f"The smallest class of {ctx.charter.target!r} is {smallest!r} with "
        f"{rows:,} rows ({rows / total:.1%}): {verdict}.",
        recommendation="Collect more examples of this class (a longer period), or merge it with a "
        "similar class if the decision allows."
        if severity != Severity.INFO
        else "No action needed.",
        evidence={"classes": table, "smallest_class": smallest, "smallest_rows": rows},
    )


def _rows_per_feature(ctx: AuditContext, rows: int) -> Finding:
    widths: dict[str, int] = {}
    for name in ctx.features:
        profile = ctx.profile.columns.get(name)
        if profile is None or profile.kind == "other":
            continue
        if profile.kind == "categorical":
            # exact level counts when the profile kept them all; the sketch's estimate otherwise
            levels = len(profile.value_counts) if profile.value_counts else profile.distinct
            widths[name] = min(max(levels - 1, 1), MAX_CATEGORY_WIDTH)
        else:
            widths[name] = 1
    width = sum(widths.values())
    ratio = rows / width if width else math.inf
    low = ratio < MIN_ROWS_PER_FEATURE
    widest = sorted(widths.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    shown = ", ".join(f"{name!r} ({w})" for name, w in widest if w > 1)
    return Finding(
        check="volume.rows_per_feature",
        severity=Severity.WARNING if low else Severity.INFO,
        columns=(),
        message=f"{len(widths)} features expand to about {width} model inputs (categories counted "
        f"one per level), so there are {ratio:,.1f} rows per input"
        + (f": under {MIN_ROWS_PER_FEATURE}, a model can memorise noise." if low else ".")
        + (f" Widest: {shown}." if low and shown else ""),
        recommendation="Drop features nobody expects to matter, group rare categories, or collect "
        "more rows."
        if low
        else "No action needed.",
        evidence={
            "rows": rows,
            "features": len(widths),
            "inputs": width,
            "rows_per_input": round(ratio, 3) if math.isfinite(ratio) else None,
            "widths": dict(widest),
        },
    )


@dataclass(frozen=True)
class CurvePoint:
    """One point of the learning curve: training rows, mean score over seeds, its spread."""

    rows: int
    score: float
    std: float


def curve_verdict(points: list[CurvePoint]) -> Literal["steep", "rising", "flat"]:
    """Flat unless the score rises between the last two points by more than the seeds' noise;
    then steep when the last three points gain `STEEP_GAIN` or more per doubling of the rows."""
    if len(points) < 2:
        return "flat"
    previous, last = points[-2], points[-1]
    noise = math.hypot(previous.std, last.std)
    if last.score - previous.score <= max(noise, 0.002):
        return "flat"
    return "steep" if gain_per_doubling(points) >= STEEP_GAIN else "rising"


def gain_per_doubling(points: list[CurvePoint]) -> float:
    """Least-squares slope of the score against log2(rows) over the last three points."""
    tail = points[-3:]
    if len(tail) < 2:
        return 0.0
    x = np.log2([p.rows for p in tail])
    y = np.array([p.score for p in tail])
    centred = x - x.mean()
    return float(centred @ (y - y.mean()) / (centred @ centred))


def _learning_curve(ctx: AuditContext) -> Finding | None:
    frame = model_frame(ctx)
    if frame is None or not frame.features:
        return None
    if frame.rows < _MIN_CURVE_ROWS:
        return Finding(
            check="volume.learning_curve",
            severity=Severity.INFO,
            columns=(),
            message=f"Only {frame.rows:,} rows: too few to draw a learning curve.",
            recommendation="Collect more rows; a learning curve needs at least "
            f"{_MIN_CURVE_ROWS} to say whether more data would help.",
            evidence={"rows": frame.rows, "points": [], "metric": _metric(frame.kind)},
        )
    points, holdout = _curve(frame, ctx.seed)
    return _curve_finding(frame, points, holdout)


def _holdout(frame: ModelFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if frame.kind == "regression":
        order = rng.permutation(frame.rows)
        held = order[: round(_HOLDOUT_SHARE * frame.rows)]
    else:
        parts = []
        for k in np.unique(frame.y):
            members = rng.permutation(np.flatnonzero(frame.y == k))
            parts.append(members[: round(_HOLDOUT_SHARE * members.size)])
        held = np.concatenate(parts)
    mask = np.zeros(frame.rows, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _curve(frame: ModelFrame, seed: int) -> tuple[list[CurvePoint], int]:
    train, held = _holdout(frame, seed)
    scores = np.zeros((CURVE_SEEDS, len(CURVE_FRACTIONS)))
    sizes = [max(math.ceil(f * train.size), 20) for f in CURVE_FRACTIONS]
    for s in range(CURVE_SEEDS):
        order = np.random.default_rng(seed + 1 + s).permutation(train)
        for j, size in enumerate(sizes):
            model = fit_quick_model(frame, np.sort(order[:size]), seed=seed + s)
            predicted = model.predict(frame.x[held], num_threads=threads(held.size))
            scores[s, j] = quick_score(frame.kind, frame.y[held], np.asarray(predicted))
    points = [
        CurvePoint(size, float(np.mean(scores[:, j])), float(np.std(scores[:, j], ddof=1)))
        for j, size in enumerate(sizes)
    ]
    return points, int(held.size)


def _metric(kind: ModelKind) -> str:
    return "r2" if kind == "regression" else "roc_auc"


def _curve_finding(frame: ModelFrame, points: list[CurvePoint], holdout: int) -> Finding:
    metric = _metric(frame.kind)
    name = "R²" if metric == "r2" else "ROC AUC"
    evidence = {
        "metric": metric,
        "points": [
            {"rows": p.rows, "score": round(p.score, 5), "std": round(p.std, 5)} for p in points
        ],
        "holdout_rows": holdout,
        "seeds": CURVE_SEEDS,
    }
    if any(math.isnan(p.score) for p in points):
        return Finding(
            "volume.learning_curve",
            Severity.INFO,
            (),
            f"The learning curve could not be scored ({name} undefined on the held-out rows).",
            "No action needed.",
            evidence,
        )
    verdict = curve_verdict(points)
    previous, last = points[-2], points[-1]
    noise = math.hypot(previous.std, last.std)
    slope = gain_per_doubling(points)
    trend = (
        f"The quick model's {name} on held-out rows goes from {points[0].score:.3f} with "
        f"{points[0].rows:,} training rows to {previous.score:.3f} with {previous.rows:,} and "
        f"{last.score:.3f} with {last.rows:,} (seed-to-seed noise ±{noise:.2g})"
    )
    words = {
        "steep": (
            Severity.WARNING,
            f"still rising steeply, by about {slope:.3f} per doubling of the rows: more data "
            "would likely improve the model.",
            "Collect more rows of the same kind (a longer history, more sources) before "
            "investing in model tuning.",
        ),
        "rising": (
            Severity.INFO,
            f"still rising slowly (about {slope:.3f} per doubling of the rows): more data "
            "would help a little.",
            "More rows would help a little; better features will probably help more.",
        ),
        "flat": (
            Severity.INFO,
            "flat at the end: more rows of the same kind are unlikely to help much.",
            "Spend effort on better features or cleaner labels rather than more rows.",
        ),
    }
    severity, conclusion, advice = words[verdict]
    return Finding(
        "volume.learning_curve",
        severity,
        (),
        f"{trend}: {conclusion}",
        advice,
        evidence
        | {
            "verdict": verdict,
            "gain": round(last.score - previous.score, 5),
            "gain_per_doubling": round(slope, 5),
        },
    )
