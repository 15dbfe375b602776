"""Data quality: missing values, codes for 'unknown', wrong types, duplicates, odd columns.

The profile answers most questions. What it lacks, every check asks of one query over the
data (`_Scan`), so the pass costs about one scan beyond the profile; a small second query
runs only when a problem is found or two columns must be compared.
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
"""A column missing in 5% of rows or more (empty or placeholder text) is a warning; less, info."""

MISSING_ERROR = 0.5
"""A column missing in half of the rows or more is an error: decide what to do with it first."""

TEXT_TYPE_SHARE = 0.9
"""Text is a number (or date) when this share of its non-placeholder values parse as one."""

NEAR_CONSTANT_SHARE = 0.995
"""One value in 99.5% of rows or more: the column is near-constant."""

HIGH_CARDINALITY_DISTINCT = 100
HIGH_CARDINALITY_SHARE = 0.05
"""Text with over 100 distinct values, distinct in over 5% of rows, is high-cardinality."""

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
# A column with a different value in most rows is one-to-one with anything: not compared.
_REENCODING_MAX_SHARE = 0.5
_REENCODING_TOLERANCE = 0.2
_REENCODING_MAX_PAIRS = 30
_REENCODING_PREFIX = 50_000
_COUNTS_LIMIT = 1000  # at most this many distinct values: the profile holds full value counts
_LISTED = 5
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
_INTEGER_TYPES |= {"U" + t for t in _INTEGER_TYPES}
_ID_WORDS = {"id", "ids", "uuid", "guid", "key", "ref", "reference", "number", "nr", "no", "code"}
_HARD_SQL = ", ".join("'" + p.replace("'", "''") + "'" for p in HARD_PLACEHOLDERS)
_ALL_TOKENS_SQL = ", ".join(
    "'" + p.replace("'", "''") + "'" for p in (*HARD_PLACEHOLDERS, *SOFT_PLACEHOLDERS)
)
_SPELLING_SQL = "lower(regexp_replace(trim({}::VARCHAR), '\\s+', ' ', 'g'))"


# -- pure helpers -------------------------------------------------------------------------------


def placeholder_counts(value_counts: Iterable[tuple[Any, int]]) -> dict[str, int]:
    """The values (as written) that may mean missing, hard or soft, with their counts."""
    tokens = set(HARD_PLACEHOLDERS) | SOFT_PLACEHOLDERS
    return {
        v: int(n) for v, n in value_counts if isinstance(v, str) and v.strip().lower() in tokens
    }


def spelling_groups(value_counts: Iterable[tuple[Any, int]]) -> list[dict[str, int]]:
    """Groups of text values that differ only by case or spaces ('Yes', 'yes ', 'YES').

    Each group maps its variants to their counts, most frequent first; the largest group comes
    first. Placeholders (blank, 'N/A'...) are left to the placeholder check.
    """
    groups: dict[str, dict[str, int]] = {}
    for value, n in value_counts:
        if isinstance(value, str) and value.strip().lower() not in HARD_PLACEHOLDERS:
            groups.setdefault(" ".join(value.split()).lower(), {})[value] = int(n)
    found = [_ranked(g) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: -sum(g.values()))


def _ranked(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def iqr_fences(q25: float, q75: float, k: float = OUTLIER_IQR) -> tuple[float, float]:
    """Tukey's fences: values below q25 - k*IQR or above q75 + k*IQR are outliers."""
    spread = q75 - q25
    return q25 - k * spread, q75 + k * spread


def _log_fences(q25: float, q75: float, shift: float) -> tuple[float, float]:
    """Fences on log(x + shift), mapped back: skewed positive values judged on a log scale.

    Quantiles commute with monotone maps: the log-scale quartiles are the logs of the quartiles.
    """
    low, high = iqr_fences(math.log(q25 + shift), math.log(q75 + shift))
    return math.exp(low) - shift, math.exp(high) - shift


def _id_like_name(name: str) -> bool:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", words) if p]
    return bool(parts) and parts[-1] in _ID_WORDS


