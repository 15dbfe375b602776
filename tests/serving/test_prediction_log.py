"""The prediction log: round trips, concurrency, crashes, several processes, retention, compaction.

Everything runs on real files, real threads and real subprocesses (one killed with SIGKILL in the
middle of its traffic). Expected values are computed here from what was appended, independently of
the log's own conversion code.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.errors import CharterError, UsageError
from charter.serving._log import (
    BASE_SCHEMA,
    PredictionLog,
    compact,
    log_files,
    log_reading,
    log_sql,
    prune,
    read_log,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")


def row(number: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "prediction_id": f"{number:012d}",
        "project": "churn",
        "version": 1,
        "source": "api",
    }
    base.update(fields)
    return base


def by_id(table: pa.Table) -> dict[str, dict[str, Any]]:
    rows = table.to_pylist()
    ids = [r["prediction_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a prediction was read twice"
    return {r["prediction_id"]: r for r in rows}


def ids_of(folder: Path) -> list[str]:
    return read_log(folder, columns=["prediction_id"]).column("prediction_id").to_pylist()


def stored_feature(value: Any) -> Any:
    """What the log should store for an input value (the rule, written out independently)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def run_child(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


# --- round trips ---------------------------------------------------------------------------------


def test_round_trip_keeps_values_types_nulls_and_unites_feature_sets(tmp_path: Path) -> None:
    first_time = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)
    first = [
        row(
            1,
            time=first_time,
            score=0.25,
            decision="offer",
            fallback=False,
            flags=["out_of_range:tenure", "unseen:plan"],
            shadow_version=2,
            shadow_score=0.75,
            shadow_decision="none",
            latency_ms=0.7,
            entity="customer-1",
            inputs={"tenure": 3, "plan": "gold", "active": True, "notes": None},
        ),
        row(2, time=first_time, inputs={"tenure": 4.5, "plan": None, "active": False}),
    ]
    # A new model version with a different feature set, written in another segment.
    second = [
        row(
            3, version=2, source="batch", score=None, fallback=True, inputs={"tenure": 7, "age": 41}
        )
    ]
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append(first)
        log.flush()
        before = datetime.now(UTC)
        log.append(second)
        log.flush()
        after = datetime.now(UTC)
    assert len(log_files(tmp_path)) == 2

    table = read_log(tmp_path)
    schema = table.schema
    for field in BASE_SCHEMA:
        assert schema.field(field.name).type == field.type, field.name
    assert str(schema.field("flags").type) == "list<item: string>"
    assert schema.field("x.tenure").type == pa.float64()
    assert schema.field("x.age").type == pa.float64()
    assert schema.field("x.plan").type == pa.string()
    assert schema.field("x.active").type == pa.string()

    rows = by_id(table)
    assert rows["000000000001"] == {
        "prediction_id": "000000000001",
        "time": first_time,
        "project": "churn",
        "version": 1,
        "source": "api",
        "score": 0.25,
        "decision": "offer",
        "fallback": False,
        "flags": ["out_of_range:tenure", "unseen:plan"],
        "shadow_version": 2,
        "shadow_score": 0.75,
        "shadow_decision": "none",
        "latency_ms": 0.7,
        "entity": "customer-1",
        "problems": None,
        "x.tenure": 3.0,
        "x.plan": "gold",
        "x.active": "true",
        "x.notes": None,
        "x.age": None,
    }
    two = rows["000000000002"]
    assert (two["x.tenure"], two["x.plan"], two["x.active"], two["x.age"]) == (
        4.5,
        None,
        "false",
        None,
    )
    assert two["flags"] == [] and two["fallback"] is False and two["score"] is None
    three = rows["000000000003"]
    assert (three["version"], three["source"], three["fallback"]) == (2, "batch", True)
    assert (three["x.tenure"], three["x.age"], three["x.plan"]) == (7.0, 41.0, None)
    # No time given: the moment of the append.
    assert before - timedelta(milliseconds=1) <= three["time"] <= after


