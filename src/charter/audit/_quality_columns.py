"""Quality checks on columns carrying little or odd information.

Checks: quality.constant (one value in every row, or in `NEAR_CONSTANT_SHARE` of them),
quality.high_cardinality, quality.identifier and quality.outliers (beyond Tukey's fences).
"""

from __future__ import annotations

from typing import Any

from charter.audit._findings import Finding, Severity
from charter.audit._quality_plan import IDENTIFIER_SHARE, LISTED, Plan, id_like_name, is_sequence
from charter.audit._target import count, jsonable, share, show

__all__ = [
    "HIGH_CARDINALITY_DISTINCT",
    "HIGH_CARDINALITY_SHARE",
    "NEAR_CONSTANT_SHARE",
    "OUTLIER_INFO",
    "OUTLIER_WARNING",
    "find_constant",
    "find_high_cardinality",
    "find_identifiers",
    "find_outliers",
]

NEAR_CONSTANT_SHARE = 0.995
"""One value in 99.5% of rows or more: the column is near-constant."""

HIGH_CARDINALITY_DISTINCT = 100
HIGH_CARDINALITY_SHARE = 0.05
"""Text with over 100 distinct values, distinct in over 5% of rows, is high-cardinality."""

OUTLIER_WARNING = 0.01
OUTLIER_INFO = 0.001
"""Share of a column's values beyond the fences that makes a warning (1%) or an info (0.1%)."""


def find_constant(plan: Plan) -> list[Finding]:
    """quality.constant: columns with one value in every row, or in nearly all."""
    findings, rows = [], plan.rows
    for name, column in plan.columns.items():
        counts = plan.counts.get(name)
        top: tuple[Any, int]
        if name == plan.target or column.present == 0:
            continue
        if column.kind in {"numeric", "temporal"} and column.minimum == column.maximum:
            top = (column.minimum, column.present)
        elif counts:
            top = max(counts.items(), key=lambda kv: kv[1])
        elif name in plan.near_constant:
            top = (column.quantiles["q50"], int(plan.get(name, "at_median", 0)))
        else:
            continue
        value, n = top
        if n == column.present and column.missing_share < 1 - NEAR_CONSTANT_SHARE:
            empty = f" but {count(column.missing)} empty ones" if column.missing else ""
            message = f"'{name}' is {show(value)} in every row{empty}."
            severity = Severity.WARNING
            advice = "It carries no information: drop it, or find out why it never varies."
        elif n >= NEAR_CONSTANT_SHARE * rows:
            message = f"'{name}' is {show(value)} in {share(n, rows)} of rows (all but {count(rows - n)})."
            severity = Severity.INFO
            advice = (
                "It varies in so few rows that a model can hardly learn from it; keep it only if "
                "those rare rows matter to the business."
            )
        else:
            continue
        evidence = {"value": jsonable(value), "rows_with_value": n, "rows": rows, "share": n / rows}
        findings.append(Finding("quality.constant", severity, (name,), message, advice, evidence))
    return findings


def find_high_cardinality(plan: Plan) -> list[Finding]:
    """quality.high_cardinality: text with too few rows per distinct value."""
    findings = []
    identifiers = {
        n
        for n in plan.identifiers
        if plan.distinct(n) >= IDENTIFIER_SHARE * plan.columns[n].present
    }
    skip = plan.ctx.charter.special_columns | set(plan.text_types) | identifiers
    for name, column in plan.columns.items():
        distinct, present = column.distinct, column.present
        if column.kind != "categorical" or name in skip or distinct <= HIGH_CARDINALITY_DISTINCT:
            continue
        if distinct <= HIGH_CARDINALITY_SHARE * present:
            continue
        message = (
            f"'{name}' has about {count(distinct)} different values among {count(present)} "
            f"rows, about {present / distinct:.0f} rows per value."
        )
        advice = (
            "With so few rows per value a model learns each value by heart. Group rare values "
            "into 'other', use a coarser version (a region instead of a town), or drop the column."
        )
        top = [[jsonable(v), n] for v, n in column.top_values[:LISTED]]
        evidence = {"distinct": distinct, "present": present, "top_values": top}
        findings.append(
            Finding(
                "quality.high_cardinality", Severity.WARNING, (name,), message, advice, evidence
            )
        )
    return findings


def find_identifiers(plan: Plan) -> list[Finding]:
    """quality.identifier: columns with a different value in nearly every row."""
    findings = []
    for name in plan.identifiers:
        column, distinct = plan.columns[name], plan.distinct(name)
        if distinct < IDENTIFIER_SHARE * column.present:
            continue
        numeric = column.kind == "numeric"
        sequence = numeric and is_sequence(column)
        if sequence:
            kind = "a running number"
        else:
            kind = (
                "an identifier" if numeric or id_like_name(name) else "an identifier or free text"
            )
        message = (
            f"'{name}' has a different value in {share(distinct, column.present)} of its rows "
            f"({count(distinct)} distinct of {count(column.present)}): it looks like {kind}."
        )
        advice = (
            "An identifier cannot help predict new cases and lets a model memorise the training "
            f"rows. Leave '{name}' out of the data, or name it as data.entity in charter.yaml if "
            "it identifies what a row is about (a customer, an order)."
        )
        evidence = {"distinct": distinct, "present": column.present, "sequence": sequence}
        findings.append(
            Finding("quality.identifier", Severity.WARNING, (name,), message, advice, evidence)
        )
    return findings


def find_outliers(plan: Plan) -> list[Finding]:
    """quality.outliers: values beyond Tukey's fences, on a log scale when skewed."""
    findings = []
    for name, fences in plan.fences.items():
        column, codes = plan.columns[name], plan.edges[name].sentinels
        counted = {}
        for scale, (low, high) in fences.items():
            # sentinel codes beyond the fences are reported as codes, not as outliers
            beyond = sum(n for value, n in codes.items() if value < low or value > high)
            counted[scale] = int(plan.get(name, f"{scale} outliers", 0)) - beyond
        if not counted:
            continue
        scale = min(counted, key=lambda s: (counted[s], s != "raw"))
        outside, (low, high) = counted[scale], fences[scale]
        present = column.present - sum(codes.values())
        if present <= 0 or outside < max(2, OUTLIER_INFO * present):
            continue
        severity = Severity.WARNING if outside >= OUTLIER_WARNING * present else Severity.INFO
        skewed = " (judged on a log scale, as the values are skewed)" if scale == "log" else ""
        q25, q75 = column.quantiles["q25"], column.quantiles["q75"]
        message = (
            f"{share(outside, present)} of '{name}' ({count(outside)} rows) lie far outside its "
            f"usual range{skewed}: below {_number(low)} or above {_number(high)}, while half of "
            f"the values are between {_number(q25)} and {_number(q75)}."
        )
        advice = (
            "Look at a few of these rows. Correct typing or unit errors at the source; keep real "
            "extreme cases (tree models cope with them, linear ones may need them capped)."
        )
        evidence = {
            "outside": outside,
            "present": present,
            "share": outside / present,
            "low_fence": low,
            "high_fence": high,
            "scale": scale,
            "minimum": jsonable(column.minimum),
            "maximum": jsonable(column.maximum),
        }
        findings.append(Finding("quality.outliers", severity, (name,), message, advice, evidence))
    return findings


def _number(value: float) -> str:
    return show(float(f"{value:.4g}"))
