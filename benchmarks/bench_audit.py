"""The audit benchmark: charter's profiling and audit against DuckDB SUMMARIZE and ydata-profiling.

Measures, on the same Parquet file (see generate.py) and in the same run:
  a. the floor: DuckDB `SUMMARIZE SELECT * FROM read_parquet(...)`;
  b. charter's profiling + quality pass: profile_dataset + check_quality + check_target;
  c. the whole audit as a user runs it: `charter audit --json` on a charter.yaml pointing at the
     file (leakage and learning curve included), wall time including interpreter start;
  d. peak memory (RSS) of each, against the Arrow in-memory size of the file;
  e. ydata-profiling in minimal mode (its own venv, benchmarks/.venv-ydata, made on first use):
     read_parquet + get_description (the statistics), then to_json (the document), timed apart.

CPU seconds (user + system, from os.wait4) are shown beside the wall times: they move much
less than wall times when other processes share the machine.

Every measurement runs in a fresh child process, so each repetition pays the same start-up
costs and its peak RSS is its own (read with os.wait4). The time of (a), (b) and (e) is taken
inside the child around the work itself, reading the file included, imports excluded.
Prints a table and appends a dated section to benchmarks/BENCHMARKS.md (unless --no-record).

    python benchmarks/bench_audit.py [--repeat 3] [--skip-ydata] [--ydata-repeat N]

Only the standard library is imported at the top: the ydata child runs this same file with
the ydata venv's interpreter, which has no charter installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / ".data" / "audit_1m.parquet"
DEFAULT_YDATA_VENV = HERE / ".venv-ydata"
BENCHMARKS_MD = HERE / "BENCHMARKS.md"
TARGET = "churned"
TIME = "event_time"
PAYLOAD_MARK = "BENCH-RESULT "

# The goals.
MAX_PROFILE_OVER_SUMMARIZE = 1.5
MIN_YDATA_OVER_PROFILE = 20.0
MAX_AUDIT_SECONDS = 60.0
MAX_MEMORY_OVER_ARROW = 4.0


# ---------------------------------------------------------------- child tasks (one per process)


def _emit(payload: dict[str, Any]) -> None:
    print(PAYLOAD_MARK + json.dumps(payload), flush=True)


def _task_summarize(data: Path) -> dict[str, Any]:
    import duckdb

    clock = time.perf_counter()
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    rows = connection.execute(
        f"SUMMARIZE SELECT * FROM read_parquet({_sql_string(data)})"
    ).fetchall()
    seconds = time.perf_counter() - clock
    return {"seconds": seconds, "columns": len(rows), "duckdb": duckdb.__version__}


def _bench_charter(data: Path) -> Any:
    from charter.spec import Charter

    return Charter.model_validate(
        {
            "project": "audit_benchmark",
            "task": "classification",
            "target": TARGET,
            "positive_class": 1,
            "data": {"sources": {"audit": str(data)}, "time": TIME},
        }
    )


def _open_dataset(charter: Any, data: Path) -> tuple[Any, str]:
    """The project's own loader when it exists; else a DuckDB view over the file, as it would be."""
    import charter.data as data_module

    opener = getattr(data_module, "open_dataset", None)
    if opener is not None:
        return opener(charter, base_dir=data.parent), "charter.data.open_dataset"
    import duckdb

    from charter.data import DATASET, Dataset, SourceInfo

    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW audit AS SELECT * FROM read_parquet({_sql_string(data)})")
    connection.execute(f"CREATE VIEW {DATASET} AS SELECT * FROM audit")
    described = connection.execute("DESCRIBE audit").fetchall()
    rows = connection.execute("SELECT count(*) FROM audit").fetchone()
    info = SourceInfo(
        "audit",
        "file",
        str(data),
        int(rows[0]) if rows else 0,
        tuple((r[0], r[1]) for r in described),
    )
    return Dataset(connection, [info]), "DuckDB view over read_parquet (no open_dataset yet)"


