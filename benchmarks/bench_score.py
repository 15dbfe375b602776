"""The batch-scoring benchmark: `charter score` on 1,000,000 rows against the booster alone.

Uses bench_serving.py's project (built once from benchmarks/.data/train_100k.parquet, production =
a LightGBM model on 29 features) and scores the audit benchmark's file
(benchmarks/.data/audit_1m.parquet: 1,000,000 rows, the same 30 columns, see generate.py). In
rounds, every measurement a fresh child process:

  a. `charter score FILE OUT.parquet --json` as a user runs it (the contract check, humility flags
     and the prediction log on, as shipped): wall time of the CLI process, interpreter start
     included; its own `seconds` (the scoring alone) is shown beside it;
  b. the same with `--no-log` (what the prediction log costs; --skip-no-log leaves it out);
  c. the floors, in one child: pyarrow reads the whole file into memory, the features become a
     float matrix (categories to the booster's codes with pyarrow's index_in, the timestamp to
     days since 1970), booster.predict(matrix, num_threads=2) is timed on its own (floor 1), and
     the table with a score column appended is written with pyarrow.parquet (floor 2 = read +
     matrix + predict + write, each part timed).

The page cache is warmed with the input first. Every round checks charter's output: the booster,
fed its rows the floor's way, must give its scores; the rows set aside (quarantine) and the
prediction log's rows are counted. A last pass
(--skip-stages leaves it out) runs `Project.score` in a child with a timer around each stage
(contract check, feature arrays, matrix, booster, humility, output, log), to show where the time
goes. Medians over rounds; ratios are medians of
per-round ratios to the floors measured in the same round. Prints markdown tables (it does not
write BENCHMARKS.md); --json keeps the raw figures.

    python benchmarks/bench_score.py [--repeat 3] [--data benchmarks/.data/audit_1m.parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_audit import PAYLOAD_MARK, Run, _failure, _mib, _say, machine, run_child
from bench_serving import DEFAULT_DATA as TRAIN_DATA
from bench_serving import DEFAULT_PROJECT, ensure_project

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / ".data" / "audit_1m.parquet"
EXPECTED_ROWS = 1_000_000

# The goal.
MAX_OVER_PREDICT = 1.5

# The stages the timing pass reports: (module, class or "", function, label, nested under (a
# label, or ""), thread). "main" stages are timed in the main thread only (wall seconds, nested
# ones inside their parent); "other" stages in the other threads only (summed over threads:
# the booster's workers, the output writer, the log's flusher run beside the main thread).
# A stage whose function is not there (charter refactored) is left out.
STAGES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("charter.serving._service", "", "deploy", "load the version (deploy)", "", "main"),
    ("charter.serving._batch", "", "batches_of_file", "open the file", "", "main"),
    ("charter.serving._records", "RecordChecker", "check_table", "contract check", "", "main"),
    ("charter.serving._batch", "_Writer", "write", "write the quarantine", "", "main"),
    ("charter.serving._batch", "_Pipeline", "_start", PREPARE := "prepare a chunk", "", "main"),
    ("charter.serving._scorer", "Scorer", "table_features", "features from Arrow", PREPARE, "main"),
    ("charter.serving._scorer", "Scorer", "features_matrix", "float matrix", PREPARE, "main"),
    ("charter.serving._humility", "Humility", "table_codes", "humility (inputs)", PREPARE, "main"),
    (
        "charter.serving._batch",
        "_Pipeline",
        "_complete",
        COMPLETE := "complete a chunk",
        "",
        "main",
    ),
    ("charter.serving._batch", "", "_predicted", "waiting for the booster", COMPLETE, "main"),
    ("charter.serving._batch", "", "prediction_ids", "prediction ids", COMPLETE, "main"),
    ("charter.serving._batch", "", "log_table", "log rows (log_table)", COMPLETE, "main"),
    (
        "charter.serving._log",
        "PredictionLog",
        "append_table",
        "log: append_table",
        COMPLETE,
        "main",
    ),
    ("charter.serving._log", "PredictionLog", "close", "log: close (last flush)", "", "main"),
    (
        "charter.serving._scorer",
        "",
        "compiled_forest",
        "compiled trees (loaded from this machine's cache)",
        "",
        "other",
    ),
    (
        "charter.serving._scorer",
        "Scorer",
        "predict_matrix",
        "predict (compiled trees)",
        "",
        "other",
    ),
    ("charter.serving._batch", "_Writer", "write", "write the output", "", "other"),
    (
        "charter.serving._log",
        "PredictionLog",
        "flush",
        "log: flushes (zstd Parquet, fsync)",
        "",
        "other",
    ),
)
READING = "the rest: reading chunks (pyarrow or DuckDB), filtering, the loop"


# ---------------------------------------------------------------- child tasks (one per process)


def _emit(payload: dict[str, Any]) -> None:
    print(PAYLOAD_MARK + json.dumps(payload), flush=True)


def floor_matrix(table: Any, spec: dict[str, Any]) -> Any:
    """The features of an Arrow table as the booster's float matrix, column by column in pyarrow."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    matrix = np.empty((table.num_rows, len(spec["features"])), dtype=np.float64)
    for j, name in enumerate(spec["features"]):
        column = table.column(name)
        categories = spec["categories"].get(name)
        if categories is not None:
            codes = pc.index_in(column, value_set=pa.array(categories, type=column.type))
            matrix[:, j] = pc.cast(codes, pa.float64()).to_numpy(zero_copy_only=False)
        elif spec["kinds"].get(name) == "date":
            micros = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
            values = pc.cast(micros, pa.float64()).to_numpy(zero_copy_only=False)
            matrix[:, j] = values / 86_400_000_000.0
        else:
            matrix[:, j] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return matrix


