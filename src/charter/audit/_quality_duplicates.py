"""Quality checks on repetition: copied rows, repeated entities, columns that copy each other.

Checks: quality.duplicate_rows, quality.duplicate_entity (an entity repeated without a time
column, or twice at one time with different values) and quality.reencoding (two columns in
one-to-one correspondence).
"""

from __future__ import annotations

import math
from typing import Any

from charter.audit._findings import Finding, Severity
from charter.audit._quality_plan import LISTED, Plan, close_counts, reencoding_eligible
from charter.audit._target import count, jsonable, share, show
from charter.data import DATASET, quote_identifier

__all__ = ["find_duplicate_entity", "find_duplicate_rows", "find_reencoding"]

_REENCODING_MAX_PAIRS = 30
_REENCODING_PREFIX = 50_000


def find_duplicate_rows(plan: Plan) -> list[Finding]:
    """quality.duplicate_rows: rows that copy another row whole."""
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


def find_duplicate_entity(plan: Plan) -> list[Finding]:
    """quality.duplicate_entity: an entity on several rows, or twice at one time."""
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
            ) ORDER BY n DESC, id LIMIT {LISTED}"""
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
        f"'{entity}' repeats: {count(evidence['repeated_ids'])} ids appear more than once "
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
    message = repeats + f", once per '{time}', as expected with a time column."
    advice = "Keep all rows of one entity on the same side of a train/test split."
    findings = [Finding(check, Severity.INFO, (entity, time), message, advice, evidence)]
    # rows copied whole repeat their pair too, but are reported as duplicate rows
    copies = plan.rows - int(plan.get("", "distinct_rows", plan.rows))
    conflicting = present - int(plan.get(entity, "pairs", present)) - copies
    if conflicting > 0:
        message = (
            f"{count(conflicting)} rows repeat an ('{entity}', '{time}') pair with different "
            "values: the same entity twice at the same time, described differently."
        )
        advice = "Find out which of the conflicting rows is right and remove the others before modelling."
        evidence = {**evidence, "conflicting_rows": conflicting}
        findings.append(Finding(check, Severity.WARNING, (entity, time), message, advice, evidence))
    return findings


def find_reencoding(plan: Plan) -> list[Finding]:
    """quality.reencoding: pairs of columns in one-to-one correspondence."""
    """Pairs of columns in one-to-one correspondence: matching counts first, then exact checks."""
    eligible = reencoding_eligible(plan)
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
                both_unknown and close_counts(left.distinct, right.distinct)
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
            f"'{a}' and '{b}' hold the same information in two forms: each of their "
            f"{count(da)} values matches exactly one value of the other."
        )
        advice = (
            f"Keep one of '{a}' and '{b}'. Two copies of one fact split a model's attention "
            "between them and make its explanations confusing."
        )
        evidence = {"distinct": da, "distinct_pairs": pairs}
        findings.append(
            Finding("quality.reencoding", Severity.WARNING, (a, b), message, advice, evidence)
        )
    return findings


def _pair_counts(plan: Plan, pairs: list[tuple[str, str]], relation: str) -> list[tuple[int, ...]]:
    """Distinct values of each column of each pair, and of the pair together (nulls included)."""
    if not pairs:
        return []
    expressions = []
    for first, second in pairs:
        a, b = quote_identifier(first), quote_identifier(second)
        expressions += [f"count(DISTINCT hash({x}))" for x in (a, b, f"{a}, {b}")]
    row = plan.ctx.dataset.sql(f"SELECT {', '.join(expressions)} FROM {relation}")[0]
    return [tuple(int(n) for n in row[k : k + 3]) for k in range(0, len(row), 3)]