def _task_profile(data: Path) -> dict[str, Any]:
    """profile_dataset + check_quality + check_target, each timed; reports what is missing."""
    import importlib

    from charter.audit._context import AuditContext
    from charter.audit._profile import profile_dataset

    checks: list[tuple[str, Callable[[Any], list[Any]]]] = []
    missing: list[str] = []
    modules = []
    for module_name in ("charter.audit._quality", "charter.audit._target"):
        try:
            modules.append(importlib.import_module(module_name))
        except ImportError as exc:
            missing.append(f"{module_name} ({exc})")
    for name in ("check_quality", "check_target"):
        function = next((getattr(m, name) for m in modules if hasattr(m, name)), None)
        if function is None:
            missing.append(name)
        else:
            checks.append((name, function))

    charter = _bench_charter(data)
    parts: dict[str, float] = {}
    clock = time.perf_counter()
    dataset, loader = _open_dataset(charter, data)
    parts["open"] = time.perf_counter() - clock
    mark = time.perf_counter()
    profile = profile_dataset(dataset)
    parts["profile_dataset"] = time.perf_counter() - mark
    context = AuditContext(
        charter=charter, dataset=dataset, profile=profile, now=datetime.now(UTC), seed=0
    )
    findings = 0
    for name, check in checks:
        mark = time.perf_counter()
        findings += len(check(context))
        parts[name] = time.perf_counter() - mark
    seconds = time.perf_counter() - clock
    return {
        "seconds": seconds,
        "parts": parts,
        "measured": ["profile_dataset", *(name for name, _ in checks)],
        "missing": missing,
        "findings": findings,
        "loader": loader,
    }


def _task_audit_api(data: Path, folder: Path) -> dict[str, Any]:
    """The whole audit through the Python API (used when the CLI is not there)."""
    import importlib

    clock = time.perf_counter()
    try:
        api = importlib.import_module("charter.api")
        result = api.Project(folder / "charter.yaml").audit()
        how = "charter.api.Project(...).audit()"
    except (ImportError, AttributeError):
        from charter.audit._run import run_audit

        charter = _bench_charter(data)
        dataset, _ = _open_dataset(charter, data)
        result = run_audit(charter, dataset)
        how = "charter.audit._run.run_audit(charter, dataset)"
    seconds = time.perf_counter() - clock
    return {"seconds": seconds, "how": how, "verdict": str(result.verdict.value)}


def _task_arrow(data: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    clock = time.perf_counter()
    table = pq.read_table(data)
    seconds = time.perf_counter() - clock
    return {"seconds": seconds, "arrow_bytes": int(table.nbytes), "rows": table.num_rows}


def _task_ydata(data: Path, *, with_json: bool = True) -> dict[str, Any]:
    """read_parquet + get_description (the statistics), then to_json (the document a user gets)."""
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    import ydata_profiling
    from ydata_profiling import ProfileReport

    clock = time.perf_counter()
    frame = pd.read_parquet(data)
    loaded = time.perf_counter()
    report = ProfileReport(frame, minimal=True, progress_bar=False)
    description = report.get_description()
    described = time.perf_counter()
    peak_described = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    json_bytes = len(report.to_json()) if with_json else None
    done = time.perf_counter()
    variables = getattr(description, "variables", None)
    return {
        "seconds": described - clock,
        "seconds_with_json": done - clock if with_json else None,
        "peak_rss_description": peak_described,
        "parts": {
            "read_parquet": loaded - clock,
            "get_description": described - loaded,
            "to_json": done - described if with_json else None,
        },
        "json_bytes": json_bytes,
        "variables": len(variables) if variables is not None else None,
        "ydata_profiling": getattr(ydata_profiling, "__version__", "?"),
        "pandas": pd.__version__,
    }


def _run_child_task(task: str, data: Path, folder: Path | None) -> int:
    tasks: dict[str, Callable[[Path], dict[str, Any]]] = {
        "summarize": _task_summarize,
        "profile": _task_profile,
        "arrow": _task_arrow,
        "ydata": _task_ydata,
        "ydata-nojson": lambda path: _task_ydata(path, with_json=False),
    }
    if task == "audit-api":
        if folder is None:
            raise SystemExit("--child audit-api needs --folder")
        _emit(_task_audit_api(data, folder))
    else:
        _emit(tasks[task](data))
    return 0


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# ---------------------------------------------------------------- running children, measuring them


@dataclass
class Run:
    seconds: float  # inside the child when it reports it, else wall time
    wall: float
    cpu: float  # user + system CPU seconds of the child (and the children it waited for)
    peak_rss: int  # bytes
    payload: dict[str, Any]


@dataclass
class Measurement:
    name: str
    label: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.runs) and self.error is None

    def seconds(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds())

    @property
    def peak_rss(self) -> int:
        return max(r.peak_rss for r in self.runs)


