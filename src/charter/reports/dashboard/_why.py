""" "Why this prediction": a record from a form (one input per feature) or as JSON, checked
against the version's contract and scored with the serving code, with its reasons in plain words.

Nothing here is logged: a person exploring a model is not traffic, and monitoring must not
count it as such.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from charter.registry import ModelVersion
from charter.reports._format import number
from charter.reports.dashboard._models import find_version
from charter.reports.dashboard._web import FormError, dashboard_of, page, problem_page, read_form
from charter.serving._service import Deployed
from charter.spec._contract import ColumnRule

__all__ = ["router"]

router = APIRouter()
_JSON = "json"
_FLAG_WORDS = {
    "out_of_range": "a number lies outside what the model saw in training",
    "unseen_category": "a category the model never saw in training",
    "too_many_missing": "too many features are missing",
    "uncertain": "the score sits in the band where the model is unsure",
}
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Field:
    """One input of the form: the feature's name, how it is typed, its choices and a hint."""

    name: str
    kind: str  # number | integer | boolean | choice | date | timestamp | text
    choices: tuple[str, ...]
    hint: str
    value: str
    required: bool


@router.get("/models/{ref}/why", response_class=HTMLResponse)
def why_form(request: Request, ref: str) -> Response:
    found = find_version(request, ref)
    if isinstance(found, Response):
        return found
    deployed = dashboard_of(request).deployed(found)
    return _page(request, found, _fields(deployed, _example(deployed)), "")


@router.post("/models/{ref}/why", response_class=HTMLResponse)
async def why_answer(request: Request, ref: str) -> Response:
    try:
        form = await read_form(request)
    except FormError as exc:
        return problem_page(request, exc.status, exc.message, view="models")
    return await run_in_threadpool(_answer, request, ref, form)


def _answer(request: Request, ref: str, form: dict[str, str]) -> Response:
    found = find_version(request, ref)
    if isinstance(found, Response):
        return found
    deployed = dashboard_of(request).deployed(found)
    text = form.get(_JSON, "").strip()
    typed = {k: v for k, v in form.items() if k != _JSON}
    fields = _fields(deployed, typed)
    if text:
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return _refused(
                request,
                found,
                fields,
                text,
                [("json", f"not valid JSON ({exc})", "one JSON object")],
            )
        if not isinstance(record, dict):
            return _refused(
                request,
                found,
                fields,
                text,
                [("json", "not a JSON object", 'one object such as {"tenure": 12}')],
            )
    else:
        record = _record(deployed, typed)
    problems = deployed.checker.check(record)
    if problems:
        return _refused(
            request, found, fields, text, [(p.field, p.problem, p.expected) for p in problems]
        )
    row = deployed.checker.convert(record)
    scored = deployed.scorer.score([row], [record])
    classification = scored.decisions is not None
    raw = float(scored.raw[0])
    flags = deployed.humility.flags(row, raw if classification else None)
    reasons = deployed.scorer.explain([row])[0]
    answer: dict[str, Any] = {
        "classification": classification,
        "score": float(scored.shown[0]),
        "score_text": f"{100 * float(scored.shown[0]):.1f}%"
        if classification
        else number(float(scored.shown[0])),
        "decision": None
        if scored.decisions is None
        else ("act" if bool(scored.decisions[0]) else "no action"),
        "threshold": deployed.threshold,
        "flags": [(f, _FLAG_WORDS.get(f, f.replace("_", " "))) for f in flags],
        "reasons": reasons,
        "target": deployed.scorer.target,
        "positive": deployed.scorer.positive_class,
    }
    return _page(request, found, fields, text, answer=answer)


def _refused(
    request: Request,
    version: ModelVersion,
    fields: list[Field],
    text: str,
    problems: list[tuple[str, str, str]],
) -> Response:
    return _page(request, version, fields, text, problems=problems, status=422)