def _number(value: float) -> str:
    return show(float(f"{value:.4g}"))


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


# -- one scan collecting every check's aggregates -----------------------------------------------


@dataclass
class _Plan:
    """What each check asks of the data, decided from the profile, and the scan's answers."""

    ctx: AuditContext
    expressions: dict[tuple[str, str], str] = field(default_factory=dict)
    results: dict[tuple[str, str], Any] = field(default_factory=dict)
    counts: dict[str, dict[Any, int]] = field(default_factory=dict)  # full value counts
    text_types: dict[str, str] = field(default_factory=dict)  # column -> "number" or "date"
    identifiers: list[str] = field(default_factory=list)
    near_constant: list[str] = field(default_factory=list)
    fences: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    edges: dict[str, EdgeFacts] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, ColumnProfile]:
        return self.ctx.profile.columns

    @property
    def rows(self) -> int:
        return self.ctx.profile.rows

    @property
    def target(self) -> str:
        return self.ctx.charter.target

    def add(self, column: str, statistic: str, sql: str) -> None:
        self.expressions[(column, statistic)] = sql

    def get(self, column: str, statistic: str, default: Any = None) -> Any:
        value = self.results.get((column, statistic))
        return default if value is None else value

    def run(self) -> None:
        sql = ", ".join(self.expressions.values())
        row = self.ctx.dataset.sql(f"SELECT {sql} FROM {DATASET}")[0]
        self.results = dict(zip(self.expressions, row, strict=True))

    def tokens(self, name: str) -> dict[str, int]:
        """Placeholder values of a text column with their counts."""
        if name in self.counts:
            return placeholder_counts(self.counts[name].items())
        return {str(k): int(v) for k, v in self.get(name, "tokens", {}).items()}

    def hard_placeholders(self, name: str) -> int:
        tokens = self.tokens(name).items()
        return sum(n for v, n in tokens if v.strip().lower() not in SOFT_PLACEHOLDERS)


def check_quality(ctx: AuditContext) -> list[Finding]:
    """Findings about the data's quality, column by column and across columns.

    Checks: quality.missing, .placeholder, .sentinel, .capped, .type_as_text,
    .duplicate_rows, .duplicate_entity, .constant, .reencoding, .high_cardinality,
    .identifier, .outliers and .spelling. Problems of the target are `check_target`'s.
    """
    if ctx.profile.rows == 0:
        return []
    plan = _prepare(ctx)
    plan.run()
    for name in plan.fences:
        results = {stat: v for (column, stat), v in plan.results.items() if column == name}
        plan.edges[name] = edge_facts(plan.columns[name], results)
    checks = (
        _missing,
        _placeholders,
        _sentinels,
        _text_types,
        _duplicate_rows,
        _duplicate_entity,
        _constant,
        _reencoding,
        _high_cardinality,
        _identifiers,
        _outliers,
        _spelling,
    )
    return [finding for check in checks for finding in check(plan)]


def _prepare(ctx: AuditContext) -> _Plan:
    plan = _Plan(ctx)
    for name, column in plan.columns.items():
        if column.dtype.upper() in _FLOAT_TYPES and _may_hold_nan(column):
            plan.add(name, "nan", f"count_if(isnan({quote_identifier(name)}))")
        if column.value_counts is not None:
            plan.counts[name] = dict(column.value_counts)
        if column.kind == "categorical":
            _prepare_text(plan, column)
        if column.kind == "numeric" and name not in ctx.charter.special_columns:
            _prepare_numeric(plan, column)
    eligible = _reencoding_eligible(plan)
    for column in eligible:
        partner = any(_close(column.distinct, o.distinct) for o in eligible if o != column)
        if column.kind in {"numeric", "temporal"} and column.distinct <= _COUNTS_LIMIT and partner:
            plan.add(column.name, "histogram", f"histogram({quote_identifier(column.name)})")
    every = ", ".join(quote_identifier(c) for c in plan.columns)
    plan.add("", "distinct_rows", f"count(DISTINCT hash({every}))")
    entity, time = ctx.charter.data.entity, ctx.charter.data.time
    if entity in plan.columns:
        e = quote_identifier(entity)
        plan.add(entity, "distinct", f"count(DISTINCT {e})")
        if time in plan.columns:
            pair = f"hash({e}, {quote_identifier(time)})"
            plan.add(entity, "pairs", f"count(DISTINCT {pair}) FILTER (WHERE {e} IS NOT NULL)")
    return plan


