"""How far the shadow version agrees with production, from the prediction log.

One DuckDB aggregate over the log's files since the shadow was attached (only the four columns it
needs are read), kept until new log files appear and at least `refresh_seconds` have passed: a
busy service adds a segment every second, and a view must not rescan a million rows each time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from charter.serving._log import log_files, log_reading, log_sql

__all__ = ["Agreement", "ShadowAgreement"]


@dataclass(frozen=True)
class Agreement:
    """Predictions both versions answered: how many, the share of equal decisions, score gaps."""

    rows: int
    same_decisions: float | None
    mean_difference: float | None
    """Mean of (shadow score − production score)."""
    mean_absolute_difference: float | None
    measured: float
    """When it was measured (seconds since the epoch)."""


class ShadowAgreement:
    """Measures `Agreement` on demand, cached per (log files, versions)."""

    def __init__(self, folder: Path, project: str, *, refresh_seconds: float = 10.0) -> None:
        self.folder = folder
        self.project = project
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._value: Agreement | None = None

    def measure(self, production: int, shadow: int, since: datetime | None) -> Agreement:
        with self._lock:
            with log_reading(self.folder):
                files = tuple(str(p) for p in log_files(self.folder, since=since))
                key = (files, production, shadow, since)
                cached = self._value
                fresh = cached is not None and (
                    key == self._key
                    or (
                        self._key is not None
                        and self._key[1:] == key[1:]
                        and time.time() - cached.measured < self.refresh_seconds
                    )
                )
                if fresh and cached is not None:
                    return cached
                value = _measure(self.folder, self.project, production, shadow, since)
            self._key, self._value = key, value
            return value


def _measure(
    folder: Path, project: str, production: int, shadow: int, since: datetime | None
) -> Agreement:
    query = (
        "SELECT count(*), avg(CASE WHEN decision IS NULL THEN NULL "
        "WHEN decision = shadow_decision THEN 1.0 ELSE 0.0 END), "
        "avg(shadow_score - score), avg(abs(shadow_score - score)) "
        f"FROM {log_sql(folder, since=since)} AS log "
        "WHERE project = ? AND version = ? AND shadow_version = ? AND shadow_score IS NOT NULL"
    )
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        row = connection.execute(query, [project, production, shadow]).fetchone()
    except duckdb.BinderException:  # no file has the shadow columns yet: nothing compared
        row = None
    finally:
        connection.close()
    rows = int(row[0]) if row is not None and row[0] is not None else 0
    if row is None or rows == 0:
        return Agreement(0, None, None, None, time.time())
    return Agreement(
        rows=rows,
        same_decisions=None if row[1] is None else float(row[1]),
        mean_difference=None if row[2] is None else float(row[2]),
        mean_absolute_difference=None if row[3] is None else float(row[3]),
        measured=time.time(),
    )
