"""Target readiness: rows without an outcome, a single or a very rare class, a broken target.

Also holds the small pieces the quality checks share with it: how numbers and shares are
written in messages, which placeholder strings surely mean "missing", and how sentinel codes
(-1, 999, 9999...) and capped values are told apart from real values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.audit._profile import PLACEHOLDERS, ColumnProfile
from charter.data import DATASET, quote_identifier

__all__ = [
    "CAPPED_MIN_ROWS",
    "CAPPED_RATIO",
    "CAPPED_SHARE",
    "HARD_PLACEHOLDERS",
    "RARE_CLASS_ERROR_ROWS",
    "RARE_CLASS_ROWS",
    "RARE_CLASS_SHARE",
    "SENTINELS",
    "SENTINEL_GAP",
    "SENTINEL_MIN_ROWS",
    "SOFT_PLACEHOLDERS",
    "TARGET_MISSING_ERROR",
    "check_target",
    "count",
    "is_capped",
    "is_sentinel",
    "share",
    "show",
]

SOFT_PLACEHOLDERS = frozenset({"none", "unknown"})
"""Placeholders that are often a genuine answer ('none': no telephone): never counted missing."""

HARD_PLACEHOLDERS = tuple(p for p in PLACEHOLDERS if p not in SOFT_PLACEHOLDERS)
"""Placeholder tokens (trimmed, lower-cased) that surely mean a value is missing."""

SENTINELS = (-1.0, -9.0, -99.0, -999.0, -9999.0, -99999.0, 99.0, 999.0, 9999.0, 99999.0, 999999.0)
"""Numbers commonly typed in place of a missing value."""

SENTINEL_MIN_ROWS = 3
"""A sentinel is a repeated code: one or two odd values are outliers, not a code."""

SENTINEL_GAP = 0.5
"""A high (or low) code lies beyond the other values by this many times their own width."""

CAPPED_SHARE = 0.005
"""A value at the very maximum (or minimum) held by this share of rows or more may be a cap..."""

CAPPED_RATIO = 5.0
"""...when it is this many times as frequent as the values just inside it..."""

CAPPED_MIN_ROWS = 10
"""...and held by at least this many rows."""

CAPPED_MIN_DISTINCT = 20
"""Caps are only looked for in columns with many distinct values (not codes or small counts)."""

TARGET_MISSING_ERROR = 0.2
"""Rows without a target are an error from this share up, a warning below."""

RARE_CLASS_SHARE = 0.01
RARE_CLASS_ROWS = 50
"""A class under 1% of rows or under 50 rows is rare: a model sees too few examples of it."""

RARE_CLASS_ERROR_ROWS = 10
"""A class with fewer rows than this cannot be learned or even measured."""

_NEAR_CONSTANT_SHARE = 0.995
_LISTED = 5


# -- how numbers appear in messages -------------------------------------------------------------


def count(n: int) -> str:
    """A count with thousands separators: 12,345."""
    return f"{n:,}"


def share(part: float, whole: float = 1.0) -> str:
    """A share as a percentage a reader takes in at a glance: 12%, 1.5%, 0.03%, <0.01%."""
    value = 100 * part / whole if whole else 0.0
    if value == 0:
        return "0%"
    if value < 0.01:
        return "<0.01%"
    if value < 1:
        return f"{value:.2g}%"
    if value < 10:
        return f"{value:.1f}".rstrip("0").rstrip(".") + "%"
    if 99 < value < 100:  # never round a share short of all to "100%"
        return f"{min(value, 99.9):.1f}%"
    return f"{value:.0f}%"


def show(value: Any) -> str:
    """A value as it is written in a message: text quoted, whole numbers without decimals."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def jsonable(value: Any) -> Any:
    """A value fit for a finding's evidence (JSON): numbers and text stay, others become text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


# -- sentinel codes and caps (pure) -------------------------------------------------------------


def sentinel_candidates(column: ColumnProfile) -> list[float]:
    """The column's minimum and maximum when they are a usual sentinel code."""
    if column.kind != "numeric" or column.minimum is None or column.maximum is None:
        return []
    edges = {float(column.minimum), float(column.maximum)}
    return sorted(v for v in edges if v in SENTINELS)


def is_sentinel(value: float, rows: int, rest_min: float | None, rest_max: float | None) -> bool:
    """Whether `value`, found in `rows` rows, is a code rather than a measurement.

    `rest_min` and `rest_max` bound the column's other values. The value must repeat, lie
    beyond the others, and betray itself: a negative code in an otherwise non-negative
    column, or a code far from the others (by `SENTINEL_GAP` times their own width).
    """
    if rows < SENTINEL_MIN_ROWS or rest_min is None or rest_max is None:
        return False
    width = rest_max - rest_min
    if value < rest_min:
        if value < 0 <= rest_min:
            return True
        return width > 0 and rest_min - value >= SENTINEL_GAP * width
    if value > rest_max:
        return width > 0 and value - rest_max >= SENTINEL_GAP * width
    return False