def _may_hold_nan(column: ColumnProfile) -> bool:
    """NaN sorts above every number in DuckDB and spoils the mean: the profile betrays it."""
    maximum = column.maximum
    nan_maximum = isinstance(maximum, float) and math.isnan(maximum)
    return nan_maximum or (column.present > 0 and column.mean is None)


def _prepare_text(plan: _Plan, column: ColumnProfile) -> None:
    name, q = column.name, quote_identifier(column.name)
    value = f"trim({q}::VARCHAR)"
    if name not in plan.counts:
        if column.placeholders:
            tokens = f"lower({value}) IN ({_ALL_TOKENS_SQL})"
            plan.add(name, "tokens", f"histogram({q}) FILTER (WHERE {tokens})")
        plan.add(name, "distinct_exact", f"count(DISTINCT {q})")
        plan.add(name, "distinct_spelling", f"count(DISTINCT {_SPELLING_SQL.format(q)})")
    base = column.present - column.placeholders
    for kind, parsed, cast in (
        ("number", column.numeric_text, "DOUBLE"),
        ("date", column.temporal_text, "TIMESTAMP"),
    ):
        if base > 0 and parsed >= TEXT_TYPE_SHARE * base:
            plan.text_types[name] = kind
            if name not in plan.counts:
                bad = f"TRY_CAST({value} AS {cast}) IS NULL AND lower({value}) NOT IN ({_HARD_SQL})"
                plan.add(name, "offenders", f"approx_top_k({q}, {_LISTED}) FILTER (WHERE {bad})")
                plan.add(name, "zeros", f"count_if(regexp_matches({value}, '^[+-]?0[0-9]'))")
            break
    if _maybe_identifier(plan, column) and plan.text_types.get(name) != "date":
        plan.identifiers.append(name)


def _maybe_identifier(plan: _Plan, column: ColumnProfile) -> bool:
    return (
        column.name not in plan.ctx.charter.special_columns
        and column.present >= IDENTIFIER_MIN_ROWS
        and column.distinct >= _APPROX_SLACK * IDENTIFIER_SHARE * column.present
    )


def _is_sequence(column: ColumnProfile) -> bool:
    return float(column.maximum) - float(column.minimum) + 1 <= 2 * column.present


def _prepare_numeric(plan: _Plan, column: ColumnProfile) -> None:
    name, q, quantiles = column.name, quote_identifier(column.name), column.quantiles
    for statistic, sql in edge_expressions(column).items():
        plan.add(name, statistic, sql)
    if column.minimum != column.maximum and quantiles.get("q01") == quantiles.get("q99"):
        plan.near_constant.append(name)
        plan.add(name, "at_median", f"count_if({q} = {float(quantiles['q50'])!r})")
    integer = column.dtype.upper() in _INTEGER_TYPES
    if (
        integer
        and _maybe_identifier(plan, column)
        and (_id_like_name(name) or _is_sequence(column))
    ):
        plan.identifiers.append(name)
        plan.add(name, "distinct_exact", f"count(DISTINCT {q})")
    q25, q75 = quantiles.get("q25"), quantiles.get("q75")
    fences: dict[str, tuple[float, float]] = {}
    if column.distinct > _OUTLIER_MIN_DISTINCT and q25 is not None and q75 is not None:
        minimum, maximum = float(column.minimum), float(column.maximum)
        if q75 > q25:
            fences["raw"] = iqr_fences(q25, q75)
            if minimum >= 0:
                fences["log"] = _log_fences(q25, q75, 0.0 if minimum > 0 and q25 > 0 else 1.0)
        for scale, (low, high) in fences.items():
            # nothing lies beyond fences that hold the extremes: no need to count
            if minimum < low or maximum > high:
                plan.add(name, f"{scale} outliers", f"count_if({q} < {low!r} OR {q} > {high!r})")
    plan.fences[name] = fences


