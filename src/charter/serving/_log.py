"""The prediction log: every prediction appended, cheaply, to Parquet segments monitoring reads fast.

Why this shape:
- The serving hot path only appends to an in-memory buffer under a lock (about a microsecond); a
  background thread turns the buffer into an Arrow table and writes it as one Parquet segment every
  `flush_seconds`. A hard kill loses at most the rows appended since the last flush.
- A segment is written under a hidden temporary name, synced to disk and then renamed into place,
  so a reader (or a crash) never sees half a file. Names carry the UTC time, the process id and a
  counter, so several worker processes can write to the same folder.
- Segments live in `date=YYYY-MM-DD` partitions (UTC) so a reader skips whole days and retention
  deletes whole folders.
- One segment a second per process is tens of thousands of small files a day, and reading many small
  files is slow (20,000 files of 50 rows take DuckDB 15-30 s; one file of the same million rows well
  under a second). So small segments are compacted into one larger file every few minutes. A
  compacted file names the files it replaces in its own Parquet metadata; readers skip replaced
  files that are still there, so a crash between writing the compacted file and deleting its sources
  never shows a row twice. Readers hold a shared lock on the folder, compaction and retention an
  exclusive one, so no file disappears between a reader listing it and reading it.
- A flush that fails (disk full, folder gone) keeps its rows, retries at the next interval, and says
  so through `last_error` and a warning on the `charter.serving` logger; rows are only dropped when
  the unwritten backlog passes a cap, and that is logged as an error and counted.

Layout of a log folder:

    folder/date=2026-11-24/part-20261124T101112.123456Z-4711-000042.parquet   a flushed segment
    folder/date=2026-11-24/compact-20261124T103000.000001Z-4711-000001.parquet  merged segments
    folder/date=2026-11-24/.part-k3j9x2ab.tmp                                 being written: ignored
"""

from __future__ import annotations

import atexit
import json
import logging
import numbers
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from charter.errors import CharterError, UsageError

try:  # file locks for compaction and retention: POSIX only; elsewhere they are skipped
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms charter is tested on
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BASE_SCHEMA",
    "FEATURE_PREFIX",
    "SOURCES",
    "PredictionLog",
    "compact",
    "log_files",
    "log_reading",
    "log_sql",
    "prune",
    "read_log",
]

logger = logging.getLogger("charter.serving")

FEATURE_PREFIX = "x."
SOURCES = ("api", "batch")

BASE_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("project", pa.string()),
        ("version", pa.int32()),
        ("source", pa.string()),
        ("score", pa.float64()),
        ("decision", pa.string()),
        ("fallback", pa.bool_()),
        ("flags", pa.list_(pa.string())),
        ("shadow_version", pa.int32()),
        ("shadow_score", pa.float64()),
        ("shadow_decision", pa.string()),
        ("latency_ms", pa.float64()),
        ("entity", pa.string()),
        # A record refused for breaking the contract: the fields at fault (score and decision
        # are null), so monitoring can tell the share of refused records per window.
        ("problems", pa.list_(pa.string())),
    ]
)
_BASE_NAMES = frozenset(BASE_SCHEMA.names)
_REQUIRED = frozenset({"prediction_id", "project", "version", "source"})
_ALLOWED = _BASE_NAMES | {"inputs"}
_EMPTY_FLAGS = pa.scalar([], type=pa.list_(pa.string()))

_PARTITION = "date="
_SEGMENT = "part-"
_COMPACTED = "compact-"
_SUFFIX = ".parquet"
_REPLACES_KEY = b"charter.replaces"
_LOCK_NAME = ".maintenance.lock"
_STALE_TEMPORARY_SECONDS = 3600.0
_COMPRESSION = "zstd"
# Files are written in row groups of about this many rows: large enough for fast scans, small
# enough that compaction never holds more than one group of rows in memory.
_ROW_GROUP_ROWS = 131_072
DEFAULT_TARGET_BYTES = 64 * 1024 * 1024

# A piece of the buffer: (append time in ns, the rows of one `append` call) or a ready table.
_Piece: TypeAlias = tuple[int, tuple[Mapping[str, Any], ...]] | pa.Table


