"""The readiness report: an `AuditResult` as one self-contained HTML file that opens offline."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from charter import __version__
from charter._atomic import write_text_atomic
from charter.audit import AuditResult, ColumnProfile, Finding, Severity, Verdict
from charter.reports._charts import (
    Chart,
    GroupRate,
    distribution_chart,
    group_rate_chart,
    learning_curve_chart,
    missingness_chart,
    volume_chart,
)
from charter.reports._format import (
    EvidenceItem,
    display_value,
    evidence_items,
    number,
    percent,
    real_number,
)
from charter.reports._templates import environment

__all__ = ["render_audit_html", "write_audit_html"]

MAX_DISTRIBUTIONS = 60
"""Columns drawn in the distributions grid; wider data lists the rest in the column table only."""

_METRIC_NAMES = {"roc_auc": "ROC AUC", "r2": "R²", "pr_auc": "PR AUC"}

_SEVERITY_TITLES = {
    Severity.ERROR: "Blocking problems",
    Severity.WARNING: "Warnings",
    Severity.INFO: "For information",
}


@dataclass(frozen=True)
class _FindingView:
    check: str
    severity: str
    columns: str
    message: str
    recommendation: str
    evidence: list[EvidenceItem]


@dataclass(frozen=True)
class _Section:
    severity: str
    title: str
    findings: list[_FindingView]


@dataclass(frozen=True)
class _ColumnRow:
    name: str
    dtype: str
    kind: str
    missing: str
    placeholders: str
    distinct: str
    minimum: str
    mean: str
    maximum: str
    is_target: bool


def render_audit_html(result: AuditResult) -> str:
    """Render the readiness report of `result` as a self-contained HTML document.

    Everything the page needs is inline (CSS, SVG charts); it fetches nothing, so it opens
    offline and can be mailed as one file.

    Example:
        >>> html = render_audit_html(project.audit())  # doctest: +SKIP
    """
    template = environment().get_template("audit.html.j2")
    return template.render(**_context(result))


def write_audit_html(result: AuditResult, path: str | os.PathLike[str]) -> Path:
    """Write the readiness report of `result` to `path` (folders created) and return the path."""
    return write_text_atomic(path, render_audit_html(result))


def _context(result: AuditResult) -> dict[str, Any]:
    counts = {s.value: sum(1 for f in result.findings if f.severity == s) for s in Severity}
    columns = list(result.profile.columns.values())
    distributions, undrawn = _distributions(columns, result.target)
    return {
        "result": result,
        "version": __version__,
        "verdict_class": _verdict_class(result.verdict),
        "explanation": _explanation(result.verdict, counts["error"], counts["warning"]),
        "rows": number(result.profile.rows),
        "column_count": number(len(columns)),
        "started": _when(result.started),
        "duration": _duration(result.seconds),
        "sections": _sections(result.findings),
        "missingness": missingness_chart(columns),
        "group_charts": _group_charts(result.findings, task=result.task),
        "learning_curve": _learning_curve(result.findings),
        "volume": _volume(result.findings),
        "distributions": distributions,
        "undrawn": undrawn,
        "column_rows": [_column_row(c, result.target) for c in columns],
        "sources": [
            {"name": s.name, "kind": s.kind, "location": s.location, "rows": number(s.rows)}
            for s in result.sources
        ],
    }


def _verdict_class(verdict: Verdict) -> str:
    return {
        Verdict.READY: "ready",
        Verdict.READY_WITH_WARNINGS: "warnings",
        Verdict.NOT_READY: "not-ready",
    }[verdict]


def _explanation(verdict: Verdict, errors: int, warnings: int) -> str:
    if verdict == Verdict.NOT_READY:
        text = f"Fix the data before modelling: {_plural(errors, 'blocking problem')}"
        return text + (f", and {_plural(warnings, 'warning')} to review." if warnings else ".")
    if verdict == Verdict.READY_WITH_WARNINGS:
        return f"Ready to model, but review {_plural(warnings, 'warning')} first."
    return "Ready to model: the data passed every readiness check."


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _when(started: datetime) -> str:
    text = started.strftime("%Y-%m-%d %H:%M")
    offset = started.utcoffset()
    if offset is None:
        return text
    return text + (" UTC" if not offset else started.strftime(" %z"))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _sections(findings: Sequence[Finding]) -> list[_Section]:
    sections = []
    for severity in sorted(Severity, key=lambda s: s.rank):
        views = [
            _FindingView(
                check=f.check,
                severity=f.severity.value,
                columns=", ".join(f.columns),
                message=f.message,
                recommendation=f.recommendation,
                evidence=evidence_items(f.evidence),
            )
            for f in findings
            if f.severity == severity
        ]
        if views:
            sections.append(_Section(severity.value, _SEVERITY_TITLES[severity], views))
    return sections


def _distributions(columns: Sequence[ColumnProfile], target: str) -> tuple[list[Chart], list[str]]:
    ordered = sorted(columns, key=lambda c: c.name != target)
    charts: list[Chart] = []
    undrawn: list[str] = []
    for i, column in enumerate(ordered):
        chart = None
        if len(charts) < MAX_DISTRIBUTIONS:
            chart = distribution_chart(column, key=f"dist-{i}")
        if chart is None:
            undrawn.append(column.name)
        else:
            charts.append(chart)
    return charts, undrawn


def _group_charts(findings: Sequence[Finding], *, task: str) -> list[Chart]:
    charts: dict[str, Chart] = {}
    for finding in findings:
        if not finding.check.startswith("bias.") or not finding.columns:
            continue
        column = finding.columns[0]
        groups = [_group(record) for record in _records(finding.evidence, "groups")]
        valid = [g for g in groups if g is not None]
        if column in charts or not valid:
            continue
        metric = finding.evidence.get("metric")
        share = metric == "positive_rate" if metric else task == "classification"
        positive = finding.evidence.get("positive_class")
        label = (
            (f"share of {positive!r} (% of rows)" if positive is not None else None)
            if share
            else "mean of the target"
        )
        chart = group_rate_chart(column, valid, percent_scale=share, label=label)
        if chart is not None:
            charts[column] = chart
    return list(charts.values())


def _group(record: Mapping[str, Any]) -> GroupRate | None:
    rows, rate = real_number(record.get("rows")), real_number(record.get("rate"))
    if rows is None or "group" not in record:
        return None
    evaluable = record.get("evaluable", True) is not False
    return GroupRate(group=str(record["group"]), rows=int(rows), rate=rate, evaluable=evaluable)


def _learning_curve(findings: Sequence[Finding]) -> Chart | None:
    for finding in findings:
        if finding.check != "volume.learning_curve":
            continue
        records = _records(finding.evidence, "curve") or _records(finding.evidence, "points")
        points = [
            (
                real_number(p.get("rows")),
                real_number(p.get("score")),
                real_number(p.get("std")) or 0.0,
            )
            for p in records
        ]
        complete = [(r, s, d) for r, s, d in points if r is not None and s is not None]
        metric = str(finding.evidence.get("metric") or "score")
        return learning_curve_chart(
            [p[0] for p in complete],
            [p[1] for p in complete],
            [p[2] for p in complete],
            metric=_METRIC_NAMES.get(metric, metric),
        )
    return None


def _volume(findings: Sequence[Finding]) -> Chart | None:
    for finding in findings:
        if finding.check != "timeliness.volume_per_period":
            continue
        points = [
            (str(p.get("period")), real_number(p.get("rows")))
            for p in _records(finding.evidence, "series")
        ]
        complete = [(period, int(rows)) for period, rows in points if rows is not None]
        return volume_chart([p[0] for p in complete], [p[1] for p in complete])
    return None


def _records(evidence: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The list of records under `key`, or [] when the evidence has another shape."""
    value = evidence.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _column_row(column: ColumnProfile, target: str) -> _ColumnRow:
    placeholders = percent(column.placeholders / column.rows) if column.placeholders else ""
    minimum = maximum = ""
    if column.kind in {"numeric", "temporal"}:
        minimum, maximum = number(column.minimum), number(column.maximum)
    elif column.top_values:
        value, count = column.top_values[0]
        share = f" ({percent(count / column.rows)})" if count >= 0 and column.rows else ""
        maximum = f"top: {display_value(value)}{share}"
    return _ColumnRow(
        name=column.name,
        dtype=column.dtype,
        kind=column.kind,
        missing=percent(column.missing_share),
        placeholders=placeholders,
        distinct=number(column.distinct),
        minimum=minimum,
        mean=number(column.mean) if column.kind == "numeric" else "",
        maximum=maximum,
        is_target=column.name == target,
    )
