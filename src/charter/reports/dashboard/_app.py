"""The dashboard's FastAPI application: the views, the static files, and errors as pages.

Every answer is an HTML page a person can read: a CharterError is a 4xx page saying what to do
(UsageError 400, any other 409), an unknown path 404, a malformed request 422; never a JSON body
or a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from charter import __version__
from charter.errors import CharterError, UsageError
from charter.reports._templates import environment
from charter.reports.dashboard import _actions, _models, _production, _views, _why
from charter.reports.dashboard._state import Dashboard
from charter.reports.dashboard._web import problem_page

if TYPE_CHECKING:
    from charter.api import Project

__all__ = ["STATIC", "create_dashboard"]

STATIC = Path(__file__).resolve().parent.parent / "static"
_log = logging.getLogger("charter.dashboard")


def create_dashboard(project: Project, *, warm: bool = True) -> FastAPI:
    """The dashboard over `project`'s workspace, ready to serve or to mount (e.g. under /ui).

    `warm` starts a thread that renders the costly charts as soon as a new monitoring or training
    run lands; `app.state.dashboard.close()` stops it.
    """
    app = FastAPI(
        title=f"charter · {project.charter.project} · dashboard",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.dashboard = Dashboard(project, warm_seconds=1.0 if warm else None)

    @app.get("/static/report.css", include_in_schema=False)
    def report_css() -> Response:
        # The reports' own stylesheet, shared so embedded report parts look as they do alone.
        loader = environment().loader
        assert loader is not None
        source, _, _ = loader.get_source(environment(), "_audit.css")
        return Response(
            source, media_type="text/css", headers={"Cache-Control": "public, max-age=300"}
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # Asked for by browsers on pages without an icon link (the stored reports): a 404 would
        # be a console error.
        return FileResponse(
            STATIC / "favicon.svg",
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    for module in (_views, _models, _why, _production, _actions):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(CharterError)
    async def charter_error(request: Request, exc: CharterError) -> Response:
        return problem_page(request, 400 if isinstance(exc, UsageError) else 409, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return problem_page(request, 404, f"There is no page at {request.url.path[:200]}.")
        if exc.status_code == 405:
            return problem_page(
                request, 405, f"{request.method} is not allowed at {request.url.path[:200]}."
            )
        return problem_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return problem_page(request, 422, "The request does not fit this page.", details=details)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        _log.exception("dashboard page %s failed", request.url.path)
        return problem_page(
            request,
            500,
            f"The dashboard could not show this page ({type(exc).__name__}). "
            "The server's log has the details; please report it.",
        )

    return app
