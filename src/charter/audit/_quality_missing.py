"""Quality checks on missing values: empty cells, text that means 'missing', numeric codes.

Checks: quality.missing (empty, NaN or placeholder text; an error from `MISSING_ERROR` of the
rows, a warning from `MISSING_WARNING`, one summary info below), quality.placeholder,
quality.sentinel and quality.capped.
"""

from __future__ import annotations

from typing import Any

from charter.audit._findings import Finding, Severity
from charter.audit._quality_plan import LISTED, Plan, ranked
from charter.audit._target import count, sentinel_message, share, show

__all__ = [
    "MISSING_ERROR",
    "MISSING_WARNING",
    "find_missing",
    "find_placeholders",
    "find_sentinels",
]

MISSING_WARNING = 0.05
"""A column missing in 5% of rows or more (empty or placeholder text) is a warning; less, info."""

MISSING_ERROR = 0.5
"""A column missing in half of the rows or more is an error: decide what to do with it first."""


def find_missing(plan: Plan) -> list[Finding]:
    """quality.missing: columns empty, NaN or placeholder text in many rows; the few in one info."""
    findings: list[Finding] = []
    few: dict[str, dict[str, Any]] = {}
    rows = plan.rows
    for name, column in plan.columns.items():
        if name == plan.target:
            continue
        # The profile's missing count already includes NaN and infinities: split them out.
        nan = int(plan.get(name, "nan", 0))
        nulls = column.missing - nan
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
        parts = [(nulls, "empty"), (nan, "NaN or infinite"), (placeholders, "placeholder text")]
        how = ", ".join(f"{count(n)} {what}" for n, what in parts if n)
        detail = f": {how}" if nan or placeholders else ""
        message = (
            f"{share(missing, rows)} of '{name}' is missing "
            f"({count(missing)} of {count(rows)} rows{detail})."
        )
        if missing >= MISSING_ERROR * rows:
            severity = Severity.ERROR
            advice = (
                f"'{name}' is mostly empty. Fix the feed that fills it, or decide to drop the "
                "column, before modelling."
            )
        else:
            severity = Severity.WARNING
            advice = (
                f"Find out why '{name}' is missing and whether it will also be missing when "
                "predictions are made. Fill it at the source if you can; if it is missing for a "
                "reason, that reason may itself be informative."
            )
        findings.append(Finding("quality.missing", severity, (name,), message, advice, evidence))
    if few:
        listed = _listed(
            [
                f"'{n}' {share(e['missing'], rows)} ({count(e['missing'])} rows)"
                for n, e in few.items()
            ]
        )
        message = f"{len(few)} column{'s have' if len(few) > 1 else ' has'} a few missing values: {listed}."
        advice = "Few enough to handle during modelling; check they are as rare in new data."
        findings.append(
            Finding("quality.missing", Severity.INFO, tuple(few), message, advice, {"columns": few})
        )
    return findings


def find_placeholders(plan: Plan) -> list[Finding]:
    """quality.placeholder: text that says a value is missing, or an answer that may mean it."""
    findings = []
    for name, column in plan.columns.items():
        tokens = plan.tokens(name) if column.kind == "categorical" and name != plan.target else {}
        if not tokens:
            continue
        listed = ", ".join(f"{show(v)} ({count(n)} rows)" for v, n in ranked(tokens).items())
        evidence = {"tokens": tokens, "rows": plan.rows, "share": sum(tokens.values()) / plan.rows}
        if plan.hard_placeholders(name):
            message = f"'{name}' uses text to say a value is missing: {listed}."
            advice = (
                "Store missing values as empty (null) at the source: as text they read as a real "
                "category. They are counted as missing here."
            )
            severity = Severity.WARNING
        else:
            message = (
                f"'{name}' contains {listed}, which is taken as a real answer, not as missing."
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


def find_sentinels(plan: Plan) -> list[Finding]:
    """quality.sentinel and quality.capped: numeric codes for 'unknown', values piled at an edge."""
    findings = []
    for name, facts in plan.edges.items():
        for value, n in facts.sentinels.items():
            advice = (
                f"Ask the data owner what {show(value)} means in '{name}'. If it means 'unknown', "
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
                f"{count(n)} rows ({share(n, present)}) of '{name}' sit exactly at its {edge}, "
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


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more
