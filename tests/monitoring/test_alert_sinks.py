"""Alert sinks: a real HTTP server on loopback receives the webhook; the JSON file is written whole."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from charter.monitoring._alerts import Alert, deliver, post_webhook


class _Receiver:
    """A local webhook receiver that answers with the given status codes, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    made = _Receiver([])
    yield made
    made.close()


PAYLOAD = {"project": "churn", "alerts": [{"kind": "drift", "message": "contract moved"}]}


def test_the_webhook_receives_the_run(receiver: _Receiver) -> None:
    delivery = post_webhook(receiver.url, PAYLOAD)
    assert delivery.delivered and delivery.attempts == 1
    assert receiver.bodies == [PAYLOAD]
    assert "secret" not in delivery.sink  # the token in the URL is not printed


def test_server_errors_are_retried_with_back_off(receiver: _Receiver) -> None:
    receiver.statuses.extend([503, 500])
    waits: list[float] = []
    delivery = post_webhook(receiver.url, PAYLOAD, retries=3, sleep=waits.append)
    assert delivery.delivered and delivery.attempts == 3
    assert waits == [0.5, 1.0]
    assert len(receiver.bodies) == 3


def test_a_refusal_is_not_retried(receiver: _Receiver) -> None:
    receiver.statuses.append(400)
    delivery = post_webhook(receiver.url, PAYLOAD, retries=3, sleep=lambda _: None)
    assert not delivery.delivered and delivery.attempts == 1 and delivery.error == "HTTP 400"


def test_an_unreachable_receiver_is_reported_not_raised() -> None:
    waits: list[float] = []
    delivery = post_webhook("http://127.0.0.1:9/hook", PAYLOAD, retries=2, sleep=waits.append)
    assert not delivery.delivered and delivery.attempts == 3
    assert waits == [0.5, 1.0]
    assert delivery.error is not None and "cannot reach" in delivery.error


def test_deliver_writes_the_file_and_posts_only_with_alerts(
    receiver: _Receiver, tmp_path: Path
) -> None:
    target = tmp_path / "alerts.json"
    alert = Alert("drift", "warning", "w1", "contract moved")
    quiet = deliver([], {"alerts": []}, json_file=target, webhook=receiver.url, retries=0)
    assert [d.sink.startswith("file") for d in quiet] == [True]
    assert json.loads(target.read_text()) == {"alerts": []}
    assert receiver.bodies == []
    loud = deliver(
        [alert], {"alerts": [alert.to_dict()]}, json_file=target, webhook=receiver.url, retries=0
    )
    assert all(d.delivered for d in loud) and len(loud) == 2
    assert receiver.bodies[0]["alerts"][0]["message"] == "contract moved"
