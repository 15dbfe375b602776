"""The serving benchmark: `charter serve` against a bare FastAPI endpoint and `mlflow models serve`.

Builds (once, then reuses; --rebuild makes it again) a project whose production version is a
LightGBM model on the training benchmark's data (benchmarks/.data/train_100k.parquet, 30 columns:
the target and 29 features, see generate.py): `charter audit`, `charter train --only
baseline,boosted`, `charter promote` of the boosted version (with --force and a reason when a gate
refuses). Then measures, in rounds that interleave the servers, every server a fresh process on
127.0.0.1 and every client another fresh process:

  a. the floor: a bare FastAPI endpoint written here that parses the JSON, builds a numpy row in
     the model's feature order (categories mapped to the booster's codes, the timestamp to days
     since 1970, as charter does) and calls booster.predict(num_threads=1), run by uvicorn with
     `charter serve`'s settings (loop and http "auto": uvloop and httptools, access log off);
  b. `charter serve` (1 worker; validation, humility flags, the prediction log and Prometheus
     metrics on, as shipped): single-record requests at concurrency 1, p50 and p99 over
     --requests requests after --warmup; ratios to the floor of the same round;
  c. one request of --batch records (default 1,000), --batch-requests times: median, charter
     against the floor taking a list;
  d. requests/s at concurrency 16 for --seconds: the floor, charter with --workers 1 and 2, and
     `mlflow models serve --env-manager local` of the same booster (saved with
     mlflow.lightgbm.save_model, in its own venv benchmarks/.venv-mlflow, made on first use;
     it is sent the same records with categories already turned into the booster's codes).

The client is a small HTTP/1.1 client on asyncio + uvloop writing prepared requests on keep-alive
connections (neither httpx nor a thread pool: on 2 cores the client shares the CPU with the
server, so it should take as little of it as it can; its CPU per request is shown).

Every round also checks that charter's, the floor's and MLflow's scores agree on the same records
and that charter's prediction log holds one row per answered record (read after a graceful stop).
A last in-process pass (--skip-breakdown leaves it out) times the stages of one prediction inside
charter (contract check, conversion, matrix, booster, flags, JSON, the whole app through ASGI
without the network) next to the floor's, to show where the time goes. Server CPU seconds (the
process tree's, from /proc) are shown per request beside the wall times.

Prints markdown tables (it does not write BENCHMARKS.md); --json keeps the raw figures.

    python benchmarks/bench_serving.py [--repeat 3] [--requests 2000] [--seconds 10] [--skip-mlflow]

Only the standard library is imported at the top: the MLflow child runs this same file with the
MLflow venv's interpreter, which has no charter installed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_audit import PAYLOAD_MARK, _failure, _say, machine, run_child

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / ".data" / "train_100k.parquet"
DEFAULT_PROJECT = HERE / ".data" / "serving_project"
DEFAULT_MLFLOW_VENV = HERE / ".venv-mlflow"
TARGET = "churned"
PROJECT_NAME = "serving_benchmark"
HOST = "127.0.0.1"

# The goals.
MAX_P50_OVER_FLOOR = 1.5
MAX_P99_OVER_FLOOR = 2.0
MAX_BATCH_OVER_FLOOR = 1.5
MIN_OVER_MLFLOW = 20.0


# ---------------------------------------------------------------- the project (built once)


def _charter_yaml(data: Path) -> str:
    """A churn charter over the training benchmark's data, as bench_train.py writes it."""
    return (
        f"project: {PROJECT_NAME}\n"
        "owner: Benchmark\n"
        "problem: Which customers will cancel?\n"
        "decision: Offer a retention discount\n"
        "task: classification\n"
        f"target: {TARGET}\n"
        "positive_class: 1\n"
        "data:\n"
        f"  sources:\n    customers: {json.dumps(str(data))}\n"
        "success:\n"
        "  value:\n"
        "    true_positive: 100\n"
        "    false_positive: -20\n"
        "    false_negative: 0\n"
        "    true_negative: 0\n"
        "baseline:\n"
        "  rule: \"contract = 'monthly' AND complaints >= 1\"\n"
    )


def _charter_cli(folder: Path, *arguments: str, timeout: float = 1800) -> tuple[int, str, str]:
    command = [sys.executable, "-c", "from charter.cli import main; main()", *arguments]
    command += ["--charter", str(folder / "charter.yaml")]
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, done.stdout, done.stderr


def ensure_project(
    folder: Path, data: Path, *, budget: float | None, rebuild: bool
) -> dict[str, Any]:
    """The benchmark project in `folder`, built unless one from the same data is already there.

    Returns what was done (versions, whether promotion was forced) and the floor's model: the
    production booster as LightGBM text plus its feature order, category codes and feature kinds.
    """
    marker = folder / "bench-project.json"
    stat = data.stat()
    stamp = {
        "data": str(data),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "budget": budget,
    }
    if not rebuild and marker.exists():
        known = json.loads(marker.read_text(encoding="utf-8"))
        if known.get("stamp") == stamp and (folder / "floor" / "model.txt").exists():
            known["reused"] = True
            return dict(known)
    _say(f"building the benchmark project in {folder} (audit, train, promote; once)")
    clock = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "charter.yaml").write_text(_charter_yaml(data), encoding="utf-8")
    code, out, err = _charter_cli(folder, "audit", "--json")
    if code != 0:
        raise RuntimeError(_failure(f"`charter audit` exit code {code}", err or out))
    code, out, err = _charter_cli(
        folder,
        "train",
        "--only",
        "baseline,boosted",
        *(["--budget", f"{budget:g}"] if budget is not None else []),
        "--json",
    )
    if code not in (0, 3):
        raise RuntimeError(_failure(f"`charter train` exit code {code}", err or out))
    versions = json.loads(out).get("versions") or {}
    if "boosted" not in versions:
        raise RuntimeError(f"`charter train` registered no boosted version: {versions}")
    boosted = int(versions["boosted"])
    code, out, err = _charter_cli(folder, "promote", f"v{boosted}", "--json")
    forced: list[str] = []
    if code != 0:
        try:
            forced = [
                f"{g['name']}: {g['evidence']}"
                for g in json.loads(out).get("gates", [])
                if g.get("status") == "fail"
            ]
        except json.JSONDecodeError:
            forced = [(err or out).strip().splitlines()[-1] if (err or out).strip() else "?"]
        reason = "serving benchmark: the boosted version must be the one served"
        code, out, err = _charter_cli(
            folder, "promote", f"v{boosted}", "--force", "--reason", reason, "--json"
        )
        if code != 0:
            raise RuntimeError(_failure(f"`charter promote --force` exit code {code}", err or out))
    info = {
        "stamp": stamp,
        "version": boosted,
        "forced": forced,
        "budget": budget,
        "setup_seconds": time.perf_counter() - clock,
        **_export_in_child(folder),
    }
    marker.write_text(json.dumps(info, indent=2), encoding="utf-8")
    info["reused"] = False
    return info


