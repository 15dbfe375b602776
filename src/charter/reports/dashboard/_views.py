"""The views that read one store each: project, data readiness, monitoring and the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from charter.registry import Entry
from charter.reports.dashboard._phases import phase_gates
from charter.reports.dashboard._text import action_words, moment
from charter.reports.dashboard._web import dashboard_of, page, problem_page, version_number

__all__ = ["router"]

router = APIRouter()
_DONE_CHARS = 300
_FILTER_CHARS = 200


@router.get("/", response_class=HTMLResponse)
def project_view(request: Request) -> Response:
    dashboard = dashboard_of(request)
    charter = dashboard.charter()
    success = charter.success
    target = []
    if success.metric:
        target.append(f"measured by {success.metric.replace('_', ' ')}")
    if success.beat_baseline_by is not None:
        target.append(f"beat today's baseline by {success.beat_baseline_by:.0%}")
    facts = [
        ("Problem", charter.problem or "not written yet"),
        ("Decision", charter.decision or "not written yet"),
        ("Owner", charter.owner or "nobody named yet"),
        (
            "Target",
            f"{charter.target}"
            + (
                f" (positive: {charter.positive_class})"
                if charter.positive_class is not None
                else ""
            )
            + (f", {charter.task}" if charter.task else ""),
        ),
        ("Success", "; ".join(target) or "not stated yet"),
        ("Baseline", charter.baseline.description or charter.baseline.rule or "majority / mean"),
    ]
    values = success.value
    outcome_values = (
        [
            ("acted on, and it happened (true positive)", values.true_positive),
            ("acted on, but it did not happen (false positive)", values.false_positive),
            ("not acted on, and it happened (false negative)", values.false_negative),
            ("not acted on, and it did not happen (true negative)", values.true_negative),
        ]
        if values is not None and charter.task == "classification"
        else []
    )
    return page(
        request,
        "project.html.j2",
        view="project",
        title=f"{charter.project}: project",
        facts=facts,
        outcome_values=outcome_values,
        gates=phase_gates(dashboard),
    )


@router.get("/data", response_class=HTMLResponse)
def data_view(request: Request) -> Response:
    dashboard = dashboard_of(request)
    document = dashboard.audit.get()
    findings: list[dict[str, Any]] = []
    if document is not None:
        findings = [f for f in document.get("findings") or [] if isinstance(f, dict)]
    report = dashboard.audit_report()
    return page(
        request,
        "data.html.j2",
        view="data",
        title="Data readiness",
        audit=document,
        verdict=str(document.get("verdict") or "") if document else "",
        started=moment(document.get("started")) if document else "—",
        findings=findings,
        counts=document.get("counts")
        if document and isinstance(document.get("counts"), dict)
        else {},
        report=report.name if report is not None else None,
        charts=dashboard.audit_charts(),
    )


@router.get("/data/report", response_model=None)
def data_report(request: Request) -> Response:
    report = dashboard_of(request).audit_report()
    if report is None:
        return problem_page(
            request,
            404,
            "No audit report yet: run `charter audit`; it writes one in .charter/reports/.",
            view="data",
        )
    return FileResponse(report, media_type="text/html; charset=utf-8")


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_view(request: Request) -> Response:
    run = dashboard_of(request).monitoring.get()
    return page(
        request,
        "monitoring.html.j2",
        view="monitoring",
        title="Monitoring",
        run=run,
        generated=moment(run.generated) if run else "—",
    )


@router.get("/trail", response_class=HTMLResponse)
def trail_view(
    request: Request,
    action: str = "",
    version: str = "",
    actor: str = "",
    done: str = "",
) -> Response:
    dashboard = dashboard_of(request)
    entries = dashboard.project.trail()
    check = dashboard.project.verify_trail()
    action, actor = action.strip()[:_FILTER_CHARS], actor.strip()[:_FILTER_CHARS]
    problems: list[str] = []
    number = None
    if version.strip():
        number = version_number(version)
        if number is None:
            problems.append(f"version must be a number such as 3 or v3, not {version[:40]!r}.")
    shown: list[Entry] = [
        e
        for e in entries
        if (not action or e.action == action)
        and (number is None or e.version == number)
        and (not actor or e.actor == actor)
    ]
    actions = sorted({e.action for e in entries} | ({action} if action else set()))
    return page(
        request,
        "trail.html.j2",
        view="trail",
        title="Audit trail",
        status=422 if problems else 200,
        entries=[_entry_row(e) for e in reversed(shown)],
        total=len(entries),
        actions=[(a, action_words(a)) for a in actions],
        actors=sorted({e.actor for e in entries}),
        chosen={"action": action, "version": version.strip()[:40], "actor": actor},
        filtered=bool(action or version.strip() or actor),
        check=check,
        done=done.strip()[:_DONE_CHARS],
        problems=problems,
    )


def _entry_row(entry: Entry) -> dict[str, Any]:
    details = entry.details
    found = details.get("gates")
    gates: dict[str, Any] = found if isinstance(found, dict) else {}
    failed = [
        str(name)
        for name, gate in gates.items()
        if isinstance(gate, dict) and gate.get("status") == "fail"
    ]
    note = ""
    if entry.action in ("rejected", "overridden"):
        note = f"failed: {', '.join(failed) or 'none'}"
    elif entry.action == "approved":
        note = f"by {details.get('approved_by', entry.actor)}"
    elif entry.action == "registered":
        note = f"{details.get('candidate', '')} ({details.get('kind', '')})"
    elif entry.action == "threshold_changed":
        note = f"{details.get('previous')} → {details.get('threshold')}"
    elif details.get("previous") is not None or details.get("from") is not None:
        note = f"was v{details.get('previous', details.get('from'))}"
    return {
        "seq": entry.seq,
        "at": moment(entry.at),
        "iso": entry.at,
        "action": entry.action,
        "action_words": action_words(entry.action),
        "version": entry.version,
        "alias": entry.alias or "",
        "actor": entry.actor,
        "reason": entry.reason or "",
        "note": note,
    }
