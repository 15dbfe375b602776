"""Sources read on the cluster hold exactly the rows and types the single-machine path reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from charter.data import read_file
from charter.errors import DataSourceError, UsageError
from charter.scale import (
    _sources,
    as_arrow,
    cluster_option,
    parse_cluster,
    read_charter_data,
    read_location,
)
from charter.spec import Charter


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": pa.array(np.arange(rows) + seed * rows),
            "amount": rng.normal(100, 20, rows),
            "plan": pa.array(rng.choice(["basic", "plus", "pro"], rows)).dictionary_encode(),
            "signed": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 365, rows)).cast(
                pa.date32()
            ),
            "answer": pa.array(rng.choice(["yes", "no"], rows)),
        }
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for index in range(3):
        table = _table(700, index)
        pq.write_table(table, tmp_path / f"part{index}.parquet", row_group_size=200)
        table.to_pandas().to_csv(tmp_path / f"part{index}.csv", index=False)
    return tmp_path


def _collected(frame) -> pa.Table:  # type: ignore[no-untyped-def]
    return as_arrow(frame.compute()).sort_by("id")


@pytest.mark.parametrize("pattern", ["*.parquet", "*.csv"])
def test_files_read_on_workers_equal_the_single_machine_read(dask_client, folder, pattern):
    data = read_location(str(folder / pattern), base_dir=folder)
    local = read_file(str(folder / pattern)).to_arrow().sort_by("id")
    assert _collected(data.frame).equals(local.cast(data.schema))
    assert data.schema == local.schema or pattern == "*.parquet"  # Parquet keeps int64 codes
    assert data.partitions >= 3


def test_a_folder_stands_for_its_parquet_files_and_row_groups_make_partitions(
    dask_client, folder, monkeypatch
):
    monkeypatch.setattr(_sources, "PARTITION_ROWS", 400)
    data = read_location(str(folder), base_dir=folder)
    assert data.partitions == 6  # 700 rows in groups of 200: two pieces of 400 and 300 per file
    assert "3 Parquet files" in data.description
    assert len(data.frame) == 2100
    assert str(data.schema.field("plan").type) == "string"  # dictionaries read as plain values


def test_an_fsspec_url_reads_parquet(dask_client, folder):
    data = read_location(f"file://{folder}/*.parquet", base_dir=Path("/"))
    assert len(data.frame) == 2100


def test_an_fsspec_url_reads_csv_with_the_types_read_on_one_machine(dask_client, folder):
    csv = folder / "csv"
    csv.mkdir()
    for part in folder.glob("*.csv"):
        part.rename(csv / part.name)
    data = read_location(f"file://{csv}", base_dir=Path("/"))
    assert "3 CSV files" in data.description
    local = read_file(str(csv / "*.csv")).to_arrow().sort_by("id")
    assert data.schema == local.schema
    assert _collected(data.frame).equals(local)


def test_an_fsspec_url_with_no_data_file_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(DataSourceError, match="no Parquet or CSV file at file://"):
        read_location(f"file://{tmp_path}", base_dir=Path("/"))


def test_a_database_source_is_read_in_key_ranges(dask_client, tmp_path, monkeypatch):
    monkeypatch.setattr(_sources, "PARTITION_ROWS", 500)
    database = tmp_path / "app.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    frame = _table(2100, 0).to_pandas()
    frame["plan"] = frame["plan"].astype(str)
    frame.loc[5, "id"] = None  # a row whose key is unknown is still read
    frame.to_sql("accounts", engine, index=False)
    engine.dispose()
    charter = _charter(
        {"url": f"sqlite:///{database}", "query": "select * from accounts", "partition_by": "id"}
    )
    data = read_charter_data(charter, base_dir=tmp_path)
    assert data.partitions == 6  # 2,099 keyed rows in 5 ranges, and the rows with no key
    collected = as_arrow(data.frame.compute())
    assert collected.num_rows == 2100
    assert sorted(collected.column("amount").to_pylist()) == sorted(frame["amount"].tolist())


def test_a_partition_key_the_query_lacks_is_named(tmp_path):
    database = tmp_path / "app.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    _table(10, 0).to_pandas().astype({"plan": str}).to_sql("accounts", engine, index=False)
    engine.dispose()
    charter = _charter(
        {
            "url": f"sqlite:///{database}",
            "query": "select * from accounts",
            "partition_by": "account",
        }
    )
    with pytest.raises(DataSourceError, match="partition_by names 'account'"):
        read_charter_data(charter, base_dir=tmp_path)


def test_joined_sources_are_refused_with_the_way_out(tmp_path):
    charter = Charter.model_validate(
        {
            **_CHARTER,
            "data": {
                "sources": {"a": "a.csv", "b": "b.csv"},
                "query": "select * from a join b using (id)",
            },
        }
    )
    with pytest.raises(UsageError, match="Parquet folder"):
        read_charter_data(charter, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "address", "workers"),
    [
        ("local", None, None),
        ("local:4", None, 4),
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786", None),
    ],
)
def test_cluster_names(text, address, workers):
    spec = parse_cluster(text)
    assert (spec.address, spec.workers) == (address, workers)


@pytest.mark.parametrize("text", ["local:0", "dask", "tcp://host", "http://host:8786"])
def test_a_bad_cluster_name_says_what_is_expected(text):
    with pytest.raises(UsageError, match="--cluster"):
        parse_cluster(text)


def test_the_environment_names_the_cluster_when_the_option_does_not(monkeypatch):
    monkeypatch.delenv("CHARTER_DASK", raising=False)
    assert cluster_option(None) is None
    monkeypatch.setenv("CHARTER_DASK", "local:2")
    spec = cluster_option(None)
    assert spec is not None and spec.workers == 2
    assert cluster_option("local:3").workers == 3  # type: ignore[union-attr]


_CHARTER = {
    "project": "accounts",
    "problem": "which accounts to call",
    "decision": "call or not",
    "owner": "ops",
    "target": "answer",
    "success": {
        "metric": "net_value",
        "value": {
            "true_positive": 1,
            "false_positive": -1,
            "false_negative": 0,
            "true_negative": 0,
        },
    },
}


def _charter(source: dict[str, str]) -> Charter:
    return Charter.model_validate({**_CHARTER, "data": {"sources": {"accounts": source}}})