def run_child(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = 1800,
    wall_time: bool = False,
) -> Run:
    """Run one child to completion; its wall time, its peak RSS (wait4) and its reported payload."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -9
                raise RuntimeError(
                    f"{' '.join(command[:4])} ... took more than {timeout:.0f} s; killed"
                )
            time.sleep(0.005)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    payload = _payload(stdout)
    if payload is None and not wall_time:
        raise RuntimeError(_failure(f"exit code {process.returncode}, no result", stderr or stdout))
    if wall_time:
        payload = {"exit_code": process.returncode, "stdout": stdout, "stderr_tail": stderr[-2000:]}
    seconds = wall if wall_time else float(payload["seconds"])  # type: ignore[index]
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, wall, cpu, usage.ru_maxrss * 1024, payload or {})


def _failure(summary: str, output: str) -> str:
    """One line naming the failure and its last output line, then the output's tail."""
    lines = output.strip().splitlines()
    last = lines[-1].strip() if lines else "no output"
    return f"{summary}: {last}\n" + "\n".join(lines[-15:])


def _payload(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(PAYLOAD_MARK):
            value = json.loads(line[len(PAYLOAD_MARK) :])
            return value if isinstance(value, dict) else None
    return None


def _child(python: str | Path, task: str, data: Path, *extra: str) -> list[str]:
    return [
        str(python),
        str(Path(__file__).resolve()),
        "--child",
        task,
        "--data",
        str(data),
        *extra,
    ]


def _charter_yaml(data: Path) -> str:
    return (
        "project: audit_benchmark\n"
        "owner: Benchmark\n"
        "problem: Which customers will cancel?\n"
        "decision: Offer a retention discount\n"
        "task: classification\n"
        f"target: {TARGET}\n"
        "positive_class: 1\n"
        "data:\n"
        f"  sources:\n    audit: {json.dumps(str(data))}\n"
        f"  time: {TIME}\n"
    )


def _audit_runner() -> tuple[str, str | None]:
    """How to run the whole audit: 'cli', 'api', or 'none' with the reason."""
    import importlib.util

    try:
        if importlib.util.find_spec("charter.cli") is not None:
            return "cli", None
        if importlib.util.find_spec("charter.api") or importlib.util.find_spec(
            "charter.audit._run"
        ):
            return "api", None
    except ImportError as exc:
        return "none", f"charter is not importable ({exc})"
    return "none", "neither charter.cli, charter.api nor charter.audit.run_audit exists yet"


def _audit_once(data: Path, how: str) -> Run:
    """One whole audit in a fresh project folder, so every repetition is a first audit."""
    with tempfile.TemporaryDirectory(prefix="charter-bench-") as tmp:
        folder = Path(tmp)
        (folder / "charter.yaml").write_text(_charter_yaml(data), encoding="utf-8")
        if how == "cli":
            command = [
                sys.executable,
                "-c",
                "from charter.cli import main; main()",
                "audit",
                "--json",
                "--charter",
                str(folder / "charter.yaml"),
            ]
            run = run_child(command, cwd=folder, timeout=1800, wall_time=True)
            try:
                document = json.loads(run.payload["stdout"])
            except json.JSONDecodeError:
                summary = f"`charter audit --json` exit code {run.payload['exit_code']}, no JSON"
                raise RuntimeError(_failure(summary, run.payload["stderr_tail"])) from None
            run.payload = {
                "how": "charter audit --json (CLI, wall time incl. start-up)",
                "verdict": document.get("verdict"),
                "audit_seconds": document.get("seconds"),
                "findings": len(document.get("findings", [])),
                "reports": sorted(p.name for p in (folder / ".charter" / "reports").glob("*")),
            }
            return run
        return run_child(
            _child(sys.executable, "audit-api", data, "--folder", str(folder)),
            cwd=folder,
            timeout=1800,
        )


def ensure_ydata_venv(venv: Path) -> Path:
    """The ydata venv's python, creating the venv (ydata-profiling + pyarrow) on first use."""
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run(
            [str(python), "-c", "import ydata_profiling, pyarrow"], capture_output=True, check=False
        )
        if check.returncode == 0:
            return python
    _say(f"creating {venv} with ydata-profiling (a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "ydata-profiling", "pyarrow"], check=True
    )
    return python


# ---------------------------------------------------------------- the benchmark


def _measure(measurement: Measurement, once: Callable[[], Run]) -> None:
    if measurement.error is not None:
        return
    try:
        run = once()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        measurement.error = str(exc)
        _say(f"  {measurement.label}: FAILED: {exc}")
        return
    measurement.runs.append(run)
    _say(f"  {measurement.label}: {run.seconds:.2f} s, process peak RSS {_mib(run.peak_rss)}")


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    data: Path = args.data.resolve()
    if not data.exists():
        raise SystemExit(
            f"{data} does not exist: run `python benchmarks/generate.py --out {data}` first "
            "(or benchmarks/run_all.sh, which does)."
        )
    host = machine()  # before the run, so the load average is the machine's, not ours
    _say(f"warming the page cache with {data}")
    with data.open("rb") as handle:
        while handle.read(1 << 24):
            pass

    summarize = Measurement("summarize", "DuckDB SUMMARIZE (floor)")
    profile = Measurement("profile", "charter profile + quality")
    audit = Measurement("audit", "charter audit (whole)")
    ydata = Measurement("ydata", "ydata-profiling minimal, get_description")
    ydata_json = Measurement("ydata_json", "ydata-profiling minimal, + to_json")
    arrow = Measurement("arrow", "pyarrow read_table (size reference)")

    how, why_not = _audit_runner()
    if how == "none":
        audit.error = f"not measured: {why_not}"
    if args.skip_audit:
        audit.error = "not measured: --skip-audit"
    ydata_python: Path | None = None
    if args.skip_ydata:
        ydata.error = ydata_json.error = "not measured: --skip-ydata"
    else:
        try:
            ydata_python = ensure_ydata_venv(args.ydata_venv)
        except (OSError, subprocess.CalledProcessError) as exc:
            reason = f"not measured: could not set up {args.ydata_venv}: {exc}"
            ydata.error = ydata_json.error = reason

    python = sys.executable
    _measure(arrow, lambda: run_child(_child(python, "arrow", data), timeout=600))
    ydata_repeat = args.repeat if args.ydata_repeat is None else args.ydata_repeat
    ydata_task = "ydata-nojson" if args.skip_ydata_json else "ydata"
    ydata_child = _child(ydata_python, ydata_task, data) if ydata_python is not None else None
    loads: list[float] = []
    # Rounds interleave the measurements so that drift in the machine's speed hits all alike.
    for round_number in range(max(args.repeat, ydata_repeat)):
        _say(f"round {round_number + 1}")
        if round_number < args.repeat:
            _measure(summarize, lambda: run_child(_child(python, "summarize", data), timeout=600))
            _measure(profile, lambda: run_child(_child(python, "profile", data), timeout=1200))
            _measure(audit, lambda: _audit_once(data, how))
        if round_number < ydata_repeat and ydata_child is not None:
            _measure(ydata, lambda: run_child(ydata_child, timeout=3600))
        loads.append(os.getloadavg()[0])

    _split_ydata(ydata, ydata_json, skip_json=args.skip_ydata_json)
    if profile.ok and profile.runs[-1].payload.get("missing"):
        profile.note = "measured without " + ", ".join(profile.runs[-1].payload["missing"])
    return {
        "when": datetime.now(UTC),
        "machine": host,
        "data": data,
        "repeat": args.repeat,
        "ydata_repeat": ydata_repeat if ydata_python is not None else 0,
        "highest_load": max(loads, default=0.0),
        "measurements": [summarize, profile, audit, ydata, ydata_json, arrow],
    }


def _split_ydata(ydata: Measurement, ydata_json: Measurement, *, skip_json: bool) -> None:
    """One ydata process gives two measurements: the statistics alone, and with to_json."""
    if not ydata.ok:
        ydata_json.error = ydata_json.error or ydata.error
        return
    if skip_json:
        ydata_json.error = "not measured: --skip-ydata-json"
    else:
        ydata_json.runs = [
            Run(float(r.payload["seconds_with_json"]), r.wall, r.cpu, r.peak_rss, r.payload)
            for r in ydata.runs
        ]
    # CPU time cannot be split inside the process; it stays the whole child's.
    ydata.runs = [
        Run(r.seconds, r.wall, r.cpu, int(r.payload["peak_rss_description"]), r.payload)
        for r in ydata.runs
    ]


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model of this machine, and the versions that matter."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in ("duckdb", "pyarrow", "charter"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(HERE), "status", "--porcelain", "--", "../src"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "commit": (commit.stdout.strip() or "?")
        + (" + uncommitted changes in src/" if dirty.stdout.strip() else ""),
    }


