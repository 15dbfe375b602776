"""The scale-out benchmark: audit and batch scoring on a Dask LocalCluster of 1, 2 and 4 workers.

The data is larger than one worker's memory limit: FILES Parquet files of ROWS rows each from
generate.py (30 columns, 265 MiB of Arrow per million rows; 6 x 1M = 1.6 GiB by default) while
each worker may hold --memory-limit (1 GiB by default). For each worker count, in rounds, a fresh
child process starts the LocalCluster (timed apart), then measures:

  floor   every partition read on the workers and counted (`map_partitions(len)`): what any
          distributed pass over this data costs at least;
  profile `charter.scale` statistics of every column merged from the partitions (the audit's
          cluster part);
  audit   the whole `charter audit --cluster` path (statistics, the sample drawn to this machine,
          every check);
  score   `charter score --cluster`: the production version of bench_serving.py's project scores
          every row on the workers, writing a Parquet folder and the prediction log (as shipped).

Also, once per round, the single-machine `Project.audit` on the same folder (DuckDB, both cores).
Medians over rounds, ratios to the floor of the same child. Prints a markdown table.

    python benchmarks/bench_scale.py [--repeat 3] [--workers 1,2,4] [--files 6] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_audit import PAYLOAD_MARK, machine, run_child
from bench_serving import DEFAULT_DATA as TRAIN_DATA
from bench_serving import DEFAULT_PROJECT, ensure_project
from generate import TARGET, TIME, generate

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "scale"


def ensure_data(files: int, rows: int) -> Path:
    """FILES Parquet files of ROWS rows (row groups of 125,000), made once."""
    folder = DATA / f"{files}x{rows}"
    marker = folder / "done"
    if marker.exists():
        return folder
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        _say(f"writing part {index + 1} of {files}")
        pq.write_table(
            generate(rows, seed=100 + index),
            folder / f"part-{index:03d}.parquet",
            row_group_size=125_000,
        )
    marker.write_text("ok")
    return folder


def _charter_yaml(data: Path) -> str:
    return (
        "project: scale_benchmark\n"
        "owner: Benchmarks\n"
        "problem: Which customers will cancel?\n"
        "decision: Call the likely ones\n"
        "task: classification\n"
        f"target: {TARGET}\n"
        "positive_class: 1\n"
        f"data:\n  sources:\n    events: {data}\n  time: {TIME}\n"
        "success:\n  metric: net_value\n"
        "  value: {true_positive: 100, false_positive: -20, false_negative: 0, true_negative: 0}\n"
    )


# ---------------------------------------------------------------- children


def _child(task: str, workers: int, memory: str, data: Path, folder: Path) -> None:
    from charter.api import Project
    from charter.scale import ClusterSpec, connect, read_charter_data, read_location

    if task == "single_audit":
        project = Project(folder / "charter.yaml")
        start = time.perf_counter()
        project.audit(write_contract_file=False)
        _emit({"seconds": time.perf_counter() - start})
        return
    start = time.perf_counter()
    with connect(ClusterSpec(workers=workers, memory_limit=memory)) as client:
        client.wait_for_workers(workers)
        ready = time.perf_counter() - start
        data_on_cluster = read_location(str(data), base_dir=data)
        rows, floor = _timed(lambda: int(data_on_cluster.frame.map_partitions(len).sum().compute()))
        figures: dict[str, Any] = {"start": ready, "floor": floor, "rows": rows}
        if task == "audit":
            from charter.scale._audit import audit_on_cluster
            from charter.scale._profile import profile_on_cluster

            project = Project(folder / "charter.yaml")
            charter_data = read_charter_data(project.charter, base_dir=folder)
            _, figures["profile"] = _timed(lambda: profile_on_cluster(charter_data))
            result, figures["audit"] = _timed(
                lambda: audit_on_cluster(project.charter, charter_data)
            )
            figures["verdict"] = str(result.verdict)
        else:
            from charter.scale._score import score_on_cluster

            project = Project(folder / "project" / "charter.yaml")
            out = folder / "scored"
            result, figures["score"] = _timed(
                lambda: score_on_cluster(project, data_on_cluster, out)
            )
            figures["scored"] = result.scored
        figures["seconds"] = time.perf_counter() - start
    _emit(figures)


def _timed(action: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def _emit(payload: dict[str, Any]) -> None:
    print(PAYLOAD_MARK + json.dumps(payload), flush=True)


# ---------------------------------------------------------------- parent


def _scratch(data: Path) -> Path:
    """A folder with the audit's charter and a copy of the serving project without its log."""
    folder = Path(tempfile.mkdtemp(prefix="charter-scale-"))
    (folder / "charter.yaml").write_text(_charter_yaml(data), encoding="utf-8")
    shutil.copytree(
        DEFAULT_PROJECT, folder / "project", ignore=shutil.ignore_patterns("predictions")
    )
    return folder


