"""Quality checks on how text is written: numbers or dates stored as text, and variant spellings.

Checks: quality.type_as_text (text whose values parse as numbers or dates in `TEXT_TYPE_SHARE`
of rows, unless leading zeros make it a code) and quality.spelling (values that differ only by
case or spaces).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from charter.audit._findings import Finding, Severity
from charter.audit._quality_plan import HARD_SQL, LISTED, SPELLING_SQL, Plan, ranked
from charter.audit._target import HARD_PLACEHOLDERS, count, jsonable, show
from charter.data import DATASET, quote_identifier

__all__ = ["find_spelling", "find_text_types", "spelling_groups"]


def spelling_groups(value_counts: Iterable[tuple[Any, int]]) -> list[dict[str, int]]:
    """Groups of text values that differ only by case or spaces ('Yes', 'yes ', 'YES').

    Each group maps its variants to their counts, most frequent first; the largest group comes
    first. Placeholders (blank, 'N/A'...) are left to the placeholder check.
    """
    groups: dict[str, dict[str, int]] = {}
    for value, n in value_counts:
        if isinstance(value, str) and value.strip().lower() not in HARD_PLACEHOLDERS:
            groups.setdefault(" ".join(value.split()).lower(), {})[value] = int(n)
    found = [ranked(g) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: -sum(g.values()))


def find_text_types(plan: Plan) -> list[Finding]:
    """quality.type_as_text: numbers or dates stored as text, with values that do not parse."""
    offenders = _offenders_from_counts(plan)
    findings = []
    for name, kind in plan.text_types.items():
        column = plan.columns[name]
        if name in plan.counts:
            bad, zeros = offenders.get(name, ({}, 0))
            examples: list[Any] = list(ranked(bad))[:LISTED]
        else:
            examples = list(plan.get(name, "offenders", []))
            zeros = int(plan.get(name, "zeros", 0))
        parsed = column.numeric_text if kind == "number" else column.temporal_text
        if kind == "number" and zeros >= 0.01 * parsed:
            continue  # leading zeros: a code such as a postcode, rightly kept as text
        failing = max(column.present - plan.hard_placeholders(name) - parsed, 0)
        message = (
            f"'{name}' holds {kind}s stored as text ({count(parsed)} of "
            f"{count(column.present)} filled rows parse as {kind}s)"
        )
        if failing:
            message += f"; {count(failing)} do not, such as {', '.join(map(show, examples))}"
        fix = ", after fixing the values that do not parse" if failing else ""
        advice = (
            f"Store '{name}' as {kind}s at the source{fix}. As text, a model takes each {kind} "
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


def _offenders_from_counts(plan: Plan) -> dict[str, tuple[dict[str, int], int]]:
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
                  ELSE TRY_CAST({v} AS TIMESTAMP) IS NULL END AND lower({v}) NOT IN ({HARD_SQL}),
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


def find_spelling(plan: Plan) -> list[Finding]:
    """quality.spelling: text columns writing one value in several ways."""
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
        listed = "; ".join(", ".join(map(show, g)) for g in groups[:LISTED])
        message = (
            f"'{name}' writes the same value in different ways ({len(groups)} "
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


def _spelling_groups_in_sql(plan: Plan, name: str) -> list[dict[str, int]]:
    q = quote_identifier(name)
    rows = plan.ctx.dataset.sql(
        f"""SELECT histogram(value) FROM (
                SELECT {q}::VARCHAR AS value, {SPELLING_SQL.format(q)} AS spelling
                FROM {DATASET} WHERE {q} IS NOT NULL
            ) GROUP BY spelling HAVING count(DISTINCT value) > 1 ORDER BY count(*) DESC LIMIT 200"""
    )
    return spelling_groups(pair for (histogram,) in rows for pair in histogram.items())
