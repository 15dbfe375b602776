"""Data quality: missing values, codes for 'unknown', wrong types, duplicates, odd columns.

The profile answers most questions; the rest are aggregates that every check adds to one
query over the data (`_Scan`), so the whole pass costs about one scan more than the profile.
Only when a problem is found, or two columns must be compared, does a check run a small
second query.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.audit._profile import ColumnProfile
from charter.audit._target import (
    HARD_PLACEHOLDERS,
    SOFT_PLACEHOLDERS,
    EdgeFacts,
    check_target,
    count,
    edge_expressions,
    edge_facts,
    jsonable,
    sentinel_message,
    share,
    show,
)
from charter.data import DATASET, quote_identifier

__all__ = [
    "HIGH_CARDINALITY_DISTINCT",
    "HIGH_CARDINALITY_SHARE",
    "IDENTIFIER_SHARE",
    "MISSING_ERROR",
    "MISSING_WARNING",
    "NEAR_CONSTANT_SHARE",
    "OUTLIER_INFO",
    "OUTLIER_IQR",
    "OUTLIER_WARNING",
    "TEXT_TYPE_SHARE",
    "check_quality",
    "check_target",
    "iqr_fences",
    "placeholder_counts",
    "spelling_groups",
]

MISSING_WARNING = 0.05
"""A column missing in at least 5% of rows (empty or placeholder text) is a warning; fewer, info."""

MISSING_ERROR = 0.5
"""A column missing in at least half of the rows is an error: decide what to do with it first."""

TEXT_TYPE_SHARE = 0.9
"""Text is a number (or date) when this share of its non-placeholder values parse as one."""

NEAR_CONSTANT_SHARE = 0.995
"""One value in at least 99.5% of rows: the column is near-constant."""

HIGH_CARDINALITY_DISTINCT = 100
HIGH_CARDINALITY_SHARE = 0.05
"""Text with over 100 distinct values, and distinct in over 5% of rows, is high-cardinality."""

IDENTIFIER_SHARE = 0.95
"""Text or whole numbers distinct in 95% of their filled rows look like an identifier."""

IDENTIFIER_MIN_ROWS = 20
"""Below this many rows every column looks unique; identifiers are not looked for."""

OUTLIER_IQR = 3.0
"""Outliers lie beyond the quartiles by more than 3 IQR (Tukey's 'far out' fences)."""

OUTLIER_WARNING = 0.01
OUTLIER_INFO = 0.001
"""Share of a column's values beyond the fences that makes a warning (1%) or an info (0.1%)."""

# Approximate distinct counts (HyperLogLog) can be ~15% off: prefilter loosely, verify exactly.
_APPROX_SLACK = 0.75
_OUTLIER_MIN_DISTINCT = 10
# A column with a distinct value in most rows is one-to-one with anything: not compared.
_REENCODING_MAX_SHARE = 0.5
_REENCODING_TOLERANCE = 0.2
_REENCODING_MAX_PAIRS = 30
_REENCODING_PREFIX = 50_000
_COUNTS_LIMIT = 1000  # at most this many distinct values: the profile holds full value counts
_LISTED = 5
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
_ID_WORDS = {"id", "ids", "uuid", "guid", "key", "ref", "reference", "number", "nr", "no", "code"}


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


_HARD_SQL = _sql_list(HARD_PLACEHOLDERS)


# -- pure helpers -------------------------------------------------------------------------------


def placeholder_counts(value_counts: Iterable[tuple[Any, int]]) -> dict[str, int]:
    """The values (as written) that mean missing, hard or soft, with their counts."""
    tokens = set(HARD_PLACEHOLDERS) | SOFT_PLACEHOLDERS
    return {
        v: int(n) for v, n in value_counts if isinstance(v, str) and v.strip().lower() in tokens
    }


def _normal_spelling(value: str) -> str:
    return " ".join(value.split()).lower()


def spelling_groups(value_counts: Iterable[tuple[Any, int]]) -> list[dict[str, int]]:
    """Groups of text values that differ only by case or spaces ('Yes', 'yes ', 'YES').

    Each group maps its variants to their counts, most frequent first; groups are ordered by
    size. Placeholders (blank, 'N/A'...) are left to the placeholder check.
    """
    groups: dict[str, dict[str, int]] = {}
    for value, n in value_counts:
        if isinstance(value, str) and value.strip().lower() not in HARD_PLACEHOLDERS:
            groups.setdefault(_normal_spelling(value), {})[value] = int(n)
    found = [
        dict(sorted(g.items(), key=lambda kv: (-kv[1], kv[0])))
        for g in groups.values()
        if len(g) > 1
    ]
    return sorted(found, key=lambda g: -sum(g.values()))


def iqr_fences(q25: float, q75: float, k: float = OUTLIER_IQR) -> tuple[float, float]:
    """Tukey's fences: values below q25 - k*IQR or above q75 + k*IQR are outliers."""
    spread = q75 - q25
    return q25 - k * spread, q75 + k * spread


def _log_fences(q25: float, q75: float, shift: float) -> tuple[float, float]:
    """Fences on log(x + shift), mapped back: a skewed positive column judged on its log scale.

    Quantiles commute with monotone maps, so the log-scale quartiles are the logs of the quartiles.
    """
    low, high = iqr_fences(math.log(q25 + shift), math.log(q75 + shift))
    return math.exp(low) - shift, math.exp(high) - shift


# -- one scan collecting every check's aggregates -----------------------------------------------


@dataclass
class _Scan:
    """Aggregates keyed by (column, statistic), computed together in one query over the data."""

    expressions: dict[tuple[str, str], str] = field(default_factory=dict)
    results: dict[tuple[str, str], Any] = field(default_factory=dict)

    def add(self, column: str, statistic: str, sql: str) -> None:
        self.expressions[(column, statistic)] = sql

    def get(self, column: str, statistic: str, default: Any = None) -> Any:
        value = self.results.get((column, statistic))
        return default if value is None else value

    def run(self, ctx: AuditContext) -> None:
        if not self.expressions:
            return
        row = ctx.dataset.sql(f"SELECT {', '.join(self.expressions.values())} FROM {DATASET}")[0]
        self.results = dict(zip(self.expressions, row, strict=True))


@dataclass
class _Plan:
    """Which columns each check looks at, decided from the profile before the scan."""

    ctx: AuditContext
    scan: _Scan = field(default_factory=_Scan)
    low_counts: dict[str, dict[Any, int]] = field(default_factory=dict)  # full value counts
    text_types: dict[str, str] = field(default_factory=dict)  # column -> "number" or "date"
    high_text: list[str] = field(default_factory=list)  # text columns without value counts
    identifiers: list[str] = field(default_factory=list)
    near_constant: list[str] = field(default_factory=list)
    outliers: dict[str, tuple[float, float, tuple[float, float] | None]] = field(
        default_factory=dict
    )
    edges: dict[str, EdgeFacts] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, ColumnProfile]:
        return self.ctx.profile.columns

    @property
    def target(self) -> str:
        return self.ctx.charter.target

    @property
    def special(self) -> set[str]:
        return self.ctx.charter.special_columns

    def tokens(self, name: str) -> dict[str, int]:
        """Placeholder values of a text column with their counts."""
        if name in self.low_counts:
            return placeholder_counts(self.low_counts[name].items())
        return {str(k): int(v) for k, v in self.scan.get(name, "tokens", {}).items()}

    def hard_placeholders(self, name: str) -> int:
        return sum(
            n for v, n in self.tokens(name).items() if v.strip().lower() not in SOFT_PLACEHOLDERS
        )


