"""The REST API: FastAPI routes over a `Service`.

Routes read raw JSON and check records with the contract themselves: FastAPI's own validation
would echo what the client sent back in its errors, and building a pydantic model per request
costs more than the model's prediction.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from charter import __version__
from charter.errors import CharterError
from charter.registry._keys import Scope
from charter.serving._feedback import FeedbackError, record_feedback
from charter.serving._metrics import CONTENT_TYPE_LATEST
from charter.serving._service import InvalidRecords, Service

__all__ = ["create_app"]

Scope_ = MutableMapping[str, Any]
_KEY_CACHE_SECONDS = 30.0
_MAX_CACHED_KEYS = 10_000


def create_app(service: Service) -> FastAPI:
    """The service's FastAPI application (OpenAPI at /openapi.json; no CDN-hosted docs pages)."""
    charter = service.project.charter
    app = FastAPI(
        title=f"charter · {service.name}",
        description=charter.problem or "",
        version=__version__,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    limit = charter.serving.body_limit_kb * 1024
    app.add_middleware(
        _BodyLimit,
        limit=limit,
        refused=lambda endpoint: service.metrics.requests.labels(endpoint, "413").inc(),
    )
    keys = _KeyCache(service)

    def refuse(status: int, message: str, endpoint: str) -> JSONResponse:
        service.metrics.requests.labels(endpoint, str(status)).inc()
        return JSONResponse({"detail": message}, status_code=status)

    def denied(request: Request, scope: Scope, endpoint: str) -> JSONResponse | None:
        if scope == "predict" and not charter.serving.require_key:
            return None
        key = _presented_key(request)
        if key is None:
            return refuse(
                401,
                f"this endpoint needs an API key with scope {scope} (header: Authorization: Bearer KEY).",
                endpoint,
            )
        found = keys.allows(key, scope)
        if found is None:
            return refuse(401, "the API key is not known or was revoked.", endpoint)
        if not found:
            return refuse(403, f"the API key's scope does not allow {scope}.", endpoint)
        return None

    @app.post(
        "/v1/predict",
        summary="Score one record or a list of records",
        openapi_extra={
            "parameters": [
                {
                    "name": "explain",
                    "in": "query",
                    "required": False,
                    "description": "Add the top reasons of each prediction, in plain words.",
                    "schema": {"type": "boolean", "default": False},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _records_schema(service)  # kept current by openapi()
                    }
                },
            },
        },
        responses={
            200: {
                "description": "One answer per record: score, decision, flags, prediction id, version."
            },
            400: {"description": "The body is not JSON."},
            401: {"description": "An API key is needed (when the charter says so) or is unknown."},
            403: {"description": "The key's scope does not allow predictions."},
            413: {"description": "The body is over the size limit."},
            422: {
                "description": "A record breaks the data contract: record, field, problem, expected."
            },
            503: {"description": "No version is in production."},
        },
    )
    async def predict(request: Request) -> Response:
        # `explain` is read by hand (documented above): FastAPI's parameter validation costs
        # 19 µs a request, a tenth of the whole answer.
        started = time.perf_counter()
        refused = denied(request, "predict", "predict")
        if refused is not None:
            return refused
        explain = _flag(request.query_params.get("explain"))
        if explain is None:
            return refuse(422, "explain: expected true or false.", "predict")
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            service.metrics.requests.labels("predict", str(body.status_code)).inc()
            return body
        single = isinstance(body, dict)
        records = [body] if single else body
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return refuse(422, "send one record (a JSON object) or a list of records.", "predict")
        if not records:
            return refuse(422, "the list of records is empty.", "predict")
        if len(records) > charter.serving.max_records:
            return refuse(
                422,
                f"at most {charter.serving.max_records} records per request; send them in parts.",
                "predict",
            )
        if service.current is None:
            return refuse(
                503, f"{service.name} has no version in production; promote one first.", "predict"
            )
        try:
            answers = service.predict(records, explain=explain)
        except InvalidRecords as exc:
            detail = [
                {"record": index, "field": p.field, "problem": p.problem, "expected": p.expected}
                for index, p in exc.problems
            ]
            service.metrics.requests.labels("predict", "422").inc()
            return JSONResponse({"detail": detail}, status_code=422)
        service.metrics.requests.labels("predict", "200").inc()
        service.metrics.latency.labels("predict").observe(time.perf_counter() - started)
        return JSONResponse(answers[0] if single else answers)

    @app.post(
        "/v1/feedback",
        summary="Report real outcomes (and whether the decision was followed)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                _FEEDBACK_SCHEMA,
                                {"type": "array", "items": _FEEDBACK_SCHEMA},
                            ]
                        }
                    }
                },
            }
        },
        responses={
            200: {"description": "How many outcomes were new, repeated or corrected."},
            400: {"description": "The body is not JSON."},
            401: {"description": "A key with scope feedback is needed."},
            403: {"description": "The key's scope does not allow feedback."},
            413: {"description": "The body is over the size limit."},
            422: {"description": "An item is incomplete or of the wrong type."},
        },
    )
    async def feedback(request: Request) -> Response:
        refused = denied(request, "feedback", "feedback")
        if refused is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            service.metrics.requests.labels("feedback", str(body.status_code)).inc()
            return body
        items = [body] if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            return refuse(
                422, "send one outcome (a JSON object) or a non-empty list of them.", "feedback"
            )
        try:
            result = record_feedback(
                service.registry.store,
                service.name,
                items,
                source="api",
                classes=service.classes(),
                numeric=service.numeric_outcomes(),
            )
        except FeedbackError as exc:
            service.metrics.requests.labels("feedback", "422").inc()
            return JSONResponse({"detail": exc.problems}, status_code=422)
        service.metrics.requests.labels("feedback", "200").inc()
        return JSONResponse(result.to_dict())

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        # Browsers ask for it when showing the dashboard's stored reports (`serve --ui`): no icon,
        # and no 404 in their console.
        return Response(status_code=204)

    @app.get("/v1/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/v1/ready",
        summary="Readiness: a version is loaded and serving",
        responses={503: {"description": "No version in production."}},
    )
    async def ready() -> Response:
        deployed = service.current
        if deployed is None:
            return JSONResponse(
                {"ready": False, "detail": "no version in production"}, status_code=503
            )
        return JSONResponse({"ready": True, "version": deployed.number})

    @app.get(
        "/v1/model",
        summary="The version serving, the charter it serves and its contract",
        responses={503: {"description": "No version in production."}},
    )
    async def model() -> Response:
        deployed = service.current
        if deployed is None:
            return JSONResponse({"detail": "no version in production"}, status_code=503)
        record = deployed.version.record
        return JSONResponse(
            {
                "project": service.name,
                "version": deployed.number,
                "candidate": deployed.version.candidate,
                "kind": deployed.version.kind,
                "since": deployed.version.created,
                "charter": {
                    "owner": charter.owner,
                    "problem": charter.problem,
                    "decision": charter.decision,
                    "target": charter.target,
                    "positive_class": record.get("positive_class"),
                    "metric": record.get("metric"),
                },
                "threshold": deployed.threshold,
                "test": record.get("test"),
                "shadow": service.shadow.number if service.shadow else None,
                "contract": deployed.contract.model_dump(mode="json"),
                "card": "/v1/model/card",
            }
        )

    @app.get(
        "/v1/model/card",
        summary="The serving version's model card (HTML)",
        response_class=HTMLResponse,
        responses={404: {"description": "No card."}},
    )
    async def card() -> Response:
        content = service.card()
        if content is None:
            return JSONResponse(
                {"detail": "no model card for the serving version"}, status_code=404
            )
        return HTMLResponse(content)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default answer quotes the input back; name the parameter and the reason only.
        detail = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "problem": e.get("msg", "invalid"),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(CharterError)
    async def charter_error(request: Request, exc: CharterError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    documented: dict[str, int | None] = {}

    def openapi() -> dict[str, Any]:
        # The record schema follows the serving version's contract: rebuilt when it changes.
        number = service.current.number if service.current is not None else None
        if app.openapi_schema is None or documented.get("version", -1) != number:
            app.openapi_schema = None
            document = FastAPI.openapi(app)
            body = document["paths"]["/v1/predict"]["post"]["requestBody"]
            body["content"]["application/json"]["schema"] = _records_schema(service)
            app.openapi_schema = document
            documented["version"] = number
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _records_schema(service: Service) -> dict[str, Any]:
    record = _record_schema(service)
    limit = service.project.charter.serving.max_records
    return {"oneOf": [record, {"type": "array", "items": record, "maxItems": limit}]}


_FEEDBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prediction_id": {"type": "string"},
        "entity": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "outcome": {"type": ["string", "number", "boolean"]},
        "action_taken": {"type": "boolean"},
    },
    "required": ["outcome"],
}