def test_a_feature_with_mixed_kinds_is_stored_as_text(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append([row(1, inputs={"a": 1, "b": 2}), row(2, inputs={"a": "x", "b": None})])
        log.append([row(3, inputs={"a": True, "b": 3.5}), row(4, inputs={"a": [1, 2]})])
    rows = by_id(read_log(tmp_path))
    assert [rows[f"{i:012d}"]["x.a"] for i in (1, 2, 3, 4)] == ["1", "x", "true", "[1, 2]"]
    assert [rows[f"{i:012d}"]["x.b"] for i in (1, 2, 3, 4)] == [2.0, None, 3.5, None]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], dict[str, str]]:
    """Two or three batches of rows; each feature keeps one kind of value in all of them."""
    names = draw(
        st.lists(st.text(alphabet="ab_\"' .", min_size=1, max_size=4), max_size=5, unique=True)
    )
    kinds = {name: draw(st.sampled_from(["int", "float", "text", "bool"])) for name in names}
    values = {
        "int": st.integers(-(2**53), 2**53),
        "float": st.floats(allow_nan=False, width=64),
        "text": st.text(max_size=8),
        "bool": st.booleans(),
    }
    moment = st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    )
    counter = iter(range(10**6))
    result = []
    for _ in range(draw(st.integers(2, 3))):
        features = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        rows = []
        for _ in range(draw(st.integers(1, 6))):
            inputs = {
                name: draw(st.none() | values[kinds[name]])
                for name in features
                if draw(st.booleans())
            }
            rows.append(
                row(
                    next(counter),
                    time=draw(moment),
                    version=draw(st.integers(1, 2**31 - 1)),
                    source=draw(st.sampled_from(["api", "batch"])),
                    score=draw(st.none() | st.floats(allow_nan=False)),
                    decision=draw(st.none() | st.text(max_size=6)),
                    flags=draw(st.lists(st.text(max_size=5), max_size=3)),
                    inputs=inputs,
                )
            )
        result.append(rows)
    return result, kinds


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_any_rows_read_back_as_appended(
    data: tuple[list[list[dict[str, Any]]], dict[str, str]],
) -> None:
    written, kinds = data
    with tempfile.TemporaryDirectory() as folder:
        with PredictionLog(folder, compact_every=None) as log:
            for batch in written:
                log.append(batch)
                log.flush()
        rows = by_id(read_log(folder))
    appended = [r for batch in written for r in batch]
    assert set(rows) == {r["prediction_id"] for r in appended}
    features = {name for r in appended for name in r["inputs"]}
    for expected in appended:
        got = rows[expected["prediction_id"]]
        for key in ("time", "version", "source", "score", "decision", "flags"):
            assert got[key] == expected[key], key
        for name in features:
            assert got[f"x.{name}"] == stored_feature(expected["inputs"].get(name)), name
    assert all(name in kinds for name in features)


def test_append_table_for_batch_scoring(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 24, 12, tzinfo=UTC)
    table = pa.table(
        {
            "prediction_id": ["b1", "b2"],
            "time": pa.array([moment, moment], pa.timestamp("ms", tz="UTC")),
            "project": ["churn", "churn"],
            "version": pa.array([5, 5], pa.int64()),
            "source": ["batch", "batch"],
            "score": pa.array([0.5, 0.25], pa.float32()),
            "x.tenure": pa.array([3, None], pa.int64()),
            "x.plan": ["gold", "silver"],
            "x.active": [True, False],
        }
    )
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append_table(table)
        log.append([row(1, inputs={"tenure": 2.5, "other": "z"})])
        with pytest.raises(UsageError, match=r"unknown columns tenure"):
            log.append_table(pa.table({"prediction_id": ["a"], "tenure": [1]}))
        with pytest.raises(UsageError, match="missing project, source, version"):
            log.append_table(pa.table({"prediction_id": ["a"]}))
        with pytest.raises(UsageError, match="source"):
            log.append_table(table.set_column(4, "source", pa.array(["web", "batch"])))
    rows = by_id(read_log(tmp_path))
    assert rows["b1"]["version"] == 5 and rows["b1"]["time"] == moment
    assert (rows["b1"]["x.tenure"], rows["b2"]["x.tenure"]) == (3.0, None)
    assert (rows["b1"]["x.active"], rows["b2"]["x.plan"]) == ("true", "silver")
    assert rows["b2"]["flags"] == [] and rows["b2"]["fallback"] is False
    assert rows["000000000001"]["x.other"] == "z" and rows["b1"]["x.other"] is None