class PredictionLog:
    """Append predictions from any thread; a background thread writes them to Parquet segments.

    `rows` passed to `append` are mappings with the keys of `BASE_SCHEMA` (`prediction_id`,
    `project`, `version` and `source` required; `time` defaults to the moment of the append,
    `flags` to an empty list, `fallback` to false, the rest to null) and optionally `inputs`, a
    mapping of feature name to value, stored as the columns `x.<name>` (numbers as float64,
    everything else as text: booleans as "true"/"false"). The log keeps references to the rows
    until they are written: do not change a row after appending it.

    Create the log in the process that uses it (after any fork). Call `close()` (or use it as a
    context manager) on shutdown; an interpreter that exits normally closes it too.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        flush_seconds: float = 1.0,
        max_buffer_rows: int = 50_000,
        max_pending_rows: int | None = None,
        compact_every: float | None = 300.0,
        keep_days: int | None = None,
    ) -> None:
        if not flush_seconds > 0:
            raise UsageError(f"flush_seconds must be above 0, not {flush_seconds!r}")
        if max_buffer_rows < 1:
            raise UsageError(f"max_buffer_rows must be at least 1, not {max_buffer_rows!r}")
        if compact_every is not None and not compact_every > 0:
            raise UsageError(f"compact_every must be above 0 or None, not {compact_every!r}")
        if keep_days is not None and keep_days < 0:
            raise UsageError(f"keep_days must be 0 or more, not {keep_days!r}")
        self.folder = Path(folder)
        _check_writable(self.folder)
        self.flush_seconds = float(flush_seconds)
        self.max_buffer_rows = int(max_buffer_rows)
        # Beyond this many unwritten rows (the disk has been failing for a while) the oldest are
        # dropped, loudly, rather than letting the server run out of memory.
        self.max_pending_rows = (
            int(max_pending_rows) if max_pending_rows is not None else 20 * self.max_buffer_rows
        )
        self.compact_every = compact_every
        self.keep_days = keep_days
        self.last_error: CharterError | None = None
        self.rows_written = 0
        self.rows_dropped = 0
        self.segments_written = 0

        self._lock = threading.Lock()  # guards _pieces, _pending, _in_flush: held for microseconds
        self._flush_lock = threading.Lock()  # one flush at a time; guards _unwritten
        self._pieces: list[_Piece] = []
        self._pending = 0
        self._in_flush = 0  # rows taken by the flush under way, or kept after a failed one
        self._unwritten: list[pa.Table] = []
        self._counter = 0
        self._closed = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, name="charter-log-flush", daemon=True
        )
        self._flusher.start()
        self._maintainer: threading.Thread | None = None
        if compact_every is not None or keep_days is not None:
            self._maintainer = threading.Thread(
                target=self._maintenance_loop, name="charter-log-maintenance", daemon=True
            )
            self._maintainer.start()
        atexit.register(self._close_at_exit)

    # -- the hot path -------------------------------------------------------------------------

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add predictions to the buffer; they are written at the next flush."""
        if self._closed:
            raise UsageError(f"the prediction log {self.folder} is closed; rows cannot be added")
        chunk = tuple(rows)
        for row in chunk:
            keys = row.keys()
            if not (keys >= _REQUIRED and keys <= _ALLOWED) or row["source"] not in SOURCES:
                _refuse(row)
        stamp = time.time_ns()
        with self._lock:
            self._pieces.append((stamp, chunk))
            self._pending += len(chunk)
            full = self._pending >= self.max_buffer_rows
        if full:
            self._wake.set()

    def append_table(self, table: pa.Table) -> None:
        """Add predictions already in columns (batch scoring): `BASE_SCHEMA` columns plus `x.*`.

        The table is checked and converted at once, in the caller's thread, so a wrong column is
        the caller's error rather than a failed flush.
        """
        if self._closed:
            raise UsageError(f"the prediction log {self.folder} is closed; rows cannot be added")
        normalised = _normalise_table(table, time.time_ns())
        with self._lock:
            self._pieces.append(normalised)
            self._pending += normalised.num_rows
            full = self._pending >= self.max_buffer_rows
        if full:
            self._wake.set()

    @property
    def pending_rows(self) -> int:
        """Rows appended but not yet written (buffered, or kept after a failed flush)."""
        with self._lock:
            return self._pending + self._in_flush

    # -- flushing -----------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything appended so far; return the number of rows written.

        Raises CharterError when some rows could not be written; they are kept for the next try.
        """
        with self._flush_lock:
            with self._lock:
                pieces, self._pieces = self._pieces, []
                self._in_flush += self._pending
                self._pending = 0
            tables = self._unwritten + self._convert(pieces)
            self._unwritten = []
            written, failed, error = self._write(tables)
            kept = self._cap(failed)
            unwritten = sum(int(table.num_rows) for table in kept)
            self._unwritten = kept
            self.rows_written += written
            failure = None
            if error is not None:
                failure = CharterError(
                    f"cannot write the prediction log in {self.folder}: {error}. {unwritten:,} "
                    "rows are kept in memory and retried at the next flush; free disk space or "
                    "fix the folder's permissions."
                )
                logger.warning("%s", failure)
            self.last_error = failure
            with self._lock:  # last: whoever sees the count settle sees the rest settled too
                self._in_flush = unwritten
            if failure is not None:
                raise failure
            return written

    def close(self) -> None:
        """Stop the background threads and write everything still buffered."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._close_at_exit)
        self._stop.set()
        self._wake.set()
        self._flusher.join()
        if self._maintainer is not None:
            self._maintainer.join()
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except CharterError as exc:
            logger.error("prediction log not fully written at exit: %s", exc)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return  # close() writes what is left
            try:
                self.flush()
            except CharterError:  # flush() logged it and kept the rows
                # Wait a whole interval before retrying, even when the buffer is full.
                self._stop.wait(self.flush_seconds)
            except Exception as exc:  # never let the thread die: the log would stop silently
                self.last_error = CharterError(
                    f"the prediction log in {self.folder} failed to flush: {exc!r}"
                )
                logger.exception("prediction log flush failed")
                self._stop.wait(self.flush_seconds)

    def _maintenance_loop(self) -> None:
        interval = self.compact_every if self.compact_every is not None else 3600.0
        while not self._stop.wait(interval):
            try:
                with _folder_lock(self.folder, shared=False, wait=1.0) as locked:
                    if not locked:
                        continue  # another process is at it
                    if self.keep_days is not None:
                        _prune_locked(self.folder, self.keep_days, datetime.now(UTC))
                    if self.compact_every is not None:
                        _compact_locked(self.folder, DEFAULT_TARGET_BYTES)
            except Exception as exc:  # maintenance is best effort; writing goes on
                logger.warning("prediction log maintenance in %s failed: %r", self.folder, exc)

    def _convert(self, pieces: list[_Piece]) -> list[pa.Table]:
        """The buffer as tables; rows of a malformed `append` call are dropped and logged."""
        row_pieces = [piece for piece in pieces if isinstance(piece, tuple)]
        tables = [piece for piece in pieces if isinstance(piece, pa.Table)]
        if not row_pieces:
            return tables
        try:
            return [_rows_to_table(row_pieces), *tables]
        except Exception:  # whatever a bad row raises, the good rows must still be written
            pass
        # Find the calls at fault, one at a time, so that good rows are still written.
        converted: list[pa.Table] = []
        for piece in row_pieces:
            try:
                converted.append(_rows_to_table([piece]))
            except Exception as exc:
                self.rows_dropped += len(piece[1])
                ids = [str(row.get("prediction_id")) for row in piece[1][:3]]
                logger.error(
                    "prediction log: %d rows (prediction ids %s) have values of the wrong type "
                    "and were not written: %s",
                    len(piece[1]),
                    ", ".join(ids),
                    exc,
                )
        return converted + tables

    def _write(self, tables: list[pa.Table]) -> tuple[int, list[pa.Table], Exception | None]:
        written = 0
        failed: list[pa.Table] = []
        error: Exception | None = None
        for day, table in _by_day(tables):
            try:
                self._counter += 1
                _write_segment(self.folder, day, table, _SEGMENT, self._counter)
            except (OSError, pa.ArrowException) as exc:
                failed.append(table)
                error = exc
            else:
                written += table.num_rows
                self.segments_written += 1
        return written, failed, error

    def _cap(self, tables: list[pa.Table]) -> list[pa.Table]:
        excess = sum(table.num_rows for table in tables) - self.max_pending_rows
        if excess <= 0:
            return tables
        kept: list[pa.Table] = []
        for table in tables:  # oldest first: drop from the front
            if excess >= table.num_rows:
                excess -= table.num_rows
                self.rows_dropped += table.num_rows
                continue
            if excess > 0:
                self.rows_dropped += excess
                table = table.slice(excess)
                excess = 0
            kept.append(table)
        logger.error(
            "prediction log in %s: writing has failed for so long that %d rows are waiting; the "
            "oldest were dropped (%d dropped in all)",
            self.folder,
            self.max_pending_rows,
            self.rows_dropped,
        )
        return kept