# -- missing values, placeholders, sentinels ----------------------------------------------------


def _missing(plan: _Plan) -> list[Finding]:
    findings: list[Finding] = []
    few: dict[str, dict[str, Any]] = {}
    rows = plan.rows
    for name, column in plan.columns.items():
        if name == plan.target:
            continue
        nulls, nan = column.missing, int(plan.get(name, "nan", 0))
        placeholders = plan.hard_placeholders(name) if column.kind == "categorical" else 0
        missing = nulls + nan + placeholders
        evidence = {
            "rows": rows,
            "missing": missing,
            "share": missing / rows,
            "empty": nulls,
            "nan": nan,
            "placeholders": placeholders,
        }
        if 0 < missing < MISSING_WARNING * rows:
            few[name] = evidence
        if missing < MISSING_WARNING * rows:
            continue
        parts = [(nulls, "empty"), (nan, "NaN"), (placeholders, "placeholder text")]
        how = ", ".join(f"{count(n)} {what}" for n, what in parts if n)
        detail = f": {how}" if nan or placeholders else ""
        message = (
            f"{share(missing, rows)} of `{name}` is missing "
            f"({count(missing)} of {count(rows)} rows{detail})."
        )
        if missing >= MISSING_ERROR * rows:
            severity = Severity.ERROR
            advice = (
                f"`{name}` is mostly empty. Fix the feed that fills it, or decide to drop the "
                "column, before modelling."
            )
        else:
            severity = Severity.WARNING
            advice = (
                f"Find out why `{name}` is missing and whether it will also be missing when "
                "predictions are made. Fill it at the source if you can; if it is missing for a "
                "reason, that reason may itself be informative."
            )
        findings.append(Finding("quality.missing", severity, (name,), message, advice, evidence))
    if few:
        listed = _listed(
            [
                f"`{n}` {share(e['missing'], rows)} ({count(e['missing'])} rows)"
                for n, e in few.items()
            ]
        )
        message = f"{len(few)} column{'s have' if len(few) > 1 else ' has'} a few missing values: {listed}."
        advice = "Few enough to handle during modelling; check they are as rare in new data."
        findings.append(
            Finding("quality.missing", Severity.INFO, tuple(few), message, advice, {"columns": few})
        )
    return findings


def _placeholders(plan: _Plan) -> list[Finding]:
    findings = []
    for name, column in plan.columns.items():
        tokens = plan.tokens(name) if column.kind == "categorical" and name != plan.target else {}
        if not tokens:
            continue
        listed = ", ".join(f"{show(v)} ({count(n)} rows)" for v, n in _ranked(tokens).items())
        evidence = {"tokens": tokens, "rows": plan.rows, "share": sum(tokens.values()) / plan.rows}
        if plan.hard_placeholders(name):
            message = f"`{name}` uses text to say a value is missing: {listed}."
            advice = (
                "Store missing values as empty (null) at the source: as text they read as a real "
                "category. They are counted as missing here."
            )
            severity = Severity.WARNING
        else:
            message = (
                f"`{name}` contains {listed}, which is taken as a real answer, not as missing."
            )
            advice = (
                "Confirm it is a genuine answer (for example 'no telephone') and not 'not "
                "recorded'; if it means not recorded, store it as empty."
            )
            severity = Severity.INFO
        findings.append(
            Finding("quality.placeholder", severity, (name,), message, advice, evidence)
        )
    return findings