def test_malformed_rows_are_refused_at_append(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, compact_every=None) as log:
        with pytest.raises(UsageError, match="missing version"):
            log.append([{"prediction_id": "a", "project": "p", "source": "api"}])
        with pytest.raises(UsageError, match=r"unknown keys tenure .*inputs"):
            log.append([row(1, tenure=3)])
        with pytest.raises(UsageError, match="source is 'web'"):
            log.append([row(1, source="web")])
        # A value of the wrong type is found at the flush: that append's rows are dropped and
        # logged, the others are written.
        log.append([row(2, version="three")])
        log.append([row(3)])
    assert ids_of(tmp_path) == ["000000000003"]
    assert log.rows_dropped == 1
    with pytest.raises(UsageError, match="closed"):
        log.append([row(4)])


# --- threads, closing, failures ------------------------------------------------------------------


def test_many_threads_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    threads, appends = 8, 1500
    log = PredictionLog(tmp_path, flush_seconds=0.01, max_buffer_rows=64, compact_every=0.05)
    start = threading.Barrier(threads + 1)
    appended: list[list[str]] = [[] for _ in range(threads)]

    def work(worker: int) -> None:
        rng = random.Random(worker)
        start.wait()
        for i in range(appends):
            ids = [f"{worker}-{i}-{k}" for k in range(rng.randint(1, 3))]
            log.append([row(0, prediction_id=pid, inputs={"w": worker}) for pid in ids])
            appended[worker].extend(ids)

    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    while any(worker.is_alive() for worker in workers):
        log.flush()  # flushes from this thread race the background ones
        time.sleep(0.005)
    for worker in workers:
        worker.join()
    log.close()
    expected = Counter(pid for ids in appended for pid in ids)
    got = Counter(ids_of(tmp_path))
    assert got == expected
    assert log.rows_written == sum(expected.values()) and log.last_error is None


def test_close_writes_everything_and_rows_wait_for_the_interval(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=3600, compact_every=None)
    log.append([row(i) for i in range(1000)])
    log.append([row(1000 + i) for i in range(10)])
    assert log.pending_rows == 1010
    time.sleep(0.2)
    assert read_log(tmp_path).num_rows == 0  # nothing before the flush interval
    log.close()
    log.close()  # twice is fine
    assert sorted(ids_of(tmp_path)) == [f"{i:012d}" for i in range(1010)]
    assert log.pending_rows == 0


def test_a_full_buffer_is_written_before_the_interval(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=3600, max_buffer_rows=100, compact_every=None)
    try:
        log.append([row(i) for i in range(150)])
        deadline = time.monotonic() + 10
        while not log_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert read_log(tmp_path).num_rows == 150
    finally:
        log.close()


def test_background_flush_writes_within_the_interval(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, flush_seconds=0.1, compact_every=None) as log:
        log.append([row(1)])
        deadline = time.monotonic() + 5
        while not log_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ids_of(tmp_path) == ["000000000001"]


def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    with pytest.raises(CharterError, match=r"cannot write the prediction log in .*not-a-folder"):
        PredictionLog(blocker / "log")
    with pytest.raises(CharterError, match="not-a-folder"):
        PredictionLog(blocker)


