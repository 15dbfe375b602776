"""Parts of the reports, ready to inline in a dashboard page: the newest monitoring run (the
document `charter monitor` keeps, and its report's body) and a readiness report's charts."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter import __version__
from charter._atomic import write_text_atomic
from charter.errors import CharterError
from charter.reports._monitor_html import render_monitor_report
from charter.reports._templates import environment
from charter.reports.dashboard._cache import parse_json, read_json

__all__ = [
    "MonitoringRun",
    "MonitoringStatus",
    "monitoring_run",
    "monitoring_status",
    "report_fragment",
]

_STYLE = re.compile(r"<style>\s*(.*?)\s*</style>", re.S)
_BODY = re.compile(r"<body>\s*(.*?)\s*</body>", re.S)
_FOOTER = re.compile(r"<footer\b.*?</footer>", re.S)
_log = logging.getLogger("charter.dashboard")
RENDERED = "latest.dashboard.json"
"""Beside latest.json: its report rendered for the dashboard (a cache; safe to delete)."""


@dataclass(frozen=True)
class MonitoringStatus:
    """What a monitoring run concluded: ok, warning or critical, its alerts, when it ran."""

    status: str
    alerts: list[dict[str, Any]]
    generated: str


@dataclass(frozen=True)
class MonitoringRun(MonitoringStatus):
    """One monitoring run with its report as page parts."""

    body: str
    """The report's body (header, charts, tables), headings one level down, to inline."""
    styles: str
    """The report's own styles beyond the shared report stylesheet."""


def monitoring_status(path: Path) -> MonitoringStatus:
    """Read `latest.json`'s conclusion only (the project's gate needs no chart)."""
    return _status(read_json(path))


def monitoring_run(path: Path) -> MonitoringRun:
    """Read `latest.json` and its report's parts: rendered once per run and kept beside it
    (`latest.dashboard.json`), so a restarted dashboard does not draw the charts again."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CharterError(f"{path} cannot be read ({exc}); run `charter monitor` again.") from None
    document = parse_json(data, path)
    summary = _status(document)
    body, styles = _rendered(path, hashlib.sha256(data).hexdigest(), document)
    return MonitoringRun(
        status=summary.status,
        alerts=summary.alerts,
        generated=summary.generated,
        body=body,
        styles=styles,
    )


def _rendered(path: Path, digest: str, document: dict[str, Any]) -> tuple[str, str]:
    """(body, styles) of the run's report, from the rendering kept beside `latest.json` when it
    was made from the same document by the same charter version; else rendered and kept."""
    kept = path.with_name(RENDERED)
    try:
        found = json.loads(kept.read_text(encoding="utf-8"))
        if found.get("source_sha256") == digest and found.get("charter") == __version__:
            return str(found["body"]), str(found["styles"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass  # none yet, or unreadable: render again
    body, styles = report_fragment(render_monitor_report(document))
    record = {"source_sha256": digest, "charter": __version__, "body": body, "styles": styles}
    try:
        write_text_atomic(kept, json.dumps(record))
    except OSError as exc:  # a read-only workspace: render on each start instead
        _log.info("could not keep the rendered monitoring report at %s: %s", kept, exc)
    return body, styles


def _status(document: dict[str, Any]) -> MonitoringStatus:
    status = str(document.get("status") or "ok")
    return MonitoringStatus(
        status=status if status in ("ok", "warning", "critical") else "warning",
        alerts=[a for a in document.get("alerts") or [] if isinstance(a, dict)],
        generated=str(document.get("generated") or ""),
    )


def report_fragment(html: str) -> tuple[str, str]:
    """(body, extra styles) of a self-contained report, fit to sit inside a dashboard page.

    The page has its own `<main>` and `<h1>`: the report's become a `<div>` and an `<h2>`, and
    every heading moves one level down so the outline stays whole.
    """
    found = _BODY.search(html)
    body = found.group(1) if found else ""
    body = _FOOTER.sub("", body)
    body = body.replace('<header class="masthead">', '<div class="report-head">', 1)
    body = body.replace("</header>", "</div>", 1)
    body = body.replace('<main class="wrap">', '<div class="report-body">', 1)
    body = body.replace("</main>", "</div>", 1)
    for level in (5, 4, 3, 2, 1):
        body = body.replace(f"<h{level}", f"<h{level + 1}").replace(
            f"</h{level}>", f"</h{level + 1}>"
        )
    style = _STYLE.search(html)
    styles = style.group(1) if style else ""
    shared = _shared_css()
    if shared and shared in styles:
        styles = styles.replace(shared, "", 1)
    return body, styles.strip()


def audit_charts(path: Path) -> str:
    """The charts section of a readiness report (HTML as written by `charter audit`), or ""."""
    try:
        html = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    start = html.find('<section id="charts">')
    end = html.find('<section id="columns">', start)
    if start < 0 or end < 0:
        return ""
    return html[start:end].strip()


def _shared_css() -> str:
    loader = environment().loader
    if loader is None:
        return ""
    source, _, _ = loader.get_source(environment(), "_audit.css")
    return source.strip()