def _sentinels(plan: _Plan) -> list[Finding]:
    findings = []
    for name, facts in plan.edges.items():
        for value, n in facts.sentinels.items():
            advice = (
                f"Ask the data owner what {show(value)} means in `{name}`. If it means 'unknown', "
                "store it as empty: left as a number, a model takes it for a real measurement."
            )
            evidence: dict[str, Any] = {
                "value": value,
                "rows": n,
                "share": n / plan.rows,
                "other_min": facts.rest_min,
                "other_max": facts.rest_max,
            }
            message = sentinel_message(name, value, n, plan.rows, facts)
            findings.append(
                Finding("quality.sentinel", Severity.WARNING, (name,), message, advice, evidence)
            )
        present = plan.columns[name].present
        for edge, (value, n) in facts.capped.items():
            word, side = ("capped", "above") if edge == "maximum" else ("floored", "below")
            message = (
                f"{count(n)} rows ({share(n, present)}) of `{name}` sit exactly at its {edge}, "
                f"{show(value)}, far more than any value near it: it looks {word} there."
            )
            advice = (
                f"These rows may really be {side} {show(value)}. Usually harmless for a model; "
                "keep it in mind when reading results."
            )
            evidence = {"edge": edge, "value": value, "rows": n, "present": present}
            findings.append(
                Finding("quality.capped", Severity.INFO, (name,), message, advice, evidence)
            )
    return findings


# -- numbers or dates stored as text ------------------------------------------------------------


def _text_types(plan: _Plan) -> list[Finding]:
    offenders = _offenders_from_counts(plan)
    findings = []
    for name, kind in plan.text_types.items():
        column = plan.columns[name]
        if name in plan.counts:
            bad, zeros = offenders.get(name, ({}, 0))
            examples: list[Any] = list(_ranked(bad))[:_LISTED]
        else:
            examples = list(plan.get(name, "offenders", []))
            zeros = int(plan.get(name, "zeros", 0))
        parsed = column.numeric_text if kind == "number" else column.temporal_text
        if kind == "number" and zeros >= 0.01 * parsed:
            continue  # leading zeros: a code such as a postcode, rightly kept as text
        failing = max(column.present - plan.hard_placeholders(name) - parsed, 0)
        message = (
            f"`{name}` holds {kind}s stored as text ({count(parsed)} of "
            f"{count(column.present)} filled rows parse as {kind}s)"
        )
        if failing:
            message += f"; {count(failing)} do not, such as {', '.join(map(show, examples))}"
        fix = ", after fixing the values that do not parse" if failing else ""
        advice = (
            f"Store `{name}` as {kind}s at the source{fix}. As text, a model takes each {kind} "
            "for an unrelated label and cannot use their order."
        )
        evidence = {
            "kind": kind,
            "parsed": parsed,
            "failing": failing,
            "present": column.present,
            "examples": [jsonable(v) for v in examples],
        }
        findings.append(
            Finding(
                "quality.type_as_text", Severity.WARNING, (name,), message + ".", advice, evidence
            )
        )
    return findings


def _offenders_from_counts(plan: _Plan) -> dict[str, tuple[dict[str, int], int]]:
    """Per column with full value counts: values that do not parse, and rows with leading zeros.

    Parsed by DuckDB over the distinct values only, with the same casts as the profile.
    """
    entries = [
        (name, None if v is None else str(v), n, kind)
        for name, kind in plan.text_types.items()
        for v, n in plan.counts.get(name, {}).items()
    ]
    if not entries:
        return {}
    names, values, counts, kinds = (list(x) for x in zip(*entries, strict=True))
    table = pa.table({"name": names, "value": values, "n": counts, "kind": kinds})
    v = "trim(value)"
    query = f"""SELECT name, value, n,
        CASE kind WHEN 'number' THEN TRY_CAST({v} AS DOUBLE) IS NULL
                  ELSE TRY_CAST({v} AS TIMESTAMP) IS NULL END AND lower({v}) NOT IN ({_HARD_SQL}),
        regexp_matches({v}, '^[+-]?0[0-9]')
        FROM counts"""
    relation = plan.ctx.dataset.connection.from_arrow(table)
    result: dict[str, tuple[dict[str, int], int]] = {}
    for name, value, n, bad, zero in relation.query("counts", query).fetchall():
        failing, zeros = result.get(name, ({}, 0))
        if bad:
            failing[value] = int(n)
        result[name] = (failing, zeros + (int(n) if zero else 0))
    return result