def test_a_failing_flush_keeps_the_rows_reports_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    moment = datetime(2026, 11, 24, 12, tzinfo=UTC)
    # A file where today's partition folder must go: every write into it fails, as on a full disk.
    blocker = tmp_path / "date=2026-11-24"
    blocker.write_text("in the way")
    log = PredictionLog(tmp_path, flush_seconds=0.05, compact_every=None)
    try:
        with caplog.at_level(logging.WARNING, logger="charter.serving"):
            log.append([row(i, time=moment) for i in range(20)])
            deadline = time.monotonic() + 10
            while log.last_error is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert log.last_error is not None
            assert "cannot write the prediction log" in str(log.last_error)
            assert "20 rows are kept" in str(log.last_error)
            assert any(
                r.name == "charter.serving" and "cannot write" in r.getMessage()
                for r in caplog.records
            )
            assert log.pending_rows == 20
            log.append([row(100 + i, time=moment) for i in range(5)])
            with pytest.raises(CharterError, match="25 rows are kept"):
                log.flush()
        blocker.unlink()  # the disk has room again
        deadline = time.monotonic() + 10
        while log.pending_rows and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.last_error is None
    finally:
        log.close()
    expected = [f"{i:012d}" for i in [*range(20), *range(100, 105)]]
    assert sorted(ids_of(tmp_path)) == expected


def test_a_long_failure_drops_the_oldest_rows_past_the_cap_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    moment = datetime(2026, 11, 24, 12, tzinfo=UTC)
    blocker = tmp_path / "date=2026-11-24"
    blocker.write_text("in the way")
    log = PredictionLog(tmp_path, flush_seconds=3600, max_pending_rows=30, compact_every=None)
    with caplog.at_level(logging.ERROR, logger="charter.serving"):
        for batch in range(4):
            log.append([row(batch * 10 + i, time=moment) for i in range(10)])
            with pytest.raises(CharterError):
                log.flush()
    assert log.pending_rows == 30 and log.rows_dropped == 10
    assert any("dropped" in r.getMessage() for r in caplog.records)
    blocker.unlink()
    log.close()
    assert sorted(ids_of(tmp_path)) == [f"{i:012d}" for i in range(10, 40)]


# --- processes -----------------------------------------------------------------------------------

APPENDER = """
    import sys, time
    from charter.serving._log import PredictionLog
    log = PredictionLog(sys.argv[1], flush_seconds=0.2, compact_every=None)
    n = 0
    last = 0.0
    print("ready", flush=True)
    while True:
        log.append([
            {"prediction_id": f"{n + i:012d}", "project": "churn", "version": 1, "source": "api",
             "score": (n + i) / 7, "flags": ["f"] * (i % 3),
             "inputs": {"a": float(n + i), "b": "x" * 40, "c": i % 2 == 0}}
            for i in range(25)
        ])
        n += 25
        now = time.time()
        if now - last >= 0.01:
            print(n, log.rows_written, now, flush=True)
            last = now
        time.sleep(0.002)
"""


def segment_being_written(folder: Path) -> bool:
    for partition in folder.glob("date=*"):
        with os.scandir(partition) as entries:
            if any(entry.name.endswith(".tmp") for entry in entries):
                return True
    return False


