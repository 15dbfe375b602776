"""Batch scoring: a file or a query in, scores out, in chunks, with every bad row kept aside.

Rows stream through in chunks (pyarrow reads a Parquet file, DuckDB other files where they lie;
a query streams from the database), so files larger than memory score in constant memory. Each
chunk is checked against the version's contract: good rows are scored and written to the output;
bad rows go, with the reason, to the quarantine file. Good + quarantined rows always add up to the
input. Every scored row is logged like a served prediction (source "batch").

Speed (issue 6 asks for 1,000,000 rows within 1.5x of the booster's own predict on the data in
memory): the trees are most of the work, so they never wait. They are compiled (`_forest`: the
booster's predictions, 3.5x faster) and predict in worker threads while this thread prepares the
next chunk and finishes the last one, and a writer thread encodes the output (see `_Pipeline`);
features stay in Arrow (no Python object per value), and category codes and humility bits come
from pyarrow's set lookups.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from charter.data import DATASET, read_file
from charter.errors import UsageError
from charter.serving._humility import flag_column
from charter.serving._ids import prediction_ids
from charter.serving._log import FEATURE_PREFIX, PredictionLog
from charter.serving._scorer import TableFeatures, cores
from charter.serving._service import Deployed, column_decisions, log_table

__all__ = ["BatchResult", "score_batch", "batches_of_file", "batches_of_query"]

CHUNK_ROWS = 100_000
_BLOCK_ROWS = 25_000  # rows a worker predicts at a time (one thread each)
_AHEAD = 2  # chunks waiting for the booster, and outputs waiting for the writer
_ACT = pa.scalar("act", pa.string())
_NO_ACTION = pa.scalar("no action", pa.string())
_OUTPUTS = ("prediction_id", "version", "score", "decision", "fallback", "flags")


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did: rows read, scored and quarantined, where they went, how long it took."""

    rows: int
    scored: int
    quarantined: int
    output: Path
    quarantine: Path | None
    version: int
    seconds: float
    problems: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "scored": self.scored,
            "quarantined": self.quarantined,
            "output": str(self.output),
            "quarantine": None if self.quarantine is None else str(self.quarantine),
            "version": self.version,
            "seconds": round(self.seconds, 3),
            "problems": self.problems,
        }


def batches_of_file(
    path: Path, chunk_rows: int = CHUNK_ROWS
) -> tuple[int, Iterator[pa.RecordBatch]]:
    """(row count, chunks) of a CSV, Parquet or JSON-lines file.

    One Parquet file is read by pyarrow straight into Arrow chunks (a third less work than
    through DuckDB; dictionary columns are read as their values, as DuckDB gives them); the
    rest (CSV and JSON lines, whose dialect DuckDB detects; globs) by DuckDB."""
    if path.suffix.lower() == ".parquet" and path.is_file():
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException):
            pass  # DuckDB says what is wrong with the file, in charter's words
        else:
            return parquet.metadata.num_rows, _parquet_batches(parquet, chunk_rows)
    dataset = read_file(path)

    def stream() -> Iterator[pa.RecordBatch]:
        # The generator holds `dataset`: its DuckDB connection must live while batches are read.
        yield from dataset.connection.sql(f"SELECT * FROM {DATASET}").to_arrow_reader(chunk_rows)

    return dataset.num_rows, stream()


def _parquet_batches(parquet: pq.ParquetFile, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    schema = parquet.schema_arrow
    plain = pa.schema(
        [
            field.with_type(field.type.value_type)
            if pa.types.is_dictionary(field.type)
            else field.with_type(pa.string())
            if pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type)
            else field
            for field in schema
        ]
    )
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows, use_threads=False):
            yield batch if plain == schema else batch.cast(plain)
    finally:
        parquet.close()