def _run(task: str, workers: int, memory: str, data: Path) -> dict[str, Any]:
    folder = _scratch(data)
    try:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", task]
        command += ["--child-workers", str(workers), "--memory-limit", memory]
        command += ["--child-data", str(data), "--child-folder", str(folder)]
        run = run_child(command, timeout=3600)
        return dict(run.payload) | {"peak_rss": run.peak_rss}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--json", type=Path, help="Also write the raw figures here.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(
            args.child, args.child_workers, args.memory_limit, args.child_data, args.child_folder
        )
        return
    data = ensure_data(args.files, args.rows)
    ensure_project(DEFAULT_PROJECT, TRAIN_DATA, budget=None, rebuild=False)
    counts = [int(w) for w in args.workers.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(args.repeat):
        for workers in counts:
            for task in ("audit", "score"):
                _say(f"round {round_ + 1}: {task} on {workers} worker(s)")
                runs.setdefault(f"{task}:{workers}", []).append(
                    _run(task, workers, args.memory_limit, data)
                )
        _say(f"round {round_ + 1}: single-machine audit")
        runs.setdefault("single_audit", []).append(_run("single_audit", 0, args.memory_limit, data))
    results = {
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "machine": machine(),
        "files": args.files,
        "rows": args.files * args.rows,
        "memory_limit": args.memory_limit,
        "runs": runs,
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(markdown(results, counts))


def markdown(results: dict[str, Any], counts: list[int]) -> str:
    runs = results["runs"]
    rows = results["rows"]

    def median(key: str, field: str) -> float:
        return statistics.median(run[field] for run in runs[key])

    def ratio(key: str, field: str) -> float:
        return statistics.median(run[field] / run["floor"] for run in runs[key])

    lines = [
        f"{rows:,} rows × 30 columns in {results['files']} Parquet files "
        f"({rows / 1e6 * 265 / 1024:.1f} GiB as Arrow), workers' memory limit "
        f"{results['memory_limit']} each; {results['date']}, load {results['machine']['load']}, "
        f"{results['machine']['cores']} cores.",
        "",
        "| workers | cluster start | floor (read all) | profile | audit (all) | score | score rows/s "
        "| profile / floor | score / floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in counts:
        audit, score = f"audit:{workers}", f"score:{workers}"
        lines.append(
            f"| {workers} | {median(audit, 'start'):.1f} s | {median(score, 'floor'):.1f} s "
            f"| {median(audit, 'profile'):.1f} s | {median(audit, 'audit'):.1f} s "
            f"| {median(score, 'score'):.1f} s | {rows / median(score, 'score'):,.0f} "
            f"| {ratio(audit, 'profile'):.2f}× | {ratio(score, 'score'):.2f}× |"
        )
    single = statistics.median(run["seconds"] for run in runs["single_audit"])
    lines += ["", f"Single-machine `Project.audit` on the same folder (DuckDB): {single:.1f} s."]
    return "\n".join(lines)


def _say(message: str) -> None:
    print(f"[bench_scale] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