@pytest.mark.slow
def test_sigkill_mid_traffic_leaves_a_readable_log_missing_at_most_the_last_interval(
    tmp_path: Path,
) -> None:
    """Kill once at a random moment and twice while a segment is being written.

    The child prints, every 10 ms, how many rows it has appended and how many the log says it
    has written, with the time.
    """
    cut_mid_write = 0
    for round_, when in enumerate(("random", "mid-write", "mid-write")):
        folder = tmp_path / f"round-{round_}"
        child = run_child(APPENDER, str(folder))
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        printed: list[tuple[int, int, float]] = []

        def read_counts(
            stream: Any = child.stdout, into: list[tuple[int, int, float]] = printed
        ) -> None:
            for line in stream:
                appended, written, moment = line.split()
                into.append((int(appended), int(written), float(moment)))

        reader = threading.Thread(target=read_counts, daemon=True)
        reader.start()
        time.sleep(random.uniform(1.0, 1.5))
        if when == "mid-write":  # watch for a temporary file: a flush is writing right now
            deadline = time.monotonic() + 5
            while not segment_being_written(folder) and time.monotonic() < deadline:
                pass
        killed_at = time.time()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        reader.join(timeout=30)
        child.stdout.close()
        child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        cut_mid_write += when == "mid-write" and any(folder.rglob(".*.tmp"))

        # Every file a reader can see is a whole Parquet file; the cut one is hidden.
        for path in folder.rglob("*.parquet"):
            pq.ParquetFile(path).read()
        table = read_log(folder)
        ids = sorted(table["prediction_id"].to_pylist())
        # Each flush writes the whole buffer, so what survives is exactly the first rows
        # appended: nothing invented, nothing twice, no hole.
        assert ids == [f"{i:012d}" for i in range(len(ids))]
        # Everything the log reported written survived the kill.
        assert len(ids) >= max(written for _, written, _ in printed) > 0
        # The rows lost were appended within the last flush cycles: a cycle is the interval
        # (0.2 s) plus the flush's own work, measured as the longest gap between two flushes
        # the child reported (so that a loaded machine does not fail the test). The kill may
        # land while a flush writes, losing that flush's rows too: two cycles, and a margin.
        flushes = [moment for (_, w0, _), (_, w1, moment) in itertools.pairwise(printed) if w1 > w0]
        cycle = max(b - a for a, b in itertools.pairwise(flushes))
        first_lost = min((moment for count, _, moment in printed if count > len(ids)), default=None)
        window = killed_at - first_lost if first_lost is not None else 0.0
        assert window <= 2 * cycle + 0.5, (window, cycle, len(ids))
        scores = dict(zip(ids, table.sort_by("prediction_id")["score"].to_pylist(), strict=True))
        assert all(math.isclose(scores[f"{i:012d}"], i / 7) for i in range(len(ids)))
    assert cut_mid_write >= 1, "no kill landed while a segment was being written"


WRITER = """
    import sys
    from charter.serving._log import PredictionLog
    folder, name, rows, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    log = PredictionLog(folder, flush_seconds=0.02, max_buffer_rows=500, compact_every=0.1)
    for i in range(rows):
        log.append([{"prediction_id": f"{name}-{i}", "project": "churn", "version": 1,
                     "source": "batch", "inputs": {name: i}}])
    if mode == "close":
        log.close()
    # otherwise the interpreter's normal exit closes it
"""


def test_two_processes_write_the_same_folder(tmp_path: Path) -> None:
    rows = 20_000
    children = [
        run_child(WRITER, str(tmp_path), "first", str(rows), "close"),
        run_child(WRITER, str(tmp_path), "second", str(rows), "exit"),
    ]
    for child in children:
        _, errors = child.communicate(timeout=120)
        assert child.returncode == 0, errors
        assert "Traceback" not in errors, errors
    got = Counter(ids_of(tmp_path))
    expected = Counter([f"first-{i}" for i in range(rows)] + [f"second-{i}" for i in range(rows)])
    assert got == expected
    table = read_log(tmp_path)
    assert {"x.first", "x.second"} <= set(table.column_names)
    names = [path.name for path in log_files(tmp_path)]
    assert len(names) == len(set(names))


# --- reading, retention, compaction --------------------------------------------------------------


def test_since_and_until_filter_by_time_across_days(tmp_path: Path) -> None:
    start = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    moments = [start + timedelta(hours=3 * i) for i in range(16)]  # two days, several partitions
    with PredictionLog(tmp_path, compact_every=None) as log:
        # One append spanning midnights: the flush splits it into one segment per day.
        log.append([row(i, time=moment) for i, moment in enumerate(moments)])
    days = sorted({path.parent.name for path in log_files(tmp_path)})
    assert days == [f"date={(start + timedelta(days=d)).date()}" for d in range(3)]
    since = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    until = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    table = read_log(tmp_path, since=since, until=until)
    expected = {f"{i:012d}" for i, moment in enumerate(moments) if since <= moment < until}
    assert set(table["prediction_id"].to_pylist()) == expected
    # Another time zone means the same instant.
    local = since.astimezone(timezone(timedelta(hours=2)))
    assert local.hour == 6
    assert read_log(tmp_path, since=local, until=until).num_rows == len(expected)
    with pytest.raises(UsageError, match="no time zone"):
        read_log(tmp_path, since=datetime(2026, 11, 21))
    # Partitions outside the range are not read at all.
    assert all(
        "2026-11-20" not in str(path) for path in log_files(tmp_path, since=since, until=until)
    )
    # The SQL form gives the same rows.
    connection = duckdb.connect()
    with log_reading(tmp_path):
        sql = f"SELECT count(*) FROM {log_sql(tmp_path, since=since, until=until)}"
        assert connection.execute(sql).fetchone() == (len(expected),)


