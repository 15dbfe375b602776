"""A running service follows `promote` and `rollback` within seconds, failing no request meanwhile.

Several client threads keep a live service busy while another `Project` (as a second process would)
promotes the simple version and then rolls back. Every answer is kept with the moment it arrived,
so the switch time and any failed request are measured, not assumed. Afterwards the prediction
log must hold exactly the answered predictions, each with the version that answered it.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from charter.api import Project
from charter.serving._log import read_log

CLIENTS = 6
SWITCH_SECONDS = 3.0  # "within a few seconds": reload_seconds is 0.3, loading a version < 1 s


def first_answer_from(
    answers: list[tuple[float, int, int | None, str | None]], version: int, after: float
) -> float:
    """When the first answer by `version` arrived after `after` (waits up to SWITCH_SECONDS)."""
    deadline = time.monotonic() + SWITCH_SECONDS + 2
    while time.monotonic() < deadline:
        found = [t for t, status, v, _ in list(answers) if t > after and v == version]
        if found:
            return min(found)
        time.sleep(0.05)
    raise AssertionError(f"no answer from v{version} within {SWITCH_SECONDS + 2} s")


@pytest.mark.slow
def test_promote_and_rollback_under_load_fail_no_request(serving_demo, serve, serving_records):
    live = serve(serving_demo, reload_seconds=0.3)
    boosted, simple = serving_demo.boosted, serving_demo.simple
    answers: list[tuple[float, int, int | None, str | None]] = []  # (arrived, status, version, id)
    errors: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=live.url, timeout=15.0) as http:
            i = worker
            while not stop.is_set():
                record = serving_records[i % len(serving_records)]
                i += CLIENTS
                body = (
                    record if i % 3 else [record, serving_records[(i + 1) % len(serving_records)]]
                )
                try:
                    response = http.post("/v1/predict", json=body)
                except httpx.HTTPError as exc:  # a refused or dropped connection is a failure too
                    errors.append(repr(exc))
                    continue
                arrived = time.monotonic()
                if response.status_code != 200:
                    answers.append((arrived, response.status_code, None, None))
                    continue
                for answer in response.json() if isinstance(body, list) else [response.json()]:
                    answers.append((arrived, 200, answer["version"], answer["prediction_id"]))

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(CLIENTS)]
    for thread in threads:
        thread.start()
    admin = Project(serving_demo.charter)  # another process's view of the same project
    try:
        time.sleep(1.0)
        promote_started = time.monotonic()
        promotion = admin.promote(simple, force=True, reason="hot switch test")
        assert promotion.moved
        promoted_at = time.monotonic()
        switched_at = first_answer_from(answers, simple, promote_started)
        time.sleep(1.5)
        rollback = admin.rollback(reason="back to the boosted model")
        assert (rollback.from_version, rollback.to_version) == (simple, boosted)
        rolled_at = time.monotonic()
        back_at = first_answer_from(answers, boosted, rolled_at)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    done = list(answers)
    assert errors == []
    assert [status for _, status, _, _ in done if status != 200] == []
    assert len(done) > 300, f"only {len(done)} answers: the load was too light to show anything"
    assert switched_at - promoted_at < SWITCH_SECONDS
    assert back_at - rolled_at < SWITCH_SECONDS
    # once switched, the service stays switched: no flapping between versions (0.5 s lets the
    # requests already being answered by the old version finish)
    settled_new = [v for t, _, v, _ in done if switched_at + 0.5 < t < rolled_at]
    settled_old = [v for t, _, v, _ in done if t > back_at + 0.5]
    assert settled_new and set(settled_new) == {simple}
    assert settled_old and set(settled_old) == {boosted}
    assert {v for t, _, v, _ in done if t < promote_started} == {boosted}

    live.service.close()
    logged = {
        r["prediction_id"]: r["version"] for r in read_log(serving_demo.log_folder).to_pylist()
    }
    assert logged == {pid: v for _, _, v, pid in done}
