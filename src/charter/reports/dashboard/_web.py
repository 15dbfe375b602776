"""What every dashboard page shares: the layout's context, HTML answers, and reading forms.

Forms are read by hand (URL-encoded bodies, the browser's default): FastAPI's `Form` needs
python-multipart, a dependency for nothing a dashboard form sends.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse

from charter import __version__
from charter.reports._templates import environment
from charter.reports.dashboard._state import Dashboard

__all__ = [
    "VIEWS",
    "FormError",
    "base_of",
    "dashboard_of",
    "page",
    "problem_page",
    "read_form",
    "version_number",
]

VIEWS: tuple[tuple[str, str, str], ...] = (
    ("project", "/", "Project"),
    ("data", "/data", "Data readiness"),
    ("models", "/models", "Models"),
    ("production", "/production", "Production"),
    ("monitoring", "/monitoring", "Monitoring"),
    ("trail", "/trail", "Audit trail"),
)
FORM_LIMIT = 256 * 1024  # bytes: a record as JSON is far smaller
_FIELDS_LIMIT = 500
_VERSION = re.compile(r"^\s*[vV]?(\d{1,9})\s*$")


class FormError(Exception):
    """A form the dashboard cannot read: the status to answer and why, in plain words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def dashboard_of(request: Request) -> Dashboard:
    found = request.app.state.dashboard
    assert isinstance(found, Dashboard)
    return found


def base_of(request: Request) -> str:
    """The prefix the dashboard is mounted under ("" on its own, "/ui" beside the service)."""
    return str(request.scope.get("root_path") or "").rstrip("/")


def page(
    request: Request,
    template: str,
    *,
    view: str | None,
    title: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `dashboard/<template>` inside the layout (navigation, skip link, one h1)."""
    dashboard = dashboard_of(request)
    html = (
        environment()
        .get_template(f"dashboard/{template}")
        .render(
            base=base_of(request),
            views=VIEWS,
            view=view,
            title=title,
            project_name=dashboard.name,
            charter_version=__version__,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def problem_page(
    request: Request,
    status: int,
    message: str,
    *,
    title: str | None = None,
    details: list[str] | None = None,
    view: str | None = None,
) -> HTMLResponse:
    """A page saying what went wrong (`<p role="alert">`) and where to go next."""
    return page(
        request,
        "problem.html.j2",
        view=view,
        title=title or _TITLES.get(status, "Something needs fixing"),
        status=status,
        status_code=status,
        message=message,
        details=details or [],
    )


_TITLES = {
    400: "That request does not fit",
    401: "An admin key is needed",
    403: "This key may not do that",
    404: "Nothing here",
    405: "Not allowed here",
    409: "Refused",
    413: "Too much sent",
    415: "Send the form as a web form",
    422: "Something is missing or wrong",
    500: "The dashboard failed",
}
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
    ),
}


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the last value of a repeated name); FormError when unreadable."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise FormError(
            415, f"send the form as application/x-www-form-urlencoded, not {kind or 'nothing'}."
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        raise FormError(413, f"the form is over {FORM_LIMIT // 1024} KB.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormError(413, f"the form is over {FORM_LIMIT // 1024} KB.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=_FIELDS_LIMIT,
        )
    except UnicodeDecodeError:
        raise FormError(400, "the form is not UTF-8 text.") from None
    except ValueError:
        raise FormError(413, f"the form has more than {_FIELDS_LIMIT} fields.") from None
    return dict(pairs)


def version_number(text: str | None) -> int | None:
    """A version as people write it ("3", "v3"), or None when it is not one."""
    if text is None:
        return None
    found = _VERSION.match(text)
    return int(found.group(1)) if found else None