# -- rows to Arrow ------------------------------------------------------------------------------

_CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError, AttributeError)


def _refuse(row: Mapping[str, Any]) -> None:
    keys = set(row.keys())
    missing = sorted(_REQUIRED - keys)
    unknown = sorted(keys - _ALLOWED)
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unknown:
        problems.append(
            f"unknown keys {', '.join(map(str, unknown))} (features go in the `inputs` mapping)"
        )
    if not missing and row["source"] not in SOURCES:
        problems.append(f"source is {row['source']!r}, expected one of {', '.join(SOURCES)}")
    raise UsageError(
        f"a prediction log row is malformed: {'; '.join(problems)}. Expected the keys "
        f"{', '.join(BASE_SCHEMA.names)} and `inputs`."
    )


# Arrow holds the interpreter lock while it converts Python objects, for the whole call: converting
# in slices of this many rows keeps each hold to a few milliseconds, so a flush of 50,000 rows
# does not stall the serving threads for a tenth of a second.
_SLICE_ROWS = 256  # the flush holds the interpreter lock ~1 ms per slice, not ~9


def _rows_to_table(pieces: Sequence[tuple[int, tuple[Mapping[str, Any], ...]]]) -> pa.Table:
    rows = [row for _, chunk in pieces for row in chunk]
    stamps = pa.array(
        np.repeat(
            np.array([stamp // 1000 for stamp, _ in pieces], dtype=np.int64),
            [len(chunk) for _, chunk in pieces],
        ),
        type=pa.timestamp("us", tz="UTC"),
    )
    if len(rows) <= _SLICE_ROWS:
        return _convert_rows(rows, stamps)
    parts = [
        _convert_rows(rows[start : start + _SLICE_ROWS], stamps.slice(start, _SLICE_ROWS))
        for start in range(0, len(rows), _SLICE_ROWS)
    ]
    try:
        return pa.concat_tables(parts, promote_options="default")
    except pa.ArrowException:  # a feature is a number in one slice and text in another
        return _convert_rows(rows, stamps)


def _convert_rows(rows: list[Mapping[str, Any]], stamps: pa.Array) -> pa.Table:
    base = _fill_defaults(pa.Table.from_pylist(rows, schema=BASE_SCHEMA), stamps)
    for name, values in _features([row.get("inputs") for row in rows]):
        base = base.append_column(FEATURE_PREFIX + name, values)
    return base


def _fill_defaults(table: pa.Table, stamps: pa.Array) -> pa.Table:
    """Append time where `time` is null, [] where `flags` is, false where `fallback` is."""
    time_column = table.column("time")
    if time_column.null_count:
        filled = pc.if_else(pc.is_null(time_column), stamps, time_column)
        table = table.set_column(table.schema.get_field_index("time"), "time", filled)
    for name, default in (("flags", _EMPTY_FLAGS), ("fallback", pa.scalar(False))):
        column = table.column(name)
        if column.null_count:
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pc.fill_null(column, default))
    return table


def _features(inputs: list[Mapping[str, Any] | None]) -> list[tuple[str, pa.Array]]:
    """One column per feature: numbers as float64, other values as text, null where absent."""
    mappings = [{} if value is None else value for value in inputs]
    if not any(mappings):
        return []
    order = _feature_order(mappings)
    try:  # fast path: Arrow infers one struct type for all the rows (C++, no Python loop)
        struct = pa.array(mappings)
    except _CONVERSION_ERRORS:
        struct = None
    if struct is not None and pa.types.is_struct(struct.type):
        children = dict(zip(struct.type.names, struct.flatten(), strict=True))
        columns = [(name, _feature_column(children[name])) for name in order]
        if all(column is not None for _, column in columns):
            return [(name, column) for name, column in columns if column is not None]
    # Slow path: mixed types in a feature, odd keys, nested values.
    return [(name, _python_feature([mapping.get(name) for mapping in mappings])) for name in order]


def _feature_order(mappings: list[Mapping[str, Any]]) -> list[str]:
    """Feature names in the order the first rows give them (the model's order, usually)."""
    order: dict[str, None] = {}
    seen: set[tuple[Any, ...]] = set()
    for mapping in mappings:
        keys = tuple(mapping.keys())
        if keys in seen:
            continue
        seen.add(keys)
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"feature names must be text, not {key!r}")
            order.setdefault(key, None)
    return list(order)


