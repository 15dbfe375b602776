"""The quality checks' single scan: what each check asks of the data, and the answers.

The profile answers most questions. What it lacks, every quality check asks of one query over
the data: `prepare` decides those aggregates from the profile and `Plan.run` computes them all
at once, so the quality pass costs about one scan beyond the profile. Thresholds and helpers
that several quality checks share live here too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from charter.audit._context import AuditContext
from charter.audit._profile import ColumnProfile
from charter.audit._target import HARD_PLACEHOLDERS, SOFT_PLACEHOLDERS, EdgeFacts, edge_expressions
from charter.data import DATASET, quote_identifier
from charter.data._types import FLOAT_TYPES, INTEGER_TYPES

__all__ = [
    "HARD_SQL",
    "IDENTIFIER_MIN_ROWS",
    "IDENTIFIER_SHARE",
    "LISTED",
    "OUTLIER_IQR",
    "SPELLING_SQL",
    "TEXT_TYPE_SHARE",
    "Plan",
    "close_counts",
    "id_like_name",
    "iqr_fences",
    "is_sequence",
    "placeholder_counts",
    "prepare",
    "ranked",
    "reencoding_eligible",
]

TEXT_TYPE_SHARE = 0.9
"""Text is a number (or date) when this share of its non-placeholder values parse as one."""

IDENTIFIER_SHARE = 0.95
"""Text or whole numbers distinct in 95% of their filled rows look like an identifier."""

IDENTIFIER_MIN_ROWS = 20
"""Below this many rows every column looks unique; identifiers are not looked for."""

OUTLIER_IQR = 3.0
"""Outliers lie beyond the quartiles by more than 3 IQR (Tukey's 'far out' fences)."""

LISTED = 5
"""Examples, groups or columns named in one message at most."""

HARD_SQL = ", ".join("'" + p.replace("'", "''") + "'" for p in HARD_PLACEHOLDERS)
"""The placeholders that always mean missing, as a SQL list for `IN (...)`."""

SPELLING_SQL = "lower(regexp_replace(trim({}::VARCHAR), '\\s+', ' ', 'g'))"
"""A text value up to case and spaces, in SQL: `SPELLING_SQL.format(quoted_column)`."""

# Approximate distinct counts (HyperLogLog) can be ~15% off: prefilter loosely, verify exactly.
_APPROX_SLACK = 0.75
_OUTLIER_MIN_DISTINCT = 10
# A column with a different value in most rows is one-to-one with anything: not compared.
_REENCODING_MAX_SHARE = 0.5
_REENCODING_TOLERANCE = 0.2
_COUNTS_LIMIT = 1000  # at most this many distinct values: the profile holds full value counts
_ID_WORDS = {"id", "ids", "uuid", "guid", "key", "ref", "reference", "number", "nr", "no", "code"}
_ALL_TOKENS_SQL = ", ".join(
    "'" + p.replace("'", "''") + "'" for p in (*HARD_PLACEHOLDERS, *SOFT_PLACEHOLDERS)
)


# -- pure helpers -------------------------------------------------------------------------------


def placeholder_counts(value_counts: Iterable[tuple[Any, int]]) -> dict[str, int]:
    """The values (as written) that may mean missing, hard or soft, with their counts."""
    tokens = set(HARD_PLACEHOLDERS) | SOFT_PLACEHOLDERS
    return {
        v: int(n) for v, n in value_counts if isinstance(v, str) and v.strip().lower() in tokens
    }


def ranked(counts: dict[str, int]) -> dict[str, int]:
    """The counts, most frequent first (ties by value)."""
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


def id_like_name(name: str) -> bool:
    """Whether a column's name ends in a word such as id, key or code (`customerId`, `order_no`)."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", words) if p]
    return bool(parts) and parts[-1] in _ID_WORDS


def is_sequence(column: ColumnProfile) -> bool:
    """Whether a numeric column's range is no wider than twice its filled rows: a running number."""
    return float(column.maximum) - float(column.minimum) + 1 <= 2 * column.present


# -- one scan collecting every check's aggregates -----------------------------------------------


@dataclass
class Plan:
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
        """The profile of every column, by name."""
        return self.ctx.profile.columns

    @property
    def rows(self) -> int:
        """Rows in the data."""
        return self.ctx.profile.rows

    @property
    def target(self) -> str:
        """The target column's name."""
        return self.ctx.charter.target

    def add(self, column: str, statistic: str, sql: str) -> None:
        """Ask the scan for `statistic` of `column` (an aggregate SQL expression)."""
        self.expressions[(column, statistic)] = sql

    def get(self, column: str, statistic: str, default: Any = None) -> Any:
        """The scan's answer, or `default` when it was not asked for or is null."""
        value = self.results.get((column, statistic))
        return default if value is None else value

    def run(self) -> None:
        """Compute every aggregate asked for, in one query over the data."""
        sql = ", ".join(self.expressions.values())
        row = self.ctx.dataset.sql(f"SELECT {sql} FROM {DATASET}")[0]
        self.results = dict(zip(self.expressions, row, strict=True))

    def tokens(self, name: str) -> dict[str, int]:
        """Placeholder values of a text column with their counts."""
        if name in self.counts:
            return placeholder_counts(self.counts[name].items())
        return {str(k): int(v) for k, v in self.get(name, "tokens", {}).items()}

    def distinct(self, name: str) -> int:
        """The exact number of distinct values, for columns with value counts or counted exactly."""
        counts = self.counts.get(name)
        return len(counts) if counts is not None else int(self.get(name, "distinct_exact", 0))

    def hard_placeholders(self, name: str) -> int:
        """Rows of a text column holding a placeholder that always means missing."""
        tokens = self.tokens(name).items()
        return sum(n for v, n in tokens if v.strip().lower() not in SOFT_PLACEHOLDERS)


def prepare(ctx: AuditContext) -> Plan:
    """The plan of the quality checks' scan, decided from the profile; not yet run."""
    plan = Plan(ctx)
    for name, column in plan.columns.items():
        if column.dtype.upper() in FLOAT_TYPES and _may_hold_nan(column):
            plan.add(name, "nan", f"count_if(NOT isfinite({quote_identifier(name)}))")
        if column.value_counts is not None:
            plan.counts[name] = dict(column.value_counts)
        if column.kind == "categorical":
            _prepare_text(plan, column)
        if column.kind == "numeric" and name not in ctx.charter.special_columns:
            _prepare_numeric(plan, column)
    eligible = reencoding_eligible(plan)
    for column in eligible:
        partner = any(close_counts(column.distinct, o.distinct) for o in eligible if o != column)
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
    """The profile counts NaN and infinities as missing; only then is it worth telling them apart."""
    return column.missing > 0


def _prepare_text(plan: Plan, column: ColumnProfile) -> None:
    name, q = column.name, quote_identifier(column.name)
    value = f"trim({q}::VARCHAR)"
    if name not in plan.counts:
        if column.placeholders:
            tokens = f"lower({value}) IN ({_ALL_TOKENS_SQL})"
            plan.add(name, "tokens", f"histogram({q}) FILTER (WHERE {tokens})")
        plan.add(name, "distinct_exact", f"count(DISTINCT {q})")
        plan.add(name, "distinct_spelling", f"count(DISTINCT {SPELLING_SQL.format(q)})")
    base = column.present - column.placeholders
    for kind, parsed, cast in (
        ("number", column.numeric_text, "DOUBLE"),
        ("date", column.temporal_text, "TIMESTAMP"),
    ):
        if base > 0 and parsed >= TEXT_TYPE_SHARE * base:
            plan.text_types[name] = kind
            if name not in plan.counts:
                bad = f"TRY_CAST({value} AS {cast}) IS NULL AND lower({value}) NOT IN ({HARD_SQL})"
                plan.add(name, "offenders", f"approx_top_k({q}, {LISTED}) FILTER (WHERE {bad})")
                plan.add(name, "zeros", f"count_if(regexp_matches({value}, '^[+-]?0[0-9]'))")
            break
    if _maybe_identifier(plan, column) and plan.text_types.get(name) != "date":
        plan.identifiers.append(name)


def _maybe_identifier(plan: Plan, column: ColumnProfile) -> bool:
    return (
        column.name not in plan.ctx.charter.special_columns
        and column.present >= IDENTIFIER_MIN_ROWS
        and column.distinct >= _APPROX_SLACK * IDENTIFIER_SHARE * column.present
    )


def _prepare_numeric(plan: Plan, column: ColumnProfile) -> None:
    name, q, quantiles = column.name, quote_identifier(column.name), column.quantiles
    for statistic, sql in edge_expressions(column).items():
        plan.add(name, statistic, sql)
    if column.minimum != column.maximum and quantiles.get("q01") == quantiles.get("q99"):
        plan.near_constant.append(name)
        plan.add(name, "at_median", f"count_if({q} = {float(quantiles['q50'])!r})")
    integer = column.dtype.upper() in INTEGER_TYPES
    if integer and _maybe_identifier(plan, column) and (id_like_name(name) or is_sequence(column)):
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


def reencoding_eligible(plan: Plan) -> list[ColumnProfile]:
    """Columns that may re-encode another: a few repeated values, the target left out."""
    kinds = {"numeric", "categorical", "boolean", "temporal"}
    return [
        c
        for name, c in plan.columns.items()
        if name != plan.target
        and c.kind in kinds
        and 1 < c.distinct <= _REENCODING_MAX_SHARE * c.rows
    ]


def close_counts(one: int, other: int) -> bool:
    """Whether two approximate distinct counts may be equal."""
    return abs(one - other) <= _REENCODING_TOLERANCE * max(one, other)
