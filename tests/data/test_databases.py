from __future__ import annotations

import datetime
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.data import open_dataset, redact_url
from charter.data._databases import fetch_arrow, parse_url
from charter.errors import DataSourceError
from charter.spec import Charter


def charter_for(url: str, query: str, *, target: str = "y") -> Charter:
    return Charter.model_validate(
        {
            "project": "t",
            "target": target,
            "data": {"sources": {"db": {"url": url, "query": query}}},
        }
    )


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table customers (id integer, name text, spend real, y text)")
        connection.executemany(
            "insert into customers values (?, ?, ?, ?)",
            [(1, "ann", 10.5, "yes"), (2, "bob", None, "no"), (3, None, 7.25, "no")],
        )
    connection.close()
    return path


def test_sqlite_query_becomes_a_table(sqlite_file, tmp_path):
    charter = charter_for("sqlite:///app.db", "select * from customers order by id")
    dataset = open_dataset(charter, base_dir=tmp_path)  # the relative path resolves here
    assert dataset.columns == {"id": "BIGINT", "name": "VARCHAR", "spend": "DOUBLE", "y": "VARCHAR"}
    assert dataset.to_arrow().to_pylist()[1] == {"id": 2, "name": "bob", "spend": None, "y": "no"}
    info = dataset.sources["db"]
    assert info.kind == "database" and info.rows == 3
    assert info.location == f"sqlite:///{sqlite_file}"
    kinds = dict(dataset.sql("select table_name, table_type from information_schema.tables"))
    assert kinds["db"] == "BASE TABLE"


def test_query_text_is_sent_as_written(sqlite_file, tmp_path):
    query = "select '50%' as pct, 'at 12:30 :name' as t, id as y from customers where id = 1"
    dataset = open_dataset(charter_for(f"sqlite:///{sqlite_file}", query), base_dir=tmp_path)
    assert dataset.sql("select pct, t from dataset") == [("50%", "at 12:30 :name")]


def test_batches_with_nulls_and_mixed_types_are_combined(tmp_path):
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table t (late integer, mixed, widening)")
        rows = [(None, i, i) for i in range(5)] + [(i, f"s{i}", i + 0.5) for i in range(5)]
        connection.executemany("insert into t values (?, ?, ?)", rows)
    connection.close()
    url = parse_url("m", f"sqlite:///{path}", base_dir=tmp_path)
    table = fetch_arrow("m", url, "select * from t", batch_rows=3)
    assert table.num_rows == 10
    assert str(table.schema.field("late").type) == "int64"
    assert table.column("late").to_pylist() == [None] * 5 + list(range(5))
    assert str(table.schema.field("mixed").type) == "string"
    assert table.column("mixed").to_pylist()[:6] == ["0", "1", "2", "3", "4", "s0"]
    assert str(table.schema.field("widening").type) == "double"


def test_empty_result_keeps_its_columns(sqlite_file, tmp_path):
    query = "select id, name as y from customers where id < 0"
    dataset = open_dataset(charter_for(f"sqlite:///{sqlite_file}", query), base_dir=tmp_path)
    assert list(dataset.columns) == ["id", "y"] and dataset.num_rows == 0


def test_missing_sqlite_file_is_named(tmp_path):
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter_for("sqlite:///nope.db", "select 1 as y"), base_dir=tmp_path)
    assert "SQLite database file not found" in str(error.value)
    assert str(tmp_path / "nope.db") in str(error.value)
    assert "source 'db'" in str(error.value)


def test_bad_query_quotes_the_database(sqlite_file, tmp_path):
    charter = charter_for(f"sqlite:///{sqlite_file}", "select * from nowhere")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=tmp_path)
    message = str(error.value)
    assert "data.sources.db.query failed" in message
    assert "no such table: nowhere" in message
    assert "sqlalche.me" not in message  # SQLAlchemy's wrapping is dropped


def test_duplicate_column_names_ask_for_aliases(sqlite_file, tmp_path):
    charter = charter_for(f"sqlite:///{sqlite_file}", "select id, id, y from customers")
    with pytest.raises(DataSourceError, match="two columns named 'id'.*AS"):
        open_dataset(charter, base_dir=tmp_path)


def test_bad_url_is_explained(tmp_path):
    with pytest.raises(DataSourceError, match="is not a database URL"):
        open_dataset(charter_for("not a url", "select 1"), base_dir=tmp_path)