def batches_of_query(
    url: str, query: str, chunk_rows: int = CHUNK_ROWS
) -> tuple[int | None, Iterator[pa.RecordBatch]]:
    """Chunks of a query's rows, streamed from a database by SQLAlchemy."""
    import sqlalchemy as sa

    from charter.data._databases import redact_url

    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise UsageError(f"cannot connect to {redact_url(url)}: {exc}") from None

    def stream() -> Iterator[pa.RecordBatch]:
        try:
            with engine.connect() as connection:
                result = connection.execution_options(stream_results=True).execute(sa.text(query))
                names = list(result.keys())
                for part in result.partitions(chunk_rows):
                    yield pa.RecordBatch.from_pylist(
                        [dict(zip(names, row, strict=True)) for row in part]
                    )
        except sa.exc.SQLAlchemyError as exc:
            raise UsageError(
                f"the query failed on {redact_url(url)}: {getattr(exc, 'orig', exc)}"
            ) from None
        finally:
            engine.dispose()

    return None, stream()


def score_batch(
    deployed: Deployed,
    batches: Iterator[pa.RecordBatch],
    output: Path,
    *,
    log: PredictionLog | None,
    project: str,
    quarantine: Path | None = None,
    explain: bool = False,
    fallback: bool = False,
    on_rows: Callable[[int], None] | None = None,
) -> BatchResult:
    """Score every chunk with `deployed`; write scores to `output` and bad rows to `quarantine`."""
    started = time.perf_counter()
    quarantine = quarantine or output.with_name(f"{output.stem}.quarantine{output.suffix}")
    outputs = _Writer(output)
    bad_rows = _Writer(quarantine)
    rows = scored = 0
    problems: dict[str, int] = {}
    first: pa.Schema | None = None
    pipeline = _Pipeline(
        deployed, outputs, log, project=project, explain=explain, fallback=fallback, on_rows=on_rows
    )
    try:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            first = first or table.schema
            check = deployed.checker.check_table(table)
            for key, count in check.counts.items():
                problems[key] = problems.get(key, 0) + count
            rows += table.num_rows
            if check.bad_rows:
                bad = table.filter(pa.array(~check.good))
                reasons = pc.filter(check.reasons, pa.array(~check.good))
                bad_rows.write(bad.append_column("_violations", reasons))
                if log is not None:
                    log.append_table(_refused_rows(bad, check.fields_at_fault(), deployed, project))
            good = table.filter(pa.array(check.good)) if check.bad_rows else table
            pipeline.add(good, read=table.num_rows)
            scored += good.num_rows
        pipeline.finish()
        deployed.scorer.wait_compiled()  # so that the next run finds the trees compiled
        if not outputs.written and first is not None:
            outputs.write(_empty_result(first, deployed, explain=explain))
    finally:
        pipeline.close()
        outputs.close()
        bad_rows.close()
    return BatchResult(
        rows=rows,
        scored=scored,
        quarantined=rows - scored,
        output=output,
        quarantine=quarantine if rows > scored else None,
        version=deployed.number,
        seconds=time.perf_counter() - started,
        problems=problems,
    )


@dataclass
class _Chunk:
    """A chunk on its way: its good rows, their features, and the booster's work under way."""

    table: pa.Table
    read: int  # rows read for it, bad ones included (for the progress callback)
    features: TableFeatures | None = None
    codes: np.ndarray | None = None  # humility bits of the inputs (boosted path)
    predicted: list[Future[np.ndarray]] = dataclass_field(default_factory=list)


