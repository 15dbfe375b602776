"""The dashboard command: ui."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from charter._cli_common import CharterOption, _console, _friendly

__all__ = ["COMMANDS"]


@_friendly
def ui(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port.", min=1, max=65535)] = 8080,
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Serve the dashboard: the charter, the gates, data readiness, models, production, monitoring, trail."""
    import uvicorn

    from charter.api import Project
    from charter.reports.dashboard import create_dashboard

    project = Project(charter)  # fails here, with a message, on a bad charter or store
    app = create_dashboard(project)
    _console(stderr=True).print(
        f"Dashboard of {escape(project.charter.project)} on http://{host}:{port}/ "
        "(approve, promote and roll back need an admin key: `charter keys create --scope admin`). Ctrl+C stops."
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        app.state.dashboard.close()


COMMANDS = (ui,)
