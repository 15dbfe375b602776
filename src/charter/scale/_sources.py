"""A charter's data as a Dask dataframe: files, globs, folders, fsspec URLs or database key ranges,
each partition read on a worker with the types the single-machine path would give it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from charter.data import check_columns, quote_identifier, redact_url
from charter.data._databases import fetch_arrow, parse_url
from charter.data._files import FOLDER_PATTERNS, file_scans
from charter.errors import DataSourceError, UsageError
from charter.spec import Charter, DatabaseSource, FileSource

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = [
    "PARTITION_ROWS",
    "ClusterData",
    "as_arrow",
    "read_charter_data",
    "read_location",
]

PARTITION_ROWS = 250_000
"""Rows aimed for in one partition: small enough for a modest worker, large enough to be fast."""

_PROBE_ROWS = 1000


class _Piece(Protocol):
    def read(self) -> pa.Table: ...


@dataclass(frozen=True)
class _ParquetPiece:
    """Some row groups of one Parquet file (a path or any fsspec URL)."""

    location: str
    row_groups: tuple[int, ...]
    schema: pa.Schema

    def read(self) -> pa.Table:
        import fsspec

        with fsspec.open(self.location, "rb") as handle:
            table = pq.ParquetFile(handle).read_row_groups(list(self.row_groups))
        return _conform(table, self.schema)


@dataclass(frozen=True)
class _CsvPiece:
    """One CSV file at an fsspec URL, read by Arrow with the first file's column types."""

    location: str
    schema: pa.Schema

    def read(self) -> pa.Table:
        import fsspec
        import pyarrow.csv as pacsv

        options = pacsv.ConvertOptions(column_types=self.schema)
        with fsspec.open(self.location, "rb", compression="infer") as handle:
            return _conform(pacsv.read_csv(handle, convert_options=options), self.schema)


@dataclass(frozen=True)
class _ScanPiece:
    """One text file read by DuckDB with every column's type pinned."""

    scan: str
    schema: pa.Schema

    def read(self) -> pa.Table:
        with duckdb.connect() as connection:
            table = connection.sql(f"SELECT * FROM {self.scan}").to_arrow_table()
        return _conform(table, self.schema)


@dataclass(frozen=True)
class _QueryPiece:
    """One key range of a database query."""

    name: str
    url: str
    query: str
    schema: pa.Schema

    def read(self) -> pa.Table:
        return _conform(fetch_arrow(self.name, sa.make_url(self.url), self.query), self.schema)


@dataclass(frozen=True)
class ClusterData:
    """A source spread over a cluster: the Dask dataframe, its Arrow schema, and what it is."""

    frame: dd.DataFrame
    schema: pa.Schema
    description: str  # "12 Parquet files in 40 partitions"

    @property
    def partitions(self) -> int:
        return int(self.frame.npartitions)


def read_charter_data(charter: Charter, *, base_dir: Path) -> ClusterData:
    """The charter's one data source, read partition by partition on the cluster.

    Sources joined by `data.query` are read on one machine only: the message says so.
    """
    sources = charter.data.sources
    if len(sources) > 1 or charter.data.query:
        raise UsageError(
            "data.sources: a cluster reads one source, and this charter joins "
            f"{len(sources)} ({', '.join(sources)}) with data.query. Write the joined data to "
            "a Parquet folder once and name it as the only source, or run without --cluster."
        )
    ((name, source),) = sources.items()
    if isinstance(source, DatabaseSource):
        data = _database(name, source, base_dir=base_dir)
    else:
        data = _files(name, source, base_dir=base_dir)
    check_columns(charter, data.schema.names)
    return data


def read_location(location: str, *, base_dir: Path, name: str = "input") -> ClusterData:
    """A file, folder, glob or fsspec URL (CSV, Parquet or JSON lines) as a cluster dataframe."""
    return _files(name, FileSource(path=location), base_dir=base_dir)


def as_arrow(partition: pd.DataFrame) -> pa.Table:
    """A partition back as Arrow, with the types it was read with (and no pandas metadata)."""
    return pa.Table.from_pandas(partition, preserve_index=False).replace_schema_metadata(None)