class _Pipeline:
    """Chunks scored in overlap: the booster works on chunk k in worker threads (it lets go of
    the interpreter lock) while this thread turns chunk k+1 into a matrix and chunk k-1 into
    output and log rows, and a writer thread encodes the output. At most `_AHEAD` chunks wait
    for the booster and `_AHEAD` for the writer, so memory stays bounded.

    Each chunk is cut into blocks of `_BLOCK_ROWS` predicted on one thread each: the workers
    share the cores with the rest of the work without an OpenMP team waiting on its slowest
    thread, and the last chunk does not leave a core idle. Other kinds of models score in this
    thread, as they did before (their predict may not be safe to run on several threads).
    """

    def __init__(
        self,
        deployed: Deployed,
        outputs: _Writer,
        log: PredictionLog | None,
        *,
        project: str,
        explain: bool,
        fallback: bool,
        on_rows: Callable[[int], None] | None,
    ) -> None:
        self.deployed = deployed
        self.outputs = outputs
        self.log = log
        self.project = project
        self.explain = explain
        self.fallback = fallback
        self.on_rows = on_rows
        self.predicting: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(cores(), thread_name_prefix="charter-batch-predict")
            if deployed.scorer.boosted
            else None
        )
        self.writing = ThreadPoolExecutor(1, thread_name_prefix="charter-batch-write")
        self.waiting: deque[_Chunk] = deque()
        self.writes: deque[Future[None]] = deque()

    def add(self, table: pa.Table, *, read: int) -> None:
        """Start scoring a chunk's good rows; finish the oldest chunks once enough are ahead."""
        chunk = _Chunk(table, read)
        if table.num_rows and self.predicting is not None:
            self._start(chunk, self.predicting)
        self.waiting.append(chunk)
        while len(self.waiting) > _AHEAD:
            self._complete(self.waiting.popleft())

    def finish(self) -> None:
        """Complete every chunk and wait for the writer."""
        while self.waiting:
            self._complete(self.waiting.popleft())
        while self.writes:
            self.writes.popleft().result()

    def close(self) -> None:
        """Stop the threads (after an error: drop what is queued)."""
        for chunk in self.waiting:
            for future in chunk.predicted:
                future.cancel()
        if self.predicting is not None:
            self.predicting.shutdown(wait=True, cancel_futures=True)
        self.writing.shutdown(wait=True, cancel_futures=True)

    def _start(self, chunk: _Chunk, predicting: ThreadPoolExecutor) -> None:
        """Boosted versions: the chunk's matrix goes to the workers, block by block; the
        humility bits of its inputs are found meanwhile."""
        scorer, rows = self.deployed.scorer, chunk.table.num_rows
        chunk.features = scorer.table_features(chunk.table)
        matrix = scorer.features_matrix(chunk.features)
        chunk.predicted = [
            predicting.submit(scorer.predict_matrix, matrix[start : start + _BLOCK_ROWS], threads=1)
            for start in range(0, rows, _BLOCK_ROWS)
        ]
        chunk.codes = self.deployed.humility.table_codes(
            chunk.features.numbers, chunk.features.texts, rows
        )

    def _complete(self, chunk: _Chunk) -> None:
        if chunk.table.num_rows:
            result, logged = self._score(chunk)
            self.writes.append(self.writing.submit(self.outputs.write, result))
            while len(self.writes) > _AHEAD:
                self.writes.popleft().result()  # raises the writer's error, if any
            if self.log is not None:
                self.log.append_table(logged)
        if self.on_rows is not None:
            self.on_rows(chunk.read)

    def _score(self, chunk: _Chunk) -> tuple[pa.Table, pa.Table]:
        deployed, table = self.deployed, chunk.table
        scorer = deployed.scorer
        classification = scorer.task == "classification"
        if chunk.features is not None and chunk.codes is not None:
            features = chunk.features
            scored = scorer.scored(_predicted(chunk.predicted))
            codes = deployed.humility.with_scores(
                chunk.codes, scored.raw if classification else None
            )
        else:
            features = scorer.table_features(table)
            columns = features.columns(scorer.features)
            scored = scorer.score_columns(columns, table)
            codes = deployed.humility.codes(columns, scored.raw if classification else None)
        rows = table.num_rows
        flags = flag_column(codes)
        ids = prediction_ids(rows)
        act, used_fallback = column_decisions(
            deployed, scored, codes, table, fallback=self.fallback
        )
        decision = None if act is None else pc.if_else(pa.array(act), _ACT, _NO_ACTION)
        result = table
        for name, values in (
            ("prediction_id", ids),
            ("version", pa.array(np.full(rows, deployed.number, dtype=np.int32))),
            ("score" if classification else "value", pa.array(scored.shown, type=pa.float64())),
            ("decision", decision),
            ("fallback", pa.array(used_fallback) if classification else None),
            ("flags", flags),
        ):
            if values is not None:
                result = result.append_column(name, values)
        if self.explain:
            reasons = scorer.explain_columns(features.columns(scorer.features))
            result = result.append_column("reasons", pa.array(reasons, type=pa.list_(pa.string())))
        logged = log_table(
            deployed,
            table,
            features.numbers,
            ids=ids,
            project=self.project,
            source="batch",
            scores=scored.shown,
            act=act,
            fallback=used_fallback,
            flags=flags,
        )
        # Category features join as Arrow text (no Python object per value), in the model's order.
        for name, text in features.texts.items():
            logged = logged.append_column(FEATURE_PREFIX + name, text)
        base = [n for n in logged.column_names if not n.startswith(FEATURE_PREFIX)]
        return result, logged.select(base + [FEATURE_PREFIX + f for f in scorer.features])


