"""Representativeness and bias: class balance, and outcomes per group of each sensitive column.

Thresholds (documented constants):
- a group is too small to evaluate below `MIN_GROUP_ROWS` rows or `MIN_GROUP_SHARE` of the rows;
- the gap in target rate between evaluable groups is large at `DEFAULT_MAX_GAP` (10 points), or at
  the charter's `constraints.max_fairness_gap` when set; for regression the gap in mean target is
  measured relative to the overall mean;
- a large gap is only a warning when it is also unlikely to be chance (p < `SIGNIFICANCE`: a
  chi-square test for classes, a one-way ANOVA for numbers), so small tables do not raise false
  alarms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.data import DATASET, quote_identifier
from charter.spec import Charter
from charter.spec._classes import class_label, same_class

__all__ = [
    "DEFAULT_MAX_GAP",
    "MIN_GROUP_ROWS",
    "MIN_GROUP_SHARE",
    "SIGNIFICANCE",
    "GroupStats",
    "TargetClasses",
    "anova_p_value",
    "check_bias",
    "class_balance",
    "class_label",
    "class_order_sql",
    "classes_from_counts",
    "same_class",
    "target_classes",
]

MIN_GROUP_ROWS = 30
MIN_GROUP_SHARE = 0.01
DEFAULT_MAX_GAP = 0.1
SIGNIFICANCE = 0.05
_MAX_GROUPS = 30  # larger groups are listed one by one; the rest are pooled as "(other)"
_MAX_CLASSES = 1000
_MISSING = "(missing)"
_OTHER = "(other)"


@dataclass(frozen=True)
class TargetClasses:
    """The target's classes (largest first) and which of them counts as positive."""

    counts: tuple[tuple[Any, str, int], ...]  # (raw value, label, rows)
    positive: tuple[Any, ...]  # raw values of the positive class
    positive_label: str
    source: Literal["charter", "minority"]
    note: str = ""

    @property
    def rows(self) -> int:
        """Rows with a known target."""
        return sum(n for _, _, n in self.counts)


def target_classes(ctx: AuditContext) -> TargetClasses | None:
    """Class counts of the target over the whole data, and the positive class.

    The positive class is the charter's `positive_class` when it matches a value, else the
    minority class. None when the target column is absent or has no known value.
    """
    return ctx.shared("charter.audit.target_classes", lambda: _target_classes(ctx))


def _target_classes(ctx: AuditContext) -> TargetClasses | None:
    target = ctx.charter.target
    if target not in ctx.dataset.columns:
        return None
    t = quote_identifier(target)
    rows = ctx.dataset.sql(
        f"SELECT {t}, count(*) AS n FROM {DATASET} WHERE {t} IS NOT NULL "
        f"GROUP BY 1 {class_order_sql(target)}"
    )
    return classes_from_counts(ctx.charter, rows)


def class_order_sql(target: str) -> str:
    """SQL ranking a (target, n) relation's classes: most rows first, ties by the value as text."""
    return f"ORDER BY n DESC, CAST({quote_identifier(target)} AS VARCHAR) LIMIT {_MAX_CLASSES}"


def classes_from_counts(charter: Charter, rows: Sequence[tuple[Any, int]]) -> TargetClasses | None:
    """The classes from (value, rows) pairs ranked by `class_order_sql`; None when there are none.

    The positive class is the charter's `positive_class` when it matches a value, else the
    minority class.
    """
    if not rows:
        return None
    counts = tuple((value, class_label(value), int(n)) for value, n in rows)
    declared = charter.positive_class
    if declared is not None:
        matched = tuple(value for value, _, _ in counts if same_class(declared, value))
        if matched:
            label = next(lbl for value, lbl, _ in counts if value == matched[0])
            return TargetClasses(counts, matched, label, "charter")
    value, label, _ = counts[-1]
    note = ""
    if declared is not None:
        note = (
            f"positive_class {declared!r} in the charter matches none of the target's values "
            f"({', '.join(repr(lbl) for _, lbl, _ in counts[:10])}); the minority class "
            f"{label!r} is used instead"
        )
    return TargetClasses(counts, (value,), label, "minority", note)


def check_bias(ctx: AuditContext) -> list[Finding]:
    """Class balance (classification) and, per sensitive column, group sizes and outcome gaps.

    Checks: `bias.class_balance`, `bias.group_rates` (the table a report draws as "target rate
    by group"), `bias.small_group`.
    """
    findings: list[Finding] = []
    classes = target_classes(ctx) if ctx.task == "classification" else None
    if classes is not None:
        findings.append(class_balance(ctx, classes))
    if ctx.charter.target not in ctx.dataset.columns:
        return findings
    for column in ctx.charter.data.sensitive:
        findings.extend(_sensitive(ctx, column, classes))
    return findings