def _files(name: str, source: FileSource, *, base_dir: Path) -> ClusterData:
    if _is_url(source.path):
        return _remote(name, source.path)
    fmt, files_or_scans, columns = file_scans(name, source, base_dir=base_dir)
    if fmt == "parquet":
        return _parquet(files_or_scans)
    schema = _schema_of(columns)
    pieces: list[_Piece] = [_ScanPiece(scan, schema) for scan in files_or_scans]
    label = "CSV" if fmt == "csv" else "JSON-lines"
    count = len(pieces)
    return _frame(pieces, schema, f"{count} {label} file{'s' if count != 1 else ''}")


def _is_url(path: str) -> bool:
    return "://" in path


def _parquet(files: Sequence[str]) -> ClusterData:
    schema = _readable(pq.read_schema(files[0]))
    pieces: list[_Piece] = []
    for file in files:
        pieces.extend(_row_group_pieces(file, pq.ParquetFile(file).metadata, schema))
    count = len(files)
    return _frame(pieces, schema, f"{count} Parquet file{'s' if count != 1 else ''}")


def _remote(name: str, url: str) -> ClusterData:
    """Parquet or CSV at an fsspec URL: one file, a glob, or a folder (its files, nested too)."""
    import fsspec

    try:
        filesystem, path = fsspec.core.url_to_fs(url)
        if any(c in path for c in "*?["):
            matches = sorted(filesystem.glob(path))
        elif filesystem.isdir(path):
            matches = []
            for pattern in FOLDER_PATTERNS[:3]:
                matches = sorted(filesystem.glob(f"{path.rstrip('/')}/**/{pattern}"))
                if matches:
                    break
        else:
            matches = [path]
    except (ImportError, ValueError, OSError) as exc:
        raise DataSourceError(f"source {name!r}: cannot list {url}: {exc}") from exc
    parquet = [m for m in matches if str(m).endswith(".parquet")]
    text = [m for m in matches if str(m).endswith((".csv", ".csv.gz"))]
    files = [filesystem.unstrip_protocol(p) for p in parquet or text]
    if not files:
        raise DataSourceError(
            f"source {name!r}: no Parquet or CSV file at {url}; name a file, a folder or a glob "
            "of .parquet or .csv files"
        )
    count = f"{len(files)} {'Parquet' if parquet else 'CSV'} file{'s' if len(files) != 1 else ''}"
    if not parquet:
        columns = _csv_schema(files[0])
        return _frame([_CsvPiece(file, columns) for file in files], columns, count)
    schema: pa.Schema | None = None
    pieces: list[_Piece] = []
    for file in files:
        with fsspec.open(file, "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
        schema = schema or _readable(metadata.schema.to_arrow_schema())
        pieces.extend(_row_group_pieces(file, metadata, schema))
    assert schema is not None
    return _frame(pieces, schema, count)


def _csv_schema(url: str) -> pa.Schema:
    """The column types Arrow reads from the first file, applied to every file."""
    import fsspec
    import pyarrow.csv as pacsv

    with fsspec.open(url, "rb", compression="infer") as handle:
        schema = pacsv.read_csv(handle).schema
    return pa.schema(
        [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in _readable(schema)]
    )


def _row_group_pieces(location: str, metadata: pq.FileMetaData, schema: pa.Schema) -> list[_Piece]:
    pieces: list[_Piece] = []
    group: list[int] = []
    rows = 0
    for index in range(metadata.num_row_groups):
        group.append(index)
        rows += metadata.row_group(index).num_rows
        if rows >= PARTITION_ROWS:
            pieces.append(_ParquetPiece(location, tuple(group), schema))
            group, rows = [], 0
    if group or not pieces:
        pieces.append(_ParquetPiece(location, tuple(group), schema))
    return pieces


def _database(name: str, source: DatabaseSource, *, base_dir: Path) -> ClusterData:
    url = parse_url(name, source.url, base_dir=base_dir)
    key = source.partition_by
    inner = f"({source.query}) AS charter_source"
    probe = fetch_arrow(name, url, f"SELECT * FROM {inner} LIMIT {_PROBE_ROWS}")
    schema = _readable(probe.schema)
    plain = url.render_as_string(hide_password=False)
    if key is None:
        pieces: list[_Piece] = [_QueryPiece(name, plain, source.query, schema)]
        return _frame(pieces, schema, f"one query on {redact_url(url)} (no partition_by)")
    if key not in schema.names:
        raise DataSourceError(
            f"source {name!r}: data.sources.{name}.partition_by names {key!r}, which the query "
            f"does not return; it returns {', '.join(schema.names[:20])}"
        )
    column = quote_identifier(key)
    count, low, high = _key_range(
        name, url, f"SELECT count(*), min({column}), max({column}) FROM {inner}"
    )
    parts = max(1, math.ceil(count / PARTITION_ROWS))
    bounds = _bounds(low, high, parts, where=f"data.sources.{name}.partition_by ({key!r})")
    pieces = []
    for index, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
        upper = "<=" if index == len(bounds) - 2 else "<"
        condition = f"{column} >= {_literal(start)} AND {column} {upper} {_literal(end)}"
        pieces.append(_QueryPiece(name, plain, f"SELECT * FROM {inner} WHERE {condition}", schema))
    pieces.append(_QueryPiece(name, plain, f"SELECT * FROM {inner} WHERE {column} IS NULL", schema))
    return _frame(
        pieces, schema, f"{count:,} rows of {redact_url(url)} in {parts} key ranges of {key!r}"
    )


def _key_range(name: str, url: sa.URL, query: str) -> tuple[int, Any, Any]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.text(query)).one()
    except SQLAlchemyError as exc:
        raise DataSourceError(
            f"source {name!r} ({redact_url(url)}): cannot read the partition key's range: "
            f"{getattr(exc, 'orig', exc)}"
        ) from exc
    finally:
        engine.dispose()
    return int(row[0]), row[1], row[2]