def is_capped(edge_rows: int, present: int, near_rows: int, near_values: float) -> bool:
    """Whether a value at the column's edge held by `edge_rows` rows looks like a cap.

    A cap (incomes "15 or more", prices "500,001 or more") shows as one value at the very end
    of the range far more frequent than the values just inside it: `near_rows` rows holding
    `near_values` distinct values.
    """
    if edge_rows < CAPPED_MIN_ROWS or edge_rows < CAPPED_SHARE * present:
        return False
    typical = near_rows / max(near_values, 1.0)
    return edge_rows >= CAPPED_RATIO * max(typical, 1.0)


@dataclass(frozen=True)
class EdgeFacts:
    """What the data says about a numeric column's edges: sentinel codes and caps."""

    sentinels: dict[float, int]  # confirmed code -> rows
    rest_min: float | None
    rest_max: float | None
    capped: dict[str, tuple[float, int]]  # "maximum"/"minimum" -> (value, rows)


def edge_expressions(column: ColumnProfile) -> dict[str, str]:
    """SQL aggregates (keyed by statistic) that `edge_facts` needs for one numeric column."""
    q = quote_identifier(column.name)
    candidates = sentinel_candidates(column)
    edges = set(candidates)
    for value, bin_rows in _edge_bins(column).values():
        # the edge bin holds the edge value: a bin this sparse cannot hide a cap
        if value != 0 and bin_rows >= max(CAPPED_MIN_ROWS, CAPPED_SHARE * column.present):
            edges.add(value)
    expressions = {f"at {value!r}": f"count_if({q} = {value!r})" for value in sorted(edges)}
    if candidates:
        excluded = ", ".join(repr(v) for v in candidates)
        expressions["rest_min"] = f"min({q}) FILTER (WHERE {q} NOT IN ({excluded}))"
        expressions["rest_max"] = f"max({q}) FILTER (WHERE {q} NOT IN ({excluded}))"
    return expressions


def _edge_bins(column: ColumnProfile) -> dict[str, tuple[float, int]]:
    """The column's extreme values with the row count of the histogram bin holding each."""
    if column.distinct < CAPPED_MIN_DISTINCT or len(column.histogram) < 2:
        return {}
    first, last = column.histogram[0], column.histogram[-1]
    return {
        "minimum": (float(column.minimum), first[2]),
        "maximum": (float(column.maximum), last[2]),
    }


def edge_facts(column: ColumnProfile, results: dict[str, Any]) -> EdgeFacts:
    """Judge a column's edges from the results of `edge_expressions` and the profile's histogram.

    Next to a cap, the values in the edge's histogram bin are assumed spread like the column's
    distinct values over its range: `distinct * bin width / range` of them.
    """
    rest_min = _float(results.get("rest_min"))
    rest_max = _float(results.get("rest_max"))
    sentinels = {}
    for value in sentinel_candidates(column):
        rows = int(results.get(f"at {value!r}") or 0)
        if is_sentinel(value, rows, rest_min, rest_max):
            sentinels[value] = rows
    capped = {}
    span = float(column.maximum) - float(column.minimum) if column.minimum is not None else 0.0
    for edge, (value, bin_rows) in _edge_bins(column).items():
        rows = int(results.get(f"at {value!r}") or 0)
        if value in sentinels or rows == 0 or span <= 0:
            continue
        left, right, _ = column.histogram[0 if edge == "minimum" else -1]
        near_values = column.distinct * (right - left) / span - 1
        if is_capped(rows, column.present, bin_rows - rows, near_values):
            capped[edge] = (value, rows)
    return EdgeFacts(sentinels, rest_min, rest_max, capped)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def sentinel_message(name: str, value: float, rows: int, total: int, facts: EdgeFacts) -> str:
    """Plain words for a sentinel code found in a column."""
    return (
        f"'{name}' holds {show(value)} in {count(rows)} rows ({share(rows, total)}), far from "
        f"its other values ({show(facts.rest_min)} to {show(facts.rest_max)}): it looks like a code for "
        "'unknown' rather than a real value."
    )


# -- the target checks --------------------------------------------------------------------------


def check_target(ctx: AuditContext) -> list[Finding]:
    """Findings about the target: missing outcomes, single or rare classes, a broken target.

    Checks: target.missing, .single_class, .rare_class, .positive_class (classification);
    .not_numeric, .constant, .sentinel, .capped (regression). A target absent from the data
    is reported elsewhere (target.not_found): nothing is returned then.
    """
    column = ctx.profile.columns.get(ctx.charter.target)
    if column is None or column.rows == 0:
        return []
    results = _scan(ctx, column)
    findings = _missing(column, results)
    if ctx.task == "classification":
        findings += _classes(ctx, column, results)
    else:
        findings += _regression(column, results)
    return findings