def _export_in_child(folder: Path) -> dict[str, Any]:
    """`_export_floor_model` in a child, so this process does not grow by charter's imports."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "export"]
    return dict(run_child([*command, "--project", str(folder)], timeout=600).payload)


def _export_floor_model(folder: Path) -> dict[str, Any]:
    """Write floor/model.txt and floor/spec.json from the production version, as charter loads it."""
    from charter.api import Project
    from charter.modeling._boosted import BoostedCandidate

    project = Project(folder / "charter.yaml")
    version = project.version("production")
    loaded = project.registry().load(version)
    model = loaded.model
    if not isinstance(model, BoostedCandidate) or model.booster_ is None:
        raise RuntimeError(f"production v{version.number} is not a LightGBM model")
    out = folder / "floor"
    out.mkdir(exist_ok=True)
    model.booster_.save_model(str(out / "model.txt"))
    spec = {
        "features": list(model.features_),
        "categories": {k: list(v) for k, v in model.categories_.items()},
        "kinds": dict(loaded.scoring.get("feature_types", {})),
        "trees": int(model.booster_.num_trees()),
        "production": version.number,
    }
    (out / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return {
        "seconds": 0.0,
        "features": len(spec["features"]),
        "trees": spec["trees"],
        "production": version.number,
    }


# ---------------------------------------------------------------- the floor's row building


def _iso_days(text: str) -> float:
    """ISO 8601 date or timestamp text as days since 1970 (naive means UTC), as charter reads it."""
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp() / 86400.0


class FloorModel:
    """The floor's whole work: records to a float matrix in feature order, then the booster."""

    def __init__(self, folder: Path) -> None:
        import lightgbm as lgb

        spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        self.booster = lgb.Booster(model_file=str(folder / "model.txt"))
        self.features: list[str] = spec["features"]
        codes = {f: {v: float(i) for i, v in enumerate(c)} for f, c in spec["categories"].items()}
        # (name, codes or None, is a date) per column, in the booster's order
        self.columns = [(f, codes.get(f), spec["kinds"].get(f) == "date") for f in spec["features"]]

    def matrix(self, records: Sequence[dict[str, Any]]) -> Any:
        import numpy as np

        nan = math.nan
        matrix = np.empty((len(records), len(self.columns)), dtype=np.float64)
        for i, record in enumerate(records):
            row = matrix[i]
            for j, (name, codes, is_date) in enumerate(self.columns):
                value = record.get(name)
                if value is None:
                    row[j] = nan
                elif codes is not None:
                    row[j] = codes.get(value, nan)
                elif is_date:
                    row[j] = _iso_days(value)
                else:
                    row[j] = float(value)
        return matrix

    def predict(self, records: Sequence[dict[str, Any]]) -> Any:
        return self.booster.predict(self.matrix(records), num_threads=1)


def _floor_app(model: FloorModel) -> Any:
    """The bare endpoint: POST /predict (an object or a list), GET /health."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    app = FastAPI(docs_url=None, redoc_url=None)

    async def predict(request: Request) -> Response:
        body = json.loads(await request.body())
        single = isinstance(body, dict)
        scores = model.predict([body] if single else body)
        answers = [{"score": float(s)} for s in scores]
        return JSONResponse(answers[0] if single else answers)

    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # Defined here, FastAPI cannot resolve the (postponed) annotations by name: give it the types.
    predict.__annotations__ = {"request": Request, "return": Response}
    health.__annotations__ = {"return": dict[str, str]}
    app.post("/predict")(predict)
    app.get("/health")(health)
    return app


def _task_floor_server(model_folder: Path, port: int) -> None:
    """The floor, run by uvicorn as `charter serve` runs charter (loop and http "auto")."""
    import uvicorn

    app = _floor_app(FloorModel(model_folder))
    uvicorn.run(app, host=HOST, port=port, workers=1, log_level="warning", access_log=False)


# ---------------------------------------------------------------- MLflow (its own venv)


def ensure_mlflow_venv(venv: Path) -> Path:
    """The MLflow venv's python, creating it (mlflow, lightgbm, pandas) on first use."""
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run(
            [str(python), "-c", "import mlflow, lightgbm, pandas"], capture_output=True, check=False
        )
        if check.returncode == 0:
            return python
    _say(f"creating {venv} with MLflow (a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "mlflow", "lightgbm", "pandas"], check=True
    )
    return python


def _task_mlflow_save(model_folder: Path, out: Path, sample: Path) -> dict[str, Any]:
    """The production booster saved as an MLflow model (with a signature), in MLflow's venv.

    The booster's own record of pandas categories is cleared: MLflow hands the model a DataFrame,
    and LightGBM would refuse one whose columns are not pandas categoricals; the client sends the
    category codes instead, so MLflow gets the same trees and the same numbers, and skips the
    text-to-code step the other two servers do.
    """
    import lightgbm as lgb
    import mlflow
    import mlflow.lightgbm
    import pandas as pd
    from mlflow.models import infer_signature

    spec = json.loads((model_folder / "spec.json").read_text(encoding="utf-8"))
    booster = lgb.Booster(model_file=str(model_folder / "model.txt"))
    booster.pandas_categorical = None
    rows = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()[:200]]
    frame = pd.DataFrame(rows, columns=spec["features"], dtype="float64")
    signature = infer_signature(frame, booster.predict(frame))
    shutil.rmtree(out, ignore_errors=True)
    mlflow.lightgbm.save_model(booster, str(out), signature=signature)
    return {"seconds": 0.0, "mlflow": mlflow.__version__, "lightgbm": lgb.__version__}