def _bounds(low: Any, high: Any, parts: int, *, where: str) -> list[Any]:
    """`parts` + 1 ascending bounds from `low` to `high` (numbers, dates or timestamps)."""
    if low is None:
        return [0, 0]
    if isinstance(low, datetime | date):
        span: timedelta = high - low
        return [low + span * i / parts for i in range(parts)] + [high]
    if isinstance(low, int | float) and not isinstance(low, bool):
        return [low + (high - low) * i / parts for i in range(parts)] + [high]
    raise UsageError(
        f"{where} must be a number, a date or a timestamp column; it holds {type(low).__name__}"
    )


def _literal(value: Any) -> str:
    if isinstance(value, datetime | date):
        return f"'{value.isoformat(sep=' ') if isinstance(value, datetime) else value.isoformat()}'"
    return repr(value)


def _frame(pieces: Sequence[_Piece], schema: pa.Schema, what: str) -> ClusterData:
    import dask.dataframe as dd
    import pandas as pd

    meta = schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    frame = dd.from_map(_read, list(pieces), meta=meta, enforce_metadata=False)
    count = frame.npartitions
    return ClusterData(frame, schema, f"{what} in {count} partition{'s' if count != 1 else ''}")


def _read(piece: _Piece) -> pd.DataFrame:
    import pandas as pd

    return piece.read().to_pandas(types_mapper=pd.ArrowDtype)


def _schema_of(columns: Sequence[tuple[str, str]]) -> pa.Schema:
    """The Arrow schema DuckDB gives columns of these types (from an empty read)."""
    with duckdb.connect() as connection:
        casts = ", ".join(f"CAST(NULL AS {t}) AS {quote_identifier(n)}" for n, t in columns)
        return _readable(connection.sql(f"SELECT {casts} LIMIT 0").to_arrow_table().schema)


def _readable(schema: pa.Schema) -> pa.Schema:
    """Dictionary columns as their values, so every partition shares one plain schema."""
    fields = [
        field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
        for field in schema
    ]
    return pa.schema(fields)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A piece in the source's schema: its columns in order, missing ones null, types cast."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