def check_quality(ctx: AuditContext) -> list[Finding]:
    """Findings about the data's quality, column by column and across columns.

    Checks: quality.missing, quality.placeholder, quality.sentinel, quality.capped,
    quality.type_as_text, quality.duplicate_rows, quality.duplicate_entity, quality.constant,
    quality.reencoding, quality.high_cardinality, quality.identifier, quality.outliers,
    quality.spelling. Target problems are `check_target`'s.
    """
    if ctx.profile.rows == 0:
        return []
    plan = _prepare(ctx)
    plan.scan.run(ctx)
    for name, column in plan.columns.items():
        if column.kind == "numeric" and name not in plan.special:
            plan.edges[name] = edge_facts(column, _edge_results(plan.scan, name))
    text = _text_types(plan)
    return [
        *_missing(plan),
        *_placeholders(plan),
        *_sentinels(plan),
        *text,
        *_duplicate_rows(plan),
        *_duplicate_entity(plan),
        *_constant(plan),
        *_reencoding(plan),
        *_high_cardinality(plan),
        *_identifiers(plan),
        *_outliers(plan),
        *_spelling(plan),
    ]


def _edge_results(scan: _Scan, name: str) -> dict[str, Any]:
    return {stat: value for (column, stat), value in scan.results.items() if column == name}


def _prepare(ctx: AuditContext) -> _Plan:
    plan = _Plan(ctx)
    scan = plan.scan
    for name, column in plan.columns.items():
        q = quote_identifier(name)
        if column.dtype.upper() in _FLOAT_TYPES and _may_hold_nan(column):
            scan.add(name, "nan", f"count_if(isnan({q}))")
        if column.value_counts is not None:
            plan.low_counts[name] = dict(column.value_counts)
        if column.kind == "categorical":
            _prepare_text(plan, column)
        if column.kind == "numeric" and name not in plan.special:
            for statistic, sql in edge_expressions(column).items():
                scan.add(name, statistic, sql)
            _prepare_numeric(plan, column)
    eligible = _reencoding_eligible(plan)
    for column in eligible:
        if column.kind in {"numeric", "temporal"} and column.distinct <= _COUNTS_LIMIT:
            if any(_close(column.distinct, other.distinct) for other in eligible if other != column):
                scan.add(column.name, "histogram", f"histogram({quote_identifier(column.name)})")
    columns = [quote_identifier(c) for c in plan.columns]
    scan.add("", "distinct_rows", f"count(DISTINCT hash({', '.join(columns)}))")
    entity, time = ctx.charter.data.entity, ctx.charter.data.time
    if entity in plan.columns:
        e = quote_identifier(entity)
        scan.add(entity, "distinct", f"count(DISTINCT {e})")
        if time in plan.columns:
            pair = f"hash({e}, {quote_identifier(time)})"
            scan.add(
                entity,
                "distinct_with_time",
                f"count(DISTINCT {pair}) FILTER (WHERE {e} IS NOT NULL)",
            )
    return plan


