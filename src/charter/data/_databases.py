"""Database sources: a query through SQLAlchemy, fetched in batches into Arrow, kept in DuckDB."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from charter.data._dataset import SourceInfo, quote_identifier
from charter.errors import DataSourceError
from charter.spec import DatabaseSource

__all__ = ["BATCH_ROWS", "fetch_arrow", "load_database", "parse_url", "redact_url"]

BATCH_ROWS = 50_000
"""Rows fetched from the database per round trip and converted to Arrow at a time."""

_CONNECT_TIMEOUT_S = 10
# SQLAlchemy's text() reads ":name" as a bind parameter; escape them so a query is sent as is.
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


def redact_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ***, safe to print."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except ArgumentError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))
    return parsed.render_as_string(hide_password=True)


def parse_url(name: str, url: str, *, base_dir: Path) -> URL:
    """Parse a source's URL; postgresql:// uses psycopg 3, relative SQLite paths use base_dir."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise DataSourceError(
            f"source {name!r}: data.sources.{name}.url {redact_url(url)!r} is not a database "
            "URL; expected e.g. postgresql://user@host/db or sqlite:///data/app.db"
        ) from exc
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            if not path.is_absolute():
                path = base_dir / path
            if not path.is_file():
                raise DataSourceError(
                    f"source {name!r}: SQLite database file not found: {path} "
                    f"(data.sources.{name}.url is {redact_url(url)!r}). Check the path."
                )
            parsed = parsed.set(database=str(path))
    return parsed


def load_database(
    connection: duckdb.DuckDBPyConnection, name: str, source: DatabaseSource, *, base_dir: Path
) -> SourceInfo:
    """Run the source's query and keep its result as the DuckDB table `name`."""
    url = parse_url(name, source.url, base_dir=base_dir)
    table = fetch_arrow(name, url, source.query)
    view = f"_charter_fetched_{name}"
    connection.register(view, table)
    try:
        connection.execute(
            f"CREATE OR REPLACE TABLE {quote_identifier(name)} AS SELECT * FROM {view}"
        )
    finally:
        connection.unregister(view)
    described = connection.execute(f"DESCRIBE {quote_identifier(name)}").fetchall()
    columns = tuple((str(c[0]), str(c[1])) for c in described)
    return SourceInfo(name, "database", redact_url(url), table.num_rows, columns)


def fetch_arrow(name: str, url: URL, query: str, *, batch_rows: int = BATCH_ROWS) -> pa.Table:
    """The query's result as an Arrow table, fetched `batch_rows` at a time.

    Raises DataSourceError naming the source and the URL (password hidden) when the database
    cannot be reached, and quoting the database's message when the query fails.
    """
    where = f"source {name!r} ({redact_url(url)})"
    try:
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=_connect_args(url))
    except (NoSuchModuleError, ImportError) as exc:
        raise DataSourceError(
            f"{where}: no driver for {url.drivername!r} is installed ({_clean(exc, url)}). "
            "Install the database's Python driver, e.g. `pip install psycopg[binary]` for "
            "PostgreSQL."
        ) from exc
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as exc:
            raise DataSourceError(
                f"{where}: cannot connect to the database: {_clean(exc, url)}\n"
                "Check that the server is running and reachable, and the user, password and "
                f"database name in data.sources.{name}.url."
            ) from exc
        with connection:
            try:
                result = connection.execution_options(yield_per=batch_rows).execute(
                    sa.text(_BIND.sub(r"\\:\1", query))
                )
                names = list(result.keys())
                _check_names(where, name, names)
                columns: list[list[pa.Array]] = [[] for _ in names]
                for batch in result.partitions(batch_rows):
                    for index, values in enumerate(zip(*batch, strict=True)):
                        columns[index].append(_to_arrow(values))
            except SQLAlchemyError as exc:
                raise DataSourceError(
                    f"{where}: the query in data.sources.{name}.query failed:\n{_clean(exc, url)}"
                ) from exc
    finally:
        engine.dispose()
    return pa.table({n: _combine(chunks) for n, chunks in zip(names, columns, strict=True)})


def _connect_args(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql":
        return {"connect_timeout": _CONNECT_TIMEOUT_S}
    return {}


def _check_names(where: str, name: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for column in names:
        if column in seen:
            raise DataSourceError(
                f"{where}: the query returns two columns named {column!r}; give them distinct "
                f"names with AS in data.sources.{name}.query"
            )
        seen.add(column)


def _to_arrow(values: Sequence[Any]) -> pa.Array:
    """One batch of one column as Arrow; values Arrow cannot type together become text."""
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, dict | list):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values])
    if isinstance(sample, Decimal):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _combine(chunks: Iterable[pa.Array]) -> pa.ChunkedArray:
    """Join a column's batches, whose types may differ (a batch of nulls, ints then floats)."""
    arrays = list(chunks)
    types = {a.type for a in arrays if not pa.types.is_null(a.type)}
    if not types:
        target: pa.DataType = pa.string()
    elif len(types) == 1:
        target = types.pop()
    elif all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        target = pa.float64()
    else:
        target = pa.string()
    return pa.chunked_array([a.cast(target) for a in arrays], type=target)


def _clean(exc: BaseException, url: URL) -> str:
    """The driver's own message, without SQLAlchemy's wrapping, and never the password."""
    original = getattr(exc, "orig", None)
    message = str(original if original is not None else exc).strip()
    if url.password:
        message = message.replace(str(url.password), "***")
    return message