# ---------------------------------------------------------------- the client (its own process)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server closes) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection" and value == b"close":
            close = True
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        return status, bytes(body), close
    if length is None:
        return status, await reader.read(), True
    return status, await reader.readexactly(length), close


def _request(path: str, port: int, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class _Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
        assert self.reader is not None
        self.writer.write(request)
        await self.writer.drain()
        status, body, close = await _read_response(self.reader)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


def _summary(latencies: list[float]) -> dict[str, float]:
    """Percentiles in milliseconds (nearest rank)."""
    ordered = sorted(latencies)
    if not ordered:
        return {}

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] * 1e3

    return {
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1] * 1e3,
        "mean": statistics.fmean(ordered) * 1e3,
        "n": len(ordered),
    }


async def _latency(
    port: int, path: str, bodies: list[bytes], *, count: int, warmup: int, keep: Path | None
) -> dict[str, Any]:
    """One connection, one request at a time: every request timed on its own."""
    requests = [_request(path, port, b) for b in bodies]
    connection = _Connection(port)
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    last = b""
    clock = time.perf_counter()
    for index in range(warmup + count):
        start = time.perf_counter()
        status, last = await connection.send(requests[index % len(requests)])
        elapsed = time.perf_counter() - start
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if index >= warmup:
            latencies.append(elapsed)
    seconds = time.perf_counter() - clock
    connection.close()
    if keep is not None:
        keep.write_bytes(last)
    return {
        "seconds": seconds,
        "requests": warmup + count,
        "statuses": statuses,
        "latency": _summary(latencies),
    }