def _may_hold_nan(column: ColumnProfile) -> bool:
    """NaN sorts above every number in DuckDB and spoils the mean: the profile betrays it."""
    maximum = column.maximum
    nan_maximum = isinstance(maximum, float) and math.isnan(maximum)
    return nan_maximum or (column.present > 0 and column.mean is None)


def _prepare_text(plan: _Plan, column: ColumnProfile) -> None:
    name, q, scan = column.name, quote_identifier(column.name), plan.scan
    value = f"trim({q}::VARCHAR)"
    if name not in plan.low_counts:
        plan.high_text.append(name)
        if column.placeholders:
            tokens = _sql_list((*HARD_PLACEHOLDERS, *SOFT_PLACEHOLDERS))
            scan.add(name, "tokens", f"histogram({q}) FILTER (WHERE lower({value}) IN ({tokens}))")
        scan.add(name, "distinct_exact", f"count(DISTINCT {q})")
        scan.add(
            name,
            "distinct_spelling",
            f"count(DISTINCT lower(regexp_replace({value}, '\\s+', ' ', 'g')))",
        )
    base = column.present - column.placeholders
    if base > 0:
        for kind, parsed, cast in (
            ("number", column.numeric_text, "DOUBLE"),
            ("date", column.temporal_text, "TIMESTAMP"),
        ):
            if parsed >= TEXT_TYPE_SHARE * base:
                plan.text_types[name] = kind
                if name not in plan.low_counts:
                    bad = f"TRY_CAST({value} AS {cast}) IS NULL AND lower({value}) NOT IN ({_HARD_SQL})"
                    scan.add(
                        name, "offenders", f"approx_top_k({q}, {_LISTED}) FILTER (WHERE {bad})"
                    )
                    scan.add(
                        name, "leading_zeros", f"count_if(regexp_matches({value}, '^[+-]?0[0-9]'))"
                    )
                break
    if (
        name not in plan.special
        and column.present >= IDENTIFIER_MIN_ROWS
        and column.distinct >= _APPROX_SLACK * IDENTIFIER_SHARE * column.present
        and plan.text_types.get(name) != "date"
    ):
        plan.identifiers.append(name)
        if name in plan.low_counts:  # exact count known
            return
        scan.add(name, "distinct_exact", f"count(DISTINCT {q})")


def _prepare_numeric(plan: _Plan, column: ColumnProfile) -> None:
    name, q, scan = column.name, quote_identifier(column.name), plan.scan
    quantiles = column.quantiles
    if (
        column.minimum is not None
        and column.minimum != column.maximum
        and quantiles.get("q01") == quantiles.get("q99")
    ):
        plan.near_constant.append(name)
        scan.add(name, "at_median", f"count_if({q} = {float(quantiles['q50'])!r})")
    if (
        column.dtype.upper() in _INTEGER_TYPES
        and column.present >= IDENTIFIER_MIN_ROWS
        and column.distinct >= _APPROX_SLACK * IDENTIFIER_SHARE * column.present
        and (
            _id_like_name(name)
            or float(column.maximum) - float(column.minimum) + 1 <= 2 * column.present
        )
    ):
        plan.identifiers.append(name)
        scan.add(name, "distinct_exact", f"count(DISTINCT {q})")
    q25, q75 = quantiles.get("q25"), quantiles.get("q75")
    if (
        column.distinct > _OUTLIER_MIN_DISTINCT
        and q25 is not None
        and q75 is not None
        and q75 > q25
    ):
        low, high = iqr_fences(q25, q75)
        minimum, maximum = float(column.minimum), float(column.maximum)
        log: tuple[float, float] | None = None
        if minimum >= 0:
            log = _log_fences(q25, q75, 0.0 if minimum > 0 and q25 > 0 else 1.0)
        fences = {"outliers": (low, high), "log_outliers": log}
        for statistic, bounds in fences.items():
            # nothing lies beyond fences that hold the extremes: no need to count
            if bounds is not None and (minimum < bounds[0] or maximum > bounds[1]):
                scan.add(name, statistic, f"count_if({q} < {bounds[0]!r} OR {q} > {bounds[1]!r})")
        plan.outliers[name] = (low, high, log)


def _id_like_name(name: str) -> bool:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", words) if p]
    return bool(parts) and parts[-1] in _ID_WORDS