def _task_floor(data: Path, model: Path, out: Path) -> dict[str, Any]:
    """Floor 1: booster.predict on the matrix in memory; floor 2: read + matrix + predict + write."""
    import lightgbm as lgb
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = json.loads((model / "spec.json").read_text(encoding="utf-8"))
    booster = lgb.Booster(model_file=str(model / "model.txt"))

    clock = time.perf_counter()
    table = pq.read_table(data)
    read = time.perf_counter()
    matrix = floor_matrix(table, spec)
    built = time.perf_counter()
    predicted = booster.predict(matrix, num_threads=2)
    done_predict = time.perf_counter()
    pq.write_table(table.append_column("score", pa.array(predicted)), out)
    written = time.perf_counter()
    compiled: dict[str, Any] = {}
    from charter.serving._forest import compiled_forest  # the charter run before warmed its cache

    forest = compiled_forest(booster)
    if forest is not None:
        clock_compiled = time.perf_counter()
        predicted_compiled = forest.predict(matrix, threads=2)
        compiled = {
            "seconds": time.perf_counter() - clock_compiled,
            "equal": bool((predicted_compiled == predicted).all()),
        }
    return {
        "compiled": compiled,
        "seconds": done_predict - built,  # floor 1: predict only
        "full": written - clock,  # floor 2: read + matrix + predict + write
        "parts": {
            "read": read - clock,
            "matrix": built - read,
            "predict": done_predict - built,
            "write": written - done_predict,
        },
        "rows": int(table.num_rows),
        "arrow_bytes": int(table.nbytes),
        "lightgbm": lgb.__version__,
        "pyarrow": pa.__version__,
    }