def _record_schema(service: Service) -> dict[str, Any]:
    deployed = service.current
    if deployed is None:
        return {"type": "object"}
    properties: dict[str, Any] = {}
    entity = deployed.contract.entity.column if deployed.contract.entity else None
    checked = set(deployed.checker.fields)
    for name, rule in deployed.contract.columns.items():
        if name not in checked:
            continue  # the service checks the model's features and the entity, nothing else
        kinds = [
            {"integer": "integer", "number": "number", "boolean": "boolean"}.get(
                rule.type, "string"
            )
        ]
        numeric_text = (
            rule.type == "string" and deployed.checker.feature_types.get(name) == "number"
        )
        if numeric_text:
            kinds.append("number")  # text the model reads as a number: numbers do too
        if rule.nullable or name == entity:  # the entity may be left out or empty
            kinds.append("null")
        schema: dict[str, Any] = {"type": kinds if len(kinds) > 1 else kinds[0]}
        if rule.min is not None:
            schema["minimum"] = rule.min
        if rule.max is not None:
            schema["maximum"] = rule.max
        if rule.categories is not None and not numeric_text:
            schema["enum"] = [*rule.categories, *([None] if "null" in kinds else [])]
        if rule.type in ("date", "timestamp"):
            schema["format"] = "date" if rule.type == "date" else "date-time"
        properties[name] = schema
    required = [
        n
        for n, r in deployed.contract.columns.items()
        if r.required and not r.nullable and n in deployed.checker.features
    ]
    return {"type": "object", "properties": properties, "required": required}


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"detail": "the body is not valid JSON."}, status_code=400)
    except RecursionError:
        return JSONResponse({"detail": "the body is nested too deeply."}, status_code=400)