# -- missing values and placeholders ------------------------------------------------------------


def _missing(plan: _Plan) -> list[Finding]:
    findings, few = [], {}
    rows = plan.ctx.profile.rows
    for name, column in plan.columns.items():
        if name == plan.target:
            continue
        nulls, nan = column.missing, int(plan.scan.get(name, "nan", 0))
        placeholders = plan.hard_placeholders(name) if column.kind == "categorical" else 0
        missing = nulls + nan + placeholders
        if missing == 0:
            continue
        evidence = {
            "rows": rows,
            "missing": missing,
            "share": missing / rows,
            "empty": nulls,
            "nan": nan,
            "placeholders": placeholders,
        }
        if missing < MISSING_WARNING * rows:
            few[name] = evidence
            continue
        parts = [
            f"{count(n)} {what}"
            for n, what in ((nulls, "empty"), (nan, "NaN"), (placeholders, "placeholder text"))
            if n
        ]
        error = missing >= MISSING_ERROR * rows
        findings.append(
            Finding(
                check="quality.missing",
                severity=Severity.ERROR if error else Severity.WARNING,
                columns=(name,),
                message=(
                    f"{share(missing, rows)} of `{name}` is missing ({count(missing)} of {count(rows)} rows"
                    + (f": {', '.join(parts)}" if len(parts) > 1 or placeholders else "")
                    + ")."
                ),
                recommendation=(
                    f"`{name}` is mostly empty. Fix the feed that fills it, or decide to drop it, before modelling."
                    if error
                    else f"Find out why `{name}` is missing and whether it will also be missing when predictions "
                    "are made. Fill it at the source if you can; if it is missing for a reason, that reason may "
                    "itself be informative."
                ),
                evidence=evidence,
            )
        )
    if few:
        listed = ", ".join(
            f"`{n}` {share(e['missing'], rows)}" for n, e in list(few.items())[:_LISTED]
        )
        more = f" and {len(few) - _LISTED} more" if len(few) > _LISTED else ""
        findings.append(
            Finding(
                check="quality.missing",
                severity=Severity.INFO,
                columns=tuple(few),
                message=f"{len(few)} column{'s have' if len(few) > 1 else ' has'} a few missing values: {listed}{more}.",
                recommendation="Few enough to handle during modelling; check they will be as rare in new data.",
                evidence={"columns": few},
            )
        )
    return findings


def _placeholders(plan: _Plan) -> list[Finding]:
    findings = []
    rows = plan.ctx.profile.rows
    for name, column in plan.columns.items():
        if column.kind != "categorical" or name == plan.target:
            continue
        tokens = plan.tokens(name)
        if not tokens:
            continue
        hard = {v: n for v, n in tokens.items() if v.strip().lower() not in SOFT_PLACEHOLDERS}
        soft = {v: n for v, n in tokens.items() if v not in hard}
        listed = ", ".join(
            f"{show(v)} ({count(n)} rows)" for v, n in sorted(tokens.items(), key=lambda kv: -kv[1])
        )
        evidence = {"tokens": tokens, "rows": rows, "share": sum(tokens.values()) / rows}
        if hard:
            findings.append(
                Finding(
                    check="quality.placeholder",
                    severity=Severity.WARNING,
                    columns=(name,),
                    message=f"`{name}` uses text to say a value is missing: {listed}.",
                    recommendation=(
                        "Store missing values as empty (null) at the source. As text they are read as a real "
                        f"category, and they are counted as missing here."
                    ),
                    evidence=evidence,
                )
            )
        elif soft:
            findings.append(
                Finding(
                    check="quality.placeholder",
                    severity=Severity.INFO,
                    columns=(name,),
                    message=f"`{name}` contains {listed}, which is treated as a real answer, not as missing.",
                    recommendation=(
                        "Confirm it is a genuine answer (for example 'no telephone') and not 'not recorded'; "
                        "if it means not recorded, store it as empty."
                    ),
                    evidence=evidence,
                )
            )
    return findings


def _sentinels(plan: _Plan) -> list[Finding]:
    findings = []
    rows = plan.ctx.profile.rows
    for name, facts in plan.edges.items():
        for value, n in facts.sentinels.items():
            findings.append(
                Finding(
                    check="quality.sentinel",
                    severity=Severity.WARNING,
                    columns=(name,),
                    message=sentinel_message(name, value, n, rows, facts),
                    recommendation=(
                        f"Ask the data owner what {show(value)} means in `{name}`. If it means 'unknown', "
                        "store it as empty; left as a number, the model takes it for a real measurement."
                    ),
                    evidence={
                        "value": value,
                        "rows": n,
                        "share": n / rows,
                        "other_min": facts.rest_min,
                        "other_max": facts.rest_max,
                    },
                )
            )
        for edge, (value, n) in facts.capped.items():
            column = plan.columns[name]
            findings.append(
                Finding(
                    check="quality.capped",
                    severity=Severity.INFO,
                    columns=(name,),
                    message=(
                        f"{count(n)} rows ({share(n, column.present)}) of `{name}` sit exactly at its {edge}, "
                        f"{show(value)}, far more than any ordinary value: it looks "
                        f"{'capped' if edge == 'maximum' else 'floored'} there."
                    ),
                    recommendation=(
                        f"Values of these rows may really be {'above' if edge == 'maximum' else 'below'} "
                        f"{show(value)}. Usually harmless for a model; keep it in mind when reading results."
                    ),
                    evidence={
                        "edge": edge,
                        "value": value,
                        "rows": n,
                        "present": column.present,
                        "distinct": column.distinct,
                    },
                )
            )
    return findings