def class_balance(ctx: AuditContext, classes: TargetClasses) -> Finding:
    """`bias.class_balance`: each class's rows and share, and how to judge models given them."""
    total = classes.rows
    table = [
        {"class": label, "rows": n, "share": round(n / total, 4)} for _, label, n in classes.counts
    ]
    parts = ", ".join(
        f"{row['class']!r} {row['share']:.1%} ({row['rows']:,} rows)" for row in table[:8]
    )
    minority_share = classes.counts[-1][2] / total
    recommendation = (
        "Judge models on the business metric and on how well they find "
        f"{classes.positive_label!r}, not on accuracy: with unbalanced classes a model that "
        "always predicts the majority looks accurate and is useless."
        if minority_share < 0.2
        else "Classes are reasonably balanced; no action needed."
    )
    message = f"Class balance of {ctx.charter.target!r}: {parts}."
    if classes.note:
        message += f" Note: {classes.note}."
    return Finding(
        check="bias.class_balance",
        severity=Severity.INFO,
        columns=(ctx.charter.target,),
        message=message,
        recommendation=recommendation,
        evidence={
            "classes": table,
            "positive_class": classes.positive_label,
            "positive_class_source": classes.source,
        },
    )


@dataclass(frozen=True)
class GroupStats:
    """Target outcome of one group of a sensitive column."""

    group: str
    rows: int
    known: int  # rows with a known target
    positives: int  # classification: rows of the positive class
    mean: float | None  # regression: mean target
    variance: float | None  # regression: sample variance of the target

    def rate(self, task: str) -> float | None:
        """Share of the positive class (classification) or mean target (regression)."""
        if task == "classification":
            return self.positives / self.known if self.known else None
        return self.mean


def _sensitive(ctx: AuditContext, column: str, classes: TargetClasses | None) -> list[Finding]:
    if column not in ctx.dataset.columns:
        return [
            Finding(
                check="bias.group_rates",
                severity=Severity.WARNING,
                columns=(column,),
                message=f"Sensitive column {column!r} named in the charter is not in the data.",
                recommendation=(
                    f"Fix data.sensitive in the charter or add {column!r} to the data; without it "
                    "nobody can check whether the model treats its groups fairly."
                ),
                evidence={"column": column, "available": sorted(ctx.dataset.columns)[:50]},
            )
        ]
    if ctx.task == "classification" and classes is None:
        return []
    groups = _group_stats(ctx, column, classes)
    total = sum(g.rows for g in groups)
    small = [
        g
        for g in groups
        if g.group not in (_MISSING, _OTHER)
        and (g.rows < MIN_GROUP_ROWS or g.rows < MIN_GROUP_SHARE * total)
    ]
    findings = [_group_rates(ctx, column, groups, small, classes, total)]
    if small:
        findings.append(_small_groups(column, small, total))
    return findings


def _group_expression(ctx: AuditContext, column: str) -> tuple[str, list[str]]:
    """SQL giving each row's group label, and the labels' display order (empty: by size)."""
    q = quote_identifier(column)
    profile = ctx.profile.columns.get(column)
    if profile is not None and profile.kind == "numeric" and profile.distinct > 12:
        integer = "INT" in profile.dtype.upper()
        edges = _band_edges(profile.quantiles, integer=integer)
        if edges:
            labels = _band_labels(edges)
            cases = " ".join(
                f"WHEN {q} < {edge!r} THEN '{label}'"
                for edge, label in zip(edges, labels, strict=False)
            )
            expression = f"CASE WHEN {q} IS NULL THEN '{_MISSING}' {cases} ELSE '{labels[-1]}' END"
            return expression, labels
    return f"COALESCE(CAST({q} AS VARCHAR), '{_MISSING}')", []


def _band_edges(quantiles: dict[str, float], *, integer: bool) -> list[float]:
    values = [quantiles[k] for k in ("q25", "q50", "q75") if quantiles.get(k) is not None]
    rounded = [float(round(v)) if integer else float(f"{v:.3g}") for v in values]
    return sorted(set(rounded))


def _band_labels(edges: list[float]) -> list[str]:
    shown = [f"{e:g}" for e in edges]
    labels = [f"under {shown[0]}"]
    labels += [f"{low} to under {high}" for low, high in zip(shown, shown[1:], strict=False)]
    labels.append(f"{shown[-1]} and over")
    return labels