# ---------------------------------------------------------------- reporting


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size < 10 * 2**30 else f"{size / 2**30:,.1f} GiB"


def by_name(results: dict[str, Any]) -> dict[str, Measurement]:
    return {m.name: m for m in results["measurements"]}


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, measured, goal, met) for each of the issue's targets."""
    m = by_name(results)
    arrow_bytes = m["arrow"].runs[0].payload.get("arrow_bytes") if m["arrow"].ok else None

    def row(
        what: str,
        needs: Sequence[str],
        value: Callable[[], float],
        unit: str,
        goal: str,
        ok: Callable[[float], bool],
    ) -> tuple[str, str, str, str]:
        if not all(m[name].ok for name in needs) or ("arrow" in needs and not arrow_bytes):
            return (what, "not measured", goal, "?")
        number = value()
        shown = f"{number:.1f} s" if unit == "s" else f"{number:.2f}×"
        return (what, shown, goal, "yes" if ok(number) else "**no**")

    return [
        row(
            "profile + quality / SUMMARIZE",
            ("profile", "summarize"),
            lambda: m["profile"].median / m["summarize"].median,
            "×",
            f"≤ {MAX_PROFILE_OVER_SUMMARIZE}×",
            lambda r: r <= MAX_PROFILE_OVER_SUMMARIZE,
        ),
        row(
            "ydata minimal (get_description) / profile + quality",
            ("ydata", "profile"),
            lambda: m["ydata"].median / m["profile"].median,
            "×",
            f"≥ {MIN_YDATA_OVER_PROFILE:.0f}×",
            lambda r: r >= MIN_YDATA_OVER_PROFILE,
        ),
        row(
            "ydata minimal (+ to_json) / profile + quality",
            ("ydata_json", "profile"),
            lambda: m["ydata_json"].median / m["profile"].median,
            "×",
            f"≥ {MIN_YDATA_OVER_PROFILE:.0f}×",
            lambda r: r >= MIN_YDATA_OVER_PROFILE,
        ),
        row(
            "whole `charter audit`",
            ("audit",),
            lambda: m["audit"].median,
            "s",
            f"< {MAX_AUDIT_SECONDS:.0f} s",
            lambda s: s < MAX_AUDIT_SECONDS,
        ),
        row(
            "audit peak RSS / Arrow size",
            ("audit", "arrow"),
            lambda: m["audit"].peak_rss / float(arrow_bytes or 1),
            "×",
            f"< {MAX_MEMORY_OVER_ARROW:.0f}×",
            lambda r: r < MAX_MEMORY_OVER_ARROW,
        ),
    ]