# -- duplicates ---------------------------------------------------------------------------------


def _duplicate_rows(plan: _Plan) -> list[Finding]:
    rows = plan.rows
    copies = rows - int(plan.get("", "distinct_rows", rows))
    if copies <= 0:
        return []
    # Identical rows happen by chance only when every column has few values: about
    # rows^2 / (2 * combinations) of them, were values uniform and independent.
    columns = plan.columns.values()
    combinations = sum(math.log(max(c.distinct, 1) + (c.missing > 0)) for c in columns)
    by_chance = (
        all(c.distinct < 0.5 * rows for c in columns)
        and 2 * math.log(rows) - math.log(2) >= combinations
        and plan.ctx.charter.data.entity is None
    )
    message = f"{count(copies)} rows ({share(copies, rows)}) are exact copies of another row."
    if by_chance:
        severity = Severity.INFO
        advice = (
            "With so few distinct combinations of values some identical rows are expected by "
            "chance; check that they are genuine cases."
        )
    else:
        severity = Severity.WARNING
        advice = (
            "Remove the copies if the same records were loaded twice. Copies that land in both "
            "the training and the test data make the model look better than it is."
        )
    evidence = {"rows": rows, "copies": copies, "share": copies / rows, "by_chance": by_chance}
    return [Finding("quality.duplicate_rows", severity, (), message, advice, evidence)]


def _duplicate_entity(plan: _Plan) -> list[Finding]:
    entity, time = plan.ctx.charter.data.entity, plan.ctx.charter.data.time
    if entity not in plan.columns:
        return []
    present = plan.columns[entity].present
    distinct = int(plan.get(entity, "distinct", present))
    if distinct >= present:
        return []
    e = quote_identifier(entity)
    repeated = plan.ctx.dataset.sql(
        f"""SELECT id, n, count(*) OVER () FROM (
                SELECT {e} AS id, count(*) AS n FROM {DATASET} WHERE {e} IS NOT NULL
                GROUP BY {e} HAVING count(*) > 1
            ) ORDER BY n DESC, id LIMIT {_LISTED}"""
    )
    evidence: dict[str, Any] = {
        "rows": present,
        "distinct": distinct,
        "extra_rows": present - distinct,
        "repeated_ids": int(repeated[0][2]) if repeated else 0,
        "examples": [[jsonable(v), int(n)] for v, n, _ in repeated],
    }
    examples = ", ".join(f"{show(v)} ({n} rows)" for v, n, _ in repeated)
    repeats = (
        f"`{entity}` repeats: {count(evidence['repeated_ids'])} ids appear more than once "
        f"({count(present - distinct)} extra rows; e.g. {examples})"
    )
    check = "quality.duplicate_entity"
    if time not in plan.columns:
        message = repeats + ", and no time column tells their rows apart."
        advice = (
            "If each row is one entity, remove the repeats (they may be loaded twice). If the "
            "rows are snapshots over time, name the date column as data.time in charter.yaml."
        )
        return [Finding(check, Severity.WARNING, (entity,), message, advice, evidence)]
    message = repeats + f", once per `{time}`, as expected with a time column."
    advice = "Keep all rows of one entity on the same side of a train/test split."
    findings = [Finding(check, Severity.INFO, (entity, time), message, advice, evidence)]
    pairs = present - int(plan.get(entity, "pairs", present))
    if pairs > 0:
        message = (
            f"{count(pairs)} rows repeat an (`{entity}`, `{time}`) pair: the same entity twice at "
            "the same time."
        )
        advice = "Remove the repeated rows, or find out which of them is right, before modelling."
        evidence = {**evidence, "repeated_pairs": pairs}
        findings.append(Finding(check, Severity.WARNING, (entity, time), message, advice, evidence))
    return findings


