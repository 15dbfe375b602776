"""The drift benchmark: all drift statistics for 1,000,000 x 30 against a 1,000,000 x 30 reference.

Data (made once with --seed, kept in benchmarks/.data/, git-ignored): a reference and a current
frame of --rows rows each, 30 columns: 20 numeric (normal, lognormal, gamma, beta, uniform,
Poisson counts; four with 2-5 % missing), 8 categorical (3 to 200 levels, skewed; two with
missing), and two of our choice: `signup_day`, a date read as a number of days (as the modeling
frame reads dates), and `score`, the model's score in [0, 1] (passed as `scores=`). Drift is
planted in the current frame: num_00 shifted by 0.6 std, num_01 (lognormal) wider, num_11
missing 5 % -> 20 %, cat_1's top value's weight x4, cat_4 a new value on 10 % of rows,
signup_day half a year later, and the score slightly higher.

Measurements, each repetition in a fresh child process (--repeat, default 3; medians reported):
  a. floor: one pass that bins the current data with the stored reference edges, in one thread:
     np.searchsorted on the 200-bin grid + np.bincount per numeric column, pc.index_in +
     np.bincount per category;
  b. charter's `drift(reference, current, scores=...)` on the same arrays, threads=2 (and, for
     comparison, threads=1): wall time, CPU time / wall (2.0 = both cores busy all the time);
     peak memory: the child's RSS high-water minus its RSS before reading any data (the window's
     arrays included), and the drift call's own increase (high-water reset before the call);
  c. Evidently's DataDriftPreset (its own venv, benchmarks/.venv-evidently, made on first use
     with `python -m venv` + `pip install evidently==0.7.23 "pandas<3" pyarrow`) on the same
     frames as pandas DataFrames, numeric and categorical columns declared; the Report.run is
     timed, reading the Parquet files is not (--evidently-repeat, default 1: it takes minutes);
  d. `reference_statistics` on the 1M reference (training-time cost; pandas conversion excluded);
  e. grid size: JSON bytes per numeric feature against the KS error on windows of 1,000 rows.
Also the Arrow size (pyarrow nbytes) of both frames, which the memory goal is stated against.

    python benchmarks/bench_drift.py [--repeat 3] [--rows 1000000] [--skip-evidently]

Only the standard library is imported at the top: the Evidently child runs this same file with
the venv's interpreter, which has no charter installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
VENV = HERE / ".venv-evidently"
EVIDENTLY = ["evidently==0.7.23", "pandas<3", "pyarrow"]
MARK = "BENCH-RESULT "
NUMERIC = [f"num_{i:02d}" for i in range(20)] + ["signup_day"]
CATEGORICAL = [f"cat_{i}" for i in range(8)]
LEVELS = [3, 5, 8, 12, 20, 50, 100, 200]

# The goals.
MAX_OVER_FLOOR = 2.0
MIN_OVER_EVIDENTLY = 30.0
MAX_MEMORY_OVER_ARROW = 2.0


# ---------------------------------------------------------------- data


def make_frame(rows: int, seed: int, *, drifted: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC[:20]):
        kind = i % 6
        if kind == 0:
            values = rng.normal(50, 10, rows) + (6.0 if drifted and i == 0 else 0.0)
        elif kind == 1:
            values = rng.lognormal(3, 1.0 if drifted and i == 1 else 0.6, rows)
        elif kind == 2:
            values = rng.gamma(2.0, 15.0, rows)
        elif kind == 3:
            values = rng.beta(2, 5, rows)
        elif kind == 4:
            values = rng.uniform(0, 1000, rows)
        else:
            values = rng.poisson(3, rows).astype(np.float64)
        if i in (3, 7, 11, 15):
            share = 0.20 if drifted and i == 11 else 0.02 + 0.01 * (i % 4)
            values[rng.random(rows) < share] = np.nan
        columns[name] = pa.array(values, from_pandas=True)
    start = 19_358 + (182 if drifted else 0)  # 2023-01-01, half a year later when drifted
    columns["signup_day"] = pa.array(rng.uniform(start, start + 730, rows))
    for i, levels in enumerate(LEVELS):
        weights = 1.0 / np.arange(1, levels + 1) ** 1.1
        if drifted and i == 1:
            weights[0] *= 4.0
        weights /= weights.sum()
        codes = rng.choice(levels, rows, p=weights)
        labels = [f"{chr(97 + i)}_{j:03d}" for j in range(levels)] + ["brand_new"]
        if drifted and i == 4:
            codes = np.where(rng.random(rows) < 0.10, levels, codes)
        mask = rng.random(rows) < 0.03 if i in (2, 6) else None
        dictionary = pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32), mask=mask), pa.array(labels)
        )
        columns[f"cat_{i}"] = dictionary.cast(pa.string())
    columns["score"] = pa.array(rng.beta(2.3 if drifted else 2.0, 5, rows))
    return pa.table(columns)


def ensure_data(rows: int, seed: int) -> tuple[Path, Path]:
    import pyarrow.parquet as pq

    DATA.mkdir(exist_ok=True)
    tag = f"{rows // 1000}k_{seed}"
    reference = DATA / f"drift_reference_{tag}.parquet"
    current = DATA / f"drift_current_{tag}.parquet"
    for path, drifted, offset in ((reference, False, 0), (current, True, 1)):
        if not path.exists():
            print(f"writing {path.name} ...", flush=True)
            pq.write_table(make_frame(rows, seed * 10 + offset, drifted=drifted), path)
    return reference, current


# ---------------------------------------------------------------- child tasks


def _emit(payload: dict[str, Any]) -> None:
    print(MARK + json.dumps(payload), flush=True)


def _rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_high_water() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def task_reference(reference_path: Path, out: Path) -> None:
    import pyarrow.parquet as pq

    from charter.modeling._artifacts import json_bytes
    from charter.monitoring import reference_statistics

    frame = pq.read_table(reference_path).to_pandas()
    scores = frame.pop("score").to_numpy()
    types = {name: "category" for name in CATEGORICAL}
    wall, cpu = time.perf_counter(), time.process_time()
    found = reference_statistics(frame, types, scores)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    data = json_bytes(found)
    out.write_bytes(data)
    _emit({"seconds": wall, "cpu": cpu, "json_bytes": len(data)})


def task_sizes(reference_path: Path, current_path: Path) -> None:
    import pyarrow.parquet as pq

    _emit(
        {
            "reference": pq.read_table(reference_path).nbytes,
            "current": pq.read_table(current_path).nbytes,
        }
    )


def floor_pass(reference: dict[str, Any], numbers: dict[str, Any], words: dict[str, Any]) -> int:
    """Bin the current data on the stored edges: the least any drift computation must do."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    features = reference["features"]
    total = 0
    for name, values in numbers.items():
        feature = features[name] if name in features else reference["score"]
        edges = np.asarray(feature["grid"]["edges"])
        bins = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
        total += int(bins[0])
    for name, values in words.items():
        known = pa.array(list(features[name]["counts"]))
        codes = pc.fill_null(pc.index_in(values, value_set=known), len(known)).to_numpy()
        total += int(np.bincount(codes, minlength=len(known) + 1)[0])
    return total


