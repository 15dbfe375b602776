"""The prediction-log benchmark: what logging costs the serving hot path, and how fast monitoring reads.

Measures in one process, in a temporary folder, with rows shaped like the service's (the base
columns and 30 numeric features):
  a. --appends single-row `append` calls from one thread while the background thread flushes
     (flush every second, or at 50,000 rows): each call timed on its own (median, p99), against
     the floor of the same timer around a bare `with lock: list.append(row)`;
  b. all of them on disk: appending plus `close()`, against the floor of converting the same rows
     to Arrow with `Table.from_pylist` (the features already flattened to x.* keys) and writing one
     Parquet file;
  c. batch scoring's path: `append_table` of the same rows in tables of 100,000, then `close()`,
     against one `write_table` of them;
  d. reading the whole log back with `read_log` (as flushed; then compacted), against the floor of
     `pyarrow.parquet.read_table` on one file holding the same table; and a DuckDB aggregate over
     `log_sql`, against the same query on that one file;
  e. the same rows cut into --segments small segments (low traffic, many flushes): reading them
     before compaction, compacting, and reading after.
Each figure is the median over --repeat rounds; ratios are to the floor measured in the same round.
Prints a markdown table (it does not write BENCHMARKS.md).

    python benchmarks/bench_log.py [--repeat 3] [--appends 1000000] [--segments 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from charter import __version__
from charter.serving._log import (
    BASE_SCHEMA,
    PredictionLog,
    compact,
    log_files,
    log_reading,
    log_sql,
    read_log,
)

FEATURES = 30
POOL = 1000  # distinct input records, reused: building a fresh record is the caller's cost


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def input_pool(seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(POOL, FEATURES))
    return [{f"f{j:02d}": float(values[i, j]) for j in range(FEATURES)} for i in range(POOL)]


def make_row(prediction_id: str, inputs: dict[str, float], score: float) -> dict[str, Any]:
    return {
        "prediction_id": prediction_id,
        "time": datetime.now(UTC),
        "project": "churn",
        "version": 3,
        "source": "api",
        "score": score,
        "decision": "offer" if score > 0.5 else "none",
        "fallback": False,
        "flags": [],
        "latency_ms": 0.8,
        "inputs": inputs,
    }


def time_appends(count: int, append: Callable[[Any], None], pool: list[dict[str, float]]) -> Any:
    """Nanoseconds of each call, the row built outside the timed span."""
    ids = [uuid.uuid4().hex for _ in range(min(count, 100_000))]
    spans = np.empty(count, dtype=np.int64)
    clock = time.perf_counter_ns
    gc.disable()  # the collector's pauses are the caller's, not the log's
    try:
        for i in range(count):
            rows = (make_row(ids[i % len(ids)], pool[i % POOL], (i % 100) / 100),)
            start = clock()
            append(rows)
            spans[i] = clock() - start
    finally:
        gc.enable()
    return spans


def floor_appends(count: int, pool: list[dict[str, float]]) -> Any:
    lock = threading.Lock()
    buffer: list[Any] = []

    def append(rows: Any) -> None:
        with lock:
            buffer.append(rows)
            if len(buffer) >= 50_000:
                buffer.clear()

    return time_appends(count, append, pool)


def floor_write(count: int, pool: list[dict[str, float]], path: Path) -> float:
    """The same rows to Arrow (`from_pylist`, 50,000 at a time, inputs as x.* keys), one file."""
    ids = [uuid.uuid4().hex for _ in range(min(count, 100_000))]
    schema = pa.schema(
        [*BASE_SCHEMA, *[pa.field(f"x.f{j:02d}", pa.float64()) for j in range(FEATURES)]]
    )
    tables = []
    spent = 0.0
    for begin in range(0, count, 50_000):
        rows = []
        for i in range(begin, min(count, begin + 50_000)):
            row = make_row(ids[i % len(ids)], pool[i % POOL], (i % 100) / 100)
            inputs = row.pop("inputs")
            row.update({f"x.{name}": value for name, value in inputs.items()})
            rows.append(row)
        spent += timed(lambda rows=rows: tables.append(pa.Table.from_pylist(rows, schema=schema)))
    return spent + timed(lambda: pq.write_table(pa.concat_tables(tables), path, compression="zstd"))


def round_once(args: argparse.Namespace, pool: list[dict[str, float]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        log_folder = root / "log"
        log = PredictionLog(log_folder, compact_every=None)
        start = time.perf_counter()
        spans = time_appends(args.appends, log.append, pool)
        log.close()
        figures["append+close"] = time.perf_counter() - start
        figures["append p50"] = float(np.median(spans)) / 1000
        figures["append p99"] = float(np.percentile(spans, 99)) / 1000
        figures["append mean"] = float(spans.mean()) / 1000
        figures["segments"] = len(log_files(log_folder))
        floor = floor_appends(args.appends, pool)
        figures["floor append p50"] = float(np.median(floor)) / 1000
        figures["floor append p99"] = float(np.percentile(floor, 99)) / 1000
        figures["floor write"] = floor_write(args.appends, pool, root / "floor.parquet")

        figures["read"] = timed(lambda: read_log(log_folder))
        one = read_log(log_folder)
        assert one.num_rows == args.appends, one.num_rows
        # The same row groups as the log writes, so both reads can use both cores.
        figures["floor batch"] = timed(
            lambda: pq.write_table(
                one, root / "one.parquet", compression="zstd", row_group_size=131_072
            )
        )

        def log_batches() -> None:
            with PredictionLog(root / "batch", compact_every=None) as writer:
                for begin in range(0, one.num_rows, 100_000):
                    writer.append_table(one.slice(begin, 100_000))

        figures["batch"] = timed(log_batches)
        figures["floor read"] = timed(lambda: pq.read_table(root / "one.parquet"))
        figures["compact"] = timed(lambda: compact(log_folder))
        figures["read compacted"] = timed(lambda: read_log(log_folder))
        figures["read 3 columns"] = timed(
            lambda: read_log(log_folder, columns=["time", "score", "x.f00"])
        )
        figures["floor read 3 columns"] = timed(
            lambda: pq.read_table(root / "one.parquet", columns=["time", "score", "x.f00"])
        )
        aggregate = 'SELECT version, count(*), avg(score), avg("x.f00") FROM {} GROUP BY version'
        connection = duckdb.connect()
        with log_reading(log_folder):
            query = aggregate.format(log_sql(log_folder))
            figures["sql"] = timed(lambda: connection.execute(query).fetchall())
        one_file = f"read_parquet('{root / 'one.parquet'}')"
        figures["floor sql"] = timed(
            lambda: connection.execute(aggregate.format(one_file)).fetchall()
        )

        # Low traffic: the same rows in many small segments, one per flush.
        many = root / "many"
        per = args.appends // args.segments
        with PredictionLog(many, flush_seconds=3600, compact_every=None) as writer:
            for index in range(args.segments):
                writer.append_table(one.slice(index * per, per))
                writer.flush()
        figures["many segments"] = len(log_files(many))
        figures["read many"] = timed(lambda: read_log(many))
        figures["compact many"] = timed(lambda: compact(many))
        figures["read many compacted"] = timed(lambda: read_log(many))
        assert read_log(many, columns=["prediction_id"]).num_rows == per * args.segments
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--appends", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=1000)
    args = parser.parse_args()
    pool = input_pool()
    rounds = [round_once(args, pool) for _ in range(args.repeat)]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def ratio(key: str, floor: str) -> float:
        return statistics.median(r[key] / r[floor] for r in rounds)

    n = args.appends
    rows = [
        (
            "append one row (hot path), p50 / p99",
            f"{median('append p50'):.2f} / {median('append p99'):.1f} µs",
            f"bare locked list append: {median('floor append p50'):.2f} / "
            f"{median('floor append p99'):.1f} µs (same timer)",
        ),
        (
            f"append one row, mean over {n:,} calls",
            f"{median('append mean'):.2f} µs",
            "includes the background flush competing for the interpreter",
        ),
        (
            f"{n:,} appends + close (all on disk, {median('segments'):.0f} segments)",
            f"{median('append+close'):.2f} s",
            f"{ratio('append+close', 'floor write'):.2f}× from_pylist + one write_table of the "
            f"same rows ({median('floor write'):.2f} s)",
        ),
        (
            f"read_log, {n:,} rows × {FEATURES} features, as flushed",
            f"{median('read'):.2f} s",
            f"{ratio('read', 'floor read'):.2f}× pyarrow read_table of one file "
            f"({median('floor read'):.2f} s)",
        ),
        (
            f"batch scoring: append_table of {n:,} rows in tables of 100,000, + close",
            f"{median('batch'):.2f} s",
            f"{ratio('batch', 'floor batch'):.2f}× one write_table of them "
            f"({median('floor batch'):.2f} s)",
        ),
        ("compact them", f"{median('compact'):.2f} s", ""),
        (
            "read_log after compaction",
            f"{median('read compacted'):.2f} s",
            f"{ratio('read compacted', 'floor read'):.2f}× the same floor",
        ),
        (
            "read_log, 3 columns",
            f"{median('read 3 columns'):.3f} s",
            f"{ratio('read 3 columns', 'floor read 3 columns'):.2f}× read_table of those columns "
            f"({median('floor read 3 columns'):.3f} s)",
        ),
        (
            "DuckDB over log_sql: rows, mean score and a mean feature by version",
            f"{median('sql') * 1000:.0f} ms",
            f"{ratio('sql', 'floor sql'):.2f}× the same query on one file "
            f"({median('floor sql') * 1000:.0f} ms)",
        ),
        (
            f"read_log, the same rows in {median('many segments'):.0f} small segments",
            f"{median('read many'):.2f} s",
            f"{ratio('read many', 'floor read'):.2f}× one file",
        ),
        ("compact them", f"{median('compact many'):.2f} s", ""),
        (
            "read_log after compaction",
            f"{median('read many compacted'):.2f} s",
            f"{ratio('read many compacted', 'floor read'):.2f}× one file",
        ),
    ]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.platform()}; load average {load} after the run.",
        f"- Software: Python {platform.python_version()}, pyarrow {pa.__version__}, "
        f"DuckDB {duckdb.__version__}, charter {__version__}.",
        f"- `python benchmarks/bench_log.py --repeat {args.repeat} --appends {n} "
        f"--segments {args.segments}`; medians of {args.repeat} rounds.",
        "",
        "| measurement | median | against the floor |",
        "|---|---:|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