# -- columns carrying little or odd information ---------------------------------------------------


def _constant(plan: _Plan) -> list[Finding]:
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
            message = f"`{name}` is {show(value)} in every row{empty}."
            severity = Severity.WARNING
            advice = "It carries no information: drop it, or find out why it never varies."
        elif n >= NEAR_CONSTANT_SHARE * rows:
            message = f"`{name}` is {show(value)} in {share(n, rows)} of rows (all but {count(rows - n)})."
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


def _reencoding_eligible(plan: _Plan) -> list[ColumnProfile]:
    kinds = {"numeric", "categorical", "boolean", "temporal"}
    return [
        c
        for name, c in plan.columns.items()
        if name != plan.target
        and c.kind in kinds
        and 1 < c.distinct <= _REENCODING_MAX_SHARE * c.rows
    ]


def _close(one: int, other: int) -> bool:
    """Whether two approximate distinct counts may be equal."""
    return abs(one - other) <= _REENCODING_TOLERANCE * max(one, other)


def _reencoding(plan: _Plan) -> list[Finding]:
    """Pairs of columns in one-to-one correspondence: matching counts first, then exact checks."""
    eligible = _reencoding_eligible(plan)
    signatures = {}  # one-to-one columns have the same multiset of value counts
    for column in eligible:
        counts = plan.counts.get(column.name) or plan.get(column.name, "histogram")
        if counts is not None:
            signatures[column.name] = (column.missing, *sorted(int(n) for n in counts.values()))
    candidates = []
    for i, left in enumerate(eligible):
        for right in eligible[i + 1 :]:
            one, other = signatures.get(left.name), signatures.get(right.name)
            both_unknown = one is None and other is None
            if (one is not None and one == other) or (
                both_unknown and _close(left.distinct, right.distinct)
            ):
                candidates.append((left.name, right.name))
    if plan.rows > _REENCODING_PREFIX and candidates:
        # one-to-one on all rows means one-to-one on the first ones: a cheap sieve
        prefix = f"(SELECT * FROM {DATASET} LIMIT {_REENCODING_PREFIX})"
        sieve = _pair_counts(plan, candidates, prefix)
        candidates = [
            pair for pair, n in zip(candidates, sieve, strict=True) if n[0] == n[1] == n[2]
        ]
    candidates = candidates[:_REENCODING_MAX_PAIRS]
    findings = []
    for (a, b), (da, db, pairs) in zip(
        candidates, _pair_counts(plan, candidates, DATASET), strict=True
    ):
        if not da == db == pairs:
            continue
        message = (
            f"`{a}` and `{b}` hold the same information in two forms: each of their "
            f"{count(da)} values matches exactly one value of the other."
        )
        advice = (
            f"Keep one of `{a}` and `{b}`. Two copies of one fact split a model's attention "
            "between them and make its explanations confusing."
        )
        evidence = {"distinct": da, "distinct_pairs": pairs}
        findings.append(
            Finding("quality.reencoding", Severity.WARNING, (a, b), message, advice, evidence)
        )
    return findings


def _pair_counts(plan: _Plan, pairs: list[tuple[str, str]], relation: str) -> list[tuple[int, ...]]:
    """Distinct values of each column of each pair, and of the pair together (nulls included)."""
    if not pairs:
        return []
    expressions = []
    for first, second in pairs:
        a, b = quote_identifier(first), quote_identifier(second)
        expressions += [f"count(DISTINCT hash({x}))" for x in (a, b, f"{a}, {b}")]
    row = plan.ctx.dataset.sql(f"SELECT {', '.join(expressions)} FROM {relation}")[0]
    return [tuple(int(n) for n in row[k : k + 3]) for k in range(0, len(row), 3)]