def _scan(ctx: AuditContext, column: ColumnProfile) -> dict[str, Any]:
    """One query over the target column for what the profile does not hold."""
    q = quote_identifier(column.name)
    expressions: dict[str, str] = {}
    if column.dtype.upper() in {"FLOAT", "DOUBLE", "REAL"}:
        expressions["nan"] = f"count_if(isnan({q}))"
    if column.kind == "categorical":
        tokens = ", ".join("'" + t.replace("'", "''") + "'" for t in HARD_PLACEHOLDERS)
        expressions["placeholders"] = f"count_if(lower(trim({q}::VARCHAR)) IN ({tokens}))"
    if ctx.task == "classification" and column.value_counts is None:
        expressions["classes"] = f"histogram({q})"
    if ctx.task == "regression" and column.kind == "numeric":
        expressions.update(edge_expressions(column))
        if (
            column.quantiles.get("q01") == column.quantiles.get("q99")
            and column.minimum != column.maximum
        ):
            expressions["at_median"] = f"count_if({q} = {float(column.quantiles['q50'])!r})"
    if not expressions:
        return {}
    row = ctx.dataset.sql(f"SELECT {', '.join(expressions.values())} FROM {DATASET}")[0]
    return dict(zip(expressions, row, strict=True))


def _missing(column: ColumnProfile, results: dict[str, Any]) -> list[Finding]:
    nulls = column.missing
    placeholders = int(results.get("placeholders") or 0)
    nan = int(results.get("nan") or 0)
    missing = nulls + placeholders + nan
    if missing == 0:
        return []
    parts = ((nulls, "empty"), (placeholders, "placeholder text"), (nan, "NaN"))
    how = ", ".join(f"{count(n)} {what}" for n, what in parts if n)
    message = (
        f"{count(missing)} rows ({share(missing, column.rows)}) have no value for the target "
        f"'{column.name}' ({how})."
    )
    advice = (
        "Rows without a known outcome cannot teach the model and are left out of training. Find "
        "out why the outcome is missing: if it is missing for a reason (for example, cases still "
        "open), leaving those rows out can bias the model."
    )
    severity = Severity.WARNING
    if missing >= TARGET_MISSING_ERROR * column.rows:
        severity, advice = Severity.ERROR, advice + " With this many, fix it before modelling."
    evidence = {
        "rows": column.rows,
        "missing": missing,
        "empty": nulls,
        "placeholders": placeholders,
        "nan": nan,
        "share": missing / column.rows,
    }
    return [Finding("target.missing", severity, (column.name,), message, advice, evidence)]


def _class_counts(column: ColumnProfile, results: dict[str, Any]) -> dict[Any, int]:
    pairs: Iterable[tuple[Any, int]] = column.value_counts or ()
    if column.value_counts is None:
        pairs = (results.get("classes") or {}).items()
    return {
        value: int(n)
        for value, n in pairs
        if not (isinstance(value, str) and value.strip().lower() in HARD_PLACEHOLDERS)
        and not (isinstance(value, float) and math.isnan(value))
    }


def _classes(ctx: AuditContext, column: ColumnProfile, results: dict[str, Any]) -> list[Finding]:
    classes = _class_counts(column, results)
    labelled, name = sum(classes.values()), column.name
    if labelled == 0:
        return []
    ranked = sorted(classes.items(), key=lambda kv: -kv[1])
    evidence: dict[str, Any] = {"rows": labelled, "classes": {str(k): n for k, n in ranked[:50]}}
    if len(classes) == 1:
        message = f"Every row with a target has the same '{name}': {show(ranked[0][0])}."
        advice = (
            "There is nothing to predict. Check the data extract: it probably kept one kind of "
            "outcome only (for example only customers who stayed). Add rows with the others."
        )
        return [Finding("target.single_class", Severity.ERROR, (name,), message, advice, evidence)]
    tiny = {k: n for k, n in classes.items() if n < RARE_CLASS_ERROR_ROWS}
    rare = {
        k: n
        for k, n in classes.items()
        if k not in tiny and (n < RARE_CLASS_ROWS or n < RARE_CLASS_SHARE * labelled)
    }
    findings = []
    for severity, group in ((Severity.ERROR, tiny), (Severity.WARNING, rare)):
        if not group:
            continue
        smallest = sorted(group.items(), key=lambda kv: (kv[1], str(kv[0])))
        listed = ", ".join(
            f"{show(k)} ({count(n)} rows, {share(n, labelled)})" for k, n in smallest[:_LISTED]
        )
        more = f" and {len(smallest) - _LISTED} more" if len(smallest) > _LISTED else ""
        several = len(smallest) > 1
        message = (
            f"{'Classes' if several else 'Class'} {listed}{more} of '{name}' "
            f"{'are' if several else 'is'} rare among {count(labelled)} labelled rows."
        )
        if severity == Severity.ERROR:
            advice = (
                f"Fewer than {RARE_CLASS_ERROR_ROWS} examples can be neither learned nor tested. "
                "Collect more examples, merge the class with a related one, or leave it out of "
                "the project's scope."
            )
        else:
            advice = (
                "A model sees few examples of this outcome, so its predictions for it will be "
                "unreliable. Collect more examples if you can, or merge it with a related class; "
                "judge the model on this class separately."
            )
        rare_evidence = {**evidence, "rare": {str(k): n for k, n in smallest}}
        findings.append(
            Finding("target.rare_class", severity, (name,), message, advice, rare_evidence)
        )
    return findings + _positive_class(ctx, column, classes)