def _refused_rows(
    bad: pa.Table, fields: list[list[str]], deployed: Deployed, project: str
) -> pa.Table:
    """Quarantined rows as the log keeps refused records: the fields at fault, never the values."""
    rows = bad.num_rows
    entity = deployed.entity
    return pa.table(
        {
            "prediction_id": prediction_ids(rows),
            "project": pa.array([project] * rows, pa.string()),
            "version": pa.array([deployed.number] * rows, pa.int32()),
            "source": pa.array(["batch"] * rows, pa.string()),
            "entity": pc.cast(bad.column(entity), pa.string())
            if entity and entity in bad.column_names
            else pa.nulls(rows, pa.string()),
            "problems": pa.array(fields, pa.list_(pa.string())),
        }
    )


def _predicted(blocks: list[Future[np.ndarray]]) -> np.ndarray:
    """A chunk's raw scores, once the workers are done with its blocks."""
    return np.concatenate([block.result() for block in blocks])


def _empty_result(schema: pa.Schema, deployed: Deployed, *, explain: bool) -> pa.Table:
    """The output's columns with no rows: an all-quarantined input still leaves a readable file."""
    classification = deployed.scorer.task == "classification"
    fields = [
        *schema,
        pa.field("prediction_id", pa.string()),
        pa.field("version", pa.int32()),
        pa.field("score" if classification else "value", pa.float64()),
        *(
            [pa.field("decision", pa.string()), pa.field("fallback", pa.bool_())]
            if classification
            else []
        ),
        pa.field("flags", pa.list_(pa.string())),
        *([pa.field("reasons", pa.list_(pa.string()))] if explain else []),
    ]
    return pa.schema(fields).empty_table()


class _Writer:
    """Writes chunks to one Parquet or CSV file (by suffix), opened at the first chunk."""

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise UsageError(f"{path}: write scores to a .parquet or .csv file.")
        self.path = path
        self.csv = suffix == ".csv"
        self.writer: Any = None
        self.schema: pa.Schema | None = None
        self.written = 0

    def write(self, table: pa.Table) -> None:
        if self.csv:
            table = _for_csv(table)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.schema = table.schema
            self.writer = (
                pacsv.CSVWriter(str(self.path), table.schema)
                if self.csv
                else pq.ParquetWriter(str(self.path), table.schema)
            )
        elif table.schema != self.schema:
            table = table.cast(self.schema)
        self.writer.write_table(table)
        self.written += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _for_csv(table: pa.Table) -> pa.Table:
    """Lists (flags, reasons) become text joined by '; ', which CSV can hold."""
    for index, field in enumerate(table.schema):
        if pa.types.is_list(field.type):
            joined = pc.binary_join(table.column(index), "; ")
            table = table.set_column(index, field.name, joined)
    return table
