"""Accessibility: every source loads, and sources that are joined share their keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.data import Dataset, SourceInfo, quote_identifier
from charter.data._types import FLOAT_TYPES, INTEGER_TYPES

__all__ = [
    "MATCH_ERROR",
    "MATCH_WARNING",
    "KeyMatch",
    "check_access",
    "join_keys",
    "key_match",
    "match_severity",
    "type_family",
]

MATCH_WARNING = 0.95
"""Below this share of distinct keys found in the other source, a join loses rows: warning."""
MATCH_ERROR = 0.50
"""Below this share, most of a source cannot be joined: error."""

_EXAMPLES = 5


@dataclass(frozen=True)
class KeyMatch:
    """How the distinct values of one key column in two sources overlap."""

    key: str
    left: str
    right: str
    left_distinct: int
    right_distinct: int
    shared: int
    left_unmatched: tuple[str, ...]  # a few keys of `left` absent from `right`
    right_unmatched: tuple[str, ...]

    @property
    def left_rate(self) -> float:
        """Share of `left`'s distinct keys that appear in `right` (0 when it has none)."""
        return self.shared / self.left_distinct if self.left_distinct else 0.0

    @property
    def right_rate(self) -> float:
        """Share of `right`'s distinct keys that appear in `left` (0 when it has none)."""
        return self.shared / self.right_distinct if self.right_distinct else 0.0


def check_access(ctx: AuditContext) -> list[Finding]:
    """Accessibility checks: rows per source, join-key match rates, key type mismatches."""
    sources = list(ctx.dataset.sources.values())
    findings = [_source_finding(info) for info in sources]
    for left, right in combinations(sources, 2):
        types_left, types_right = dict(left.columns), dict(right.columns)
        for key in join_keys(left, right, ctx.charter.data.query):
            same_family = type_family(types_left[key]) == type_family(types_right[key])
            if not same_family:
                findings.append(_type_finding(key, left, right))
            match = key_match(ctx.dataset, left.name, right.name, key, as_text=not same_family)
            findings.append(_match_finding(match))
    return findings


def join_keys(left: SourceInfo, right: SourceInfo, query: str | None) -> list[str]:
    """Columns named alike in both sources; those the query names, when it names any."""
    right_names = {name for name, _ in right.columns}
    shared = [name for name, _ in left.columns if name in right_names]
    if query:
        named = [name for name in shared if _mentions(query, name)]
        if named:
            return named
    return shared


def key_match(dataset: Dataset, left: str, right: str, key: str, *, as_text: bool) -> KeyMatch:
    """Count distinct non-null keys on each side and in both, in one DuckDB query."""
    column = quote_identifier(key)
    value = f"CAST({column} AS VARCHAR)" if as_text else column
    sides = {"l": quote_identifier(left), "r": quote_identifier(right)}
    ctes = ", ".join(
        f"{alias} AS (SELECT DISTINCT {value} AS k FROM {relation} WHERE {column} IS NOT NULL)"
        for alias, relation in sides.items()
    )
    counts = dataset.sql(
        f"WITH {ctes} SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM r), "
        "(SELECT count(*) FROM l JOIN r ON l.k = r.k)"
    )[0]

    def unmatched(this: str, other: str) -> tuple[str, ...]:
        rows = dataset.sql(
            f"WITH {ctes} SELECT k FROM {this} WHERE k NOT IN (SELECT k FROM {other}) "
            f"ORDER BY k LIMIT {_EXAMPLES}"
        )
        return tuple(str(row[0]) for row in rows)

    return KeyMatch(
        key=key,
        left=left,
        right=right,
        left_distinct=int(counts[0]),
        right_distinct=int(counts[1]),
        shared=int(counts[2]),
        left_unmatched=unmatched("l", "r") if counts[2] < counts[0] else (),
        right_unmatched=unmatched("r", "l") if counts[2] < counts[1] else (),
    )


