"""Leakage: features that give the answer away, because they are the answer or come after it.

Checks, all on the context's sample except the timestamp check (SQL over the whole data):
- `leakage.target_derived` (error): a column identical to the target, a one-to-one recoding of
  it or a many-to-one function of it, an exact monotone transform of a numeric target, or a
  linear combination of at most three numeric features reproducing it (R² > `DERIVED_R2`);
- `leakage.single_feature` (error): one feature alone predicts the target out of fold with
  ROC AUC >= `SINGLE_AUC` (R² >= `SINGLE_R2` for regression), from binned or category means;
- `leakage.dominant_feature` (warning): one feature carries more than `DOMINANT_SHARE` of a quick
  model's gain and more than `DOMINANT_RATIO` times the next (fitted without the columns above);
- `leakage.future_timestamp`: a date column after `data.time` in at least `FUTURE_ERROR_SHARE`
  of rows is an error, in at least `FUTURE_WARNING_SHARE` a warning.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.audit._quickmodel import (
    ModelFrame,
    ModelKind,
    fit_quick_model,
    model_frame,
    quick_score,
)
from charter.audit._timeliness import timestamp_expression
from charter.data import DATASET
from charter.spec._classes import class_label, same_class

__all__ = [
    "DERIVED_R2",
    "DOMINANT_RATIO",
    "DOMINANT_SHARE",
    "FUTURE_ERROR_SHARE",
    "FUTURE_WARNING_SHARE",
    "SINGLE_AUC",
    "SINGLE_R2",
    "check_leakage",
    "linear_combination",
    "out_of_fold_score",
]

SINGLE_AUC = 0.98
SINGLE_R2 = 0.95
DERIVED_R2 = 0.999
DOMINANT_SHARE = 0.5
DOMINANT_RATIO = 5.0
FUTURE_ERROR_SHARE = 0.2
FUTURE_WARNING_SHARE = 0.01
_FOLDS = 5
_MAX_COMBINATION = 3
_MAX_LINEAR_CANDIDATES = 40
_LINEAR_ROWS = 20_000
_EXACT_BINS = 64  # numeric features with at most this many values are binned by value
_MIN_FUTURE_ROWS = 5


def check_leakage(ctx: AuditContext) -> list[Finding]:
    """Features that are, or are computed from, the answer; and dates later than the decision.

    Checks: `leakage.target_derived`, `leakage.single_feature`, `leakage.dominant_feature`,
    `leakage.future_timestamp`.
    """
    future = _future_timestamps(ctx)
    findings: list[Finding] = []
    frame = model_frame(ctx)
    if frame is not None and frame.features:
        derived = _target_derived(ctx, frame)
        # one finding per leaking column: the most telling one
        blocking = derived + [f for f in future if f.severity == Severity.ERROR]
        flagged = {c for f in blocking for c in f.columns}
        single = _single_feature(ctx, frame, skip=flagged)
        flagged |= {c for f in single for c in f.columns}
        findings += derived + single
        # refitted without the columns already blocking, so a second, subtler leak shows
        dominant = _dominant_feature(frame, skip=flagged, seed=ctx.seed)
        if dominant is not None:
            findings.append(dominant)
    return findings + future


# --- a column that is the target, or computed from it --------------------------------------


def _target_derived(ctx: AuditContext, frame: ModelFrame) -> list[Finding]:
    target = ctx.charter.target
    findings: list[Finding] = []
    _, target_codes = np.unique(frame.y, return_inverse=True)
    n_target = int(target_codes.max()) + 1
    repeats = n_target <= frame.rows / 20  # otherwise any unique-per-row column maps one-to-one
    target_rank = rankdata(frame.y) if frame.kind == "regression" and not repeats else None
    for j, name in enumerate(frame.features):
        column = frame.x[:, j]
        if frame.kind == "regression" and np.array_equal(column, frame.y):
            findings.append(
                _derived_finding(
                    target,
                    (name,),
                    f"{name!r} holds the same values as the target {target!r}: "
                    "it is the answer itself.",
                    {"relation": "identical"},
                )
            )
            continue
        if repeats:
            relation = _mapping(column, target_codes, n_target)
            if relation is not None:
                findings.append(_derived_mapping(ctx, frame, j, relation))
                continue
        if target_rank is not None and j not in frame.categorical:
            rho = _spearman(column, target_rank)
            if rho is not None and abs(rho) >= DERIVED_R2:
                findings.append(
                    _derived_finding(
                        target,
                        (name,),
                        f"{name!r} is an exact monotone transform of {target!r} "
                        f"(rank correlation {rho:.5f}): it is the answer in other units.",
                        {"relation": "monotone", "rank_correlation": round(rho, 6)},
                    )
                )
    if frame.kind in ("regression", "binary"):
        flagged = {c for f in findings for c in f.columns}
        candidates = [
            j
            for j, name in enumerate(frame.features)
            if j not in frame.categorical and name not in flagged
        ]
        combination = linear_combination(frame.x[:, candidates], frame.y, seed=ctx.seed)
        if combination is not None:
            members, r2, coefficients = combination
            names = tuple(frame.features[candidates[i]] for i in members)
            formula = " + ".join(
                f"{c:.4g} × {n!r}" for c, n in zip(coefficients, names, strict=True)
            )
            findings.append(
                _derived_finding(
                    target,
                    names,
                    f"{target!r} is reproduced by a linear combination of "
                    f"{', '.join(repr(n) for n in names)} (R² = {r2:.5f}): {target!r} ≈ {formula}.",
                    {
                        "relation": "linear_combination",
                        "r2": round(r2, 6),
                        "coefficients": {
                            n: round(c, 6) for n, c in zip(names, coefficients, strict=True)
                        },
                    },
                )
            )
    return findings


def _mapping(column: np.ndarray, target_codes: np.ndarray, n_target: int) -> str | None:
    """ "one_to_one" or "function" when the column's values are fixed by the target's."""
    _, codes = np.unique(np.nan_to_num(column, nan=-math.inf), return_inverse=True)
    n_values = int(codes.max()) + 1
    if n_values < 2:
        return None
    pairs = np.unique(codes.astype(np.int64) * n_target + target_codes).size
    if pairs != n_target:
        return None
    return "one_to_one" if n_values == n_target else "function"


def _derived_mapping(ctx: AuditContext, frame: ModelFrame, j: int, relation: str) -> Finding:
    name, target = frame.features[j], ctx.charter.target
    column = frame.x[:, j]
    pairs: dict[str, str] = {}
    for value in np.unique(np.nan_to_num(column, nan=-math.inf)):
        rows = np.flatnonzero(np.nan_to_num(column, nan=-math.inf) == value)
        pairs.setdefault(_shown_value(frame, j, value), _shown_target(frame, frame.y[rows[0]]))
        if len(pairs) >= 20:
            break
    identical = relation == "one_to_one" and all(same_class(a, b) for a, b in pairs.items())
    if identical:
        text = f"{name!r} holds the same values as the target {target!r}: it is the answer itself."
    elif relation == "one_to_one":
        shown = ", ".join(f"{a!r} ↔ {b!r}" for a, b in list(pairs.items())[:4])
        text = (
            f"{name!r} is a one-to-one recoding of the target {target!r} ({shown}): "
            "it is the answer under another name."
        )
    else:
        text = (
            f"{name!r} is fixed by the target {target!r}: every row with the same "
            f"{target!r} has the same {name!r}."
        )
    return _derived_finding(
        target,
        (name,),
        text,
        {"relation": "identical" if identical else relation, "mapping": pairs},
    )


def _shown_value(frame: ModelFrame, j: int, value: float) -> str:
    if not math.isfinite(value):
        return "(missing)"
    levels = frame.levels.get(j)
    if levels is not None:
        return str(levels[int(value)]) if int(value) < len(levels) else "(other)"
    return class_label(value)


def _shown_target(frame: ModelFrame, value: float) -> str:
    return frame.classes[int(value)] if frame.classes else class_label(value)


def _derived_finding(
    target: str, columns: tuple[str, ...], text: str, evidence: dict[str, Any]
) -> Finding:
    return Finding(
        check="leakage.target_derived",
        severity=Severity.ERROR,
        columns=columns,
        message=text,
        recommendation=f"Remove {', '.join(repr(c) for c in columns)} from the features: "
        f"when the decision is made {target!r} is not known yet, so neither is anything computed "
        "from it. A model using it looks perfect in testing and fails in production.",
        evidence={"target": target} | evidence,
    )


def _spearman(column: np.ndarray, target_rank: np.ndarray) -> float | None:
    finite = np.isfinite(column)
    if finite.sum() < 10 or np.ptp(column[finite]) == 0:
        return None
    a, b = rankdata(column[finite]), target_rank[finite]
    if np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def linear_combination(
    x: np.ndarray, y: np.ndarray, *, seed: int = 0, max_size: int = _MAX_COMBINATION
) -> tuple[tuple[int, ...], float, tuple[float, ...]] | None:
    """The smallest set of at most `max_size` columns of `x` whose linear fit gives R² > DERIVED_R2.

    Returns (column indices, R², coefficients) or None. Subsets are screened with the correlation
    matrix (R² = rᵀ C⁻¹ r) on up to 20,000 complete rows, then the best is refitted by least
    squares.
    """
    rows = np.flatnonzero(np.isfinite(x).all(axis=1) & np.isfinite(y)) if x.size else np.array([])
    if rows.size < 20 or np.ptp(y[rows]) == 0:
        return None
    if rows.size > _LINEAR_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, _LINEAR_ROWS, replace=False))
    xs, ys = x[rows], y[rows]
    usable = np.flatnonzero(np.std(xs, axis=0) > 0)
    if usable.size == 0:
        return None
    z = (xs[:, usable] - xs[:, usable].mean(axis=0)) / xs[:, usable].std(axis=0)
    t = (ys - ys.mean()) / ys.std()
    r = z.T @ t / t.size
    order = np.argsort(-np.abs(r), kind="stable")[:_MAX_LINEAR_CANDIDATES]
    z, r = z[:, order], r[order]
    c = z.T @ z / t.size
    for size in range(1, min(max_size, order.size) + 1):
        subsets = np.array(list(itertools.combinations(range(order.size), size)))
        r_sub = r[subsets]
        c_sub = c[subsets[:, :, None], subsets[:, None, :]]
        fit = np.einsum("mi,mij,mj->m", r_sub, np.linalg.pinv(c_sub), r_sub)
        for best in np.argsort(-fit, kind="stable")[:3]:
            if fit[best] <= DERIVED_R2:
                break
            members = tuple(int(usable[order[i]]) for i in subsets[best])
            r2, coefficients = _least_squares(x[rows][:, members], y[rows])
            if r2 > DERIVED_R2:
                return members, r2, coefficients
    return None


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, ...]]:
    design = np.column_stack([x, np.ones(y.size)])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ solution
    r2 = 1 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return r2, tuple(float(v) for v in solution[:-1])


# --- one feature that predicts the target on its own ----------------------------------------


def _bins(column: np.ndarray, categorical: bool, max_bins: int) -> np.ndarray:
    """Bin index per row: category codes, exact values, or quantile bins; missing gets its own."""
    finite = np.isfinite(column)
    bins = np.zeros(column.size, dtype=np.int64)
    if finite.any():
        values = column[finite]
        distinct = np.unique(values)
        if categorical or distinct.size <= _EXACT_BINS:
            bins[finite] = np.searchsorted(distinct, values)
        else:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, max_bins + 1)[1:-1]))
            bins[finite] = np.searchsorted(edges, values, side="right")
    bins[~finite] = bins.max() + 1 if finite.any() else 0
    return bins


def out_of_fold_score(
    column: np.ndarray,
    y: np.ndarray,
    kind: ModelKind,
    *,
    categorical: bool = False,
    seed: int = 0,
    n_classes: int = 2,
) -> float:
    """How well one column predicts the target out of fold: ROC AUC, or R² for regression.

    Each row is predicted by the mean target (class shares) of its bin, computed on the other
    folds; unseen bins get the overall mean, so an identifier-like column scores about 0.5.
    """
    n = y.size
    bins = _bins(column, categorical, max_bins=min(64, max(8, n // 50)))
    n_bins = int(bins.max()) + 1
    folds = np.random.default_rng(seed).permutation(n) % _FOLDS
    cell = folds * n_bins + bins
    counts = np.bincount(cell, minlength=_FOLDS * n_bins).reshape(_FOLDS, n_bins)
    train_counts = counts.sum(axis=0) - counts
    targets = [y] if kind != "multiclass" else [(y == k).astype(float) for k in range(n_classes)]
    predictions = []
    for target in targets:
        sums = np.bincount(cell, weights=target, minlength=_FOLDS * n_bins).reshape(_FOLDS, n_bins)
        train_sums = sums.sum(axis=0) - sums
        prior = train_sums.sum(axis=1, keepdims=True) / train_counts.sum(axis=1, keepdims=True)
        means = (train_sums + prior) / (train_counts + 1)
        predictions.append(means[folds, bins])
    predicted = predictions[0] if kind != "multiclass" else np.column_stack(predictions)
    return quick_score(kind, y, predicted)


def _single_feature(ctx: AuditContext, frame: ModelFrame, *, skip: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    threshold = SINGLE_R2 if frame.kind == "regression" else SINGLE_AUC
    metric = "R²" if frame.kind == "regression" else "ROC AUC"
    for j, name in enumerate(frame.features):
        if name in skip:
            continue
        score = out_of_fold_score(
            frame.x[:, j],
            frame.y,
            frame.kind,
            categorical=j in frame.categorical,
            seed=ctx.seed,
            n_classes=max(len(frame.classes), 2),
        )
        if not score >= threshold:
            continue
        missing = float(np.isnan(frame.x[:, j]).mean())
        hint = (
            f" Whether it is filled in ({missing:.0%} of rows are empty) may itself give the "
            "answer away."
            if missing >= 0.05
            else ""
        )
        findings.append(
            Finding(
                check="leakage.single_feature",
                severity=Severity.ERROR,
                columns=(name,),
                message=f"{name!r} alone predicts {ctx.charter.target!r} almost perfectly "
                f"({metric} {score:.3f} on rows it was not computed from; {threshold} or more is "
                f"suspicious).{hint}",
                recommendation=f"Check when {name!r} is recorded. If it is filled in after the "
                "outcome (or because of it), remove it; if it really is known at decision time, "
                "the problem may not need a model at all: a simple rule on this column would do.",
                evidence={
                    "metric": "r2" if frame.kind == "regression" else "roc_auc",
                    "score": round(score, 5),
                    "threshold": threshold,
                    "rows": frame.rows,
                    "missing_share": round(missing, 4),
                },
            )
        )
    return findings


# --- one feature that carries the whole model -------------------------------------------------


@dataclass(frozen=True)
class _Importance:
    name: str
    share: float


def _dominant_feature(frame: ModelFrame, *, skip: set[str], seed: int) -> Finding | None:
    keep = [j for j, name in enumerate(frame.features) if name not in skip]
    if len(keep) < 2 or frame.rows < 50:
        return None
    sub = ModelFrame(
        features=tuple(frame.features[j] for j in keep),
        x=frame.x[:, keep],
        y=frame.y,
        kind=frame.kind,
        classes=frame.classes,
        categorical=tuple(i for i, j in enumerate(keep) if j in frame.categorical),
    )
    model = fit_quick_model(sub, np.arange(sub.rows), seed=seed)
    gains = np.asarray(model.feature_importance(importance_type="gain"), dtype=float)
    if gains.sum() <= 0:
        return None
    ranked = sorted(
        (_Importance(n, float(g / gains.sum())) for n, g in zip(sub.features, gains, strict=True)),
        key=lambda i: (-i.share, i.name),
    )
    top, second = ranked[0], ranked[1]
    if not (top.share > DOMINANT_SHARE and top.share > DOMINANT_RATIO * second.share):
        return None
    return Finding(
        check="leakage.dominant_feature",
        severity=Severity.WARNING,
        columns=(top.name,),
        message=f"A quick model relies on {top.name!r} for {top.share:.0%} of what it learns, far "
        f"above the next feature ({second.name!r}, {second.share:.0%}). Is {top.name!r} known at "
        "decision time?",
        recommendation=f"Confirm with the people who record {top.name!r} that its value exists "
        "before the decision is made and is not updated afterwards. If not, remove it.",
        evidence={
            "importance": [{"feature": i.name, "share": round(i.share, 5)} for i in ranked[:10]],
            "share": round(top.share, 5),
            "next_share": round(second.share, 5),
        },
    )


# --- dates recorded after the decision --------------------------------------------------------


def _future_timestamps(ctx: AuditContext) -> list[Finding]:
    time = ctx.charter.data.time
    if time is None:
        return []
    decision = timestamp_expression(ctx, time, allow_numeric=True)
    if decision is None:
        return []
    # a decision dated by day (a DATE, or dates parsed from text) is compared day by day
    day_level = not ctx.dataset.columns.get(time, "").upper().startswith("TIMESTAMP")
    columns = []
    for name in ctx.features:
        expression = timestamp_expression(ctx, name)
        if expression is not None:
            later = (
                f"CAST({expression} AS DATE) > CAST({decision} AS DATE)"
                if day_level
                else f"{expression} > {decision}"
            )
            columns.append((name, later, expression))
    if not columns:
        return []
    parts = [
        f"count_if({later}), count_if({e} IS NOT NULL AND {decision} IS NOT NULL)"
        for _, later, e in columns
    ]
    row = ctx.dataset.sql(f"SELECT {', '.join(parts)} FROM {DATASET}")[0]
    findings = []
    for i, (name, _, _) in enumerate(columns):
        after, both = int(row[2 * i]), int(row[2 * i + 1])
        share = after / both if both else 0.0
        if after < _MIN_FUTURE_ROWS or share < FUTURE_WARNING_SHARE:
            continue
        error = share >= FUTURE_ERROR_SHARE
        findings.append(
            Finding(
                check="leakage.future_timestamp",
                severity=Severity.ERROR if error else Severity.WARNING,
                columns=(name,),
                message=f"{name!r} is later than the decision time {time!r} in {after:,} of "
                f"{both:,} rows "
                f"({share:.1%}): those values were recorded after the decision.",
                recommendation=f"Keep {name!r} only if its value is planned in advance (such as a "
                "contract end date); otherwise remove it, or rebuild it from what was known at the "
                "decision time.",
                evidence={
                    "time_column": time,
                    "rows_after": after,
                    "rows_compared": both,
                    "share": round(share, 5),
                },
            )
        )
    return findings