HEADER = ("measurement", "median s", "min s", "max s", "runs", "CPU s", "peak RSS", "note")


def measurement_rows(
    results: dict[str, Any], note: Callable[[Measurement], str]
) -> list[tuple[str, ...]]:
    """One table row per measurement: median, min, max, runs, CPU seconds, peak RSS, `note`."""
    rows: list[tuple[str, ...]] = []
    for m in results["measurements"]:
        if m.ok:
            times = m.seconds()
            rows.append(
                (
                    m.label,
                    f"{m.median:.2f}",
                    f"{min(times):.2f}",
                    f"{max(times):.2f}",
                    str(len(times)),
                    f"{statistics.median(r.cpu for r in m.runs):.1f}",
                    _mib(m.peak_rss),
                    note(m),
                )
            )
        else:
            first_line = (m.error or "not measured").splitlines()[0]
            rows.append((m.label, "—", "—", "—", "0", "—", "—", first_line))
    return rows


def print_rows(rows: list[tuple[str, ...]]) -> None:
    """Print `HEADER` and `rows` as aligned columns, the last one (the note) unpadded."""
    table = [HEADER, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER) - 1)]
    print()
    for row in table:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
            + "  "
            + row[-1]
        )
    print()


def _median_part(m: Measurement, part: str) -> float:
    return statistics.median(float(r.payload["parts"][part] or 0.0) for r in m.runs)


