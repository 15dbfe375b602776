"""Helpers for audit tests: an AuditContext built from an Arrow table and a minimal charter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pytest

from charter.audit import AuditContext, profile_dataset
from charter.data import Dataset
from charter.spec import Charter

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
"""The real public datasets (see SOURCES.md there); tests using them skip when it is absent."""


def make_charter(
    *,
    target: str = "y",
    task: Literal["classification", "regression"] | None = None,
    entity: str | None = None,
    time: str | None = None,
    sensitive: Sequence[str] = (),
) -> Charter:
    """A minimal valid charter naming the given special columns."""
    return Charter.model_validate(
        {
            "project": "test",
            "target": target,
            "task": task,
            "data": {
                "sources": {"data": "data.parquet"},
                "entity": entity,
                "time": time,
                "sensitive": list(sensitive),
            },
        }
    )


def make_context(
    table: pa.Table | Dataset,
    *,
    target: str = "y",
    task: Literal["classification", "regression"] | None = None,
    entity: str | None = None,
    time: str | None = None,
    sensitive: Sequence[str] = (),
    now: datetime | None = None,
) -> AuditContext:
    """An AuditContext over `table` (an Arrow table, or a Dataset already built) and a minimal charter."""
    dataset = table if isinstance(table, Dataset) else Dataset.from_arrow(table)
    charter = make_charter(target=target, task=task, entity=entity, time=time, sensitive=sensitive)
    return AuditContext(
        charter=charter,
        dataset=dataset,
        profile=profile_dataset(dataset),
        now=now or datetime.now(UTC),
    )


def dataset_from_csv(path: Path) -> Dataset:
    """A Dataset over a CSV file read by DuckDB (dialect and types detected)."""
    import duckdb

    connection = duckdb.connect()
    literal = "'" + str(path).replace("'", "''") + "'"
    connection.execute(f"CREATE VIEW dataset AS SELECT * FROM read_csv_auto({literal})")
    return Dataset(connection, [])


@pytest.fixture(name="make_context")
def _make_context_fixture() -> Callable[..., AuditContext]:
    """The `make_context` helper, as a fixture for tests that prefer not to import conftest."""
    return make_context


@pytest.fixture
def data_dir() -> Path:
    """The real datasets folder; skips the test when it is absent."""
    if not DATA_DIR.exists():
        pytest.skip(f"real datasets not found at {DATA_DIR}")
    return DATA_DIR