async def _throughput(
    port: int, path: str, bodies: list[bytes], *, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """`concurrency` keep-alive connections sending back to back; counted after `warmup` seconds."""
    requests = [_request(path, port, b) for b in bodies]
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    sent = [0]
    ok_total = [0]
    begin = time.perf_counter()
    counted_from = begin + warmup
    end = counted_from + seconds

    async def worker(offset: int) -> None:
        connection = _Connection(port)
        index = offset
        try:
            while (start := time.perf_counter()) < end:
                status, _ = await connection.send(requests[index % len(requests)])
                index += 1
                sent[0] += 1
                if status == 200:
                    ok_total[0] += 1
                if start >= counted_from:
                    latencies.append(time.perf_counter() - start)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
        finally:
            connection.close()

    await asyncio.gather(*(worker(i * 97) for i in range(concurrency)))
    done = time.perf_counter()
    ok = statuses.get("200", 0)
    return {
        "seconds": done - counted_from,
        "requests": sent[0],
        "ok_total": ok_total[0],
        "statuses": statuses,
        "rps": ok / (done - counted_from),
        "latency": _summary(latencies),
    }


def _task_client(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    bodies = [line for line in Path(args.bodies).read_bytes().splitlines() if line.strip()]
    if args.mode == "latency":
        work = _latency(
            args.port,
            args.path,
            bodies,
            count=args.count,
            warmup=args.warmup,
            keep=Path(args.keep) if args.keep else None,
        )
    else:
        work = _throughput(
            args.port,
            args.path,
            bodies,
            concurrency=args.concurrency,
            seconds=args.seconds,
            warmup=args.warmup_seconds,
        )
    return asyncio.run(work)


# ---------------------------------------------------------------- servers (fresh processes)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _tree_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (live ones), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Server:
    """A server process on 127.0.0.1 in its own process group, ready when `ready_path` answers 200."""

    label: str
    command: list[str]
    port: int
    ready_path: str
    cwd: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    output: Any = None
    started_in: float = 0.0
    final_log: str = ""

    def start(self, timeout: float = 180.0) -> None:
        self.output = tempfile.TemporaryFile()  # noqa: SIM115  # open while the server runs
        clock = time.perf_counter()
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=self.env,
        )
        while time.perf_counter() - clock < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(
                    _failure(f"{self.label} exited with {self.process.returncode}", self.log())
                )
            try:
                if self.get(self.ready_path)[0] == 200:
                    self.started_in = time.perf_counter() - clock
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(_failure(f"{self.label} not ready within {timeout:.0f} s", self.log()))

    def get(self, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def cpu(self) -> float:
        return _tree_cpu(self.process.pid) if self.process is not None else 0.0

    def log(self) -> str:
        if self.output is None:
            return self.final_log
        self.output.seek(0)
        return str(self.output.read().decode("utf-8", "replace"))

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to the whole group (a graceful stop: charter flushes its log), then SIGKILL."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the group's id is the leader's pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.perf_counter() + wait
            while time.perf_counter() < deadline:
                self.process.poll()
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                continue
            break
        self.process.wait(timeout=10)
        if self.output is not None:
            self.final_log = self.log()
            self.output.close()
            self.output = None


def _client(port: int, path: str, bodies: Path, mode: str, **options: Any) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "client",
        "--port",
        str(port),
        "--path",
        path,
        "--bodies",
        str(bodies),
        "--mode",
        mode,
    ]
    for key, value in options.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    run = run_child(command, timeout=900)
    return {**run.payload, "client_cpu": run.cpu}


# ---------------------------------------------------------------- one round


@dataclass
class Figures:
    """Everything measured of one server in one round (absent keys: not measured)."""

    latency: dict[str, Any] | None = None
    batch: dict[str, Any] | None = None
    throughput: dict[str, Any] | None = None
    cpu_per_request: dict[str, float] = field(default_factory=dict)
    started_in: float = 0.0
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass
class Setup:
    project: Path
    floor_model: Path
    bodies: Path  # one single-record body a line
    batch_body: Path  # one line: a list of --batch records
    mlflow_bodies: Path | None
    mlflow_batch_body: Path | None
    mlflow_python: Path | None
    mlflow_model: Path | None
    work: Path
    args: argparse.Namespace


def _charter_server(setup: Setup, workers: int) -> Server:
    port = _free_port()
    return Server(
        f"charter serve --workers {workers}",
        [
            sys.executable,
            "-c",
            "from charter.cli import main; main()",
            "serve",
            "--charter",
            str(setup.project / "charter.yaml"),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        port,
        "/v1/ready",
        setup.project,
    )


def _floor_server(setup: Setup) -> Server:
    port = _free_port()
    return Server(
        "floor",
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "floor-server",
            "--port",
            str(port),
            "--model",
            str(setup.floor_model),
        ],
        port,
        "/health",
        setup.work,
    )


def _mlflow_server(setup: Setup) -> Server:
    assert setup.mlflow_python is not None and setup.mlflow_model is not None
    port = _free_port()
    command = [
        str(setup.mlflow_python),
        "-m",
        "mlflow",
        "models",
        "serve",
        "--env-manager",
        "local",
        "-m",
        str(setup.mlflow_model),
        "-h",
        HOST,
        "-p",
        str(port),
    ]
    if setup.args.mlflow_workers is not None:
        command += ["--workers", str(setup.args.mlflow_workers)]
    # MLflow starts `uvicorn` by name: the venv's bin must come first on PATH.
    env = {**os.environ, "PATH": f"{setup.mlflow_python.parent}{os.pathsep}{os.environ['PATH']}"}
    return Server("mlflow models serve", command, port, "/ping", setup.work, env=env)


def _measured(server: Server, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    """Run a client against `server`; the result and the server's CPU seconds per request."""
    before = server.cpu()
    result = run()
    spent = server.cpu() - before
    return result, spent / max(int(result["requests"]), 1)


def _errors(result: dict[str, Any]) -> int:
    """Answers other than 200, warm-up included."""
    if "ok_total" in result:
        return int(result["requests"]) - int(result["ok_total"])
    return sum(n for status, n in result["statuses"].items() if status != "200")


def _serve_round(setup: Setup, which: str, figures: Figures) -> None:
    """One fresh server: latency, batch and throughput as the server kind calls for."""
    args = setup.args
    if which == "floor":
        server, path = _floor_server(setup), "/predict"
    elif which == "mlflow":
        server, path = _mlflow_server(setup), "/invocations"
    else:
        workers = 2 if which == "charter2" else 1
        shutil.rmtree(setup.project / ".charter" / "predictions", ignore_errors=True)
        server, path = _charter_server(setup, workers), "/v1/predict"
    single = setup.mlflow_bodies if which == "mlflow" else setup.bodies
    assert single is not None
    server.start()
    figures.started_in = server.started_in
    answered = 0
    try:
        if which in ("floor", "charter"):
            figures.latency, cpu = _measured(
                server,
                lambda: _client(
                    server.port, path, single, "latency", count=args.requests, warmup=args.warmup
                ),
            )
            figures.cpu_per_request["latency"] = cpu
            answered += figures.latency["statuses"].get("200", 0)
            keep = setup.work / f"batch-answer-{which}.json"
            figures.batch, cpu = _measured(
                server,
                lambda: _client(
                    server.port,
                    path,
                    setup.batch_body,
                    "latency",
                    count=args.batch_requests,
                    warmup=2,
                    keep=keep,
                ),
            )
            figures.cpu_per_request["batch"] = cpu
            answered += figures.batch["statuses"].get("200", 0) * args.batch
            figures.checks["scores"] = [a["score"] for a in json.loads(keep.read_bytes())]
        if which == "mlflow" and setup.mlflow_batch_body is not None:
            keep = setup.work / "batch-answer-mlflow.json"
            figures.batch, cpu = _measured(
                server,
                lambda: _client(
                    server.port,
                    path,
                    setup.mlflow_batch_body,
                    "latency",
                    count=args.mlflow_batch_requests,
                    warmup=1,
                    keep=keep,
                ),
            )
            figures.cpu_per_request["batch"] = cpu
            figures.checks["scores"] = list(json.loads(keep.read_bytes())["predictions"])
        figures.throughput, cpu = _measured(
            server,
            lambda: _client(
                server.port,
                path,
                single,
                "throughput",
                concurrency=args.concurrency,
                seconds=args.seconds,
                warmup_seconds=args.warmup_seconds,
            ),
        )
        figures.cpu_per_request["throughput"] = cpu
        figures.checks["errors"] = sum(
            _errors(r) for r in (figures.latency, figures.batch, figures.throughput) if r
        )
        answered += int(figures.throughput["ok_total"])
        if which.startswith("charter"):
            status, text = server.get("/metrics")
            figures.checks["metrics"] = status == 200 and b"charter_predictions_total" in text
    finally:
        server.stop()
    if which.startswith("charter"):
        figures.checks["answered"] = answered
        figures.checks["logged"] = _logged_rows(setup.project)


def _logged_rows(project: Path) -> int:
    from charter.serving._log import read_log

    return int(read_log(project / ".charter" / "predictions", columns=["prediction_id"]).num_rows)


# ---------------------------------------------------------------- the in-process breakdown


def _asgi_each(
    app: Any, path: str, bodies: Sequence[bytes], rounds: int, *, ms: bool = False
) -> float:
    """Best-of-`rounds` mean time of one POST of each body, straight through the ASGI app."""

    async def call(body: bytes) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", HOST.encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": (HOST, 1),
            "server": (HOST, 2),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))

        await app(scope, receive, send)
        return status[0]

    async def passes() -> float:
        for body in bodies[:50]:
            if await call(body) != 200:
                raise RuntimeError(f"{path} did not answer 200 in-process")
        best = math.inf
        for _ in range(rounds):
            clock = time.perf_counter()
            for body in bodies:
                await call(body)
            best = min(best, (time.perf_counter() - clock) / len(bodies))
        return best * (1e3 if ms else 1e6)

    return asyncio.run(passes())