def _positive_class(
    ctx: AuditContext, column: ColumnProfile, classes: dict[Any, int]
) -> list[Finding]:
    wanted = ctx.charter.positive_class
    if wanted is None or _label(wanted) in {_label(k) for k in classes}:
        return []
    values = ", ".join(show(k) for k in sorted(classes, key=lambda k: -classes[k])[:_LISTED])
    message = (
        f"The charter's positive_class {show(wanted)} never occurs in '{column.name}', whose "
        f"values are {values}."
    )
    advice = "Set positive_class in charter.yaml to the value that marks the outcome you act on."
    evidence = {"positive_class": jsonable(wanted), "values": [jsonable(k) for k in classes][:50]}
    return [
        Finding("target.positive_class", Severity.ERROR, (column.name,), message, advice, evidence)
    ]


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _regression(column: ColumnProfile, results: dict[str, Any]) -> list[Finding]:
    name = column.name
    if column.kind != "numeric":
        message = f"The task is regression but the target '{name}' holds {column.dtype} values, not numbers."
        advice = (
            "Store the target as numbers (clean any text such as units or thousands separators), "
            "or set task: classification in charter.yaml if it names categories."
        )
        evidence: dict[str, Any] = {"dtype": column.dtype}
        return [Finding("target.not_numeric", Severity.ERROR, (name,), message, advice, evidence)]
    if column.present == 0:
        return []
    if column.minimum == column.maximum:
        message = f"The target '{name}' is {show(column.minimum)} in every row: there is nothing to predict."
        advice = "Check the data extract: the outcome column seems filled with a default value."
        evidence = {"value": jsonable(column.minimum), "rows": column.present}
        return [Finding("target.constant", Severity.ERROR, (name,), message, advice, evidence)]
    findings = []
    usual, at_usual = column.quantiles.get("q50"), int(results.get("at_median") or 0)
    if at_usual >= _NEAR_CONSTANT_SHARE * column.present:
        message = (
            f"The target '{name}' is {show(usual)} in {share(at_usual, column.present)} of rows "
            f"({count(at_usual)} of {count(column.present)}): a model can hardly do better than "
            f"always predicting {show(usual)}."
        )
        advice = (
            "Check that the outcome is recorded for every case. If other values really are this "
            "rare, consider predicting whether the outcome differs from the usual one."
        )
        evidence = {"value": jsonable(usual), "rows": at_usual, "present": column.present}
        findings.append(
            Finding("target.constant", Severity.WARNING, (name,), message, advice, evidence)
        )
    facts = edge_facts(column, results)
    for value, rows in facts.sentinels.items():
        message = sentinel_message(name, value, rows, column.rows, facts)
        advice = (
            f"Ask the data owner what {show(value)} means in '{name}'. If it stands for an unknown "
            "outcome, blank it; otherwise the model learns to predict the code."
        )
        evidence = {
            "value": value,
            "rows": rows,
            "share": rows / column.rows,
            "other_min": facts.rest_min,
            "other_max": facts.rest_max,
        }
        findings.append(
            Finding("target.sentinel", Severity.WARNING, (name,), message, advice, evidence)
        )
    for edge, (value, rows) in facts.capped.items():
        word, side = ("capped", "above") if edge == "maximum" else ("floored", "below")
        message = (
            f"{count(rows)} rows ({share(rows, column.present)}) of the target '{name}' sit exactly "
            f"at its {edge}, {show(value)}: the outcome looks {word} there."
        )
        advice = (
            f"The true values of these rows are probably {side} {show(value)}, so a model cannot "
            "learn them and will not predict beyond it. Get the true values if you can; otherwise "
            "drop these rows or accept the limit."
        )
        evidence = {"edge": edge, "value": value, "rows": rows, "present": column.present}
        findings.append(
            Finding("target.capped", Severity.WARNING, (name,), message, advice, evidence)
        )
    return findings
