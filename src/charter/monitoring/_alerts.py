"""Alerts: what in a monitoring run needs a person, and where it is sent.

Rules come from the charter's `monitoring` section (each has a default). Sinks: the terminal (the
CLI prints them), a JSON file (`monitoring.alerts.json_file`, rewritten each run) and a webhook
(`monitoring.alerts.webhook`: one HTTP POST with a JSON body per run that has alerts, retried
with exponential back-off on a network error or a 5xx/429 answer).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from charter._atomic import write_text_atomic

__all__ = ["Alert", "Delivery", "deliver", "post_webhook", "write_alerts"]


@dataclass(frozen=True)
class Alert:
    """One finding that needs a person: `kind` (drift, decay, estimated_decay, quality, adoption,
    value, rollback), `severity` (warning or critical), the window it concerns, a plain-words
    message and the figures behind it."""

    kind: str
    severity: str
    window: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "window": self.window,
            "message": self.message,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Delivery:
    """How sending to one sink went."""

    sink: str
    delivered: bool
    attempts: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "error": self.error,
        }


def write_alerts(path: str | Path, payload: dict[str, Any]) -> Delivery:
    """Write the run's alerts as one JSON document (atomically: a reader never sees half)."""
    try:
        write_text_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")
    except OSError as exc:
        return Delivery(f"file {path}", False, 1, f"cannot write: {exc.strerror or exc}")
    return Delivery(f"file {path}", True, 1)


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    retries: int = 3,
    first_wait: float = 0.5,
    timeout: float = 5.0,
    sleep: Any = time.sleep,
) -> Delivery:
    """POST `payload` as JSON; retry `retries` times (waiting 0.5 s, 1 s, 2 s, ...) on failure.

    A 4xx answer other than 429 is the receiver refusing the body: it is not retried.
    """
    body = json.dumps(payload, default=str).encode("utf-8")
    attempts = 0
    error = "not sent"
    for attempt in range(retries + 1):
        attempts += 1
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "charter-monitor"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                answer.read()
            return Delivery(f"webhook {_safe(url)}", True, attempts)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            error = f"cannot reach it: {reason}"
        if attempt < retries:
            sleep(first_wait * 2**attempt)
    return Delivery(f"webhook {_safe(url)}", False, attempts, error)


def _safe(url: str) -> str:
    """The URL without credentials or query (webhook URLs often carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def deliver(
    alerts: Sequence[Alert],
    payload: dict[str, Any],
    *,
    json_file: str | Path | None,
    webhook: str | None,
    retries: int,
) -> list[Delivery]:
    """Send the run to the configured sinks: the file always (when set), the webhook on alerts."""
    deliveries = []
    if json_file is not None:
        deliveries.append(write_alerts(json_file, payload))
    if webhook and alerts:
        deliveries.append(post_webhook(webhook, payload, retries=retries))
    return deliveries