def _task_breakdown(project: Path, records_file: Path, model_folder: Path) -> dict[str, Any]:
    """Where one prediction's time goes inside charter, stage by stage (mean µs per call)."""
    import uuid

    import numpy as np
    from starlette.responses import JSONResponse

    from charter.api import Project
    from charter.serving._service import Service

    records = json.loads(records_file.read_text(encoding="utf-8"))
    bodies = [json.dumps(r).encode() for r in records]
    floor = FloorModel(model_folder)
    rounds = 3
    with tempfile.TemporaryDirectory(prefix="charter-breakdown-") as tmp:
        service = Service(Project(project / "charter.yaml"), log_folder=Path(tmp), watch=False)
        deployed = service.current
        assert deployed is not None
        checker, scorer, humility = deployed.checker, deployed.scorer, deployed.humility
        rows = [checker.convert(r) for r in records]
        booster = scorer.model.booster_  # type: ignore[attr-defined]
        matrices = [scorer.matrix([row]) for row in rows]
        scores = [float(booster.predict(m, num_threads=1)[0]) for m in matrices]
        answers = service.predict(records[:1])
        n = len(records)

        def each(action: Callable[[int], object]) -> float:
            best = math.inf
            for _ in range(rounds):
                clock = time.perf_counter()
                for i in range(n):
                    action(i)
                best = min(best, (time.perf_counter() - clock) / n * 1e6)
            return best

        def once(action: Callable[[], object], times: int = 5) -> float:
            best = math.inf
            for _ in range(times):
                clock = time.perf_counter()
                action()
                best = min(best, (time.perf_counter() - clock) * 1e3)
            return best

        single = {
            "json.loads(body)": each(lambda i: json.loads(bodies[i])),
            "checker.check(record)": each(lambda i: checker.check(records[i])),
            "checker.convert(record)": each(lambda i: checker.convert(records[i])),
            "scorer.matrix([row])": each(lambda i: scorer.matrix([rows[i]])),
            "booster.predict(row, num_threads=1)": each(
                lambda i: booster.predict(matrices[i], num_threads=1)
            ),
            "scorer.score([row], [record])": each(lambda i: scorer.score([rows[i]], [records[i]])),
            "humility.flags(row, score)": each(lambda i: humility.flags(rows[i], scores[i])),
            "uuid.uuid4().hex": each(lambda i: uuid.uuid4().hex),
            "JSONResponse(answer)": each(lambda i: JSONResponse(answers[0])),
            "service.predict([record]) (all of the above but HTTP, + log, metrics)": each(
                lambda i: service.predict([records[i]])
            ),
            "floor: matrix + booster.predict": each(lambda i: floor.predict([records[i]])),
        }
        from charter.serving._app import create_app

        charter_app = create_app(service)
        floor_app = _floor_app(floor)
        single["floor app, one POST through ASGI (no network)"] = _asgi_each(
            floor_app, "/predict", bodies, rounds
        )
        single["charter app, one POST through ASGI (no network)"] = _asgi_each(
            charter_app, "/v1/predict", bodies, rounds
        )
        batch_body = json.dumps(records).encode()
        many = service.predict(records)
        batch = {
            "json.loads(body)": once(lambda: json.loads(batch_body)),
            "checker.check x N": once(lambda: [checker.check(r) for r in records]),
            "checker.convert x N": once(lambda: [checker.convert(r) for r in records]),
            "scorer.matrix(rows)": once(lambda: scorer.matrix(rows)),
            "booster.predict(matrix, num_threads=1)": once(
                lambda: booster.predict(scorer.matrix(rows), num_threads=1)
            ),
            "humility.flags x N": once(
                lambda: [humility.flags(r, s) for r, s in zip(rows, scores, strict=True)]
            ),
            "JSONResponse(answers)": once(lambda: JSONResponse(many)),
            "service.predict(records)": once(lambda: service.predict(records)),
            "floor: matrix + booster.predict": once(lambda: floor.predict(records)),
            "floor: JSONResponse(scores)": once(
                lambda: JSONResponse([{"score": s} for s in scores])
            ),
            "floor app, the POST through ASGI (no network)": _asgi_each(
                floor_app, "/predict", [batch_body], 5, ms=True
            ),
            "charter app, the POST through ASGI (no network)": _asgi_each(
                charter_app, "/v1/predict", [batch_body], 5, ms=True
            ),
        }
        service.close()
    assert np.isfinite(scores).all()
    return {"seconds": 0.0, "single_us": single, "batch_ms": batch, "records": n}


# ---------------------------------------------------------------- the benchmark


def _prepare_bodies(
    setup_dir: Path, data: Path, model_folder: Path, *, pool: int, batch: int
) -> dict[str, Path]:
    """Records drawn from the data (seeded), as JSON bodies for each kind of server."""
    import pyarrow.parquet as pq

    table = pq.read_table(data)
    rng = random.Random(0)
    picked = sorted(rng.sample(range(table.num_rows), max(pool, batch)))
    records = table.take(picked).drop_columns([TARGET]).to_pylist()
    for record in records:
        for key, value in record.items():
            if isinstance(value, datetime):
                record[key] = value.isoformat()
    spec = json.loads((model_folder / "spec.json").read_text(encoding="utf-8"))
    floor = FloorModel(model_folder)
    matrix = floor.matrix(records)
    numeric = [
        {
            f: (None if math.isnan(v) else float(v))
            for f, v in zip(spec["features"], row, strict=True)
        }
        for row in matrix.tolist()
    ]
    paths = {
        "records": setup_dir / "records.json",
        "single": setup_dir / "single.jsonl",
        "batch": setup_dir / "batch.jsonl",
        "mlflow": setup_dir / "mlflow.jsonl",
        "mlflow_batch": setup_dir / "mlflow-batch.jsonl",
        "numeric": setup_dir / "numeric.jsonl",
    }
    paths["records"].write_text(json.dumps(records[:batch]), encoding="utf-8")
    paths["single"].write_text(
        "".join(json.dumps(r) + "\n" for r in records[:pool]), encoding="utf-8"
    )
    paths["batch"].write_text(json.dumps(records[:batch]) + "\n", encoding="utf-8")
    paths["mlflow"].write_text(
        "".join(
            json.dumps({"dataframe_split": {"columns": list(r), "data": [list(r.values())]}}) + "\n"
            for r in numeric[:pool]
        ),
        encoding="utf-8",
    )
    paths["mlflow_batch"].write_text(
        json.dumps(
            {
                "dataframe_split": {
                    "columns": spec["features"],
                    "data": [list(r.values()) for r in numeric[:batch]],
                }
            }
        )
        + "\n",
        encoding="utf-8",
    )
    paths["numeric"].write_text("".join(json.dumps(r) + "\n" for r in numeric), encoding="utf-8")
    return paths


