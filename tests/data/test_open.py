from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.data import DATASET, check_columns, open_dataset
from charter.errors import DataSourceError
from charter.spec import Charter


def make_charter(sources: dict, *, query: str | None = None, target: str = "churned", **data):
    return Charter.model_validate(
        {
            "project": "t",
            "target": target,
            "data": {"sources": sources, "query": query, **data},
        }
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text(
        "customer_id,plan,churned\n1,monthly,yes\n2,yearly,no\n3,monthly,no\n"
    )
    pq.write_table(
        pa.table({"customer_id": [1, 1, 2, 3], "minutes": [10.0, 5.0, 7.5, 1.0]}),
        tmp_path / "data" / "usage.parquet",
    )
    return tmp_path


JOIN = (
    "select c.*, u.total_minutes from customers c "
    "join (select customer_id, sum(minutes) as total_minutes from usage group by 1) u "
    "using (customer_id)"
)


def test_single_source_is_the_dataset(folder):
    dataset = open_dataset(make_charter({"customers": "data/customers.csv"}), base_dir=folder)
    assert dataset.columns == {"customer_id": "BIGINT", "plan": "VARCHAR", "churned": "VARCHAR"}
    assert dataset.num_rows == 3
    assert dataset.sources["customers"].location == str(folder / "data" / "customers.csv")


def test_two_sources_are_joined_by_the_query(folder):
    charter = make_charter(
        {"customers": "data/customers.csv", "usage": "data/usage.parquet"}, query=JOIN
    )
    dataset = open_dataset(charter, base_dir=folder)
    assert list(dataset.columns) == ["customer_id", "plan", "churned", "total_minutes"]
    got = dict(dataset.sql(f"select customer_id, total_minutes from {DATASET}"))
    assert got == {1: 15.0, 2: 7.5, 3: 1.0}
    assert {n: s.rows for n, s in dataset.sources.items()} == {"customers": 3, "usage": 4}
    # each source stays queryable by name
    assert dataset.sql("select count(*) from usage") == [(4,)]


def test_a_file_and_a_database_can_be_joined(folder):
    with sqlite3.connect(folder / "crm.db") as connection:
        connection.execute("create table region (customer_id int, region text)")
        connection.executemany("insert into region values (?, ?)", [(1, "n"), (2, "s"), (3, "n")])
    connection.close()
    charter = make_charter(
        {
            "customers": "data/customers.csv",
            "regions": {"url": "sqlite:///crm.db", "query": "select * from region"},
        },
        query="select * from customers join regions using (customer_id) order by customer_id",
    )
    dataset = open_dataset(charter, base_dir=folder)
    assert dataset.sql("select region from dataset") == [("n",), ("s",), ("n",)]


def test_file_options_from_the_charter_are_used(tmp_path):
    (tmp_path / "d.txt").write_text("a|churned\n1|x\n")
    sources = {"d": {"path": "d.txt", "format": "csv", "delimiter": "|", "header": True}}
    dataset = open_dataset(make_charter(sources), base_dir=tmp_path)
    assert dataset.columns == {"a": "BIGINT", "churned": "VARCHAR"}


def test_several_sources_without_a_query_ask_for_one(folder):
    charter = make_charter({"customers": "data/customers.csv", "usage": "data/usage.parquet"})
    with pytest.raises(DataSourceError, match="2 sources.*no data.query.*add one"):
        open_dataset(charter, base_dir=folder)


def test_missing_file_names_source_and_resolved_path(folder):
    charter = make_charter({"customers": "data/customers.csv", "usage": "data/nope.parquet"})
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=folder)
    message = str(error.value)
    assert "source 'usage'" in message
    assert str(folder / "data" / "nope.parquet") in message
    assert "data.sources.usage.path is 'data/nope.parquet'" in message


def test_unreadable_csv_names_the_charter_keys_to_set(folder):
    (folder / "data" / "bad.csv").write_bytes("a,churned\n1,\x81x\n".encode("latin-1"))
    charter = make_charter({"bad": {"path": "data/bad.csv", "encoding": "utf-8"}})
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=folder)
    message = str(error.value)
    assert "source 'bad'" in message and "not utf-8 encoded" in message
    assert "under data.sources.bad" in message


@pytest.mark.parametrize(
    ("query", "duckdb_says"),
    [
        ("selec * from customers", 'syntax error at or near "selec"'),
        ("select * from customer", "Table with name customer does not exist"),
        ("select nope from customers", 'Referenced column "nope" not found'),
    ],
)
def test_bad_query_quotes_duckdb_and_names_data_query(folder, query, duckdb_says):
    charter = make_charter({"customers": "data/customers.csv"}, query=query)
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=folder)
    message = str(error.value)
    assert "data.query" in message and duckdb_says in message
    assert "customers" in message  # the sources it can use


def test_query_error_points_into_the_users_query(folder):
    charter = make_charter({"customers": "data/customers.csv"}, query="selec * from customers")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=folder)
    assert "LINE 1: selec * from customers" in str(error.value)


def test_query_must_be_a_select_and_is_not_run_otherwise(folder):
    charter = make_charter({"customers": "data/customers.csv"}, query="drop table customers")
    with pytest.raises(DataSourceError, match="single SELECT statement"):
        open_dataset(charter, base_dir=folder)


def test_trailing_semicolon_is_accepted(folder):
    charter = make_charter({"customers": "data/customers.csv"}, query="select * from customers;")
    assert open_dataset(charter, base_dir=folder).num_rows == 3


def test_missing_target_lists_the_columns(folder):
    charter = make_charter({"customers": "data/customers.csv"}, target="churn")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=folder)
    message = str(error.value)
    assert (
        "target 'churn' is not a column of the data; columns are: customer_id, plan, churned"
        in (message)
    )
    assert "Did you mean 'churned'?" in message


@pytest.mark.parametrize(
    ("role", "data"),
    [
        ("data.entity", {"entity": "client"}),
        ("data.time", {"time": "snapshot"}),
        ("data.sensitive", {"sensitive": ["plan", "gender"]}),
    ],
)
def test_missing_special_columns_are_named(folder, role, data):
    charter = make_charter({"customers": "data/customers.csv"}, **data)
    with pytest.raises(DataSourceError, match=rf"^{role} '\w+' is not a column of the data"):
        open_dataset(charter, base_dir=folder)


def test_present_special_columns_pass(folder):
    charter = make_charter(
        {"customers": "data/customers.csv"}, entity="customer_id", sensitive=["plan"]
    )
    check_columns(charter, ["customer_id", "plan", "churned"])


def test_long_column_lists_are_shortened():
    charter = make_charter({"d": "d.csv"}, target="zzz")
    columns = [f"c{i}" for i in range(100)]
    with pytest.raises(DataSourceError, match=r"c39, \.\.\. \(60 more\)"):
        check_columns(charter, columns)


def test_source_named_dataset_is_refused(folder):
    charter = make_charter({"dataset": "data/customers.csv"})
    with pytest.raises(DataSourceError, match="'dataset' is reserved"):
        open_dataset(charter, base_dir=folder)