def match_severity(rate: float) -> Severity:
    """Error below MATCH_ERROR, warning below MATCH_WARNING, else info."""
    if rate < MATCH_ERROR:
        return Severity.ERROR
    if rate < MATCH_WARNING:
        return Severity.WARNING
    return Severity.INFO


def type_family(dtype: str) -> str:
    """Group DuckDB types that join without surprises: any numbers, text, dates, timestamps."""
    upper = dtype.upper()
    if upper in INTEGER_TYPES or upper in FLOAT_TYPES or upper.startswith("DECIMAL"):
        return "number"
    if upper in {"VARCHAR", "UUID"} or upper.startswith("ENUM"):
        return "text"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    return upper


def _source_finding(info: SourceInfo) -> Finding:
    evidence: dict[str, Any] = {
        "source": info.name,
        "kind": info.kind,
        "location": info.location,
        "rows": info.rows,
        "columns": len(info.columns),
    }
    if info.rows == 0:
        return Finding(
            check="access.source",
            severity=Severity.WARNING,
            columns=(),
            message=f"Source '{info.name}' loaded but has no rows ({info.location}).",
            recommendation=(
                "Check the file or the query: an empty source usually means a wrong path, "
                "a filter that excludes everything, or a failed export."
            ),
            evidence=evidence,
        )
    return Finding(
        check="access.source",
        severity=Severity.INFO,
        columns=(),
        message=(
            f"Source '{info.name}' loaded: {info.rows:,} rows and {len(info.columns)} columns "
            f"from {info.location}."
        ),
        evidence=evidence,
    )


def _type_finding(key: str, left: SourceInfo, right: SourceInfo) -> Finding:
    left_type, right_type = dict(left.columns)[key], dict(right.columns)[key]
    return Finding(
        check="access.key_type",
        severity=Severity.WARNING,
        columns=(key,),
        message=(
            f"Key '{key}' is {left_type} in '{left.name}' but {right_type} in '{right.name}'; "
            "a join on it compares values of different types."
        ),
        recommendation=(
            f"Make the key the same type in both sources, e.g. CAST({key} AS VARCHAR) in "
            "data.query, and check that values such as '0042' and 42 mean the same key. "
            "The match rate below compares the keys as text."
        ),
        evidence={
            "key": key,
            "left": left.name,
            "right": right.name,
            "left_type": left_type,
            "right_type": right_type,
        },
    )


def _match_finding(match: KeyMatch) -> Finding:
    worst = min(match.left_rate, match.right_rate)
    severity = match_severity(worst)
    message = (
        f"Join key '{match.key}': {match.left_rate:.1%} of the {match.left_distinct:,} distinct "
        f"keys in '{match.left}' appear in '{match.right}', and {match.right_rate:.1%} of the "
        f"{match.right_distinct:,} in '{match.right}' appear in '{match.left}'."
    )
    recommendation = ""
    if severity is not Severity.INFO:
        recommendation = (
            "Rows whose key has no partner are dropped by an inner join or get empty values in "
            "an outer join. Check that both sources cover the same records and period, and that "
            "the key is written the same way in both (type, leading zeros, case, spaces)."
        )
        if worst < MATCH_ERROR:
            recommendation = "Most keys do not match: fix the join before modelling. " + (
                recommendation
            )
    return Finding(
        check="access.join_match",
        severity=severity,
        columns=(match.key,),
        message=message,
        recommendation=recommendation,
        evidence={
            "key": match.key,
            "left": match.left,
            "right": match.right,
            "left_distinct": match.left_distinct,
            "right_distinct": match.right_distinct,
            "shared": match.shared,
            "left_match_rate": round(match.left_rate, 6),
            "right_match_rate": round(match.right_rate, 6),
            "left_unmatched_examples": list(match.left_unmatched),
            "right_unmatched_examples": list(match.right_unmatched),
        },
    )


def _mentions(query: str, column: str) -> bool:
    if re.fullmatch(r"[A-Za-z_]\w*", column):
        return re.search(rf"\b{re.escape(column)}\b", query, re.IGNORECASE) is not None
    return quote_identifier(column) in query