def _task_stages(project: Path, data: Path, out: Path) -> dict[str, Any]:
    """`Project.score` with a timer around each stage in STAGES (a few calls per chunk, so the
    timers cost nothing measurable); work in other threads is summed apart."""
    import importlib
    import threading

    from charter.api import Project

    main = threading.main_thread()
    spent: dict[str, float] = {}

    def timed(function: Callable[..., Any], label: str, where: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            clock = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if (threading.current_thread() is main) == (where == "main"):
                    elapsed = time.perf_counter() - clock
                    with lock:
                        spent[label] = spent.get(label, 0.0) + elapsed

        return wrapper

    lock = threading.Lock()
    for module_name, owner_name, name, label, _, where in STAGES:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name, None) if owner_name else module
        if owner is not None and callable(getattr(owner, name, None)):
            setattr(owner, name, timed(getattr(owner, name), label, where))
    opened = Project(project / "charter.yaml")
    clock = time.perf_counter()
    result = opened.score(data, out)
    seconds = time.perf_counter() - clock
    top = sum(spent.get(s[3], 0.0) for s in STAGES if not s[4] and s[5] == "main")
    stages: dict[str, float] = {}
    nested: dict[str, str] = {}
    for index, (_, _, _, label, under, _where) in enumerate(STAGES):
        if label in spent:
            stages[label] = spent[label]
            if under:
                nested[label] = under
        if under and (index + 1 == len(STAGES) or STAGES[index + 1][4] != under):
            inner = sum(spent.get(s[3], 0.0) for s in STAGES if s[4] == under)
            if under in spent:
                rest = f"the rest of {under}"
                stages[rest] = spent[under] - inner
                nested[rest] = under
    stages[READING] = seconds - top
    return {
        "seconds": seconds,
        "stages": stages,
        "nested": sorted(nested),
        "other": [s[3] for s in STAGES if s[5] == "other"],
        "rows": result.rows,
        "scored": result.scored,
    }