def _feature_column(values: pa.Array) -> pa.Array | None:
    kind = values.type
    if pa.types.is_null(kind) or pa.types.is_string(kind):
        return values
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pc.cast(values, pa.float64())
    if pa.types.is_boolean(kind) or pa.types.is_large_string(kind):
        return pc.cast(values, pa.string())
    return None  # dates, lists, nested mappings: the slow path writes them as text


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _python_feature(values: list[Any]) -> pa.Array:
    present = [value for value in values if value is not None]
    if not present:
        return pa.nulls(len(values))
    if all(_is_number(value) for value in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else _text(v) for v in values], type=pa.string())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _normalise_table(table: pa.Table, stamp_ns: int) -> pa.Table:
    """A batch table in the log's shape, or a UsageError naming what does not fit."""
    names = table.column_names
    missing = sorted(_REQUIRED - set(names))
    unknown = sorted(n for n in names if n not in _BASE_NAMES and not n.startswith(FEATURE_PREFIX))
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown columns {', '.join(unknown)} (features are named x.<feature>)"]
            if unknown
            else []
        )
        raise UsageError(f"a prediction log table is malformed: {'; '.join(problems)}")
    rows = table.num_rows
    columns: list[pa.ChunkedArray | pa.Array] = []
    for field in BASE_SCHEMA:
        if field.name not in names:
            columns.append(pa.nulls(rows, type=field.type))
            continue
        try:
            columns.append(table.column(field.name).cast(field.type))
        except _CONVERSION_ERRORS as exc:
            raise UsageError(
                f"the prediction log column {field.name!r} is {table.schema.field(field.name).type}"
                f" and cannot be stored as {field.type}: {exc}"
            ) from None
    base = pa.Table.from_arrays(columns, schema=BASE_SCHEMA)
    empty = [name for name in sorted(_REQUIRED) if base.column(name).null_count]
    if empty:
        raise UsageError(f"the prediction log columns {', '.join(empty)} must have no nulls")
    bad_sources = pc.invert(pc.is_in(base.column("source"), pa.array(SOURCES)))
    if pc.any(bad_sources).as_py():
        raise UsageError(f"the prediction log column 'source' must be one of {', '.join(SOURCES)}")
    stamps = pa.array(np.full(rows, stamp_ns // 1000, dtype=np.int64), pa.timestamp("us", "UTC"))
    base = _fill_defaults(base.combine_chunks(), stamps)
    for name in names:
        if not name.startswith(FEATURE_PREFIX):
            continue
        column = table.column(name).combine_chunks()
        converted = _feature_column(column)
        if converted is None:
            converted = _python_feature(column.to_pylist())
        base = base.append_column(name, converted)
    return base


# -- writing segments ---------------------------------------------------------------------------


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".probe-", suffix=".tmp", dir=folder)
        os.close(descriptor)
        os.unlink(probe)
        # Made now so that readers without write access to the folder can still lock it.
        os.close(os.open(folder / _LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644))
    except OSError as exc:
        raise CharterError(
            f"cannot write the prediction log in {folder}: {exc.strerror or exc}. Choose a folder "
            "this process can create and write to, or fix its permissions."
        ) from None


def _by_day(tables: list[pa.Table]) -> Iterator[tuple[date, pa.Table]]:
    """One table per UTC day: the rows of one segment."""
    days: dict[date, list[pa.Table]] = {}
    for table in tables:
        if table.num_rows == 0:
            continue
        day_of_row = pc.cast(table.column("time"), pa.date32())
        unique = pc.unique(day_of_row).to_pylist()
        if len(unique) == 1:
            days.setdefault(unique[0], []).append(table)
            continue
        for day in unique:
            days.setdefault(day, []).append(table.filter(pc.equal(day_of_row, day)))
    for day in sorted(days):
        yield from ((day, table) for table in _merge(days[day]))


def _merge(tables: list[pa.Table]) -> list[pa.Table]:
    """As few tables as possible: tables whose feature types agree are concatenated."""
    if len(tables) == 1:
        return tables
    try:
        return [pa.concat_tables(tables, promote_options="default")]
    except pa.ArrowException:
        return tables  # a feature stored as a number in one and text in another: keep apart


def _now_name(prefix: str, counter: int) -> str:
    return f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{os.getpid()}-{counter:06d}{_SUFFIX}"


# Dictionary encoding pays for text with few values (project, source, decision, categories);
# tried on unique ids and on numbers it costs a tenth of the writing time and saves no bytes
# under zstd (measured on batch segments of 200,000 rows).
_UNIQUE_TEXT = frozenset({"prediction_id", "entity"})


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [
        field.name
        for field in schema
        if pa.types.is_string(field.type) and field.name not in _UNIQUE_TEXT
    ]


def _write_segment(folder: Path, day: date, table: pa.Table, prefix: str, counter: int) -> Path:
    partition = folder / f"{_PARTITION}{day.isoformat()}"
    partition.mkdir(exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{prefix}", suffix=".tmp", dir=partition)
    os.close(descriptor)
    try:
        pq.write_table(
            table,
            temporary,
            compression=_COMPRESSION,
            row_group_size=_ROW_GROUP_ROWS,
            use_dictionary=_dictionary_columns(table.schema),
        )
        _fsync(temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the log is as readable as its folder
        return _publish(temporary, partition, prefix, counter)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _fsync(path: str | Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish(temporary: str, partition: Path, prefix: str, counter: int) -> Path:
    """Give the finished file its final name, never replacing another file."""
    for attempt in range(100):
        target = partition / _now_name(prefix, counter + attempt * 1_000_000)
        try:
            os.link(temporary, target)  # fails if the name is taken, unlike a rename
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: names are unique anyway
            if target.exists():
                continue
            os.replace(temporary, target)
        with suppress(OSError):  # some file systems cannot sync a folder; the file is synced
            _fsync(partition)
        return target
    raise FileExistsError(f"no free segment name in {partition}")


# -- finding the files to read ------------------------------------------------------------------


def _partitions(folder: Path, since: date | None, until: date | None) -> list[tuple[date, Path]]:
    found = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if not entry.name.startswith(_PARTITION) or not entry.is_dir():
            continue
        try:
            day = date.fromisoformat(entry.name[len(_PARTITION) :])
        except ValueError:
            continue  # not ours
        if (since is None or day >= since) and (until is None or day <= until):
            found.append((day, Path(entry.path)))
    return sorted(found)


def _replaced(path: Path) -> set[str]:
    """The names a compacted file stands for (read from its own metadata)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise CharterError(
            f"the prediction log file {path} is unreadable ({exc}); move it aside and read again"
        ) from None
    return set(json.loads(metadata.get(_REPLACES_KEY, b"[]")))


def _listing(partition: Path) -> tuple[list[str], list[str]]:
    """(visible segment names, replaced names still on disk) in one partition."""
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(partition)
            if entry.name.endswith(_SUFFIX) and not entry.name.startswith(".")
        )
    except FileNotFoundError:
        return [], []
    replaced: set[str] = set()
    for name in names:
        if name.startswith(_COMPACTED):
            replaced |= _replaced(partition / name)
    return [n for n in names if n not in replaced], [n for n in names if n in replaced]


def log_files(
    folder: str | os.PathLike[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Path]:
    """The segment files holding the rows of [since, until) (whole days; temporary files excluded)."""
    since_day = _utc(since, "since").date() if since is not None else None
    until_day = _utc(until, "until").date() if until is not None else None
    return [
        partition / name
        for _, partition in _partitions(Path(folder), since_day, until_day)
        for name in _listing(partition)[0]
    ]


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise UsageError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageError(
            f"{name} ({moment.isoformat()}) has no time zone; the log is in UTC: pass e.g. "
            f"datetime(..., tzinfo=UTC)"
        )
    return moment.astimezone(UTC)


# -- reading ------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _where(since: datetime | None, until: datetime | None) -> str:
    conditions = []
    if since is not None:
        conditions.append(f"\"time\" >= TIMESTAMPTZ '{since.isoformat()}'")
    if until is not None:
        conditions.append(f"\"time\" < TIMESTAMPTZ '{until.isoformat()}'")
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


def _empty(columns: Sequence[str] | None) -> pa.Table:
    names = list(columns) if columns is not None else BASE_SCHEMA.names
    return pa.table(
        {
            name: pa.array(
                [],
                type=BASE_SCHEMA.field(name).type if name in _BASE_NAMES else pa.null(),
            )
            for name in names
        }
    )


def read_log(
    folder: str | os.PathLike[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The logged predictions with `since <= time < until`, in no particular order.

    Segments with different features are united by name (a feature a segment lacks is null);
    `columns` limits what is read (a column no segment has comes back as nulls). An empty or
    missing folder gives an empty table with the base columns.
    """
    since_utc = _utc(since, "since") if since is not None else None
    until_utc = _utc(until, "until") if until is not None else None
    wanted = list(columns) if columns is not None else None
    root = Path(folder)
    with log_reading(root):
        files = log_files(root, since=since_utc, until=until_utc)
        if not files:
            return _empty(wanted)
        return _scan(files, wanted, since_utc, until_utc)


@contextmanager
def log_reading(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold off compaction and retention while reading (shared: readers do not wait on each other).

    `read_log` holds it itself; hold it around queries built with `log_sql`, whose file list
    compaction would otherwise be free to replace.
    """
    with _folder_lock(Path(folder), shared=True, wait=None):
        yield


def _scan(
    files: list[Path], columns: list[str] | None, since: datetime | None, until: datetime | None
) -> pa.Table:
    # pyarrow's dataset scan rather than DuckDB here: both read Parquet fast, but handing a
    # million rows of 45 columns over to Arrow costs DuckDB about twice the whole scan.
    try:
        schema = _united([pq.read_schema(path) for path in files])
        dataset = ds.dataset([str(path) for path in files], schema=schema, format="parquet")
        moment = ds.field("time")
        condition = None
        if since is not None:
            condition = moment >= pa.scalar(since, type=BASE_SCHEMA.field("time").type)
        if until is not None:
            before = moment < pa.scalar(until, type=BASE_SCHEMA.field("time").type)
            condition = before if condition is None else condition & before
        names = schema.names if columns is None else columns
        present = [name for name in names if name in schema.names]
        table = dataset.to_table(columns=present, filter=condition)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise CharterError(
            f"cannot read the prediction log: {exc}. A file may have been damaged outside "
            "charter; move it aside and read again."
        ) from None
    if columns is None:
        return table
    empty = _empty(columns)
    return pa.table(
        {
            name: table.column(name)
            if name in schema.names
            else pa.nulls(table.num_rows, type=empty.schema.field(name).type)
            for name in columns
        }
    )


def _united(schemas: list[pa.Schema]) -> pa.Schema:
    """The base columns, then every feature in order of appearance.

    A feature null in every row of a segment has Parquet's null type and takes the other
    segments' type; one stored as a number in some segments and as text in others is read as
    text everywhere.
    """
    kinds: dict[str, pa.DataType] = {}
    for schema in schemas:
        for field in schema:
            if field.name in _BASE_NAMES:
                continue
            known = kinds.get(field.name)
            if known is None or pa.types.is_null(known):
                kinds[field.name] = field.type
            elif not pa.types.is_null(field.type) and field.type != known:
                kinds[field.name] = pa.string()
    return pa.schema([*BASE_SCHEMA, *(pa.field(name, kind) for name, kind in kinds.items())])


def log_sql(
    folder: str | os.PathLike[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """A parenthesised DuckDB query over the log's current files, to use after FROM.

    It names the files present now: call it again to see later segments, and run the queries
    inside `with log_reading(folder):` (taken before calling this) so that compaction does not
    replace the files meanwhile. Use a connection with `SET TimeZone = 'UTC'` to get times in UTC.
    """
    since_utc = _utc(since, "since") if since is not None else None
    until_utc = _utc(until, "until") if until is not None else None
    files = log_files(folder, since=since_utc, until=until_utc)
    if not files:
        typed = ", ".join(
            f"CAST(NULL AS {_DUCKDB_TYPES[field.name]}) AS {_quote(field.name)}"
            for field in BASE_SCHEMA
        )
        return f"(SELECT {typed} WHERE false)"
    listing = ", ".join(_literal(str(path)) for path in files)
    return (
        f"(SELECT * FROM read_parquet([{listing}], union_by_name = true, hive_partitioning = false)"
        f"{_where(since_utc, until_utc)})"
    )


_DUCKDB_TYPES = {
    "prediction_id": "VARCHAR",
    "time": "TIMESTAMPTZ",
    "project": "VARCHAR",
    "version": "INTEGER",
    "source": "VARCHAR",
    "score": "DOUBLE",
    "decision": "VARCHAR",
    "fallback": "BOOLEAN",
    "flags": "VARCHAR[]",
    "shadow_version": "INTEGER",
    "shadow_score": "DOUBLE",
    "shadow_decision": "VARCHAR",
    "latency_ms": "DOUBLE",
    "entity": "VARCHAR",
    "problems": "VARCHAR[]",
}


# -- maintenance: retention and compaction -----------------------------------------------------


@contextmanager
def _folder_lock(folder: Path, *, shared: bool, wait: float | None) -> Iterator[bool]:
    """A lock across processes on the log folder; yields whether it was taken.

    Compaction and retention take it exclusively, readers shared: a reader never sees a file
    vanish between listing and reading it, nor misses rows whose sources a compaction deleted.
    Writers do not take it: they only add files. `wait` is None to block, or seconds to try for.
    """
    if fcntl is None:  # pragma: no cover
        yield True
        return
    path = folder / _LOCK_NAME
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except FileNotFoundError:  # no folder: nothing to guard
        yield True
        return
    except OSError:  # a reader without write access: the writer made the lock file
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            yield True
            return
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if wait is None:
            fcntl.flock(descriptor, mode)
        else:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.02)
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def prune(folder: str | os.PathLike[str], *, keep_days: int, now: datetime | None = None) -> int:
    """Delete the days whose rows are all older than `keep_days` days; return the files removed.

    A day is deleted when it ended at least `keep_days` days before `now` (default: the current
    time), so nothing younger than `keep_days` days is ever removed.
    """
    if keep_days < 0:
        raise UsageError(f"keep_days must be 0 or more, not {keep_days!r}")
    moment = _utc(now, "now") if now is not None else datetime.now(UTC)
    root = Path(folder)
    if not root.is_dir():
        return 0
    with _folder_lock(root, shared=False, wait=None):
        return _prune_locked(root, keep_days, moment)


def _prune_locked(folder: Path, keep_days: int, now: datetime) -> int:
    cutoff = (now - timedelta(days=keep_days)).date()
    removed = 0
    for day, partition in _partitions(folder, None, None):
        if day >= cutoff:
            continue
        for entry in os.scandir(partition):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed += 1
        with suppress(OSError):  # a writer added a late row meanwhile; the next prune takes it
            partition.rmdir()
    return removed


def compact(
    folder: str | os.PathLike[str],
    *,
    target_bytes: int = DEFAULT_TARGET_BYTES,
    wait: bool = True,
) -> int:
    """Merge each day's small segments (under `target_bytes`) into one file; return files merged.

    Safe while processes write and read the log: it waits for readers to finish. With wait=False
    it returns 0 at once when another process is compacting or reading.
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    with _folder_lock(root, shared=False, wait=None if wait else 0.0) as locked:
        if not locked:
            return 0
        return _compact_locked(root, target_bytes)


def _compact_locked(folder: Path, target_bytes: int) -> int:
    merged = 0
    for _, partition in _partitions(folder, None, None):
        visible, leftovers = _listing(partition)
        for name in leftovers:  # sources of a compacted file a crash left behind
            (partition / name).unlink(missing_ok=True)
        _remove_stale_temporaries(partition)
        small = []
        for name in visible:
            try:
                if (partition / name).stat().st_size < target_bytes:
                    small.append(partition / name)
            except FileNotFoundError:
                continue
        for files, schema in _compatible_groups(small):
            if len(files) < 2:
                continue
            _merge_files(files, schema)
            merged += len(files)
    return merged


def _remove_stale_temporaries(partition: Path) -> None:
    limit = time.time() - _STALE_TEMPORARY_SECONDS
    for entry in os.scandir(partition):
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            try:
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue


def _compatible_groups(files: list[Path]) -> list[tuple[list[Path], pa.Schema]]:
    """Consecutive runs of files whose schemas unite (a feature's type agrees in all of them)."""
    groups: list[tuple[list[Path], pa.Schema]] = []
    for path in files:
        schema = pq.read_schema(path).remove_metadata()
        if groups:
            members, united = groups[-1]
            try:
                groups[-1] = (members + [path], pa.unify_schemas([united, schema]))
                continue
            except pa.ArrowException:
                pass
        groups.append(([path], schema))
    return groups


def _merge_files(files: list[Path], schema: pa.Schema) -> None:
    partition = files[0].parent
    metadata = {_REPLACES_KEY: json.dumps([path.name for path in files]).encode()}
    descriptor, temporary = tempfile.mkstemp(prefix=f".{_COMPACTED}", suffix=".tmp", dir=partition)
    os.close(descriptor)
    try:
        with pq.ParquetWriter(
            temporary,
            schema.with_metadata(metadata),
            compression=_COMPRESSION,
        ) as writer:
            # One multi-threaded scan casts every file to the united schema; rows are gathered
            # into row groups of _ROW_GROUP_ROWS, the only rows held in memory at a time.
            dataset = ds.dataset([str(path) for path in files], schema=schema, format="parquet")
            batches: list[pa.RecordBatch] = []
            rows = 0
            for batch in dataset.to_batches():
                batches.append(batch)
                rows += batch.num_rows
                if rows >= _ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(batches, schema=schema))
                    batches, rows = [], 0
            if batches:
                writer.write_table(pa.Table.from_batches(batches, schema=schema))
        _fsync(temporary)
        os.chmod(temporary, 0o644)
        _publish(temporary, partition, _COMPACTED, 1)
    finally:
        Path(temporary).unlink(missing_ok=True)
    # The merged file is in place and names its sources: from here a crash shows no duplicate.
    for path in files:
        path.unlink(missing_ok=True)