def _versions(mlflow_version: str | None) -> dict[str, str]:
    import fastapi
    import httptools
    import lightgbm
    import starlette
    import uvicorn
    import uvloop

    return {
        "lightgbm": lightgbm.__version__,
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
        "uvloop": uvloop.__version__,
        "httptools": httptools.__version__,
        "mlflow": mlflow_version or "not measured",
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    data: Path = args.data.resolve()
    if not data.exists():
        raise SystemExit(
            f"{data} does not exist: run `python benchmarks/generate.py --rows 100000 --out {data}` "
            "first (or benchmarks/run_all.sh train, which does)."
        )
    host = machine()  # before the run, so the load average is the machine's, not ours
    project: Path = args.project.resolve()
    built = ensure_project(project, data, budget=args.budget, rebuild=args.rebuild)
    _say(
        f"project {project}: production v{built['production']}, {built['trees']} trees on "
        f"{built['features']} features" + (" (reused)" if built.get("reused") else "")
    )
    work = Path(tempfile.mkdtemp(prefix="charter-serving-bench-"))
    try:
        paths = _prepare_bodies(work, data, project / "floor", pool=args.pool, batch=args.batch)
        mlflow_python: Path | None = None
        mlflow_model: Path | None = None
        mlflow_version: str | None = None
        mlflow_error: str | None = None
        if args.skip_mlflow:
            mlflow_error = "not measured: --skip-mlflow"
        else:
            try:
                mlflow_python = ensure_mlflow_venv(args.mlflow_venv)
                mlflow_model = work / "mlflow-model"
                saved = run_child(
                    [
                        str(mlflow_python),
                        str(Path(__file__).resolve()),
                        "--child",
                        "mlflow-save",
                        "--model",
                        str(project / "floor"),
                        "--out",
                        str(mlflow_model),
                        "--bodies",
                        str(paths["numeric"]),
                    ],
                    timeout=600,
                )
                mlflow_version = str(saved.payload["mlflow"])
            except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
                mlflow_error = f"not measured: {exc}"
                mlflow_python = None
                _say(f"MLflow: {mlflow_error}")
        setup = Setup(
            project=project,
            floor_model=project / "floor",
            bodies=paths["single"],
            batch_body=paths["batch"],
            mlflow_bodies=paths["mlflow"] if mlflow_python else None,
            mlflow_batch_body=paths["mlflow_batch"] if mlflow_python else None,
            mlflow_python=mlflow_python,
            mlflow_model=mlflow_model,
            work=work,
            args=args,
        )
        kinds = ["floor", "charter", "charter2"] + (["mlflow"] if mlflow_python else [])
        rounds: list[dict[str, Figures]] = []
        errors: dict[str, str] = {}
        loads: list[float] = []
        for number in range(args.repeat):
            _say(f"round {number + 1}")
            # floor and charter swap places every round, so drift in the machine hits both alike
            order = kinds if number % 2 == 0 else ["charter", "floor", *kinds[2:]]
            figures: dict[str, Figures] = {}
            for which in order:
                if which in errors:
                    continue
                measured = Figures()
                try:
                    _serve_round(setup, which, measured)
                except (RuntimeError, OSError, KeyError, ValueError) as exc:
                    errors[which] = str(exc)
                    _say(f"  {which}: FAILED: {exc}")
                    continue
                figures[which] = measured
                _say("  " + _line(which, measured))
            rounds.append(figures)
            loads.append(os.getloadavg()[0])
        breakdown = None
        if not args.skip_breakdown:
            _say("breakdown (in-process)")
            breakdown = run_child(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    "breakdown",
                    "--project",
                    str(project),
                    "--bodies",
                    str(paths["records"]),
                    "--model",
                    str(project / "floor"),
                ],
                timeout=900,
            ).payload
    finally:
        shutil.rmtree(work, ignore_errors=True)
    host["versions"].update(_versions(mlflow_version))
    return {
        "when": datetime.now(UTC),
        "machine": host,
        "data": data,
        "project": built,
        "args": vars(args),
        "rounds": rounds,
        "errors": errors,
        "mlflow_error": mlflow_error,
        "highest_load": max(loads, default=0.0),
        "breakdown": breakdown,
    }


def _line(which: str, f: Figures) -> str:
    parts = [f"started in {f.started_in:.1f} s"]
    if f.latency:
        lat = f.latency["latency"]
        parts.append(f"c=1 p50 {lat['p50']:.3f} ms p99 {lat['p99']:.3f} ms")
    if f.batch:
        parts.append(f"batch p50 {f.batch['latency']['p50']:.1f} ms")
    if f.throughput:
        parts.append(f"c=16 {f.throughput['rps']:.0f} req/s")
    if f.checks.get("errors"):
        parts.append(f"{f.checks['errors']} non-200 answers")
    if "logged" in f.checks:
        parts.append(f"logged {f.checks['logged']:,} of {f.checks['answered']:,}")
    return f"{which}: " + ", ".join(parts)


# ---------------------------------------------------------------- reporting


LABELS = {
    "floor": "bare FastAPI + booster (floor)",
    "charter": "`charter serve` --workers 1",
    "charter2": "`charter serve` --workers 2",
    "mlflow": "`mlflow models serve`",
}


def _values(
    results: dict[str, Any], which: str, get: Callable[[Figures], float | None]
) -> list[float]:
    found = []
    for figures in results["rounds"]:
        if which in figures:
            value = get(figures[which])
            if value is not None:
                found.append(float(value))
    return found


def _ratios(
    results: dict[str, Any], top: str, bottom: str, get: Callable[[Figures], float | None]
) -> list[float]:
    """Per-round ratios top/bottom, from rounds where both were measured."""
    found = []
    for figures in results["rounds"]:
        if top in figures and bottom in figures:
            a, b = get(figures[top]), get(figures[bottom])
            if a is not None and b:
                found.append(float(a) / float(b))
    return found


def _spread(values: Sequence[float], digits: int) -> str:
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1 or round(min(values), digits) == round(max(values), digits):
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _lat(key: str) -> Callable[[Figures], float | None]:
    return lambda f: f.latency["latency"][key] if f.latency else None


def _batch(f: Figures) -> float | None:
    return f.batch["latency"]["p50"] if f.batch else None


def _rps(f: Figures) -> float | None:
    return f.throughput["rps"] if f.throughput else None


def _thr(key: str) -> Callable[[Figures], float | None]:
    return lambda f: f.throughput["latency"][key] if f.throughput else None


def _cpu(key: str, scale: float = 1e6) -> Callable[[Figures], float | None]:
    return lambda f: f.cpu_per_request[key] * scale if key in f.cpu_per_request else None


