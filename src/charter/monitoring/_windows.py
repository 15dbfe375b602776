"""Cutting the prediction log into monitoring windows, and joining the outcomes that came back.

A window is either a span of time (`1d`: the last day, the day before, ...; the newest window ends
at the newest prediction) or a number of predictions (`5000`: the newest 5,000, the 5,000 before).
Feedback names its prediction by id, or an entity and a time: the latter is matched to that
entity's latest prediction at or before the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from charter.errors import UsageError
from charter.serving._log import FEATURE_PREFIX
from charter.spec._classes import same_class

__all__ = [
    "Outcomes",
    "Window",
    "WindowSize",
    "cut_windows",
    "join_outcomes",
    "outcome_value",
    "parse_window",
]


@dataclass(frozen=True)
class WindowSize:
    """A window's length: `seconds` of time, or a number of `rows` (predictions)."""

    seconds: float | None = None
    rows: int | None = None

    def describe(self) -> str:
        if self.rows is not None:
            return f"{self.rows:,} predictions"
        assert self.seconds is not None
        for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
            if self.seconds % size == 0:
                return f"{int(self.seconds // size)}{unit}"
        return f"{self.seconds:g}s"


def parse_window(text: str) -> WindowSize:
    """`1d`, `12h`, `30m`, `45s`, `2w` (time) or a bare number such as `5000` (predictions)."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        rows = int(cleaned)
        if rows < 1:
            raise UsageError(f"--window {text!r}: a number of predictions must be at least 1.")
        return WindowSize(rows=rows)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        seconds = float(cleaned[:-1]) * units[cleaned[-1]]
    except (KeyError, ValueError, IndexError):
        raise UsageError(
            f"--window {text!r} is not a window: use a duration such as 1d, 12h or 30m, "
            "or a number of predictions such as 5000."
        ) from None
    if seconds <= 0:
        raise UsageError(f"--window {text!r} must be longer than zero.")
    return WindowSize(seconds=seconds)


@dataclass(frozen=True)
class Window:
    """Rows of the log between `start` (included) and `end` (excluded)."""

    start: datetime
    end: datetime
    rows: pa.Table

    @property
    def label(self) -> str:
        """The span in as few characters as tell it: `2026-11-24 05:32:10–05:32:41`."""
        span = self.end - self.start
        if self.start.date() != (self.end - timedelta(microseconds=1)).date():
            return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M}"
        clock = "%H:%M:%S" if span < timedelta(hours=1) else "%H:%M"
        return f"{self.start:%Y-%m-%d} {self.start.strftime(clock)}–{self.end.strftime(clock)}"


def cut_windows(log: pa.Table, size: WindowSize, *, count: int) -> list[Window]:
    """The newest `count` windows of `log` (oldest first); windows without a row are left out."""
    if log.num_rows == 0:
        return []
    order = pc.sort_indices(log, sort_keys=[("time", "ascending")])
    log = log.take(order)
    stamps = log.column("time").to_numpy().astype("datetime64[us]").astype(np.int64)
    spans: list[tuple[int, int, int, int]] = []  # (first row, end row, start, stop) newest first
    if size.rows is not None:
        for k in range(count):
            end = log.num_rows - k * size.rows
            if end <= 0:
                break
            begin = max(0, end - size.rows)
            spans.append((begin, end, int(stamps[begin]), int(stamps[end - 1]) + 1))
    else:
        assert size.seconds is not None
        step = int(size.seconds * 1_000_000)
        newest = int(stamps[-1]) + 1
        for k in range(count):
            stop = newest - k * step
            begin, end = np.searchsorted(stamps, [stop - step, stop], side="left")
            if end > begin:
                spans.append((int(begin), int(end), stop - step, stop))
    return [
        Window(start=_instant(start), end=_instant(stop), rows=log.slice(begin, end - begin))
        for begin, end, start, stop in reversed(spans)
    ]


def _instant(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Outcomes:
    """Per logged row: whether an outcome came back, the outcome (1/0 for classification, the value
    for regression; NaN when none), and whether the decision was followed (1, 0, NaN: not said)."""

    has_outcome: np.ndarray
    truth: np.ndarray
    followed: np.ndarray
    has_feedback: np.ndarray


def join_outcomes(
    log: pa.Table,
    feedback: Sequence[Mapping[str, Any]],
    *,
    task: str,
    positive_class: Any,
) -> Outcomes:
    """The feedback matched to the rows of `log` (by prediction id, or entity and time)."""
    rows = log.num_rows
    truth = np.full(rows, np.nan)
    followed = np.full(rows, np.nan)
    has_feedback = np.zeros(rows, dtype=bool)
    if rows == 0 or not feedback:
        return Outcomes(has_feedback.copy(), truth, followed, has_feedback)
    ids = log.column("prediction_id").to_pylist()
    position = {pid: i for i, pid in enumerate(ids)}
    by_entity = [item for item in feedback if item.get("prediction_id") is None]
    matched: list[tuple[int, Mapping[str, Any]]] = [
        (position[item["prediction_id"]], item)
        for item in feedback
        if item.get("prediction_id") in position
    ]
    if by_entity:
        matched.extend(_match_by_entity(log, by_entity))
    for index, item in matched:
        truth[index] = outcome_value(item.get("outcome"), task=task, positive_class=positive_class)
        action = item.get("action_taken")
        if action is not None:
            followed[index] = 1.0 if action else 0.0
        has_feedback[index] = True
    return Outcomes(~np.isnan(truth), truth, followed, has_feedback)


def outcome_value(outcome: Any, *, task: str, positive_class: Any) -> float:
    """A real outcome as monitoring counts it: 1 or 0 (is it the positive class?) for
    classification, the number for regression; NaN when there is none."""
    if outcome is None:
        return math.nan
    if task == "classification":
        return 1.0 if same_class(positive_class, outcome) else 0.0
    if isinstance(outcome, int | float) and not isinstance(outcome, bool):
        return float(outcome)
    return math.nan


def _match_by_entity(
    log: pa.Table, items: Sequence[Mapping[str, Any]]
) -> list[tuple[int, Mapping[str, Any]]]:
    """Each item's entity's latest prediction at or before the item's time."""
    logged = pd.DataFrame(
        {
            "entity": log.column("entity").to_pandas(),
            "time": log.column("time").to_pandas(),
            "row": np.arange(log.num_rows),
        }
    ).dropna(subset=["entity"])
    wanted = pd.DataFrame(
        {
            "entity": [str(item.get("entity")) for item in items],
            "time": pd.to_datetime([item.get("time") for item in items], utc=True),
            "item": np.arange(len(items)),
        }
    )
    if logged.empty:
        return []
    logged["time"] = pd.to_datetime(logged["time"], utc=True).astype("datetime64[us, UTC]")
    wanted["time"] = wanted["time"].astype("datetime64[us, UTC]")
    joined = pd.merge_asof(
        wanted.sort_values("time"),
        logged.sort_values("time"),
        on="time",
        by="entity",
        direction="backward",
    ).dropna(subset=["row"])
    return [
        (int(row), items[int(item)])
        for row, item in zip(joined["row"], joined["item"], strict=True)
    ]


def features_table(rows: pa.Table) -> pa.Table:
    """The logged inputs under their feature names (the `x.` prefix removed)."""
    names = [n for n in rows.column_names if n.startswith(FEATURE_PREFIX)]
    return pa.table({n[len(FEATURE_PREFIX) :]: rows.column(n) for n in names})