def _group_stats(ctx: AuditContext, column: str, classes: TargetClasses | None) -> list[GroupStats]:
    expression, order = _group_expression(ctx, column)
    t = quote_identifier(ctx.charter.target)
    parameters: list[Any] = []
    if classes is not None:
        marks = ", ".join("?" for _ in classes.positive)
        outcome = f"count_if({t} IN ({marks})), NULL, NULL"
        parameters = list(classes.positive)
    else:
        x = f"TRY_CAST({t} AS DOUBLE)"
        outcome = f"0, avg({x}), var_samp({x})"
    rows = ctx.dataset.sql(
        f"SELECT {expression} AS g, count(*), count({t}), {outcome} FROM {DATASET} GROUP BY 1",
        parameters,
    )
    groups = [
        GroupStats(str(g), int(n), int(known), int(pos or 0), _float(mean), _float(var))
        for g, n, known, pos, mean, var in rows
    ]
    if order:
        rank = {label: i for i, label in enumerate([*order, _MISSING])}
        return sorted(groups, key=lambda g: rank.get(g.group, len(rank)))
    groups.sort(key=lambda g: (g.group == _MISSING, -g.rows, g.group))
    if len(groups) > _MAX_GROUPS:
        kept, rest = groups[:_MAX_GROUPS], groups[_MAX_GROUPS:]
        groups = [*kept, _pool(_OTHER, rest)]
    return groups


def _pool(name: str, groups: list[GroupStats]) -> GroupStats:
    known = sum(g.known for g in groups)
    parts = [(g.known, g.mean, g.variance or 0.0) for g in groups if g.mean is not None and g.known]
    mean = variance = None
    if parts:
        n = sum(k for k, _, _ in parts)
        mean = sum(k * m for k, m, _ in parts if m is not None) / n
        squares = sum((k - 1) * v + k * ((m or 0.0) - mean) ** 2 for k, m, v in parts)
        variance = squares / (n - 1) if n > 1 else 0.0
    return GroupStats(
        name, sum(g.rows for g in groups), known, sum(g.positives for g in groups), mean, variance
    )


def _group_rates(
    ctx: AuditContext,
    column: str,
    groups: list[GroupStats],
    small: list[GroupStats],
    classes: TargetClasses | None,
    total: int,
) -> Finding:
    task = "classification" if classes is not None else "regression"
    small_names = {g.group for g in small}
    evaluable = [
        g
        for g in groups
        if g.group not in small_names and g.group != _MISSING and g.rate(task) is not None
    ]
    table = [
        {
            "group": g.group,
            "rows": g.rows,
            "share": round(g.rows / total, 4) if total else 0.0,
            "rate": _round(g.rate(task)),
            "evaluable": g in evaluable,
        }
        for g in groups
    ]
    threshold = ctx.charter.constraints.max_fairness_gap
    threshold = DEFAULT_MAX_GAP if threshold is None else threshold
    what = f"share of {classes.positive_label!r}" if classes else f"mean {ctx.charter.target!r}"
    evidence: dict[str, Any] = {
        "column": column,
        "metric": "positive_rate" if classes else "mean_target",
        "positive_class": classes.positive_label if classes else None,
        "groups": table,
        "threshold": threshold,
    }
    if len(evaluable) < 2:
        return Finding(
            check="bias.group_rates",
            severity=Severity.INFO,
            columns=(column,),
            message=(
                f"{column!r}: fewer than two groups are large enough to compare the {what} "
                f"({len(groups)} group(s) in all)."
            ),
            recommendation="Collect more rows for each group before judging fairness.",
            evidence=evidence | {"gap": None, "p_value": None},
        )
    high = max(evaluable, key=lambda g: (g.rate(task) or 0.0, g.group))
    low = min(evaluable, key=lambda g: (g.rate(task) or 0.0, g.group))
    high_rate, low_rate = high.rate(task) or 0.0, low.rate(task) or 0.0
    gap = high_rate - low_rate
    p_value = _p_value(evaluable, task)
    scale = _scale(groups) if task == "regression" else 1.0
    relative = gap / scale if scale else 0.0
    large = relative >= threshold and p_value is not None and p_value < SIGNIFICANCE
    evidence |= {
        "gap": round(gap, 6),
        "relative_gap": round(relative, 6) if task == "regression" else None,
        "highest": high.group,
        "lowest": low.group,
        "p_value": _round(p_value),
    }
    return Finding(
        check="bias.group_rates",
        severity=Severity.WARNING if large else Severity.INFO,
        columns=(column,),
        message=_rates_message(column, what, task, high, low, gap, relative, p_value, threshold),
        recommendation=(
            "Ask whether this difference reflects the world or how the data was collected: a model "
            "will learn it and may act on it. Check the model's errors per group before "
            "deployment, and decide with the owner whether the gap is acceptable."
            if large
            else "No action needed now; the model's errors per group are checked after training."
        ),
        evidence=evidence,
    )