def task_charter(current_path: Path, reference_json: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from charter.monitoring import drift

    baseline = _rss_kb()
    reference = json.loads(reference_json.read_text())
    table = pq.read_table(current_path)
    numbers = {
        name: table.column(name).to_numpy().astype(np.float64, copy=False)
        for name in [*NUMERIC, "score"]
    }
    words = {name: table.column(name) for name in CATEGORICAL}
    del table
    loaded = _rss_kb()

    wall = time.perf_counter()
    floor_pass(reference, numbers, words)
    floor = time.perf_counter() - wall

    current = {**{n: numbers[n] for n in NUMERIC}, **words}
    high_water = _rss_kb("VmHWM")  # before the resets below
    runs: dict[str, Any] = {}
    for threads in (2, 1):
        _reset_high_water()
        before = _rss_kb()
        wall, cpu = time.perf_counter(), time.process_time()
        found = drift(reference, current, scores=numbers["score"], threads=threads)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs[str(threads)] = {
            "seconds": wall,
            "cpu": cpu,
            "increase_mb": (_rss_kb("VmHWM") - before) / 1024,
        }
    _emit(
        {
            "floor": floor,
            "drift": runs,
            "data_mb": (loaded - baseline) / 1024,
            "peak_mb": (max(high_water, _rss_kb("VmHWM")) - baseline) / 1024,
            "drifted": [f.name for f in found.features if f.drifted],
            "score_drifted": bool(found.score and found.score.drifted),
            "reason": found.reason,
            "changes": {f.name: f.change for f in found.features if f.drifted},
        }
    )


def task_evidently(reference_path: Path, current_path: Path) -> None:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    definition = DataDefinition(
        numerical_columns=[*NUMERIC, "score"], categorical_columns=CATEGORICAL
    )
    wall, cpu = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    found = snapshot.dict()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    drifted = found["metrics"][0]["value"]
    _emit({"seconds": wall, "cpu": cpu, "drifted": {k: float(v) for k, v in drifted.items()}})


def task_grid(reference_path: Path, current_path: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq
    from scipy import stats

    from charter.modeling._artifacts import json_bytes

    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    for name in ("num_00", "num_01"):
        reference = pq.read_table(reference_path, columns=[name]).column(name).to_numpy()
        current = pq.read_table(current_path, columns=[name]).column(name).to_numpy()
        ordered = np.sort(reference)
        for bins in (50, 100, 200, 400, 1000):
            edges = np.unique(np.quantile(ordered, np.arange(1, bins) / bins))
            below = np.searchsorted(ordered, edges, side="left")
            bounds = np.concatenate(([0], below, [ordered.size]))
            counts = np.diff(bounds)
            sums = np.diff(np.concatenate(([0.0], np.cumsum(ordered)))[bounds])
            size = len(
                json_bytes(
                    {"edges": edges.tolist(), "counts": counts.tolist(), "sums": sums.tolist()}
                )
            )
            errors = []
            for source in (reference, current) * 5:
                window = rng.choice(source, 1_000)
                cur = np.bincount(
                    np.searchsorted(edges, window, side="right"), minlength=edges.size + 1
                )
                gap = np.max(
                    np.abs(np.cumsum(counts) / ordered.size - np.cumsum(cur) / window.size)
                )
                errors.append(stats.ks_2samp(ordered, window, method="asymp").statistic - gap)
            rows.append(
                {
                    "column": name,
                    "bins": bins,
                    "json_kb": size / 1024,
                    "bound": counts.max() / ordered.size,
                    "median_error": float(np.median(errors)),
                    "max_error": float(np.max(errors)),
                }
            )
    _emit({"rows": rows})


# ---------------------------------------------------------------- the parent


def run_measured(python: str, *args: str) -> dict[str, Any]:
    """Run a child task; add its peak RSS (MB) and CPU seconds from wait4."""
    command = [python, str(Path(__file__).resolve()), "--task", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"child {args[0]} failed ({process.returncode}):\n{output}")
    payload = next(line for line in output.splitlines() if line.startswith(MARK))
    found: dict[str, Any] = json.loads(payload[len(MARK) :])
    found["child_peak_mb"] = usage.ru_maxrss / 1024
    found["child_cpu"] = usage.ru_utime + usage.ru_stime
    return found


def ensure_evidently() -> str:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    check = subprocess.run(
        [str(python), "-c", "import evidently; print(evidently.__version__)"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0 or check.stdout.strip() != EVIDENTLY[0].split("==")[1]:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY], check=True)
    return str(python)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = int(line.split()[1]) // (1024 * 1024)
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores, {model}, {memory} GB RAM, load {load:.2f} before the run"


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--evidently-repeat", type=int, default=1)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    options = parser.parse_args()
    if options.task:
        task, *paths = options.task
        tasks = {
            "reference": task_reference,
            "sizes": task_sizes,
            "charter": task_charter,
            "evidently": task_evidently,
            "grid": task_grid,
        }
        tasks[task](*(Path(p) for p in paths))
        return

    started = datetime.now(UTC)
    about = machine()
    reference_path, current_path = ensure_data(options.rows, options.seed)
    reference_json = DATA / f"{reference_path.stem}.reference.json"
    me = sys.executable
    sizes = run_measured(me, "sizes", str(reference_path), str(current_path))
    arrow_mb = (sizes["reference"] + sizes["current"]) / 2**20

    references, charters, evidentlys = [], [], []
    evidently_python = None if options.skip_evidently else ensure_evidently()
    for round_ in range(options.repeat):
        references.append(run_measured(me, "reference", str(reference_path), str(reference_json)))
        charters.append(run_measured(me, "charter", str(current_path), str(reference_json)))
        if evidently_python and round_ < options.evidently_repeat:
            print("Evidently ...", flush=True)
            evidentlys.append(
                run_measured(evidently_python, "evidently", str(reference_path), str(current_path))
            )
        print(
            f"round {round_ + 1}: floor {charters[-1]['floor']:.3f} s, drift "
            f"{charters[-1]['drift']['2']['seconds']:.3f} s",
            flush=True,
        )
    grid = (
        None
        if options.skip_grid
        else run_measured(me, "grid", str(reference_path), str(current_path))
    )

    floor = [c["floor"] for c in charters]
    two = [c["drift"]["2"]["seconds"] for c in charters]
    one = [c["drift"]["1"]["seconds"] for c in charters]
    ratio = [c["drift"]["2"]["seconds"] / c["floor"] for c in charters]
    busy = [c["drift"]["2"]["cpu"] / c["drift"]["2"]["seconds"] for c in charters]
    peak = [c["peak_mb"] for c in charters]
    increase = [c["drift"]["2"]["increase_mb"] for c in charters]
    lines = [
        f"### Drift, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {about}. Python {platform.python_version()}; {options.rows:,} rows x 30 "
        f"columns per frame, seed {options.seed}; {options.repeat} rounds, medians (min, max).",
        f"Arrow size of the two frames: {arrow_mb:,.0f} MB (reference "
        f"{sizes['reference'] / 2**20:,.0f} MB, current {sizes['current'] / 2**20:,.0f} MB).",
        "",
        "| measurement | time | notes |",
        "|---|---|---|",
        f"| a. floor: bin the current data on the stored edges, one thread | {spread(floor)} | |",
        f"| b. charter `drift(...)`, threads=2 | {spread(two)} | {median(ratio):.2f}x the floor "
        f"(goal <= {MAX_OVER_FLOOR:.0f}x); CPU / wall {median(busy):.2f} |",
        f"| b. charter `drift(...)`, threads=1 | {spread(one)} | |",
        f"| b. memory | | child peak RSS minus its start: {median(peak):,.0f} MB = "
        f"{median(peak) / arrow_mb:.2f}x the two frames' Arrow size (goal < "
        f"{MAX_MEMORY_OVER_ARROW:.0f}x); the window's arrays "
        f"{median([c['data_mb'] for c in charters]):,.0f} MB of it; the drift call's own "
        f"increase {median(increase):,.0f} MB |",
    ]
    if evidentlys:
        seconds = [e["seconds"] for e in evidentlys]
        lines.append(
            f"| c. Evidently {EVIDENTLY[0].split('==')[1]} DataDriftPreset | {spread(seconds)} | "
            f"{median(seconds) / median(two):,.0f}x charter's drift (goal >= "
            f"{MIN_OVER_EVIDENTLY:.0f}x); peak RSS {median([e['child_peak_mb'] for e in evidentlys]):,.0f} MB; "
            f"{len(evidentlys)} run(s); drifted columns {evidentlys[0]['drifted']} |"
        )
    lines.append(
        f"| d. `reference_statistics` on the reference | {spread([r['seconds'] for r in references])} "
        f"| reference.json {references[0]['json_bytes'] / 1024:,.0f} KB |"
    )
    lines += [
        "",
        f"charter's verdict: {charters[0]['reason']}",
        "",
        "Drifted features and their plain words: "
        + "; ".join(f"{k}: {v}" for k, v in charters[0]["changes"].items()),
    ]
    if grid:
        lines += [
            "",
            "Grid size (e): JSON per numeric feature vs the KS error on windows of 1,000 rows "
            "(scipy's ks_2samp on the raw rows minus the grid's statistic; 5 stable, 5 drifted "
            "windows):",
            "",
            "| column | bins | JSON KB | bound (largest bin share) | median error | max error |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['column']} | {r['bins']} | {r['json_kb']:.1f} | {r['bound']:.4f} | "
            f"{r['median_error']:.4f} | {r['max_error']:.4f} |"
            for r in grid["rows"]
        ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