# -- numbers or dates stored as text ------------------------------------------------------------


def _text_types(plan: _Plan) -> list[Finding]:
    offenders = _low_count_offenders(plan)
    findings = []
    for name, kind in plan.text_types.items():
        column = plan.columns[name]
        if name in plan.low_counts:
            bad, leading = offenders.get(name, ({}, 0))
            examples = [v for v, _ in sorted(bad.items(), key=lambda kv: -kv[1])[:_LISTED]]
        else:
            examples = list(plan.scan.get(name, "offenders", []))
            leading = int(plan.scan.get(name, "leading_zeros", 0))
        parsed = column.numeric_text if kind == "number" else column.temporal_text
        failing = max(column.present - plan.hard_placeholders(name) - parsed, 0)
        if kind == "number" and leading >= 0.01 * max(parsed, 1):
            continue  # leading zeros: a code such as a postcode, rightly kept as text
        message = f"`{name}` holds {kind}s stored as text ({count(parsed)} of {count(column.present)} filled rows parse as {kind}s)"
        if failing:
            message += (
                f"; {count(failing)} do not, such as " + ", ".join(show(v) for v in examples) + "."
            )
        else:
            message += "."
        findings.append(
            Finding(
                check="quality.type_as_text",
                severity=Severity.WARNING,
                columns=(name,),
                message=message,
                recommendation=(
                    f"Store `{name}` as {kind}s at the source"
                    + (", after fixing the values that do not parse" if failing else "")
                    + f". As text, a model treats each {kind} as an unrelated label and cannot use its order."
                ),
                evidence={
                    "kind": kind,
                    "parsed": parsed,
                    "failing": failing,
                    "present": column.present,
                    "examples": [jsonable(v) for v in examples],
                },
            )
        )
    return findings


def _low_count_offenders(plan: _Plan) -> dict[str, tuple[dict[str, int], int]]:
    """Values that do not parse, and values with leading zeros, for columns with full value counts."""
    names, values, counts, casts = [], [], [], []
    for name, kind in plan.text_types.items():
        for value, n in plan.low_counts.get(name, {}).items():
            names.append(name)
            values.append(None if value is None else str(value))
            counts.append(n)
            casts.append(kind)
    if not names:
        return {}
    table = pa.table({"name": names, "value": values, "n": counts, "kind": casts})
    relation = plan.ctx.dataset.connection.from_arrow(table)
    v = "trim(value)"
    rows = relation.query(
        "counts",
        f"""SELECT name, value, n,
                   CASE kind WHEN 'number' THEN TRY_CAST({v} AS DOUBLE) IS NULL
                             ELSE TRY_CAST({v} AS TIMESTAMP) IS NULL END
                   AND lower({v}) NOT IN ({_HARD_SQL}),
                   regexp_matches({v}, '^[+-]?0[0-9]')
            FROM counts""",
    ).fetchall()
    result: dict[str, tuple[dict[str, int], int]] = {}
    for name, value, n, bad, leading in rows:
        failing, zeros = result.get(name, ({}, 0))
        if bad:
            failing[value] = int(n)
        result[name] = (failing, zeros + (int(n) if leading else 0))
    return result


# -- duplicates ---------------------------------------------------------------------------------


def _duplicate_rows(plan: _Plan) -> list[Finding]:
    rows = plan.ctx.profile.rows
    copies = rows - int(plan.scan.get("", "distinct_rows", rows))
    if copies <= 0:
        return []
    # Identical rows happen by chance only when every column has few values: about
    # rows^2 / (2 * combinations) of them if values were uniform and independent.
    columns = plan.columns.values()
    few_values = all(c.distinct < 0.5 * rows for c in columns)
    combinations = sum(math.log(max(c.distinct, 1) + (c.missing > 0)) for c in columns)
    chance = 2 * math.log(rows) - math.log(2) - combinations
    by_chance = few_values and chance >= 0 and plan.ctx.charter.data.entity is None
    return [
        Finding(
            check="quality.duplicate_rows",
            severity=Severity.INFO if by_chance else Severity.WARNING,
            columns=(),
            message=f"{count(copies)} rows ({share(copies, rows)}) are exact copies of another row.",
            recommendation=(
                "With so few distinct combinations of values, some identical rows are expected by chance; "
                "check that they are genuine cases."
                if by_chance
                else "Remove the copies if the same records were loaded twice. Copies that land in both the "
                "training and the test data make the model look better than it is."
            ),
            evidence={
                "rows": rows,
                "copies": copies,
                "share": copies / rows,
                "expected_by_chance": by_chance,
            },
        )
    ]


