"""The production view: which version serves and since when, who put each one there and why,
and how the shadow version's answers compare with production's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from charter.registry import PRODUCTION, Stint
from charter.reports._format import number, percent, signed
from charter.reports.dashboard._text import action_words, moment, parse_moment
from charter.reports.dashboard._web import dashboard_of, page

__all__ = ["router"]

router = APIRouter()
SHADOW = "shadow"


@router.get("/production", response_class=HTMLResponse)
def production_view(request: Request) -> Response:
    dashboard = dashboard_of(request)
    project = dashboard.project
    aliases = project.registry().aliases(dashboard.name)
    stints = project.history(PRODUCTION)
    current = aliases.get(PRODUCTION)
    serving = project.version(current) if current is not None else None
    since = stints[-1].since if stints and stints[-1].version == current else None
    shadow: dict[str, Any] | None = None
    shadow_number = aliases.get(SHADOW)
    if shadow_number is not None:
        attached = project.history(SHADOW)
        attached_at = attached[-1].since if attached else None
        shadow = {
            "version": project.version(shadow_number),
            "since": moment(attached_at),
            "agreement": None,
        }
        if current is not None:
            found = dashboard.shadow.measure(current, shadow_number, parse_moment(attached_at))
            shadow["agreement"] = {
                "rows": number(found.rows),
                "compared": found.rows,
                "same": percent(found.same_decisions),
                "difference": signed(found.mean_difference),
                "absolute": number(found.mean_absolute_difference),
                "measured": moment_of_epoch(found.measured),
            }
    earlier = sorted({s.version for s in stints if s.version != current}, reverse=True)
    return page(
        request,
        "production.html.j2",
        view="production",
        title="Production",
        serving=serving,
        since=moment(since),
        history=[_stint(s) for s in reversed(stints)],
        shadow=shadow,
        earlier=earlier,
    )


def _stint(stint: Stint) -> dict[str, Any]:
    return {
        "version": stint.version,
        "since": moment(stint.since),
        "until": "now" if stint.until is None else moment(stint.until),
        "how": action_words(stint.action),
        "action": stint.action,
        "actor": stint.actor,
        "reason": stint.reason or "",
        "seq": stint.seq,
    }


def moment_of_epoch(seconds: float) -> str:
    return moment(datetime.fromtimestamp(seconds, UTC).isoformat())
