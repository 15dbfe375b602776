"""`charter serve` as a user runs it: a real process on a free port, stopped gently or killed.

The demo project is trained and promoted once; each test serves a copy of it with
`python -m charter serve --port P` in its own process group. A graceful stop (SIGTERM) must
keep every answered prediction in the log; a hard kill (SIGKILL) in the middle of traffic must
leave a log that still reads back, holding only predictions that were answered and missing at
most those of the last flush interval (serving.flush_seconds, 1 s by default).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from charter.api import Project
from charter.serving._local import free_port
from charter.serving._log import log_files, read_log

FLUSH_SECONDS = 1.0  # the charter's default serving.flush_seconds
STARTUP_SECONDS = 60.0
# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught (exit -15)
GRACEFUL = (0, -signal.SIGTERM)


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch):
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)


@pytest.fixture(scope="module")
def served_template(tmp_path_factory, loose_demo) -> tuple[Path, int]:
    """The demo project audited, trained and its boosted version promoted: (charter, version)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        charter = loose_demo(tmp_path_factory.mktemp("serve") / "churn")
        project = Project(charter)
        project.audit()
        boosted = project.train(budget_seconds=3).versions["boosted"]
        assert project.promote(boosted).moved
        project.registry().store.dispose()
    return charter, boosted


@pytest.fixture(scope="module")
def records(served_template) -> list[dict[str, Any]]:
    """Records from the data as a client sends them (no target, dates as text); no blank totals."""
    rows = Project(served_template[0]).dataset().to_arrow(max_rows=400).to_pylist()
    return [
        {
            k: v.isoformat() if isinstance(v, dt.date) else v
            for k, v in row.items()
            if k != "churned"
        }
        for row in rows
        if row["total_charges"].strip()
    ]