def _duplicate_entity(plan: _Plan) -> list[Finding]:
    entity, time = plan.ctx.charter.data.entity, plan.ctx.charter.data.time
    if entity not in plan.columns:
        return []
    present = plan.columns[entity].present
    distinct = int(plan.scan.get(entity, "distinct", present))
    extra = present - distinct
    if extra <= 0:
        return []
    examples = _repeated_ids(plan, entity)
    evidence: dict[str, Any] = {
        "rows": present,
        "distinct": distinct,
        "extra_rows": extra,
        **examples,
    }
    listed = ", ".join(f"{show(v)} ({n} rows)" for v, n in examples["examples"])
    repeats = (
        f"`{entity}` repeats: {count(examples['repeated_ids'])} ids appear more than once "
        f"({count(extra)} extra rows; e.g. {listed})"
    )
    if time not in plan.columns:
        return [
            Finding(
                check="quality.duplicate_entity",
                severity=Severity.WARNING,
                columns=(entity,),
                message=repeats + ", and there is no time column to tell the rows apart.",
                recommendation=(
                    "If each row is one entity, remove the repeats (they may be loaded twice). If the rows are "
                    "snapshots over time, name the date column as data.time in charter.yaml."
                ),
                evidence=evidence,
            )
        ]
    pairs = present - int(plan.scan.get(entity, "distinct_with_time", present))
    findings = [
        Finding(
            check="quality.duplicate_entity",
            severity=Severity.INFO,
            columns=(entity, time),
            message=repeats + f", once per `{time}` as expected with a time column.",
            recommendation="Keep all rows of one entity on the same side of a train/test split (charter does).",
            evidence=evidence,
        )
    ]
    if pairs > 0:
        findings.append(
            Finding(
                check="quality.duplicate_entity",
                severity=Severity.WARNING,
                columns=(entity, time),
                message=f"{count(pairs)} rows repeat an (`{entity}`, `{time}`) pair already present: the same entity twice at the same time.",
                recommendation="Remove the repeated rows, or find which of them is right, before modelling.",
                evidence={**evidence, "repeated_pairs": pairs},
            )
        )
    return findings


def _repeated_ids(plan: _Plan, entity: str) -> dict[str, Any]:
    e = quote_identifier(entity)
    rows = plan.ctx.dataset.sql(
        f"""SELECT id, n, count(*) OVER () FROM (
                SELECT {e} AS id, count(*) AS n FROM {DATASET} WHERE {e} IS NOT NULL GROUP BY {e} HAVING count(*) > 1
            ) ORDER BY n DESC, id LIMIT {_LISTED}"""
    )
    return {
        "repeated_ids": int(rows[0][2]) if rows else 0,
        "examples": [[jsonable(v), int(n)] for v, n, _ in rows],
    }


# -- columns that carry little or odd information -----------------------------------------------


def _constant(plan: _Plan) -> list[Finding]:
    findings = []
    rows = plan.ctx.profile.rows
    for name, column in plan.columns.items():
        if name == plan.target or column.present == 0:
            continue
        counts = plan.low_counts.get(name)
        top: tuple[Any, int]
        if (
            column.kind in {"numeric", "temporal"}
            and column.minimum is not None
            and column.minimum == column.maximum
        ):
            top = (column.minimum, column.present)
        elif counts:
            top = max(counts.items(), key=lambda kv: kv[1])
        elif name in plan.near_constant:
            top = (column.quantiles["q50"], int(plan.scan.get(name, "at_median", 0)))
        else:
            continue
        value, n = top
        if n == column.present and column.missing_share < 1 - NEAR_CONSTANT_SHARE:
            message = f"`{name}` is {show(value)} in every row" + (
                f" but {count(column.missing)} empty ones" if column.missing else ""
            )
            severity, advice = (
                Severity.WARNING,
                "It carries no information: drop it, or check why it never varies.",
            )
        elif n >= NEAR_CONSTANT_SHARE * rows:
            message = (
                f"`{name}` is {show(value)} in {share(n, rows)} of rows (all but {count(rows - n)})"
            )
            severity, advice = (
                Severity.INFO,
                (
                    "It varies in so few rows that a model can hardly learn from it; keep it only if those "
                    "rare rows matter to the business."
                ),
            )
        else:
            continue
        findings.append(
            Finding(
                check="quality.constant",
                severity=severity,
                columns=(name,),
                message=message + ".",
                recommendation=advice,
                evidence={
                    "value": jsonable(value),
                    "rows_with_value": n,
                    "rows": rows,
                    "share": n / rows,
                },
            )
        )
    return findings


