"""What the dashboard keeps between requests: the project, and what it read from the stores.

Each read is cached until its source changes, and a warmer thread renders the costly parts (the
monitoring report's charts, the leaderboard chart) as soon as a new monitoring run or training
run lands, so a view answers in milliseconds rather than after a chart's rendering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from charter.data import open_dataset
from charter.errors import CharterError, SpecError
from charter.monitoring._monitor import latest_report_path
from charter.registry import PRODUCTION, ModelVersion
from charter.reports._charts import Chart
from charter.reports._templates import environment
from charter.reports.dashboard._cache import FileCache, read_json
from charter.reports.dashboard._charts import leaderboard_chart
from charter.reports.dashboard._monitoring import (
    MonitoringRun,
    MonitoringStatus,
    audit_charts,
    monitoring_run,
    monitoring_status,
)
from charter.reports.dashboard._shadow import ShadowAgreement
from charter.spec import Charter, Question, load_charter, unanswered

if TYPE_CHECKING:
    from charter.api import Project
    from charter.serving._service import Deployed

__all__ = ["Dashboard"]

_log = logging.getLogger("charter.dashboard")
_QUESTIONS_SECONDS = 30.0  # opening the data sources to check the charter's columns: ~60 ms
_DEPLOYED = 4  # versions kept loaded for "why this prediction"
TEMPLATES = (
    "data.html.j2",
    "model.html.j2",
    "models.html.j2",
    "monitoring.html.j2",
    "problem.html.j2",
    "production.html.j2",
    "project.html.j2",
    "refused.html.j2",
    "trail.html.j2",
    "why.html.j2",
)


class Dashboard:
    """The project behind the dashboard and its cached reads."""

    def __init__(self, project: Project, *, warm_seconds: float | None = 1.0) -> None:
        self.project = project
        self.name = project.charter.project
        self.reports = project.workspace / "reports"
        self.audit = FileCache(self.reports / "audit-latest.json", read_json)
        self.monitoring: FileCache[MonitoringRun] = FileCache(
            latest_report_path(project), monitoring_run
        )
        self.monitoring_status: FileCache[MonitoringStatus] = FileCache(
            latest_report_path(project), monitoring_status
        )
        self._audit_charts: FileCache[str] | None = None
        self.shadow = ShadowAgreement(project.workspace / "predictions", self.name)
        self._lock = threading.Lock()
        self._questions_lock = threading.Lock()
        self._charter = FileCache(project.path, load_charter)
        self._questions: tuple[Charter, float, list[Question], str | None] | None = None
        self._deployed: OrderedDict[tuple[int, float | None], Deployed] = OrderedDict()
        self._chart: tuple[tuple[int, ...], Chart | None] | None = None
        self._stop = threading.Event()
        self._warmer: threading.Thread | None = None
        if warm_seconds is not None:
            self._warmer = threading.Thread(
                target=self._warm, args=(warm_seconds,), name="charter-dashboard", daemon=True
            )
            self._warmer.start()

    # --- phase 1 -------------------------------------------------------------------------------

    def charter(self) -> Charter:
        """The charter as its file says now (it may be edited while the dashboard runs), or the
        one the project loaded while the file does not load."""
        try:
            return self._charter.get() or self.project.charter
        except SpecError:
            return self.project.charter

    def charter_problem(self) -> str | None:
        """Why the charter file no longer loads, or None when it does."""
        try:
            if self._charter.get() is None:
                return f"{self.project.path} is missing."
        except SpecError as exc:
            return str(exc)
        return None

    def questions(self) -> tuple[list[Question], str | None]:
        """What `project.questions()` answers, for the charter as its file says now: kept 30 s
        while the file stays the same (opening the data sources takes ~60 ms)."""
        charter = self.charter()
        with self._questions_lock:  # one look at the data at a time; the others use its answer
            cached = self._questions
            if (
                cached is not None
                and cached[0] is charter
                and time.monotonic() - cached[1] < _QUESTIONS_SECONDS
            ):
                return cached[2], cached[3]
            try:
                columns: list[str] | None = list(
                    open_dataset(charter, base_dir=self.project.folder).columns
                )
                problem = None
            except CharterError as exc:
                columns, problem = None, str(exc)
            questions = unanswered(charter, columns)
            self._questions = (charter, time.monotonic(), questions, problem)
            return questions, problem

    # --- phase 2 -------------------------------------------------------------------------------

    def audit_charts(self) -> str:
        """The newest audit report's charts section ("" without a report), kept per file."""
        report = self.audit_report()
        if report is None:
            return ""
        cached = self._audit_charts
        if cached is None or cached.path != report:
            cached = self._audit_charts = FileCache(report, audit_charts)
        return cached.get() or ""

    def audit_report(self) -> Path | None:
        """The newest audit HTML report in `.charter/reports/`."""
        try:
            found = [p for p in self.reports.glob("audit-*.html") if p.is_file()]
        except OSError:
            return None
        return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name), default=None)

    # --- phases 3 and 4 ------------------------------------------------------------------------

    def leaderboard_chart(self, versions: list[ModelVersion]) -> Chart | None:
        """The newest run's candidates against the baseline, drawn once per set of versions."""
        key = tuple(v.number for v in versions)
        cached = self._chart
        if cached is not None and cached[0] == key:
            return cached[1]
        chart = leaderboard_chart(versions, self.project.charter)
        self._chart = (key, chart)
        return chart

    def deployed(self, version: ModelVersion) -> Deployed:
        """The version loaded as the service loads it (a few kept, newest use last)."""
        from charter.serving._service import deploy

        threshold = self.project.registry().threshold(version)
        key = (version.number, threshold)
        with self._lock:
            found = self._deployed.get(key)
            if found is not None:
                self._deployed.move_to_end(key)
                return found
        loaded = deploy(self.project, version)
        with self._lock:
            self._deployed[key] = loaded
            while len(self._deployed) > _DEPLOYED:
                self._deployed.popitem(last=False)
        return loaded

    # --- the warmer ----------------------------------------------------------------------------

    def _warm(self, seconds: float) -> None:
        try:  # what the first request of each view would otherwise pay for
            for name in TEMPLATES:
                environment().get_template(f"dashboard/{name}")
            self.questions()
        except Exception as exc:
            _log.warning("dashboard warmer: %s", exc)
        first = True
        while True:
            try:
                self.monitoring.get()
                self.leaderboard_chart(self.project.models())
                if first and not self._stop.wait(seconds):
                    first = False  # then the production version's model (~0.5 s the first time)
                    aliases = self.project.registry().aliases(self.name)
                    if PRODUCTION in aliases:
                        self.deployed(self.project.version(aliases[PRODUCTION]))
            except CharterError as exc:  # shown to whoever opens the view; nothing to warm
                _log.debug("dashboard warmer: %s", exc)
            except Exception as exc:  # the warmer must never stop over a store hiccup
                _log.warning("dashboard warmer: %s", exc)
            if self._stop.wait(seconds):
                return

    def close(self) -> None:
        """Stop the warmer thread."""
        self._stop.set()
        if self._warmer is not None:
            self._warmer.join(5.0)