@pytest.fixture
def charter(served_template, tmp_path) -> Path:
    """A private copy of the served project (its store and log live inside it)."""
    source = served_template[0]
    return Path(shutil.copytree(source.parent, tmp_path / "churn")) / source.name


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    stderr: Path

    def output(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def start(tmp_path) -> Iterator:
    """start(charter, *args): `charter serve` in its own process group, once /v1/health answers."""
    started: list[Server] = []

    def run(charter: Path, *args: str) -> Server:
        port = free_port()
        env = {
            k: v for k, v in os.environ.items() if k not in ("CHARTER_STORE", "CHARTER_ARTIFACTS")
        }
        stderr = tmp_path / f"serve-{port}.err"
        with stderr.open("wb") as err:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "charter",
                    "serve",
                    "--port",
                    str(port),
                    "--charter",
                    str(charter),
                    *args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,  # its own process group: workers are stopped with it
            )
        server = Server(process, f"http://127.0.0.1:{port}", stderr)
        started.append(server)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"charter serve exited with {process.returncode}:\n{server.output()}"
                )
            try:
                if httpx.get(f"{server.url}/v1/health", timeout=1.0).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"charter serve did not answer in {STARTUP_SECONDS} s:\n{server.output()}"
                )
            time.sleep(0.1)

    yield run
    for server in started:  # whatever a test left running: its own process group, by id
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(server: Server, how: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Signal the server (the parent process) and wait for the whole group to end."""
    server.process.send_signal(how)
    code = server.process.wait(timeout)
    deadline = time.monotonic() + timeout
    while group_alive(server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(server.process.pid), "worker processes outlived the server"
    return code


def predict_many(url: str, records: list[dict[str, Any]], rounds: int) -> list[str]:
    """Send single records and small lists; return the prediction ids answered."""
    ids: list[str] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for i in range(rounds):
            body: Any = records[i % len(records)] if i % 4 else records[i % 50 : i % 50 + 5]
            response = client.post("/v1/predict", json=body)
            assert response.status_code == 200, response.text
            answers = response.json()
            ids += [
                a["prediction_id"] for a in (answers if isinstance(answers, list) else [answers])
            ]
    return ids


def log_folder(charter: Path) -> Path:
    return charter.parent / ".charter" / "predictions"


def test_serve_answers_and_a_graceful_stop_loses_nothing(charter, start, records, served_template):
    server = start(charter)
    assert f"v{served_template[1]}" in server.output() and server.url in server.output()
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        assert client.get("/v1/ready").json() == {"ready": True, "version": served_template[1]}
        one = client.post("/v1/predict", json=records[0])
        assert one.status_code == 200 and one.json()["version"] == served_template[1]
        many = client.post("/v1/predict", json=records[:20])
        assert many.status_code == 200 and len(many.json()) == 20
        refused = client.post("/v1/predict", json=dict(records[0], tenure_months="lots"))
        assert refused.status_code == 422
        assert client.get("/openapi.json").json()["paths"]["/v1/predict"]
    answered = [one.json()["prediction_id"], *(a["prediction_id"] for a in many.json())]
    answered += predict_many(server.url, records, 150)
    assert stop(server) in GRACEFUL
    log = read_log(log_folder(charter), columns=["prediction_id", "problems"])
    served = log.filter(pc.is_null(log.column("problems")))
    assert sorted(served.column("prediction_id").to_pylist()) == sorted(answered)
    assert log.num_rows - served.num_rows == 1  # the refused record, logged as refused


@pytest.mark.slow
def test_two_workers_answer_and_stop_gracefully(charter, start, records):
    server = start(charter, "--workers", "2")
    assert "2 workers" in server.output()
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(predict_many(server.url, records, 60)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4
    answered = [pid for ids in results for pid in ids]
    assert stop(server) in GRACEFUL
    log = read_log(log_folder(charter), columns=["prediction_id", "problems"])
    served = log.filter(pc.is_null(log.column("problems")))
    assert sorted(served.column("prediction_id").to_pylist()) == sorted(answered)
    assert log.num_rows == served.num_rows  # nothing was refused


@pytest.mark.slow
def test_a_hard_kill_mid_traffic_loses_at_most_the_last_flush(charter, start, records):
    server = start(charter)
    answered: dict[str, float] = {}  # prediction id -> when its answer arrived
    lock = threading.Lock()
    stop_sending = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5.0) as http:
            i = worker
            while not stop_sending.is_set():
                body: Any = records[i % len(records)] if i % 3 else records[i % 40 : i % 40 + 3]
                i += 4
                try:
                    response = http.post("/v1/predict", json=body)
                except httpx.HTTPError:
                    continue  # the server is gone
                now = time.monotonic()
                if response.status_code == 200:
                    answers = response.json()
                    with lock:
                        for a in answers if isinstance(answers, list) else [answers]:
                            answered[a["prediction_id"]] = now

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3.3)  # several flushes, and the kill falls between two of them
    killed_at = time.monotonic()
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    stop_sending.set()
    for thread in threads:
        thread.join(10)

    folder = log_folder(charter)
    for path in log_files(folder):  # every published segment is a whole Parquet file
        pq.read_table(path)
    logged = read_log(folder, columns=["prediction_id"]).column("prediction_id").to_pylist()
    assert len(logged) == len(set(logged)), "a prediction was logged twice"
    assert set(logged) <= set(answered), "the log holds predictions nobody was answered"
    lost = {pid: killed_at - at for pid, at in answered.items() if pid not in set(logged)}
    assert len(logged) > 100
    assert max(lost.values(), default=0.0) <= FLUSH_SECONDS + 0.5, (
        f"{len(lost)} answered predictions lost, the oldest answered "
        f"{max(lost.values()):.2f} s before the kill"
    )


def test_rows_the_contract_accepts_are_scored(charter, tmp_path):
    from charter.serving._app import create_app
    from charter.serving._local import serving
    from charter.serving._service import Service
    from charter.spec import validate_batch

    project = Project(charter)
    dataset = project.dataset()
    assert validate_batch(project.contract(), dataset).ok  # `charter validate` accepts every row
    rows = dataset.to_arrow().to_pylist()
    blank = [
        {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in r.items() if k != "churned"}
        for r in rows
        if not r["total_charges"].strip()
    ]
    assert blank
    service = Service(project, watch=False)
    try:
        with serving(create_app(service)) as url:
            response = httpx.post(f"{url}/v1/predict", json=blank[:5], timeout=30.0)
    finally:
        service.close()
    assert response.status_code == 200, response.text
    source = tmp_path / "training-rows.parquet"
    pq.write_table(dataset.to_arrow(), source)
    result = project.score(source, tmp_path / "scores.parquet", log=False)
    assert result.quarantined == 0, result.problems