def _child(task: str, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", task, *extra]


# ---------------------------------------------------------------- one round


def _charter_score(project: Path, data: Path, out: Path, *, log: bool) -> Run:
    """`charter score` as a user runs it, in a fresh process; wall time includes start-up."""
    shutil.rmtree(project / ".charter" / "predictions", ignore_errors=True)
    for stale in out.parent.glob(out.stem + "*"):
        stale.unlink()
    command = [
        sys.executable,
        "-c",
        "from charter.cli import main; main()",
        "score",
        str(data),
        str(out),
        "--json",
        "--charter",
        str(project / "charter.yaml"),
        *([] if log else ["--no-log"]),
    ]
    run = run_child(command, cwd=project, timeout=1800, wall_time=True)
    code = int(run.payload["exit_code"])
    try:
        document = json.loads(run.payload["stdout"])
    except json.JSONDecodeError:
        raise RuntimeError(
            _failure(f"`charter score` exit code {code}, no JSON", run.payload["stderr_tail"])
        ) from None
    if code != 0:
        raise RuntimeError(
            _failure(f"`charter score` exit code {code}", run.payload["stderr_tail"])
        )
    run.payload = {"result": document}
    return run


def _task_compare(charter_out: Path, model: Path, project: Path) -> dict[str, Any]:
    """charter's output scores against the booster's on the same output rows (the floor's way).

    Also counts the rows in the project's prediction log. A child of its own, so the benchmark's
    process stays small: a child's peak RSS (wait4) counts the parent's size at the fork.
    """
    import lightgbm as lgb
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from charter.serving._log import read_log

    spec = json.loads((model / "spec.json").read_text(encoding="utf-8"))
    table = pq.read_table(charter_out)
    expected = lgb.Booster(model_file=str(model / "model.txt")).predict(
        floor_matrix(table, spec), num_threads=2
    )
    scored = table.column("score").to_numpy()
    log = read_log(project / ".charter" / "predictions", columns=["prediction_id", "problems"])
    logged = log.num_rows - (
        pc.sum(pc.is_valid(log.column("problems"))).as_py() or 0
    )  # refused aside
    return {
        "seconds": 0.0,
        "logged": int(logged),
        "rows": int(table.num_rows),
        "max_abs_diff": float(np.max(np.abs(scored - expected))),
    }


def _round(
    args: argparse.Namespace,
    project: Path,
    work: Path,
    number: int,
    runs: dict[str, list[Run]],
    errors: dict[str, str],
    checks: list[dict[str, Any]],
) -> None:
    data: Path = args.data
    model = project / "floor"
    out = work / "scores.parquet"

    def charter(log: bool) -> None:
        key = "charter" if log else "charter_nolog"
        if key in errors:
            return
        try:
            run = _charter_score(project, data, out, log=log)
        except (RuntimeError, OSError) as exc:
            errors[key] = str(exc)
            _say(f"  {key}: FAILED: {exc}")
            return
        runs[key].append(run)
        result = run.payload["result"]
        _say(
            f"  charter score{'' if log else ' --no-log'}: {run.seconds:.2f} s wall "
            f"({result['seconds']:.2f} s scoring), {result['scored']:,} scored, "
            f"{result['quarantined']:,} quarantined, peak RSS {_mib(run.peak_rss)}"
        )

    def floor() -> None:
        if "floor" in errors:
            return
        try:
            run = run_child(
                _child(
                    "floor",
                    "--data",
                    str(data),
                    "--model",
                    str(model),
                    "--out",
                    str(work / "floor.parquet"),
                ),
                timeout=1800,
            )
        except (RuntimeError, OSError) as exc:
            errors["floor"] = str(exc)
            _say(f"  floor: FAILED: {exc}")
            return
        runs["floor"].append(run)
        parts = run.payload["parts"]
        _say(
            f"  floor: predict {parts['predict']:.2f} s; read {parts['read']:.2f} + matrix "
            f"{parts['matrix']:.2f} + predict + write {parts['write']:.2f} = "
            f"{run.payload['full']:.2f} s, peak RSS {_mib(run.peak_rss)}"
        )

    # The floor and charter swap places every round, so drift in the machine hits both alike.
    steps: list[Callable[[], None]] = [lambda: charter(True), floor]
    if number % 2:
        steps.reverse()
    for step in steps:
        step()
    if runs["charter"] and runs["floor"] and len(runs["charter"]) == len(runs["floor"]):
        result = runs["charter"][-1].payload["result"]
        try:
            check = dict(
                run_child(
                    _child(
                        "compare",
                        "--out",
                        str(out),
                        "--model",
                        str(model),
                        "--project",
                        str(project),
                    ),
                    timeout=900,
                ).payload
            )
        except (RuntimeError, OSError) as exc:
            errors["compare"] = str(exc)
            return
        check["scored"] = int(result["scored"])
        check["quarantined"] = int(result["quarantined"])
        checks.append(check)
    if not args.skip_no_log:
        charter(False)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    data: Path = args.data.resolve()
    args.data = data
    if not data.exists():
        raise SystemExit(
            f"{data} does not exist: run `python benchmarks/generate.py --rows {EXPECTED_ROWS} "
            f"--out {data}` first (or benchmarks/run_all.sh audit, which does)."
        )
    host = machine()
    project: Path = args.project.resolve()
    built = ensure_project(project, args.train_data.resolve(), budget=args.budget, rebuild=False)
    _say(
        f"project {project}: production v{built['production']}, {built['trees']} trees on "
        f"{built['features']} features" + (" (reused)" if built.get("reused") else "")
    )
    _say(f"warming the page cache with {data}")
    with data.open("rb") as handle:
        while handle.read(1 << 24):
            pass
    runs: dict[str, list[Run]] = {"charter": [], "charter_nolog": [], "floor": [], "cold": []}
    errors: dict[str, str] = {}
    if args.skip_no_log:
        errors["charter_nolog"] = "not measured: --skip-no-log"
    checks: list[dict[str, Any]] = []
    loads: list[float] = []
    stages = None
    work = Path(tempfile.mkdtemp(prefix="charter-score-bench-"))
    # Compiled trees are cached per machine: a cache of the run's own, empty at first, so the
    # first `charter score` shows what compiling costs once; every round after finds it.
    os.environ["CHARTER_CACHE"] = str(work / "cache")
    try:
        _say("first run on this machine (compiles the trees)")
        try:
            cold = _charter_score(project, args.data, work / "cold.parquet", log=True)
            runs["cold"] = [cold]
            _say(f"  charter score: {cold.seconds:.2f} s wall")
        except (RuntimeError, OSError) as exc:
            errors["cold"] = str(exc)
        for number in range(args.repeat):
            _say(f"round {number + 1}")
            _round(args, project, work, number, runs, errors, checks)
            loads.append(os.getloadavg()[0])
        if not args.skip_stages:
            _say("stages (timed in-process)")
            shutil.rmtree(project / ".charter" / "predictions", ignore_errors=True)
            try:
                stages = run_child(
                    _child(
                        "stages",
                        "--project",
                        str(project),
                        "--data",
                        str(data),
                        "--out",
                        str(work / "profiled.parquet"),
                    ),
                    timeout=1800,
                ).payload
            except (RuntimeError, OSError) as exc:
                errors["stages"] = str(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(project / ".charter" / "predictions", ignore_errors=True)
    import lightgbm

    host["versions"]["lightgbm"] = lightgbm.__version__
    return {
        "when": datetime.now(UTC),
        "machine": host,
        "data": data,
        "project": built,
        "args": vars(args),
        "runs": runs,
        "errors": errors,
        "checks": checks,
        "highest_load": max(loads, default=0.0),
        "stages": stages,
    }


# ---------------------------------------------------------------- reporting


def _spread(values: Sequence[float], digits: int = 2) -> str:
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1 or round(min(values), digits) == round(max(values), digits):
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def _ratios(top: Sequence[Run], bottom: Sequence[Run], get: Callable[[Run], float]) -> list[float]:
    return [a.seconds / get(b) for a, b in zip(top, bottom, strict=False)]


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    runs = results["runs"]
    charter, floor = runs["charter"], runs["floor"]
    predict = _ratios(charter, floor, lambda r: float(r.payload["parts"]["predict"]))
    full = _ratios(charter, floor, lambda r: float(r.payload["full"]))
    rows = []
    if predict:
        met = "yes" if statistics.median(predict) <= MAX_OVER_PREDICT else "**no**"
        rows.append(
            (
                "`charter score` wall / booster.predict on the matrix in memory (floor 1)",
                f"{_spread(predict)}×",
                f"≤ {MAX_OVER_PREDICT}×",
                met,
            )
        )
        own = [
            float(a.payload["result"]["seconds"]) / float(b.payload["parts"]["predict"])
            for a, b in zip(charter, floor, strict=False)
        ]
        rows.append(
            (
                "`charter score`'s own `seconds` (read, check, score, write, log; interpreter "
                "start-up, imports and loading the version excluded) / floor 1",
                f"{_spread(own)}×",
                "(for reference)",
                "yes" if statistics.median(own) <= MAX_OVER_PREDICT else "**no** (vs 1.5×)",
            )
        )
        rows.append(
            (
                "`charter score` wall / pyarrow read + matrix + predict + pyarrow write (floor 2)",
                f"{_spread(full)}×",
                "(for reference)",
                "yes" if statistics.median(full) <= MAX_OVER_PREDICT else "**no** (vs 1.5×)",
            )
        )
        compiled = [
            a.seconds / float(b.payload["compiled"]["seconds"])
            for a, b in zip(charter, floor, strict=False)
            if b.payload.get("compiled")
        ]
        if compiled:
            rows.append(
                (
                    "`charter score` wall / the compiled trees' predict in memory (floor 3)",
                    f"{_spread(compiled)}×",
                    "(for reference)",
                    "—",
                )
            )
    else:
        rows.append(
            ("`charter score` / booster.predict", "not measured", f"≤ {MAX_OVER_PREDICT}×", "?")
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    mach = results["machine"]
    versions = mach["versions"]
    args = results["args"]
    built = results["project"]
    runs = results["runs"]
    data: Path = results["data"]
    floor_runs = runs["floor"]
    rows_in = floor_runs[0].payload["rows"] if floor_runs else None
    arrow = floor_runs[0].payload["arrow_bytes"] if floor_runs else None
    lines = [
        f"### Batch scoring — {results['when']:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {mach['cores']} cores ({mach['cpu']}), {mach['memory'] / 2**30:.0f} GiB, "
        f"{mach['system']}; load average {mach['load']} before the run, highest 1-minute load "
        f"after a round {results['highest_load']:.2f}.",
        f"- Software: Python {versions['python']}, charter {versions['charter']} (commit "
        f"{mach['commit']}), LightGBM {versions['lightgbm']}, pyarrow {versions['pyarrow']}, "
        f"DuckDB {versions['duckdb']}.",
        f"- Model: production v{built['production']} of bench_serving.py's project (LightGBM, "
        f"{built['trees']} trees, {built['features']} features).",
        f"- Data: `{data.name}`, "
        + (f"{rows_in:,} rows, " if rows_in else "")
        + f"{data.stat().st_size / 1e6:.0f} MB Parquet"
        + (f" ({arrow / 2**20:,.0f} MiB in Arrow)" if arrow else "")
        + "; output Parquet; page cache warm.",
        f"- `python benchmarks/bench_score.py --repeat {args['repeat']}`: every measurement a "
        "fresh process, charter and the floor alternating first; medians over rounds (min–max); "
        "ratios are medians of per-round ratios.",
        "",
        "| measurement | median s | CPU s | peak RSS | note |",
        "|---|---:|---:|---:|---|",
    ]

    def cpu(found: Sequence[Run]) -> str:
        return f"{statistics.median(r.cpu for r in found):.1f}" if found else "—"

    def rss(found: Sequence[Run]) -> str:
        return _mib(max(r.peak_rss for r in found)) if found else "—"

    for key, label in (
        ("charter", "`charter score IN OUT.parquet` (wall, CLI process)"),
        ("charter_nolog", "`charter score ... --no-log` (wall)"),
        ("cold", "the first `charter score` on a machine (compiles the trees, then caches them)"),
    ):
        found = runs[key]
        if not found:
            error = results["errors"].get(key, "not measured")
            lines.append(f"| {label} | — | — | — | {error.splitlines()[0]} |")
            continue
        inner = [float(r.payload["result"]["seconds"]) for r in found]
        lines.append(
            f"| {label} | {_spread([r.seconds for r in found])} | {cpu(found)} | {rss(found)} "
            f"| its own `seconds` (scoring, start-up and loading the version excluded): "
            f"{_spread(inner)} |"
        )
    if floor_runs:
        parts = {
            key: [float(r.payload["parts"][key]) for r in floor_runs]
            for key in ("read", "matrix", "predict", "write")
        }
        lines.append(
            f"| floor 1: booster.predict(matrix, num_threads=2), data in memory "
            f"| {_spread(parts['predict'])} | — | — | timed alone inside the floor child |"
        )
        compiled = [r.payload["compiled"] for r in floor_runs if r.payload.get("compiled")]
        if compiled:
            same = all(c["equal"] for c in compiled)
            lines.append(
                "| floor 3: the compiled trees' predict (charter's `compiled_forest`, 2 threads), "
                f"data in memory | {_spread([c['seconds'] for c in compiled])} | — | — | "
                f"{'the same doubles as' if same else '**differs from**'} booster.predict |"
            )
        lines.append(
            f"| floor 2: pyarrow read + matrix + predict + pyarrow write "
            f"| {_spread([float(r.payload['full']) for r in floor_runs])} | {cpu(floor_runs)} "
            f"| {rss(floor_runs)} | read {_spread(parts['read'])}, matrix "
            f"{_spread(parts['matrix'])}, write {_spread(parts['write'])} (imports excluded) |"
        )
    else:
        lines.append(f"| floors | — | — | — | {results['errors'].get('floor', 'not measured')} |")
    lines += ["", "| goal (issue 6) | measured | target | met |", "|---|---:|---:|---|"]
    for what, measured, goal, met in goals(results):
        lines.append(f"| {what} | {measured} | {goal} | {met} |")
    lines.append("")
    if runs["charter"] and runs["charter_nolog"]:
        logged = [
            a.seconds - b.seconds
            for a, b in zip(runs["charter"], runs["charter_nolog"], strict=False)
        ]
        lines.append(
            f"- The prediction log adds {_spread(logged)} s (with log − --no-log, per round)."
        )
    if runs["charter"]:
        startup = [r.seconds - float(r.payload["result"]["seconds"]) for r in runs["charter"]]
        lines.append(
            f"- Start-up (wall − own `seconds`, per round: the interpreter, imports — LightGBM "
            f"brings scikit-learn, SciPy and pandas — opening the project and loading the "
            f"version, and exit): {_spread(startup)} s."
        )
    found = results["checks"]
    if found:
        rounds = "; ".join(
            f"{c['scored']:,} scored, {c['quarantined']:,} set aside, {c['logged']:,} logged, "
            f"largest score difference {c['max_abs_diff']:.1e}"
            for c in found
        )
        lines.append(
            "- Checks per round (the booster, fed charter's output rows the floor's way, must give "
            f"its scores; every scored row must be in the prediction log): {rounds}."
        )
    for key, error in results["errors"].items():
        if not error.startswith("not measured"):
            lines.append(f"- {key} FAILED: {error.splitlines()[0]}")
    profile = results.get("stages")
    if profile:
        nested = set(profile.get("nested", []))
        other = set(profile.get("other", []))
        main = [(k, v) for k, v in profile["stages"].items() if k not in other]
        beside = [(k, v) for k, v in profile["stages"].items() if k in other]
        lines += [
            "",
            f"Where the time goes: `Project.score` in one process ({profile['seconds']:.1f} s, "
            "start-up and imports excluded), a timer around each stage. The main thread's "
            "stages (indented ones are part of the stage above them) add up to the whole; the "
            "other threads' work runs beside it, summed over threads (the booster's workers are "
            "two threads at once):",
            "",
            "| stage | seconds | share |",
            "|---|---:|---:|",
            *(
                f"| {'  ↳ ' if label in nested else ''}"
                f"{label} | {seconds:.2f} | {seconds / profile['seconds']:.0%} |"
                for label, seconds in main
            ),
            *(
                f"| other threads: {label} | {seconds:.2f} | {seconds / profile['seconds']:.0%} |"
                for label, seconds in beside
            ),
        ]
    return "\n".join(lines) + "\n"


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in results.items() if k != "runs"},
        "when": results["when"].isoformat(),
        "data": str(results["data"]),
        "args": {k: str(v) for k, v in results["args"].items()},
        "runs": {
            key: [
                {
                    "seconds": r.seconds,
                    "wall": r.wall,
                    "cpu": r.cpu,
                    "peak_rss": r.peak_rss,
                    "payload": r.payload,
                }
                for r in found
            ]
            for key, found in results["runs"].items()
        },
        "goals": goals(results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the file to score")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--project", type=Path, default=DEFAULT_PROJECT)
    parser.add_argument("--train-data", type=Path, default=TRAIN_DATA, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--skip-no-log", action="store_true", help="do not measure --no-log")
    parser.add_argument("--skip-stages", action="store_true", help="no timing pass")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "floor":
        _emit(_task_floor(args.data, args.model, args.out))
        return 0
    if args.child == "compare":
        _emit(_task_compare(args.out, args.model, args.project))
        return 0
    if args.child == "stages":
        _emit(_task_stages(args.project, args.data, args.out))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    results = benchmark(args)
    print()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
