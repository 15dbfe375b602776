"""Feedback: the real outcome of a prediction, and whether its decision was followed.

Each outcome names its prediction (`prediction_id`) or an entity and a time. It is kept once per
prediction: sending the same outcome again changes nothing (counted as a repeat), sending a
different one corrects it (counted as updated), so a retried request never double counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from charter.errors import CharterError
from charter.registry._schema import FEEDBACK
from charter.registry._store import MetadataStore, now_text
from charter.spec._classes import same_class

__all__ = ["FeedbackError", "FeedbackResult", "record_feedback", "read_feedback"]

_FIELDS = {"prediction_id", "entity", "time", "outcome", "action_taken"}
_CHUNK = 500


class FeedbackError(CharterError):
    """Items that cannot be recorded: a list of {"item", "field", "problem"}; nothing was recorded."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(
            "; ".join(f"item {p['item']}: {p['field']}: {p['problem']}" for p in problems[:5])
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        )
        self.problems = problems


@dataclass(frozen=True)
class FeedbackResult:
    """How many items were new, repeats of what was already recorded, or corrections of it."""

    accepted: int
    repeated: int
    updated: int

    def to_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "repeated": self.repeated, "updated": self.updated}


@dataclass(frozen=True)
class _Item:
    key: str
    prediction_id: str | None
    entity: str | None
    at: str | None
    outcome: str
    action_taken: bool | None


def record_feedback(
    store: MetadataStore,
    project: str,
    items: Sequence[Any],
    *,
    source: str,
    classes: Sequence[str] | None = None,
    numeric: bool = False,
) -> FeedbackResult:
    """Check every item, then record them all in one transaction (all or nothing).

    `classes` (classification) are the labels an outcome must be one of; `numeric` (regression)
    says an outcome must be a number; with neither, any label or number is taken.
    """
    parsed: list[_Item] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        found = _parse(index, item, problems, classes, numeric)
        if found is not None:
            parsed.append(found)
    if problems:
        raise FeedbackError(problems)
    latest = {item.key: item for item in parsed}  # the last word on a prediction within a batch
    accepted = repeated = updated = 0
    received = now_text()
    with store.locked(project) as connection:
        keys = list(latest)
        known: dict[str, tuple[str | None, bool | None]] = {}
        for start in range(0, len(keys), _CHUNK):
            rows = connection.execute(
                select(FEEDBACK.c.key, FEEDBACK.c.outcome, FEEDBACK.c.action_taken).where(
                    FEEDBACK.c.project == project, FEEDBACK.c.key.in_(keys[start : start + _CHUNK])
                )
            )
            known.update({row.key: (row.outcome, row.action_taken) for row in rows})
        fresh = []
        for key, item in latest.items():
            if key not in known:
                fresh.append(
                    {
                        "project": project,
                        "key": key,
                        "prediction_id": item.prediction_id,
                        "entity": item.entity,
                        "at": item.at,
                        "outcome": item.outcome,
                        "action_taken": item.action_taken,
                        "received": received,
                        "source": source,
                    }
                )
            elif known[key] == (item.outcome, item.action_taken):
                repeated += 1
            else:
                connection.execute(
                    FEEDBACK.update()
                    .where(FEEDBACK.c.project == project, FEEDBACK.c.key == key)
                    .values(
                        outcome=item.outcome,
                        action_taken=item.action_taken,
                        received=received,
                        source=source,
                    )
                )
                updated += 1
        if fresh:
            connection.execute(FEEDBACK.insert(), fresh)
        accepted = len(fresh)
    repeated += len(parsed) - len(latest)
    return FeedbackResult(accepted=accepted, repeated=repeated, updated=updated)


def read_feedback(store: MetadataStore, project: str) -> list[dict[str, Any]]:
    """Every recorded outcome of `project` (outcome decoded from JSON)."""
    with store.read() as connection:
        rows = connection.execute(
            select(FEEDBACK).where(FEEDBACK.c.project == project).order_by(FEEDBACK.c.id)
        ).all()
    return [
        {
            "prediction_id": row.prediction_id,
            "entity": row.entity,
            "time": row.at,
            "outcome": json.loads(row.outcome) if row.outcome is not None else None,
            "action_taken": row.action_taken,
            "received": row.received,
            "source": row.source,
        }
        for row in rows
    ]


def _parse(
    index: int,
    item: Any,
    problems: list[dict[str, Any]],
    classes: Sequence[str] | None,
    numeric: bool,
) -> _Item | None:
    def problem(field: str, text: str) -> None:
        problems.append({"item": index, "field": field, "problem": text})

    if not isinstance(item, Mapping):
        problem("item", "expected an object with prediction_id (or entity and time) and outcome")
        return None
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        problem(unknown[0], f"not a feedback field; fields are: {', '.join(sorted(_FIELDS))}")
    prediction_id, entity, when = item.get("prediction_id"), item.get("entity"), item.get("time")
    outcome, action = item.get("outcome"), item.get("action_taken")
    if prediction_id is not None and (
        not isinstance(prediction_id, str) or not prediction_id.strip() or len(prediction_id) > 64
    ):
        problem("prediction_id", "expected the prediction id the service answered with")
    if entity is not None and not isinstance(entity, str | int):
        problem("entity", "expected the entity's id as text or an integer")
    at = None
    if when is not None:
        at = _instant(when)
        if at is None:
            problem("time", "expected an ISO 8601 time such as 2026-11-24T10:00:00Z")
    if prediction_id is None and (entity is None or when is None):
        problem("prediction_id", "name the prediction (prediction_id) or the entity and the time")
    if "outcome" not in item or outcome is None or isinstance(outcome, dict | list):
        problem("outcome", "expected the real outcome: a label, true/false or a number")
    elif classes is not None and not any(same_class(c, outcome) for c in classes):
        shown = ", ".join(classes[:10])
        problem("outcome", f"expected one of the target's labels: {shown}")
    elif numeric and (isinstance(outcome, bool) or not isinstance(outcome, int | float)):
        problem("outcome", "expected the real value, a number")
    elif isinstance(outcome, float) and not math.isfinite(outcome):
        problem("outcome", "expected a finite number")
    if action is not None and not isinstance(action, bool):
        problem("action_taken", "expected true or false")
    if problems and problems[-1]["item"] == index:
        return None
    key = str(prediction_id) if prediction_id is not None else f"{entity}@{at}"
    return _Item(
        key=key,
        prediction_id=prediction_id,
        entity=None if entity is None else str(entity),
        at=at,
        outcome=json.dumps(outcome),
        action_taken=action,
    )


def _instant(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")
