from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.audit import AuditContext, Severity, profile_dataset
from charter.audit._access import check_access, join_keys, key_match, match_severity, type_family
from charter.data import Dataset, SourceInfo, open_dataset
from charter.spec import Charter


def charter_with(sources: dict, query: str | None, target: str = "y") -> Charter:
    return Charter.model_validate(
        {"project": "t", "target": target, "data": {"sources": sources, "query": query}}
    )


def context(dataset: Dataset, charter: Charter) -> AuditContext:
    return AuditContext(
        charter=charter, dataset=dataset, profile=profile_dataset(dataset), now=datetime.now(UTC)
    )


def two_sources(left: pa.Table, right: pa.Table, query: str | None = None) -> AuditContext:
    """Sources 'a' and 'b' from Arrow tables, and `dataset` as their join (or 'a')."""
    connection = duckdb.connect()
    infos = []
    for name, table in (("a", left), ("b", right)):
        connection.register(f"_{name}", table)
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}")
        columns = tuple((r[0], r[1]) for r in connection.execute(f"DESCRIBE {name}").fetchall())
        infos.append(SourceInfo(name, "memory", "<in memory>", table.num_rows, columns))
    connection.execute(f"CREATE VIEW dataset AS {query or 'SELECT * FROM a'}")
    charter = charter_with(
        {"a": "a.parquet", "b": "b.parquet"}, query, target=left.column_names[-1]
    )
    return context(Dataset(connection, infos), charter)


def by_check(findings, check):
    return [f for f in findings if f.check == check]