def _high_cardinality(plan: _Plan) -> list[Finding]:
    findings = []
    skip = plan.ctx.charter.special_columns | set(plan.text_types) | set(plan.identifiers)
    for name, column in plan.columns.items():
        distinct, present = column.distinct, column.present
        if column.kind != "categorical" or name in skip or distinct <= HIGH_CARDINALITY_DISTINCT:
            continue
        if distinct <= HIGH_CARDINALITY_SHARE * present:
            continue
        message = (
            f"`{name}` has about {count(distinct)} different values among {count(present)} "
            f"rows, about {present / distinct:.0f} rows per value."
        )
        advice = (
            "With so few rows per value a model learns each value by heart. Group rare values "
            "into 'other', use a coarser version (a region instead of a town), or drop the column."
        )
        top = [[jsonable(v), n] for v, n in column.top_values[:_LISTED]]
        evidence = {"distinct": distinct, "present": present, "top_values": top}
        findings.append(
            Finding(
                "quality.high_cardinality", Severity.WARNING, (name,), message, advice, evidence
            )
        )
    return findings


def _identifiers(plan: _Plan) -> list[Finding]:
    findings = []
    for name in plan.identifiers:
        column, counts = plan.columns[name], plan.counts.get(name)
        distinct = len(counts) if counts is not None else int(plan.get(name, "distinct_exact", 0))
        if distinct < IDENTIFIER_SHARE * column.present:
            continue
        numeric = column.kind == "numeric"
        sequence = numeric and _is_sequence(column)
        if sequence:
            kind = "a running number"
        else:
            kind = (
                "an identifier" if numeric or _id_like_name(name) else "an identifier or free text"
            )
        message = (
            f"`{name}` has a different value in {share(distinct, column.present)} of its rows "
            f"({count(distinct)} distinct of {count(column.present)}): it looks like {kind}."
        )
        advice = (
            "An identifier cannot help predict new cases and lets a model memorise the training "
            f"rows. Leave `{name}` out of the data, or name it as data.entity in charter.yaml if "
            "it identifies what a row is about (a customer, an order)."
        )
        evidence = {"distinct": distinct, "present": column.present, "sequence": sequence}
        findings.append(
            Finding("quality.identifier", Severity.WARNING, (name,), message, advice, evidence)
        )
    return findings


def _outliers(plan: _Plan) -> list[Finding]:
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
            f"{share(outside, present)} of `{name}` ({count(outside)} rows) lie far outside its "
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


def _spelling(plan: _Plan) -> list[Finding]:
    findings = []
    for name, column in plan.columns.items():
        if column.kind != "categorical":
            continue
        if name in plan.counts:
            groups = spelling_groups(plan.counts[name].items())
        elif plan.get(name, "distinct_spelling", 0) < plan.get(name, "distinct_exact", 0):
            groups = _spelling_groups_in_sql(plan, name)
        else:
            continue
        if not groups:
            continue
        listed = "; ".join(", ".join(map(show, g)) for g in groups[:_LISTED])
        message = (
            f"`{name}` writes the same value in different ways ({len(groups)} "
            f"group{'s' if len(groups) > 1 else ''}, {sum(map(len, groups))} spellings): {listed}."
        )
        advice = (
            "Agree on one spelling and clean it at the source. Until then a model treats each "
            "spelling as a different answer."
        )
        evidence = {"groups": [[[v, n] for v, n in g.items()] for g in groups[:50]]}
        findings.append(
            Finding("quality.spelling", Severity.WARNING, (name,), message, advice, evidence)
        )
    return findings


def _spelling_groups_in_sql(plan: _Plan, name: str) -> list[dict[str, int]]:
    q = quote_identifier(name)
    rows = plan.ctx.dataset.sql(
        f"""SELECT histogram(value) FROM (
                SELECT {q}::VARCHAR AS value, {_SPELLING_SQL.format(q)} AS spelling
                FROM {DATASET} WHERE {q} IS NOT NULL
            ) GROUP BY spelling HAVING count(DISTINCT value) > 1 ORDER BY count(*) DESC LIMIT 200"""
    )
    return spelling_groups(pair for (histogram,) in rows for pair in histogram.items())
