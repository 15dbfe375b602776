"""Open a charter's data: every source in one DuckDB connection, joined by the charter's query."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from charter.data._databases import load_database
from charter.data._dataset import DATASET, Dataset, SourceInfo, quote_identifier
from charter.data._files import Origin, duckdb_message, load_file
from charter.errors import DataSourceError
from charter.spec import Charter, DatabaseSource, FileSource

__all__ = ["check_columns", "open_dataset", "read_file"]

_SHOWN_COLUMNS = 40


def open_dataset(charter: Charter, *, base_dir: Path) -> Dataset:
    """Load the charter's sources and expose their join as the view `dataset`.

    Each source becomes a relation named after it; `data.query` (SQL over those names) defines
    `dataset`, or, with a single source and no query, `dataset` is that source. Relative paths
    resolve against `base_dir` (the charter's folder). Raises DataSourceError when a source
    cannot be read, the query fails, or the target or another named column is not in the data.

    Example:
        >>> charter = load_charter("charter.yaml")  # doctest: +SKIP
        >>> dataset = open_dataset(charter, base_dir=Path("."))  # doctest: +SKIP
        >>> dataset.num_rows
        7043
    """
    spec = charter.data
    if DATASET in spec.sources:
        raise DataSourceError(
            f"source name {DATASET!r} is reserved for the joined data; rename the source under "
            "data.sources (and in data.query)"
        )
    connection = _connect()
    try:
        infos = [
            _load_source(connection, name, source, base_dir=base_dir)
            for name, source in spec.sources.items()
        ]
        _create_dataset_view(connection, spec.query, list(spec.sources))
        dataset = Dataset(connection, infos)
        check_columns(charter, dataset.columns)
    except BaseException:
        connection.close()
        raise
    return dataset


def read_file(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 - mirrors FileSource.format
    delimiter: str | None = None,
    quote: str | None = None,
    encoding: str | None = None,
    header: bool | None = None,
    name: str | None = None,
) -> Dataset:
    """Open one file (or glob) as a Dataset; the CSV dialect is detected unless given.

    The source is named after the file (`name` overrides); `dataset` is the file itself.

    Example:
        >>> read_file("customers.csv").columns  # doctest: +SKIP
        {'customer_id': 'BIGINT', 'tenure': 'BIGINT', 'churned': 'VARCHAR'}
    """
    text = os.fspath(path)
    relation = name or _relation_name(Path(text).name)
    try:
        source = FileSource.model_validate(
            {
                "path": text,
                "format": format,
                "delimiter": delimiter,
                "quote": quote,
                "encoding": encoding,
                "header": header,
            }
        )
    except ValueError as exc:
        raise DataSourceError(
            f"{text}: format must be csv, parquet or json, got {format!r}"
        ) from exc
    connection = _connect()
    try:
        origin = Origin.arguments(text)
        info = load_file(connection, relation, source, base_dir=Path.cwd(), origin=origin)
        _create_dataset_view(connection, None, [relation])
        return Dataset(connection, [info])
    except BaseException:
        connection.close()
        raise


def check_columns(charter: Charter, columns: Iterable[str]) -> None:
    """Raise DataSourceError when the target, entity, time or a sensitive column is missing."""
    present = list(columns)
    roles = [("target", charter.target), ("data.entity", charter.data.entity)]
    roles.append(("data.time", charter.data.time))
    roles += [("data.sensitive", column) for column in charter.data.sensitive]
    for role, column in roles:
        if column is None or column in present:
            continue
        shown = ", ".join(present[:_SHOWN_COLUMNS])
        if len(present) > _SHOWN_COLUMNS:
            shown += f", ... ({len(present) - _SHOWN_COLUMNS} more)"
        close = difflib.get_close_matches(column, present, n=1)
        if not close:
            close = [c for c in present if c.lower() == column.lower()]
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise DataSourceError(
            f"{role} {column!r} is not a column of the data; columns are: {shown}.{suggestion} "
            f"Fix {role} in the charter, or data.query if the column should come from a source."
        )


def _load_source(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    source: FileSource | DatabaseSource,
    *,
    base_dir: Path,
) -> SourceInfo:
    if isinstance(source, DatabaseSource):
        return load_database(connection, name, source, base_dir=base_dir)
    return load_file(connection, name, source, base_dir=base_dir)


def _create_dataset_view(
    connection: duckdb.DuckDBPyConnection, query: str | None, names: list[str]
) -> None:
    if query is None:
        if len(names) > 1:
            raise DataSourceError(
                f"the charter has {len(names)} sources ({', '.join(names)}) but no data.query to "
                "combine them; add one, e.g. data.query: select * from "
                f"{names[0]} join {names[1]} using (<key column>)"
            )
        connection.execute(f"CREATE VIEW {DATASET} AS SELECT * FROM {quote_identifier(names[0])}")
        return
    body = query.strip().rstrip(";").strip()
    try:
        statements = duckdb.extract_statements(body)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise DataSourceError(
                "data.query must be a single SELECT statement over the sources "
                f"({', '.join(names)}), e.g. select * from {names[0]}"
            )
        # Bound on its own first, so DuckDB's line and caret point into the user's query.
        connection.sql(body)
        connection.execute(f"CREATE VIEW {DATASET} AS {body}")
        connection.execute(f"DESCRIBE {DATASET}")
    except duckdb.Error as exc:
        raise DataSourceError(
            f"data.query failed:\n{duckdb_message(exc)}\n"
            f"The query can use the sources {', '.join(names)} by name; fix data.query in the "
            "charter."
        ) from exc


def _connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    # DuckDB draws a progress bar on the terminal for long queries; charter reports its own.
    connection.execute("SET enable_progress_bar = false")
    return connection


def _relation_name(filename: str) -> str:
    stem = filename.split(".", 1)[0]
    cleaned = re.sub(r"\W+", "_", stem).strip("_") or "data"
    if cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return "dataset_file" if cleaned == DATASET else cleaned