def _rates_message(
    column: str,
    what: str,
    task: str,
    high: GroupStats,
    low: GroupStats,
    gap: float,
    relative: float,
    p_value: float | None,
    threshold: float,
) -> str:
    def shown(g: GroupStats) -> str:
        rate = g.rate(task) or 0.0
        value = f"{rate:.1%}" if task == "classification" else f"{rate:,.4g}"
        return f"{value} for {g.group!r} ({g.rows:,} rows)"

    size = f"{gap * 100:.1f} points" if task == "classification" else f"{relative:.0%} of the mean"
    chance = "" if p_value is None else f" (p = {p_value:.2g})"
    limit = f"{threshold * 100:g} points" if task == "classification" else f"{threshold:.0%}"
    if relative < threshold:
        verdict = f"within the {limit} limit"
    elif p_value is not None and p_value < SIGNIFICANCE:
        verdict = f"above the {limit} limit, and too large to be chance"
    else:
        verdict = f"above the {limit} limit, but chance alone could explain it on groups this size"
    return (
        f"{column!r}: the {what} ranges from {shown(low)} to {shown(high)}, "
        f"a difference of {size}{chance}: {verdict}."
    )


def _small_groups(column: str, small: list[GroupStats], total: int) -> Finding:
    listed = ", ".join(f"{g.group!r} ({g.rows:,} rows)" for g in small[:10])
    more = f" and {len(small) - 10} more" if len(small) > 10 else ""
    return Finding(
        check="bias.small_group",
        severity=Severity.WARNING,
        columns=(column,),
        message=(
            f"{column!r}: {len(small)} group(s) are too small to evaluate fairly "
            f"(under {MIN_GROUP_ROWS} rows or {MIN_GROUP_SHARE:.0%} of {total:,} rows): "
            f"{listed}{more}."
        ),
        recommendation=(
            "Results for these groups will be unreliable. Collect more data for them, or agree "
            "with the owner to merge them into a broader group before modelling."
        ),
        evidence={
            "column": column,
            "min_rows": MIN_GROUP_ROWS,
            "min_share": MIN_GROUP_SHARE,
            "groups": [{"group": g.group, "rows": g.rows} for g in small],
        },
    )


def _p_value(groups: list[GroupStats], task: str) -> float | None:
    if task == "classification":
        table = np.array([[g.positives, g.known - g.positives] for g in groups], dtype=float)
        if (table.sum(axis=0) == 0).any():
            return None
        return float(stats.chi2_contingency(table, correction=False).pvalue)
    parts = [(g.known, g.mean, g.variance or 0.0) for g in groups if g.mean is not None]
    return anova_p_value(
        [k for k, _, _ in parts], [m or 0.0 for _, m, _ in parts], [v for _, _, v in parts]
    )


def anova_p_value(counts: list[int], means: list[float], variances: list[float]) -> float | None:
    """One-way ANOVA p-value from each group's size, mean and sample variance.

    Example:
        >>> round(anova_p_value([3, 3], [2.0, 5.0], [1.0, 1.0]), 4)
        0.0213
    """
    k, n = len(counts), sum(counts)
    if k < 2 or n <= k:
        return None
    grand = sum(c * m for c, m in zip(counts, means, strict=True)) / n
    between = sum(c * (m - grand) ** 2 for c, m in zip(counts, means, strict=True)) / (k - 1)
    within = sum((c - 1) * v for c, v in zip(counts, variances, strict=True)) / (n - k)
    if within <= 0:
        return 0.0 if between > 0 else 1.0
    return float(stats.f.sf(between / within, k - 1, n - k))


def _scale(groups: list[GroupStats]) -> float:
    """Overall mean of the target (its standard deviation when the mean is about zero)."""
    pooled = _pool("all", [g for g in groups if g.mean is not None])
    mean = abs(pooled.mean or 0.0)
    return mean if mean > 1e-12 else math.sqrt(pooled.variance or 0.0)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
