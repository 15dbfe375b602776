"""The project's data as a DuckDB relation: scanned where it lies, loaded only when needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["DATASET", "Dataset", "SourceInfo", "quote_identifier"]

DATASET = "dataset"
"""Name of the view that holds the joined data inside a Dataset's DuckDB connection."""


@dataclass(frozen=True)
class SourceInfo:
    """One source as it loaded: its name, where it came from, and its shape."""

    name: str
    kind: str  # "file" or "database"
    location: str  # a path, or a database URL with the password removed
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)


class Dataset:
    """Data behind a DuckDB connection, exposed as the view `dataset`.

    Each source is a view (files, scanned in place) or a table (database results) named after
    the source; `dataset` is the charter's query over them, or the single source itself.
    Statistics run as SQL on the connection; models take a sample with `to_arrow`.
    """

    def __init__(
        self, connection: duckdb.DuckDBPyConnection, sources: Sequence[SourceInfo]
    ) -> None:
        self.connection = connection
        self.sources = {s.name: s for s in sources}
        _present_zoned_times_in_utc(connection)
        described = connection.execute(f"DESCRIBE {DATASET}").fetchall()
        self.columns: dict[str, str] = {row[0]: row[1] for row in described}
        self._num_rows: int | None = None

    @classmethod
    def from_arrow(cls, table: pa.Table, *, name: str = "data") -> Dataset:
        """Wrap an in-memory Arrow table (tests, the Python API, database results)."""
        connection = duckdb.connect()
        connection.register(f"_{name}_arrow", table)
        connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}_arrow"')
        connection.execute(f'CREATE VIEW {DATASET} AS SELECT * FROM "{name}"')
        info = SourceInfo(
            name, "memory", "<in memory>", table.num_rows, _describe(connection, name)
        )
        return cls(connection, [info])

    @property
    def num_rows(self) -> int:
        if self._num_rows is None:
            row = self.connection.execute(f"SELECT count(*) FROM {DATASET}").fetchone()
            self._num_rows = int(row[0]) if row else 0
        return self._num_rows

    def sql(self, query: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query on the connection and return its rows."""
        return self.connection.execute(query, parameters or []).fetchall()

    def to_arrow(
        self, columns: Sequence[str] | None = None, *, max_rows: int | None = None, seed: int = 0
    ) -> pa.Table:
        """The data as Arrow: all rows, or a reproducible random sample of at most `max_rows`."""
        selected = ", ".join(quote_identifier(c) for c in columns) if columns else "*"
        query = f"SELECT {selected} FROM {DATASET}"
        if max_rows is not None and self.num_rows > max_rows:
            query += f" USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE ({int(seed)})"
        return self.connection.sql(query).to_arrow_table()


def _present_zoned_times_in_utc(connection: duckdb.DuckDBPyConnection) -> None:
    """Show time-zoned timestamps as plain UTC timestamps, so every check compares like with like
    (and DuckDB need not import pytz to hand them to Python)."""
    zoned = [
        row[0]
        for row in connection.execute(f"DESCRIBE {DATASET}").fetchall()
        if row[1] == "TIMESTAMP WITH TIME ZONE"
    ]
    if not zoned:
        return
    replaced = ", ".join(
        f"timezone('UTC', {quote_identifier(c)}) AS {quote_identifier(c)}" for c in zoned
    )
    connection.execute(f"ALTER VIEW {DATASET} RENAME TO {DATASET}_zoned")
    connection.execute(
        f"CREATE VIEW {DATASET} AS SELECT * REPLACE ({replaced}) FROM {DATASET}_zoned"
    )


def _describe(connection: duckdb.DuckDBPyConnection, relation: str) -> tuple[tuple[str, str], ...]:
    return tuple((r[0], r[1]) for r in connection.execute(f'DESCRIBE "{relation}"').fetchall())


def quote_identifier(identifier: str) -> str:
    """Quote a column or table name for DuckDB SQL."""
    return '"' + identifier.replace('"', '""') + '"'