def _value_counts(plan: _Plan, name: str) -> dict[Any, int] | None:
    if name in plan.low_counts:
        return plan.low_counts[name]
    histogram = plan.scan.get(name, "histogram")
    return None if histogram is None else {k: int(v) for k, v in histogram.items()}


def _reencoding_eligible(plan: _Plan) -> list[ColumnProfile]:
    kinds = {"numeric", "categorical", "boolean", "temporal"}
    return [
        c
        for name, c in plan.columns.items()
        if name != plan.target and c.kind in kinds and 1 < c.distinct <= _REENCODING_MAX_SHARE * c.rows
    ]


def _close(one: int, other: int) -> bool:
    """Whether two approximate distinct counts may be equal."""
    return abs(one - other) <= _REENCODING_TOLERANCE * max(one, other)


def _reencoding(plan: _Plan) -> list[Finding]:
    """Pairs of columns in one-to-one correspondence, found by matching counts, then verified exactly."""
    eligible = _reencoding_eligible(plan)
    candidates: list[tuple[str, str]] = []
    signatures: dict[str, tuple[int, ...]] = {}
    for column in eligible:
        counts = _value_counts(plan, column.name)
        if counts is not None:
            signatures[column.name] = (column.missing, *sorted(counts.values()))
    for i, left in enumerate(eligible):
        for right in eligible[i + 1 :]:
            one, other = signatures.get(left.name), signatures.get(right.name)
            if one is not None and other is not None:
                if one == other:
                    candidates.append((left.name, right.name))
            elif one is None and other is None:
                if _close(left.distinct, right.distinct):
                    candidates.append((left.name, right.name))
    if plan.ctx.profile.rows > _REENCODING_PREFIX:
        # A mapping that is one-to-one on all rows is one-to-one on the first ones: a cheap sieve.
        prefix = f"(SELECT * FROM {DATASET} LIMIT {_REENCODING_PREFIX})"
        candidates = [pair for pair, row in zip(candidates, _pair_counts(plan, candidates, prefix)) if _one_to_one(row)]
    candidates = candidates[:_REENCODING_MAX_PAIRS]
    rows = _pair_counts(plan, candidates, DATASET)
    findings = []
    for (a, b), (da, _, pairs) in zip(candidates, rows, strict=True):
        if not _one_to_one((da, _, pairs)):
            continue
        findings.append(
            Finding(
                check="quality.reencoding",
                severity=Severity.WARNING,
                columns=(a, b),
                message=(
                    f"`{a}` and `{b}` hold the same information in two forms: each of their {count(da)} "
                    "values matches exactly one value of the other."
                ),
                recommendation=(
                    f"Keep one of `{a}` and `{b}`. Two copies of one fact split a model's attention between "
                    "them and make its explanations confusing."
                ),
                evidence={"distinct": da, "distinct_pairs": pairs},
            )
        )
    return findings


def _pair_counts(
    plan: _Plan, pairs: list[tuple[str, str]], relation: str
) -> list[tuple[int, int, int]]:
    """Distinct values of each column of each pair, and of the pair together (nulls included)."""
    if not pairs:
        return []
    expressions = []
    for first, second in pairs:
        a, b = quote_identifier(first), quote_identifier(second)
        expressions += [f"count(DISTINCT hash({x}))" for x in (a, b, f"{a}, {b}")]
    row = plan.ctx.dataset.sql(f"SELECT {', '.join(expressions)} FROM {relation}")[0]
    return [(int(row[k]), int(row[k + 1]), int(row[k + 2])) for k in range(0, len(row), 3)]


def _one_to_one(counts: tuple[int, int, int]) -> bool:
    return counts[0] == counts[1] == counts[2]


def _high_cardinality(plan: _Plan) -> list[Finding]:
    findings = []
    for name, column in plan.columns.items():
        if (
            column.kind != "categorical"
            or name in plan.special
            or name in plan.text_types
            or name in plan.identifiers
        ):
            continue
        distinct = column.distinct
        if (
            distinct <= HIGH_CARDINALITY_DISTINCT
            or distinct <= HIGH_CARDINALITY_SHARE * column.present
        ):
            continue
        findings.append(
            Finding(
                check="quality.high_cardinality",
                severity=Severity.WARNING,
                columns=(name,),
                message=(
                    f"`{name}` has about {count(distinct)} different values among {count(column.present)} rows, "
                    f"about {column.present / distinct:.0f} rows per value."
                ),
                recommendation=(
                    "With so few rows per value a model learns each value by heart. Group rare values into "
                    "'other', use a coarser version (a region instead of a town), or drop the column."
                ),
                evidence={
                    "distinct": distinct,
                    "present": column.present,
                    "top_values": [[jsonable(v), n] for v, n in column.top_values[:_LISTED]],
                },
            )
        )
    return findings