def test_empty_and_missing_folders_read_as_empty_tables(tmp_path: Path) -> None:
    for folder in (tmp_path / "missing", tmp_path):
        table = read_log(folder)
        assert table.num_rows == 0 and table.schema == BASE_SCHEMA
        assert duckdb.connect().execute(f"SELECT count(*) FROM {log_sql(folder)}").fetchone() == (
            0,
        )
    (tmp_path / "date=2026-11-24").mkdir()
    (tmp_path / "date=2026-11-24" / ".part-abc.tmp").write_bytes(b"half a file")
    assert read_log(tmp_path).num_rows == 0
    selected = read_log(tmp_path, columns=["score", "x.tenure"])
    assert selected.column_names == ["score", "x.tenure"]
    assert selected.schema.field("score").type == pa.float64()


def test_columns_select_and_absent_ones_come_back_null(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append([row(1, score=0.5, inputs={"a": 1.5}), row(2, inputs={"a": None})])
    table = read_log(tmp_path, columns=["x.a", "prediction_id", "x.never", "entity"])
    assert table.column_names == ["x.a", "prediction_id", "x.never", "entity"]
    assert sorted(
        zip(table["prediction_id"].to_pylist(), table["x.a"].to_pylist(), strict=True)
    ) == [
        ("000000000001", 1.5),
        ("000000000002", None),
    ]
    assert table["x.never"].null_count == 2
    assert table.schema.field("entity").type == pa.string()


def test_temporary_files_are_never_read(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append([row(1, time=datetime(2026, 11, 24, tzinfo=UTC))])
    partition = tmp_path / "date=2026-11-24"
    (partition / ".part-zzz.tmp").write_bytes(b"PAR1 cut short by a kill")
    assert ids_of(tmp_path) == ["000000000001"]


def test_prune_removes_only_old_days(tmp_path: Path) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    with PredictionLog(tmp_path, compact_every=None) as log:
        for days_ago in range(6):
            moment = now - timedelta(days=days_ago)
            log.append([row(days_ago * 10 + i, time=moment) for i in range(3)])
            log.flush()
            log.append([row(days_ago * 10 + 5, time=moment)])
            log.flush()
    (tmp_path / "unrelated.txt").write_text("not ours")
    assert prune(tmp_path, keep_days=3, now=now) == 4  # two days of two files each
    remaining = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("date="))
    assert remaining == [f"date={(now - timedelta(days=d)).date()}" for d in (3, 2, 1, 0)]
    # Every row younger than keep_days is kept.
    times = read_log(tmp_path)["time"].to_pylist()
    assert min(times) >= now - timedelta(days=3, hours=9, minutes=30)
    assert len(times) == 16
    assert (tmp_path / "unrelated.txt").exists()
    assert prune(tmp_path, keep_days=3, now=now) == 0
    assert prune(tmp_path / "missing", keep_days=1) == 0
    with pytest.raises(UsageError, match="keep_days"):
        prune(tmp_path, keep_days=-1)


def test_compaction_merges_segments_without_changing_the_rows(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 24, 8, tzinfo=UTC)
    with PredictionLog(tmp_path, compact_every=None) as log:
        for segment in range(30):
            features = {"a": segment} if segment < 15 else {"a": segment, "b": f"v{segment}"}
            log.append([row(segment * 100 + i, time=moment, inputs=features) for i in range(7)])
            log.flush()
    before = by_id(read_log(tmp_path))
    assert len(log_files(tmp_path)) == 30
    assert compact(tmp_path) == 30
    files = log_files(tmp_path)
    assert len(files) == 1 and files[0].name.startswith("compact-")
    assert by_id(read_log(tmp_path)) == before
    assert compact(tmp_path) == 0  # one file: nothing to merge

    # A feature stored as a number in some segments and as text in others is never merged across.
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append([row(9001, time=moment, inputs={"a": 1.0})])
        log.flush()
        log.append([row(9002, time=moment, inputs={"a": "text"})])
        log.flush()
        log.append([row(9003, time=moment, inputs={"a": "more text"})])
    assert compact(tmp_path) == 4  # the old compacted file and 9001; then 9002 and 9003
    assert len(log_files(tmp_path)) == 2
    rows = by_id(read_log(tmp_path))
    assert len(rows) == 213
    assert rows["000000000001"]["x.a"] == "0"  # a number among text is read as text


def test_a_crash_during_compaction_never_shows_a_row_twice(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 24, 8, tzinfo=UTC)
    with PredictionLog(tmp_path, compact_every=None) as log:
        for segment in range(5):
            log.append([row(segment * 10 + i, time=moment) for i in range(3)])
            log.flush()
    sources = {path: path.read_bytes() for path in log_files(tmp_path)}
    assert compact(tmp_path) == 5
    # As if the process died after the merged file appeared but before the sources went.
    for path, data in list(sources.items())[:3]:
        path.write_bytes(data)
    assert sorted(ids_of(tmp_path)) == sorted(
        f"{s * 10 + i:012d}" for s in range(5) for i in range(3)
    )
    assert len(log_files(tmp_path)) == 1
    compact(tmp_path)  # the next round removes the leftovers
    assert len(list((tmp_path / "date=2026-11-24").glob("part-*"))) == 0
    assert len(ids_of(tmp_path)) == 15


def test_reading_while_segments_are_written_and_compacted(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 24, 8, tzinfo=UTC)
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append([row(i, time=moment) for i in range(100)])
    stop = threading.Event()
    errors: list[BaseException] = []
    started, flushed = [100], [100]  # rows handed to append, rows known to be on disk
    merged = [0]

    def write_and_compact() -> None:
        try:
            with PredictionLog(tmp_path, flush_seconds=0.005, compact_every=0.02) as writer:
                while not stop.is_set():
                    start = flushed[0]
                    started[0] = start + 10
                    writer.append([row(start + i, time=moment) for i in range(10)])
                    writer.flush()
                    flushed[0] = start + 10
                    merged[0] += compact(tmp_path)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=write_and_compact)
    thread.start()
    try:
        deadline = time.monotonic() + 2.5
        reads = 0
        while time.monotonic() < deadline:
            floor = flushed[0]
            ids = ids_of(tmp_path)
            ceiling = started[0]
            assert len(ids) == len(set(ids)), "a row was read twice"
            assert floor <= len(ids) <= ceiling, (floor, len(ids), ceiling)
            reads += 1
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert reads > 5 and merged[0] > 5, (reads, merged)
    assert sorted(ids_of(tmp_path)) == [f"{i:012d}" for i in range(flushed[0])]


def test_background_maintenance_compacts_and_prunes(tmp_path: Path) -> None:
    old = datetime.now(UTC) - timedelta(days=10)
    with PredictionLog(tmp_path, compact_every=None) as log:
        log.append([row(1, time=old)])
    with PredictionLog(tmp_path, flush_seconds=0.01, compact_every=0.05, keep_days=3) as log:
        for i in range(20):
            log.append([row(100 + i)])
            log.flush()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            names = [path.name for path in log_files(tmp_path)]
            if len(names) == 1 and names[0].startswith("compact-"):
                break
            time.sleep(0.02)
    assert [path.name[:8] for path in log_files(tmp_path)] == ["compact-"]
    assert sorted(ids_of(tmp_path)) == [f"{100 + i:012d}" for i in range(20)]
    assert not (tmp_path / f"date={old.date()}").exists()


def test_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    for settings_ in (
        {"flush_seconds": 0},
        {"max_buffer_rows": 0},
        {"compact_every": -1.0},
        {"keep_days": -2},
    ):
        with pytest.raises(UsageError):
            PredictionLog(tmp_path, **settings_)  # type: ignore[arg-type]