def test_missing_driver_is_explained(tmp_path):
    charter = charter_for("mysql://user:secret@127.0.0.1/db", "select 1")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=tmp_path)
    assert "no driver for 'mysql'" in str(error.value)
    assert "secret" not in str(error.value)


def test_unreachable_server_names_source_url_and_driver_message(tmp_path):
    charter = charter_for("postgresql://carol:s3cret@127.0.0.1:9/crm", "select 1")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=tmp_path)
    message = str(error.value)
    assert "source 'db'" in message
    assert "postgresql+psycopg://carol:***@127.0.0.1:9/crm" in message
    assert "cannot connect" in message and "Connection refused" in message
    assert "s3cret" not in message


def test_postgresql_urls_use_psycopg(tmp_path):
    assert parse_url("db", "postgresql://u@h/d", base_dir=tmp_path).drivername == (
        "postgresql+psycopg"
    )
    assert parse_url("db", "postgres://u@h/d", base_dir=tmp_path).drivername == (
        "postgresql+psycopg"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("postgresql://u@host/db", "postgresql://u@host/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("weird://u:pw@host/", "weird://u:***@host/"),
    ],
)
def test_redact_url_hides_passwords(url, shown):
    assert redact_url(url) == shown


@pytest.fixture
def pg_table(postgres_url):
    engine = sa.create_engine(parse_url("pg", postgres_url, base_dir=Path.cwd()))
    name = f"charter_test_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"create table {name} (id int, amount numeric(10, 2), label text, "
                "seen timestamptz, day date, flag bool, ref uuid, extra json, y text)"
            )
        )
        connection.execute(
            sa.text(
                f"insert into {name} values "
                "(1, 12.50, 'a', '2024-01-02 03:04:05+00', '2024-01-02', true, "
                "'00000000-0000-0000-0000-000000000001', '{\"k\": 1}', 'yes'), "
                "(2, null, null, null, null, null, null, null, 'no')"
            )
        )
    yield name
    with engine.begin() as connection:
        connection.execute(sa.text(f"drop table {name}"))
    engine.dispose()


@pytest.mark.postgres
def test_postgres_query_types_and_values(postgres_url, pg_table, tmp_path):
    charter = charter_for(postgres_url, f"select * from {pg_table} order by id")
    dataset = open_dataset(charter, base_dir=tmp_path)
    assert dataset.columns == {
        "id": "BIGINT",
        "amount": "DOUBLE",
        "label": "VARCHAR",
        "seen": "TIMESTAMP",  # time-zoned timestamps are presented in UTC
        "day": "DATE",
        "flag": "BOOLEAN",
        "ref": "VARCHAR",
        "extra": "VARCHAR",
        "y": "VARCHAR",
    }
    first, second = dataset.to_arrow().to_pylist()
    assert first["amount"] == 12.5 and first["ref"] == "00000000-0000-0000-0000-000000000001"
    assert first["extra"] == '{"k": 1}'
    assert first["seen"] == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert all(second[c] is None for c in ("amount", "label", "seen", "day", "flag", "ref"))
    assert dataset.sources["db"].rows == 2
    assert ":***@" in dataset.sources["db"].location and "charter:charter" not in (
        dataset.sources["db"].location
    )


@pytest.mark.postgres
def test_postgres_result_is_fetched_in_batches(postgres_url):
    url = parse_url("pg", postgres_url, base_dir=Path.cwd())
    query = "select g as id, g % 7 as y, 'v' || g as label from generate_series(1, 2500) g"
    table = fetch_arrow("pg", url, query, batch_rows=1000)
    assert table.num_rows == 2500
    assert table.column("id").num_chunks == 3
    assert sum(table.column("id").to_pylist()) == 2500 * 2501 // 2


@pytest.mark.postgres
def test_postgres_bad_query_quotes_the_server(postgres_url, tmp_path):
    charter = charter_for(postgres_url, "select * from no_such_table_here")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=tmp_path)
    assert 'relation "no_such_table_here" does not exist' in str(error.value)
    assert "data.sources.db.query" in str(error.value)


@pytest.mark.postgres
def test_postgres_wrong_password_is_reported_without_it(postgres_url, tmp_path):
    url = sa.make_url(postgres_url).set(password="not-the-password-42")
    charter = charter_for(url.render_as_string(hide_password=False), "select 1 as y")
    with pytest.raises(DataSourceError) as error:
        open_dataset(charter, base_dir=tmp_path)
    assert "password authentication failed" in str(error.value)
    assert "not-the-password-42" not in str(error.value)