def _client_cpu(f: Figures) -> float | None:
    if not f.throughput:
        return None
    return float(f.throughput["client_cpu"]) / max(int(f.throughput["requests"]), 1) * 1e6


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, measured: median of per-round ratios, goal, met) for each of the issue's targets."""

    def row(
        what: str, ratios: list[float], goal: str, ok: Callable[[float], bool]
    ) -> tuple[str, str, str, str]:
        if not ratios:
            return (what, "not measured", goal, "?")
        median = statistics.median(ratios)
        return (what, f"{_spread(ratios, 2)}×", goal, "yes" if ok(median) else "**no**")

    return [
        row(
            "single record, c=1: charter p50 / floor p50",
            _ratios(results, "charter", "floor", _lat("p50")),
            f"≤ {MAX_P50_OVER_FLOOR}×",
            lambda r: r <= MAX_P50_OVER_FLOOR,
        ),
        row(
            "single record, c=1: charter p99 / floor p99",
            _ratios(results, "charter", "floor", _lat("p99")),
            f"≤ {MAX_P99_OVER_FLOOR}×",
            lambda r: r <= MAX_P99_OVER_FLOOR,
        ),
        row(
            "1,000-record request: charter / floor (median time)",
            _ratios(results, "charter", "floor", _batch),
            f"≤ {MAX_BATCH_OVER_FLOOR}×",
            lambda r: r <= MAX_BATCH_OVER_FLOOR,
        ),
        row(
            "c=16 requests/s: charter --workers 2 / MLflow",
            _ratios(results, "charter2", "mlflow", _rps),
            f"≥ {MIN_OVER_MLFLOW:.0f}×",
            lambda r: r >= MIN_OVER_MLFLOW,
        ),
        row(
            "c=16 requests/s: charter --workers 1 / MLflow (same worker count)",
            _ratios(results, "charter", "mlflow", _rps),
            f"≥ {MIN_OVER_MLFLOW:.0f}×",
            lambda r: r >= MIN_OVER_MLFLOW,
        ),
    ]


def checks(results: dict[str, Any]) -> list[str]:
    """Sentences on what each round established beyond the timings."""
    import numpy as np

    lines: list[str] = []
    gaps = []
    for figures in results["rounds"]:
        a, b = figures.get("charter"), figures.get("floor")
        if a and b and "scores" in a.checks and "scores" in b.checks:
            gaps.append(float(np.max(np.abs(np.array(a.checks["scores"]) - b.checks["scores"]))))
    mlflow_gaps = []
    for figures in results["rounds"]:
        a, b = figures.get("mlflow"), figures.get("floor")
        if a and b and "scores" in a.checks and "scores" in b.checks:
            mlflow_gaps.append(
                float(np.max(np.abs(np.array(a.checks["scores"]) - b.checks["scores"])))
            )
    if mlflow_gaps:
        lines.append(
            f"MLflow's and the floor's scores for the same {results['args']['batch']:,} records "
            f"(MLflow sent category codes): largest difference {max(mlflow_gaps):.1e} over "
            f"{len(mlflow_gaps)} round(s): the same model."
        )
    if gaps:
        lines.append(
            f"charter's and the floor's scores for the same {results['args']['batch']:,} records: "
            f"largest difference {max(gaps):.1e} over {len(gaps)} round(s)."
        )
    for which in ("charter", "charter2"):
        pairs = [
            (f[which].checks["logged"], f[which].checks["answered"])
            for f in results["rounds"]
            if which in f and "logged" in f[which].checks
        ]
        if pairs:
            shown = ", ".join(f"{logged:,}/{answered:,}" for logged, answered in pairs)
            whole = all(logged == answered for logged, answered in pairs)
            lines.append(
                f"{LABELS[which]}: prediction log rows / records answered per round: {shown} "
                f"({'all logged' if whole else '**rows missing**'}); /metrics answered: "
                + ", ".join(
                    str(f[which].checks.get("metrics")) for f in results["rounds"] if which in f
                )
                + "."
            )
    bad = [
        f"{which} round {i + 1}: {f.checks['errors']}"
        for i, figures in enumerate(results["rounds"])
        for which, f in figures.items()
        if f.checks.get("errors")
    ]
    lines.append("non-200 answers: " + (", ".join(bad) if bad else "none") + ".")
    for which, error in results["errors"].items():
        lines.append(f"{LABELS[which]} FAILED: {error.splitlines()[0]}")
    if results["mlflow_error"]:
        lines.append(f"MLflow {results['mlflow_error']}")
    return lines


