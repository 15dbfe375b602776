"""Approve, promote and roll back from the dashboard, for whoever holds an admin key.

Each action calls the same `Project` method as the CLI, so the same gates run and the same
entries go onto the audit trail. The key travels in the form (a password input): it doubles as
the protection against cross-site forms, since another site cannot know it.

    401  no key, or a key unknown or revoked      403  a key whose scope is not admin
    422  no reason, or a field missing or wrong   409  the gates refuse, or the state does not allow it
    303  done: on to the audit trail, which says what was done
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from charter.errors import CharterError
from charter.registry._keys import Keys
from charter.reports.dashboard._web import (
    FormError,
    base_of,
    dashboard_of,
    page,
    problem_page,
    read_form,
    version_number,
)

__all__ = ["router"]

router = APIRouter()
_REASON_CHARS = 2000


@router.post("/actions/approve", response_model=None)
async def approve(request: Request) -> Response:
    return await _act(request, _approve)


@router.post("/actions/promote", response_model=None)
async def promote(request: Request) -> Response:
    return await _act(request, _promote)


@router.post("/actions/rollback", response_model=None)
async def rollback(request: Request) -> Response:
    return await _act(request, _rollback)


Action = Callable[[Request, dict[str, str], str, str], Response]  # request, form, reason, who


async def _act(request: Request, action: Action) -> Response:
    try:
        form = await read_form(request)
    except FormError as exc:
        return problem_page(request, exc.status, exc.message)
    return await run_in_threadpool(_checked, request, form, action)


def _checked(request: Request, form: dict[str, str], action: Action) -> Response:
    """Key first (401/403), then the reason (422), then the action itself."""
    dashboard = dashboard_of(request)
    key = form.get("key", "").strip()
    if not key:
        return problem_page(
            request, 401, "Enter an admin API key (`charter keys create --scope admin`)."
        )
    record = Keys(dashboard.project.registry().store).find(dashboard.name, key)
    if record is None or record.revoked is not None:
        return problem_page(request, 401, "This API key is not known or was revoked.")
    if not record.allows("admin"):
        return problem_page(
            request,
            403,
            f"The key {record.prefix} ({record.name}) has scope {record.scope}; "
            "approving, promoting and rolling back need an admin key.",
        )
    reason = form.get("reason", "").strip()[:_REASON_CHARS]
    if not reason:
        return problem_page(
            request, 422, "Say why: a reason is required, and it goes on the audit trail."
        )
    who = f"{record.name} (admin key {record.prefix}, dashboard)"
    try:
        return action(request, form, reason, who)
    except CharterError as exc:
        return problem_page(request, 409, str(exc))


def _version(request: Request, form: dict[str, str]) -> int | None:
    """The form's version when the registry has it (None: answer with `_missing_version`)."""
    number = version_number(form.get("version"))
    if number is None:
        return None
    known = {v.number for v in dashboard_of(request).project.models()}
    return number if number in known else None


def _missing_version(request: Request, form: dict[str, str]) -> Response:
    given = form.get("version", "").strip()[:40]
    if version_number(given) is not None:
        message = (
            f"{dashboard_of(request).name} has no version {given}; the Models view lists them."
        )
    else:
        message = (
            f"Name the version as a number such as 3 or v3{f', not {given!r}' if given else ''}."
        )
    return problem_page(request, 422, message)


def _approve(request: Request, form: dict[str, str], reason: str, who: str) -> Response:
    number = _version(request, form)
    if number is None:
        return _missing_version(request, form)
    by = form.get("by", "").strip()
    if not by:
        return problem_page(request, 422, "Name the person approving (the by field).")
    version = dashboard_of(request).project.approve(number, by=by, reason=reason, recorded_by=who)
    return _done(request, f"{version.label} approved by {by}")


def _promote(request: Request, form: dict[str, str], reason: str, who: str) -> Response:
    number = _version(request, form)
    if number is None:
        return _missing_version(request, form)
    promotion = dashboard_of(request).project.promote(number, reason=reason, by=who)
    if not promotion.moved:
        return page(
            request,
            "refused.html.j2",
            view="models",
            title=f"{promotion.version.label} was not promoted",
            status=409,
            version=promotion.version,
            gates=[
                {"name": g.name.replace("_", " "), "status": g.status, "evidence": g.evidence}
                for g in promotion.gates
            ],
            failed=[g.name.replace("_", " ") for g in promotion.failed],
        )
    was = f" (was v{promotion.previous})" if promotion.previous is not None else ""
    return _done(request, f"{promotion.version.label} promoted to production{was}")


def _rollback(request: Request, form: dict[str, str], reason: str, who: str) -> Response:
    to_text = form.get("to", "").strip()
    to = None
    if to_text and to_text.lower() != "previous":
        to = version_number(to_text)
        if to is None:
            return problem_page(
                request, 422, f"Roll back to a version such as 3 or v3, not {to_text[:40]!r}."
            )
    done = dashboard_of(request).project.rollback(reason=reason, to=to, by=who)
    return _done(
        request, f"rolled back: v{done.to_version} is production again (was v{done.from_version})"
    )


def _done(request: Request, words: str) -> Response:
    return RedirectResponse(
        f"{base_of(request)}/trail?{urlencode({'done': words})}", status_code=303
    )
