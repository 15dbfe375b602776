"""The models views: the leaderboard, one version (figures, lineage, gates, threshold), its card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from charter.registry import PRODUCTION, Entry, ModelVersion
from charter.registry._versions import CARD
from charter.reports._format import number
from charter.reports.dashboard._charts import metric_unit
from charter.reports.dashboard._text import action_words, interval, moment
from charter.reports.dashboard._web import dashboard_of, page, problem_page, version_number

__all__ = ["find_version", "router"]

router = APIRouter()
_GATE_ACTIONS = ("promoted", "rejected", "overridden")
_TEST_METRICS = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("accuracy", "accuracy"),
    ("rmse", "RMSE"),
    ("mae", "MAE"),
    ("r2", "R²"),
)


@router.get("/models", response_class=HTMLResponse)
def models_view(request: Request) -> Response:
    dashboard = dashboard_of(request)
    versions = dashboard.project.models()
    metric = (
        versions[-1].record.get("metric") if versions else dashboard.project.charter.success.metric
    )
    return page(
        request,
        "models.html.j2",
        view="models",
        title="Models",
        rows=[_row(v) for v in reversed(versions)],
        unit=metric_unit(metric),
        chart=dashboard.leaderboard_chart(versions),
    )


def _row(version: ModelVersion) -> dict[str, Any]:
    record = version.record
    test = record.get("test") or {}
    gain = record.get("gain") or None
    return {
        "number": version.number,
        "label": version.label,
        "candidate": version.candidate,
        "selected": version.selected,
        "kind": version.kind,
        "value": number(test.get("value")),
        "value_ci": interval(test.get("value_ci")),
        "gain": "—" if gain is None else number(gain.get("value")),
        "gain_ci": "—" if gain is None else interval(gain.get("ci")),
        "beats": None if gain is None else bool(gain.get("beats_baseline")),
        "aliases": list(version.aliases),
        "created": moment(version.created),
        "created_iso": version.created,
    }


def find_version(request: Request, ref: str) -> ModelVersion | Response:
    """The version `ref` names ("3", "v3"), or a 404 page."""
    dashboard = dashboard_of(request)
    wanted = version_number(ref)
    found = None
    if wanted is not None:
        found = next((v for v in dashboard.project.models() if v.number == wanted), None)
    if found is None:
        return problem_page(
            request,
            404,
            f"{dashboard.name} has no version {ref[:40]!r}; the Models view lists them.",
            view="models",
        )
    return found


@router.get("/models/{ref}", response_class=HTMLResponse)
def model_view(request: Request, ref: str) -> Response:
    found = find_version(request, ref)
    if isinstance(found, Response):
        return found
    dashboard = dashboard_of(request)
    version = found
    registry = dashboard.project.registry()
    record = version.record
    trail = dashboard.project.trail()
    threshold = registry.threshold(version) if record.get("task") == "classification" else None
    test = record.get("test") or {}
    cv = record.get("cv") or {}
    gain = record.get("gain") or None
    figures = [
        (
            f"Test {metric_unit(record.get('metric'))}",
            number(test.get("value")),
            interval(test.get("value_ci")),
        ),
        (
            "Cross-validation (mean ± standard error)",
            f"{number(cv.get('value'))} ± {number(cv.get('se'))}",
            "",
        ),
    ]
    if gain is not None:
        figures.append(
            (
                "Gain over the baseline",
                number(gain.get("value")),
                interval(gain.get("ci")),
            )
        )
    figures += [
        (label, number(test[key]), "") for key, label in _TEST_METRICS if test.get(key) is not None
    ]
    fairness = record.get("fairness") or None
    return page(
        request,
        "model.html.j2",
        view="models",
        title=f"{version.label}: {version.candidate}",
        version=version,
        created=moment(version.created),
        figures=figures,
        beats=None if gain is None else bool(gain.get("beats_baseline")),
        threshold=None if threshold is None else f"{threshold:.3f}",
        trained_threshold=record.get("threshold"),
        threshold_changed=threshold is not None
        and record.get("threshold") is not None
        and abs(threshold - float(record["threshold"])) > 1e-12,
        fairness=fairness,
        lineage=_lineage(version),
        attempts=[_attempt(e) for e in reversed(trail) if _is_attempt(e, version.number)],
        approvals=[
            {
                "by": e.details.get("approved_by", e.actor),
                "at": moment(e.at),
                "reason": e.reason or "",
            }
            for e in trail
            if e.action == "approved" and e.version == version.number
        ],
        in_production=PRODUCTION in version.aliases,
        card=CARD in version.artifacts,
        approvers=list(dashboard.project.charter.promotion.approvers),
        warnings=[str(w) for w in record.get("warnings") or []],
    )


def _is_attempt(entry: Entry, number_: int) -> bool:
    return (
        entry.version == number_
        and entry.action in _GATE_ACTIONS
        and isinstance(entry.details.get("gates"), dict)
    )


def _attempt(entry: Entry) -> dict[str, Any]:
    gates = entry.details["gates"]
    return {
        "seq": entry.seq,
        "at": moment(entry.at),
        "action": entry.action,
        "action_words": action_words(entry.action),
        "actor": entry.actor,
        "reason": entry.reason or "",
        "gates": [
            {
                "name": str(name).replace("_", " "),
                "status": str(gate.get("status", "")),
                "evidence": str(gate.get("evidence", "")),
            }
            for name, gate in gates.items()
            if isinstance(gate, dict)
        ],
    }


def _lineage(version: ModelVersion) -> list[tuple[str, str]]:
    lineage = version.lineage
    data, holdout, git = lineage.get("data") or {}, lineage.get("holdout") or {}, lineage.get("git")
    packages = lineage.get("packages") or {}
    return [
        ("Training run", f"{version.run} ({moment(lineage.get('run_started'))})"),
        ("Charter (SHA-256)", _short(lineage.get("charter_sha256"))),
        ("Data contract (SHA-256)", _short(lineage.get("contract_sha256")) or "none"),
        (
            "Data",
            f"{_short(data.get('sha256'))}: {number(data.get('rows'))} rows, "
            f"{number(data.get('features'))} features",
        ),
        (
            "Holdout",
            f"{_short(holdout.get('sha256'))}: {holdout.get('scheme') or '—'}, "
            f"{number(holdout.get('test_rows'))} test rows",
        ),
        (
            "Code",
            "not a git repository"
            if not git
            else f"{str(git.get('commit', ''))[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}",
        ),
        ("Python", str(lineage.get("python") or "—")),
        ("Packages", ", ".join(f"{k} {v}" for k, v in packages.items() if v) or "—"),
        (
            "Settings",
            f"seed {lineage.get('seed')}, {lineage.get('folds')} folds, "
            f"search budget {lineage.get('budget_seconds')} s",
        ),
        ("Registered", f"{moment(version.created)} by {version.created_by}"),
    ]


def _short(digest: Any) -> str:
    return str(digest)[:12] if digest else ""


@router.get("/models/{ref}/card", response_model=None)
def model_card(request: Request, ref: str) -> Response:
    found = find_version(request, ref)
    if isinstance(found, Response):
        return found
    if CARD not in found.artifacts:
        return problem_page(
            request, 404, f"{found.label} was registered without a model card.", view="models"
        )
    content = dashboard_of(request).project.registry().read(found, CARD)
    return HTMLResponse(content, headers={"X-Content-Type-Options": "nosniff"})
