"""Batch scoring: a file or a query in, scores out, in chunks, with every bad row kept aside.

Rows stream through in chunks (DuckDB reads files where they lie; a query streams from the
database), so files larger than memory score in constant memory. Each chunk is checked against
the version's contract: good rows are scored and written to the output; bad rows go, with the
reason, to the quarantine file. Good + quarantined rows always add up to the input. Every scored
row is logged like a served prediction (source "batch").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from charter.serving._log import PredictionLog
from charter.serving._service import Deployed, column_decisions, log_table

__all__ = ["BatchResult", "score_batch", "batches_of_file", "batches_of_query"]

CHUNK_ROWS = 100_000
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
    """(row count, chunks) of a CSV, Parquet or JSON-lines file, read by DuckDB."""
    dataset = read_file(path)

    def stream() -> Iterator[pa.RecordBatch]:
        # The generator holds `dataset`: its DuckDB connection must live while batches are read.
        yield from dataset.connection.sql(f"SELECT * FROM {DATASET}").to_arrow_reader(chunk_rows)

    return dataset.num_rows, stream()


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
            good = table.filter(pa.array(check.good)) if check.bad_rows else table
            if good.num_rows:
                result, logged = _score(
                    deployed, good, project=project, explain=explain, fallback=fallback
                )
                outputs.write(result)
                if log is not None:
                    log.append_table(logged)
                scored += good.num_rows
            if on_rows is not None:
                on_rows(table.num_rows)
        if not outputs.written and first is not None:
            outputs.write(_empty_result(first, deployed, explain=explain))
    finally:
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


def _score(
    deployed: Deployed, table: pa.Table, *, project: str, explain: bool, fallback: bool
) -> tuple[pa.Table, pa.Table]:
    scorer = deployed.scorer
    columns = scorer.columns(table)
    scored = scorer.score_columns(columns, table)
    rows = table.num_rows
    classification = scored.decisions is not None
    codes = deployed.humility.codes(columns, scored.raw if classification else None)
    flags = flag_column(codes)
    ids = prediction_ids(rows)
    act, used_fallback = column_decisions(deployed, scored, codes, table, fallback=fallback)
    decision = None
    if act is not None:
        decision = pa.array(np.where(act, "act", "no action"), type=pa.string())
    version = pa.array(np.full(rows, deployed.number, dtype=np.int32))
    score = pa.array(scored.shown, type=pa.float64())
    result = table
    for name, values in (
        ("prediction_id", ids),
        ("version", version),
        ("score" if classification else "value", score),
        ("decision", decision),
        ("fallback", pa.array(used_fallback) if classification else None),
        ("flags", flags),
    ):
        if values is not None:
            result = result.append_column(name, values)
    if explain:
        reasons = scorer.explain_columns(columns)
        result = result.append_column("reasons", pa.array(reasons, type=pa.list_(pa.string())))
    logged = log_table(
        deployed,
        table,
        columns,
        ids=ids,
        project=project,
        source="batch",
        scores=scored.shown,
        act=act,
        fallback=used_fallback,
        flags=flags,
    )
    return result, logged


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