def _note(m: Measurement) -> str:
    payload = m.runs[-1].payload
    if m.name == "profile":
        text = ", ".join(f"{k} {_median_part(m, k):.2f} s" for k in payload.get("parts", {}))
        if payload.get("loader") != "charter.data.open_dataset":
            text += f"; data opened as {payload.get('loader')}"
        return (m.note + "; " if m.note else "") + text
    if m.name == "audit":
        reported = [r.payload.get("audit_seconds") for r in m.runs]
        inner = [float(x) for x in reported if x is not None]
        extra = f"; run_audit alone {statistics.median(inner):.1f} s" if inner else ""
        return f"{payload.get('how', '')}, verdict {payload.get('verdict')}{extra}"
    if m.name == "ydata":
        return (
            f"ydata-profiling {payload.get('ydata_profiling')}, pandas {payload.get('pandas')}; "
            f"read_parquet {_median_part(m, 'read_parquet'):.1f} s + get_description "
            f"{_median_part(m, 'get_description'):.1f} s; peak RSS before to_json; CPU s of the "
            "whole child"
        )
    if m.name == "ydata_json":
        size = int(payload.get("json_bytes") or 0)
        seconds = _median_part(m, "to_json")
        return f"the above + to_json {seconds:.1f} s ({size / 1e6:.0f} MB of JSON)"
    if m.name == "arrow":
        return f"Arrow in memory: {_mib(int(payload['arrow_bytes']))}"
    return ""


def print_table(results: dict[str, Any]) -> None:
    print_rows(measurement_rows(results, _note))
    for what, measured, goal, met in goals(results):
        print(f"{what:<52} {measured:>14}   goal {goal:<8} met: {met.strip('*')}")
    print()