def _flag(value: str | None) -> bool | None:
    """A boolean query parameter as OpenAPI clients send it; None when it is not one."""
    if value is None:
        return False
    return _FLAGS.get(value.strip().lower())


_FLAGS = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


class _KeyCache:
    """Known keys for 30 s, so a request does not pay a database read (revocation: within 30 s)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.known: dict[str, tuple[float, Any]] = {}

    def allows(self, key: str, scope: Scope) -> bool | None:
        """True/False for a known key's scope; None for an unknown or revoked key."""
        if self.service.file_keys:
            digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
            from_file = self.service.file_keys.get(digest)
            if from_file is not None:
                return from_file.allows(scope)
        now = time.monotonic()
        cached = self.known.get(key)
        if cached is None or now - cached[0] > _KEY_CACHE_SECONDS:
            found = self.service.keys.find(self.service.name, key)
            cached = (now, found)
            self.known[key] = cached
        if len(self.known) > _MAX_CACHED_KEYS:  # random keys must not grow the cache without end
            self.known = {k: v for k, v in self.known.items() if now - v[0] <= _KEY_CACHE_SECONDS}
        record = cached[1]
        if record is None or record.revoked is not None:
            return None
        return bool(record.allows(scope))


class _BodyLimit:
    """Answer 413 to a body over `limit` bytes, whether or not it declares its length."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], limit: int, refused: Callable[[str], None]
    ) -> None:
        self.app = app
        self.limit = limit
        self.refused = refused

    async def __call__(
        self,
        scope: Scope_,
        receive: Callable[[], Awaitable[Scope_]],
        send: Callable[[Scope_], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        endpoint = str(scope.get("path", "")).rsplit("/", 1)[-1] or "root"
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            self.refused(endpoint)
            await _too_large(send, self.limit)
            return
        seen = 0
        over = False

        async def counted() -> Scope_:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            self.refused(endpoint)
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Callable[[Scope_], Awaitable[None]], limit: int) -> None:
    body = json.dumps(
        {
            "detail": f"the body is over the limit of {limit // 1024} KB; send fewer records per request."
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