def _identifiers(plan: _Plan) -> list[Finding]:
    findings = []
    for name in plan.identifiers:
        column = plan.columns[name]
        counts = plan.low_counts.get(name)
        distinct = (
            len(counts) if counts is not None else int(plan.scan.get(name, "distinct_exact", 0))
        )
        if distinct < IDENTIFIER_SHARE * column.present:
            continue
        numeric = column.kind == "numeric"
        sequence = (
            numeric and float(column.maximum) - float(column.minimum) + 1 <= 2 * column.present
        )
        kind = (
            "a running number"
            if sequence
            else "an identifier"
            if numeric or _id_like_name(name)
            else "an identifier or free text"
        )
        findings.append(
            Finding(
                check="quality.identifier",
                severity=Severity.WARNING,
                columns=(name,),
                message=(
                    f"`{name}` has a different value in {share(distinct, column.present)} of its rows "
                    f"({count(distinct)} distinct of {count(column.present)}): it looks like {kind}."
                ),
                recommendation=(
                    f"An identifier cannot help predict new cases and lets a model memorise the training rows. "
                    f"Leave `{name}` out of the data, or name it as data.entity in charter.yaml if it identifies "
                    "the customer (or whatever a row is about)."
                ),
                evidence={"distinct": distinct, "present": column.present, "sequence": sequence},
            )
        )
    return findings


def _outliers(plan: _Plan) -> list[Finding]:
    findings = []
    for name, (low, high, log) in plan.outliers.items():
        column = plan.columns[name]
        codes = plan.edges[name].sentinels if name in plan.edges else {}
        raw = int(plan.scan.get(name, "outliers", 0)) - _beyond(codes, low, high)
        outside, scale = raw, "raw"
        if log is not None:
            on_log = int(plan.scan.get(name, "log_outliers", 0)) - _beyond(codes, *log)
            if on_log < raw:
                outside, scale, (low, high) = on_log, "log", log
        present = column.present - sum(codes.values())
        if present <= 0 or outside < OUTLIER_INFO * present or outside < 2:
            continue
        severity = Severity.WARNING if outside >= OUTLIER_WARNING * present else Severity.INFO
        scale_note = " (judged on a log scale, as the values are skewed)" if scale == "log" else ""
        findings.append(
            Finding(
                check="quality.outliers",
                severity=severity,
                columns=(name,),
                message=(
                    f"{share(outside, present)} of `{name}` ({count(outside)} rows) lie far outside its usual "
                    f"range{scale_note}: below {_number(low)} or above {_number(high)}, while half of the values "
                    f"are between {_number(column.quantiles['q25'])} and {_number(column.quantiles['q75'])}."
                ),
                recommendation=(
                    "Look at a few of these rows. Correct typing or unit errors at the source; keep real "
                    "extreme cases (tree models cope with them, linear ones may need them capped)."
                ),
                evidence={
                    "outside": outside,
                    "present": present,
                    "share": outside / present,
                    "low_fence": low,
                    "high_fence": high,
                    "scale": scale,
                    "minimum": jsonable(column.minimum),
                    "maximum": jsonable(column.maximum),
                },
            )
        )
    return findings


def _beyond(codes: dict[float, int], low: float, high: float) -> int:
    """Rows holding a sentinel code outside the fences: counted as codes, not outliers."""
    return sum(n for value, n in codes.items() if value < low or value > high)


def _number(value: float) -> str:
    return show(float(f"{value:.4g}"))


def _spelling(plan: _Plan) -> list[Finding]:
    findings = []
    for name, column in plan.columns.items():
        if column.kind != "categorical":
            continue
        if name in plan.low_counts:
            groups = spelling_groups(plan.low_counts[name].items())
        elif plan.scan.get(name, "distinct_spelling", 0) < plan.scan.get(name, "distinct_exact", 0):
            groups = _spelling_groups_sql(plan, name)
        else:
            continue
        if not groups:
            continue
        variants = sum(len(g) for g in groups)
        listed = "; ".join(", ".join(show(v) for v in g) for g in groups[:_LISTED])
        findings.append(
            Finding(
                check="quality.spelling",
                severity=Severity.WARNING,
                columns=(name,),
                message=(
                    f"`{name}` writes the same value in different ways ({len(groups)} "
                    f"group{'s' if len(groups) > 1 else ''}, {variants} spellings): {listed}."
                ),
                recommendation=(
                    "Agree on one spelling and clean it at the source. Until then a model treats each "
                    "spelling as a different answer."
                ),
                evidence={"groups": [[[v, n] for v, n in g.items()] for g in groups[:50]]},
            )
        )
    return findings


def _spelling_groups_sql(plan: _Plan, name: str) -> list[dict[str, int]]:
    q = quote_identifier(name)
    rows = plan.ctx.dataset.sql(
        f"""SELECT histogram(value) FROM (
                SELECT {q}::VARCHAR AS value, lower(regexp_replace(trim({q}::VARCHAR), '\\s+', ' ', 'g')) AS key
                FROM {DATASET} WHERE {q} IS NOT NULL
            ) GROUP BY key HAVING count(DISTINCT value) > 1 ORDER BY count(*) DESC LIMIT 200"""
    )
    return spelling_groups(pair for (histogram,) in rows for pair in histogram.items())