def test_sources_and_a_partial_join_on_files(tmp_path):
    ids = list(range(1, 101))
    lines = ["customer_id,y"] + [f"{i},{'yes' if i % 3 else 'no'}" for i in ids]
    (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n")
    usage_ids = list(range(1, 61)) + list(range(201, 211))  # 60 shared, 10 unknown
    pq.write_table(
        pa.table({"customer_id": usage_ids, "minutes": [1.0] * 70}), tmp_path / "usage.parquet"
    )
    charter = charter_with(
        {"customers": "customers.csv", "usage": "usage.parquet"},
        "select * from customers left join usage using (customer_id)",
    )
    findings = check_access(context(open_dataset(charter, base_dir=tmp_path), charter))

    sources = by_check(findings, "access.source")
    assert [f.evidence["rows"] for f in sources] == [100, 70]
    assert all(f.severity is Severity.INFO for f in sources)
    assert "100 rows" in sources[0].message and "customers.csv" in sources[0].message

    (match,) = by_check(findings, "access.join_match")
    assert match.severity is Severity.WARNING  # 60% of customers have usage: below 95%
    assert match.columns == ("customer_id",)
    evidence = match.evidence
    assert (evidence["left"], evidence["right"]) == ("customers", "usage")
    assert (evidence["left_distinct"], evidence["right_distinct"], evidence["shared"]) == (
        100,
        70,
        60,
    )
    assert evidence["left_match_rate"] == pytest.approx(0.6)
    assert evidence["right_match_rate"] == pytest.approx(60 / 70)
    assert evidence["left_unmatched_examples"] == ["61", "62", "63", "64", "65"]
    assert evidence["right_unmatched_examples"] == ["201", "202", "203", "204", "205"]
    assert "60.0% of the 100 distinct keys in 'customers' appear in 'usage'" in match.message
    assert "inner join" in match.recommendation
    assert not by_check(findings, "access.key_type")


def test_mostly_unmatched_keys_are_an_error():
    left = pa.table({"id": list(range(100)), "y": [0, 1] * 50})
    right = pa.table({"id": list(range(60, 160)), "z": [1] * 100})
    (match,) = by_check(check_access(two_sources(left, right)), "access.join_match")
    assert match.severity is Severity.ERROR
    assert match.evidence["left_match_rate"] == pytest.approx(0.4)
    assert match.recommendation.startswith("Most keys do not match")


def test_clean_join_raises_no_alarm():
    left = pa.table({"id": list(range(50)), "y": [0, 1] * 25})
    right = pa.table({"id": list(range(50)) * 2, "z": list(range(100))})
    findings = check_access(two_sources(left, right, "select * from a join b using (id)"))
    assert all(f.severity is Severity.INFO for f in findings)
    (match,) = by_check(findings, "access.join_match")
    assert match.evidence["left_match_rate"] == 1.0 == match.evidence["right_match_rate"]
    assert match.evidence["left_unmatched_examples"] == []
    assert match.recommendation == ""


def test_single_source_reports_only_its_rows():
    dataset = Dataset.from_arrow(pa.table({"x": [1, 2, 3], "y": [0, 1, 0]}))
    findings = check_access(context(dataset, charter_with({"data": "d.csv"}, None)))
    assert [(f.check, f.severity, f.evidence["rows"]) for f in findings] == [
        ("access.source", Severity.INFO, 3)
    ]


def test_empty_source_is_a_warning():
    left = pa.table({"id": [1, 2], "y": [0, 1]})
    right = pa.table({"other": pa.array([], pa.int64())})
    sources = by_check(check_access(two_sources(left, right)), "access.source")
    assert [f.severity for f in sources] == [Severity.INFO, Severity.WARNING]
    assert "has no rows" in sources[1].message


def test_key_type_mismatch_is_a_warning_and_keys_compare_as_text():
    left = pa.table({"id": [1, 2, 3, 4], "y": [0, 1, 0, 1]})
    right = pa.table({"id": ["1", "2", "3", "004"], "z": [1, 2, 3, 4]})
    findings = check_access(two_sources(left, right))
    (mismatch,) = by_check(findings, "access.key_type")
    assert mismatch.severity is Severity.WARNING
    assert mismatch.evidence == {
        "key": "id",
        "left": "a",
        "right": "b",
        "left_type": "BIGINT",
        "right_type": "VARCHAR",
    }
    assert "BIGINT in 'a' but VARCHAR in 'b'" in mismatch.message
    (match,) = by_check(findings, "access.join_match")
    assert match.evidence["shared"] == 3  # '004' is not '4'
    assert match.evidence["right_unmatched_examples"] == ["004"]


def test_integer_widths_are_not_a_type_mismatch():
    left = pa.table({"id": pa.array([1, 2], pa.int32()), "y": [0, 1]})
    right = pa.table({"id": pa.array([1, 2], pa.int64()), "z": [3.0, 4.0]})
    assert not by_check(check_access(two_sources(left, right)), "access.key_type")


def test_keys_named_in_the_query_are_preferred():
    left = SourceInfo("a", "file", "a", 1, (("id", "BIGINT"), ("name", "VARCHAR")))
    right = SourceInfo("b", "file", "b", 1, (("id", "BIGINT"), ("name", "VARCHAR")))
    assert join_keys(left, right, "select * from a join b using (ID)") == ["id"]
    assert join_keys(left, right, "select * from a natural join b") == ["id", "name"]
    assert join_keys(left, right, None) == ["id", "name"]
    assert join_keys(left, SourceInfo("c", "file", "c", 1, (("k", "INTEGER"),)), None) == []


def test_thresholds():
    assert match_severity(1.0) is Severity.INFO
    assert match_severity(0.95) is Severity.INFO
    assert match_severity(0.9499) is Severity.WARNING
    assert match_severity(0.5) is Severity.WARNING
    assert match_severity(0.4999) is Severity.ERROR


def test_type_families():
    assert type_family("INTEGER") == type_family("BIGINT") == type_family("DOUBLE") == "number"
    assert type_family("DECIMAL(10,2)") == "number"
    assert type_family("VARCHAR") == "text"
    assert type_family("TIMESTAMP WITH TIME ZONE") == type_family("TIMESTAMP") == "timestamp"
    assert type_family("DATE") != type_family("TIMESTAMP")


keys = st.lists(st.one_of(st.none(), st.integers(0, 30)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(keys, keys)
def test_match_counts_equal_python_sets(left_keys, right_keys):
    left = pa.table({"k": pa.array(left_keys, pa.int64())})
    right = pa.table({"k": pa.array(right_keys, pa.int64())})
    ctx = two_sources(left, right)
    match = key_match(ctx.dataset, "a", "b", "k", as_text=False)
    a, b = {k for k in left_keys if k is not None}, {k for k in right_keys if k is not None}
    assert (match.left_distinct, match.right_distinct, match.shared) == (len(a), len(b), len(a & b))
    assert match.left_rate == (len(a & b) / len(a) if a else 0.0)
    assert list(match.left_unmatched) == [str(k) for k in sorted(a - b)[:5]]