def _page(
    request: Request,
    version: ModelVersion,
    fields: list[Field],
    text: str,
    *,
    answer: dict[str, Any] | None = None,
    problems: list[tuple[str, str, str]] | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        "why.html.j2",
        view="models",
        title=f"Why this prediction: {version.label}",
        version=version,
        fields=fields,
        json_text=text,
        answer=answer,
        problems=problems or [],
        status=status,
    )


def _fields(deployed: Deployed, values: dict[str, str]) -> list[Field]:
    """The form's inputs: every field the service checks, then features the contract omits."""
    contract = deployed.contract.columns
    entity = deployed.entity
    names = list(deployed.checker.fields) + [
        f for f in deployed.checker.features if f not in deployed.checker.fields
    ]
    found = []
    for name in names:
        rule = contract.get(name)
        kind, choices, hint = _kind(rule)
        if name == entity:
            hint = f"{hint}; identifies the record, optional"
        found.append(
            Field(
                name=name,
                kind=kind,
                choices=choices,
                hint=hint,
                value=values.get(name, ""),
                required=rule is not None
                and rule.required
                and not rule.nullable
                and name != entity,
            )
        )
    return found


def _kind(rule: ColumnRule | None) -> tuple[str, tuple[str, ...], str]:
    if rule is None:
        return "text", (), "any value (not in the contract)"
    if rule.type == "string" and rule.categories:
        return "choice", tuple(rule.categories), f"one of {len(rule.categories)} categories"
    if rule.type in ("integer", "number"):
        whole = "a whole number" if rule.type == "integer" else "a number"
        if rule.min is not None and rule.max is not None:
            return rule.type, (), f"{whole} from {number(rule.min)} to {number(rule.max)}"
        return rule.type, (), whole
    if rule.type == "boolean":
        return "boolean", ("true", "false"), "true or false"
    if rule.type == "date":
        return "date", (), "a date"
    if rule.type == "timestamp":
        return "timestamp", (), "a date and time (UTC unless a zone is given)"
    return "text", (), "text"


def _record(deployed: Deployed, typed: dict[str, str]) -> dict[str, Any]:
    """The form's text as the JSON a client would send: numbers as numbers, blanks left out.

    Text that is not what the contract expects is passed on as text, so the contract check
    names the problem in its own words.
    """
    contract = deployed.contract.columns
    record: dict[str, Any] = {}
    for name, text in typed.items():
        value = text.strip()
        if not value:
            continue
        rule = contract.get(name)
        kind = rule.type if rule is not None else "string"
        record[name] = _typed(kind, value)
    return record


def _typed(kind: str, value: str) -> Any:
    if kind in ("integer", "number"):
        try:
            parsed = float(value)
        except ValueError:
            return value
        if kind == "integer" and math.isfinite(parsed) and parsed.is_integer():
            return int(parsed)
        return parsed
    if kind == "boolean":
        return {"true": True, "false": False}.get(value.lower(), value)
    if kind == "timestamp" and len(value) == 16 and value[10] == "T":
        return value + ":00"  # a browser's datetime-local input leaves out the seconds
    return value


def _example(deployed: Deployed) -> dict[str, str]:
    """The version's first stored example row, as form text (so the form can be sent at once)."""
    background = deployed.scorer.background
    if background is None or background.rows == 0:
        return {}
    row = background.X.iloc[0].to_dict()
    contract = deployed.contract.columns
    shown: dict[str, str] = {}
    for name, value in row.items():
        rule = contract.get(str(name))
        text = _example_text(rule, value)
        if text is not None:
            shown[str(name)] = text
    return shown


def _example_text(rule: ColumnRule | None, value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    kind = rule.type if rule is not None else "string"
    try:
        if kind == "date":
            return (_EPOCH + timedelta(days=float(value))).isoformat()
        if kind == "timestamp":
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=float(value))
            return moment.strftime("%Y-%m-%dT%H:%M")
        if kind == "integer":
            return str(int(float(value)))
        if kind == "number":
            return f"{float(value):.10g}"
        if kind == "boolean":
            return "true" if str(value).lower() in ("true", "1", "1.0") else "false"
    except (TypeError, ValueError, OverflowError):
        return None
    return str(value)