def markdown(results: dict[str, Any]) -> str:
    mach = results["machine"]
    versions = mach["versions"]
    args = results["args"]
    built = results["project"]
    rounds = len(results["rounds"])
    forced = (
        f"promoted with --force past: {'; '.join(built['forced'])}"
        if built.get("forced")
        else "promoted through every gate"
    )
    lines = [
        f"### Serving — {results['when']:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {mach['cores']} cores ({mach['cpu']}), {mach['memory'] / 2**30:.0f} GiB, "
        f"{mach['system']}; load average {mach['load']} before the run, highest 1-minute load "
        f"after a round {results['highest_load']:.2f}.",
        f"- Software: Python {versions['python']}, charter {versions['charter']} (commit "
        f"{mach['commit']}), LightGBM {versions['lightgbm']}, FastAPI {versions['fastapi']}, "
        f"Starlette {versions['starlette']}, uvicorn {versions['uvicorn']} (uvloop "
        f"{versions['uvloop']}, httptools {versions['httptools']}), MLflow {versions['mlflow']}.",
        f"- Model: production v{built['production']} of `{PROJECT_NAME}` (LightGBM, "
        f"{built['trees']} trees, {built['features']} features: 20 numbers, 8 categories, 1 "
        f"timestamp), trained on `{results['data'].name}` by `charter train --only "
        f"baseline,boosted{_budget(built['budget'])}`; {forced}.",
        f"- `python benchmarks/bench_serving.py --repeat {args['repeat']} --requests "
        f"{args['requests']} --seconds {args['seconds']:g}`: {rounds} rounds, every server a "
        f"fresh process per round, floor and charter alternating first; loopback, raw HTTP/1.1 "
        f"keep-alive client on uvloop in its own process; {args['warmup']} warm-up requests, "
        f"then {args['requests']:,} timed ones cycling over {args['pool']} distinct records; "
        f"figures are medians over rounds (min–max); ratios are medians of per-round ratios.",
        "",
        "Single record, concurrency 1:",
        "",
        "| server | p50 ms | p90 ms | p99 ms | server CPU µs / request | p50 vs floor | p99 vs floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for which in ("floor", "charter"):
        p50 = _values(results, which, _lat("p50"))
        if not p50:
            continue
        vs50 = _ratios(results, which, "floor", _lat("p50"))
        vs99 = _ratios(results, which, "floor", _lat("p99"))
        lines.append(
            f"| {LABELS[which]} | {_spread(p50, 3)} | {_spread(_values(results, which, _lat('p90')), 3)} "
            f"| {_spread(_values(results, which, _lat('p99')), 3)} "
            f"| {_spread(_values(results, which, _cpu('latency')), 0)} "
            f"| {_spread(vs50, 2)}× | {_spread(vs99, 2)}× |"
        )
    lines += [
        "",
        f"One request of {args['batch']:,} records ({args['batch_requests']} timed after 2 warm-up):",
        "",
        "| server | median ms | p90 ms | server CPU ms / request | vs floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for which in ("floor", "charter", "mlflow"):
        values = _values(results, which, _batch)
        if not values:
            continue
        label = LABELS[which]
        if which == "mlflow":
            label += f" (category codes sent; {args['mlflow_batch_requests']} timed)"
        lines.append(
            f"| {label} | {_spread(values, 1)} "
            f"| {_spread(_values(results, which, lambda f: f.batch['latency']['p90'] if f.batch else None), 1)} "
            f"| {_spread(_values(results, which, _cpu('batch', 1e3)), 1)} "
            f"| {_spread(_ratios(results, which, 'floor', _batch), 2)}× |"
        )
    lines += [
        "",
        f"Throughput, concurrency {args['concurrency']}, {args['seconds']:g} s counted after "
        f"{args['warmup_seconds']:g} s warm-up (single-record requests):",
        "",
        "| server | requests/s | p50 ms | p99 ms | server CPU µs / request "
        "| client CPU µs / request | vs MLflow |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for which in ("floor", "charter", "charter2", "mlflow"):
        values = _values(results, which, _rps)
        if not values:
            continue
        vs = _ratios(results, which, "mlflow", _rps)
        label = LABELS[which]
        if which == "mlflow":
            label += f" (--workers {args['mlflow_workers'] or '1, its default'})"
        lines.append(
            f"| {label} | {_spread(values, 0)} | {_spread(_values(results, which, _thr('p50')), 2)} "
            f"| {_spread(_values(results, which, _thr('p99')), 2)} "
            f"| {_spread(_values(results, which, _cpu('throughput')), 0)} "
            f"| {_spread(_values(results, which, _client_cpu), 0)} "
            f"| {_spread(vs, 1) + '×' if vs else '—'} |"
        )
    lines += ["", "| goal (issue 6) | measured | target | met |", "|---|---:|---:|---|"]
    for what, measured, goal, met in goals(results):
        lines.append(f"| {what} | {measured} | {goal} | {met} |")
    lines += ["", *(f"- {line}" for line in checks(results))]
    starts = {
        which: _values(results, which, lambda f: f.started_in)
        for which in ("floor", "charter", "charter2", "mlflow")
    }
    lines.append(
        "- Start-up to first ready answer: "
        + ", ".join(f"{LABELS[w]} {_spread(v, 1)} s" for w, v in starts.items() if v)
        + "."
    )
    breakdown = results.get("breakdown")
    if breakdown:
        lines += [
            "",
            "Where the time goes (in-process, no HTTP; best of 3 passes over "
            f"{breakdown['records']:,} records):",
            "",
            "| one record | µs |",
            "|---|---:|",
            *(f"| {k} | {v:.1f} |" for k, v in breakdown["single_us"].items()),
            "",
            f"| {breakdown['records']:,} records at once | ms |",
            "|---|---:|",
            *(f"| {k} | {v:.2f} |" for k, v in breakdown["batch_ms"].items()),
        ]
    return "\n".join(lines) + "\n"


def _budget(budget: float | None) -> str:
    return "" if budget is None else f" --budget {budget:g}"


def _plain(value: Any) -> Any:
    if isinstance(value, Figures):
        return {
            "latency": value.latency,
            "batch": value.batch,
            "throughput": value.throughput,
            "cpu_per_request": value.cpu_per_request,
            "started_in": value.started_in,
            "checks": {k: v for k, v in value.checks.items() if k != "scores"},
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path | datetime):
        return str(value)
    return value


def _emit(payload: dict[str, Any]) -> None:
    print(PAYLOAD_MARK + json.dumps(payload), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the training data")
    parser.add_argument(
        "--project", type=Path, default=DEFAULT_PROJECT, help="where the project is built / reused"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the project again")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="`charter train --budget` when the project is built (default: charter's own)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests at c=1")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests at c=1")
    parser.add_argument("--pool", type=int, default=1000, help="distinct single records sent")
    parser.add_argument("--batch", type=int, default=1000, help="records in the batch request")
    parser.add_argument("--batch-requests", type=int, default=30, help="timed batch requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="counted throughput seconds")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV)
    parser.add_argument("--mlflow-workers", type=int, default=None, help="default: MLflow's")
    parser.add_argument(
        "--mlflow-batch-requests", type=int, default=5, help="timed batch requests to MLflow"
    )
    parser.add_argument("--skip-breakdown", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    # children
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--keep", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "client":
        _emit(_task_client(args))
        return 0
    if args.child == "floor-server":
        _task_floor_server(args.model, args.port)
        return 0
    if args.child == "mlflow-save":
        _emit(_task_mlflow_save(args.model, args.out, Path(args.bodies)))
        return 0
    if args.child == "export":
        _emit(_export_floor_model(args.project))
        return 0
    if args.child == "breakdown":
        _emit(_task_breakdown(args.project, Path(args.bodies), args.model))
        return 0
    if args.repeat < 1 or args.requests < 100:
        parser.error("--repeat must be at least 1 and --requests at least 100")
    results = benchmark(args)
    print()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(_plain(results), indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