def markdown(results: dict[str, Any]) -> str:
    """The dated section appended to BENCHMARKS.md."""
    mach = results["machine"]
    versions = mach["versions"]
    m = by_name(results)
    data: Path = results["data"]
    try:
        shown = data.relative_to(HERE.parent)
    except ValueError:
        shown = data
    arrow = (
        f", {_mib(int(m['arrow'].runs[0].payload['arrow_bytes']))} as Arrow in memory"
        if m["arrow"].ok
        else ""
    )
    rows_count = m["arrow"].runs[0].payload.get("rows") if m["arrow"].ok else None
    ydata_versions = ""
    if m["ydata"].ok:
        payload = m["ydata"].runs[0].payload
        ydata_versions = (
            f", ydata-profiling {payload.get('ydata_profiling')} (pandas {payload.get('pandas')})"
        )
    lines = [
        "",
        f"### {results['when']:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {mach['cores']} cores ({mach['cpu']}), {_mib(mach['memory'])} memory, "
        f"{mach['system']}; load average {mach['load']} before the run, highest 1-minute "
        f"load after a round {results['highest_load']:.2f}.",
        f"- Software: Python {versions['python']}, DuckDB {versions['duckdb']}, "
        f"pyarrow {versions['pyarrow']}, charter {versions['charter']} (commit {mach['commit']})"
        f"{ydata_versions}.",
        f"- Data: `{shown}`"
        + (f", {rows_count:,} rows" if rows_count else "")
        + f", {data.stat().st_size / 1e6:.1f} MB on disk{arrow}.",
        f"- Repetitions: {results['repeat']} (ydata: {results['ydata_repeat']}); "
        "times are medians, each run a fresh process.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in measurement_rows(results, _note):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", "| goal (issue 3) | measured | target | met |", "|---|---:|---:|---|"]
    for what, measured, goal, met in goals(results):
        lines.append(f"| {what} | {measured} | {goal} | {met} |")
    return "\n".join(lines) + "\n"


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "when": results["when"].isoformat(),
        "machine": results["machine"],
        "data": str(results["data"]),
        "repeat": results["repeat"],
        "ydata_repeat": results["ydata_repeat"],
        "highest_load": results["highest_load"],
        "measurements": {
            m.name: {
                "label": m.label,
                "error": m.error,
                "seconds": m.seconds(),
                "median": m.median if m.ok else None,
                "peak_rss": [r.peak_rss for r in m.runs],
                "wall": [r.wall for r in m.runs],
                "cpu": [r.cpu for r in m.runs],
                "payload": m.runs[-1].payload if m.runs else None,
            }
            for m in results["measurements"]
        },
        "goals": [
            dict(zip(("what", "measured", "goal", "met"), row, strict=True))
            for row in goals(results)
        ],
    }


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the Parquet file (see generate.py)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of each measurement (default 3)"
    )
    parser.add_argument(
        "--ydata-repeat", type=int, default=None, help="repetitions of ydata (default: --repeat)"
    )
    parser.add_argument("--skip-ydata", action="store_true", help="do not run ydata-profiling")
    parser.add_argument(
        "--skip-ydata-json", action="store_true", help="time ydata's get_description, not to_json"
    )
    parser.add_argument("--skip-audit", action="store_true", help="do not run the whole audit")
    parser.add_argument(
        "--ydata-venv", type=Path, default=DEFAULT_YDATA_VENV, help="venv for ydata-profiling"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the results to BENCHMARKS.md"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the raw results as JSON here"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _run_child_task(args.child, args.data.resolve(), args.folder)
    if args.repeat < 1 or (args.ydata_repeat is not None and args.ydata_repeat < 0):
        parser.error("--repeat must be at least 1 and --ydata-repeat at least 0")

    results = benchmark(args)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=2, default=str), encoding="utf-8")
    if not args.no_record:
        with BENCHMARKS_MD.open("a", encoding="utf-8") as handle:
            handle.write(markdown(results))
        _say(f"appended to {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
