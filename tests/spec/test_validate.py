from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.data import Dataset, read_file
from charter.errors import ContractError, UsageError
from charter.spec import (
    ColumnRule,
    DataContract,
    EntityRule,
    ValidationReport,
    Violation,
    ViolationExample,
    parse_contract,
    split_batch,
    validate_batch,
)
from charter.spec._contract import contract_yaml
from charter.spec._validate import RULE_LEVELS

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def make_contract(**columns: ColumnRule) -> DataContract:
    return DataContract(project="churn", created=NOW, columns=columns)


def churn_contract() -> DataContract:
    return DataContract(
        project="churn",
        created=NOW,
        target="churned",
        entity=EntityRule(column="customer_id", unique=True),
        columns={
            "customer_id": ColumnRule(type="integer", nullable=False),
            "age": ColumnRule(type="integer", min=0, max=120),
            "plan": ColumnRule(type="string", categories=("basic", "premium")),
            "charges": ColumnRule(type="number", nullable=False, min=0, max=500),
            "churned": ColumnRule(type="string", required=False, categories=("no", "yes")),
        },
    )


def clean_table(n: int = 6) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(range(1, n + 1), pa.int64()),
            "age": pa.array([20 + i for i in range(n)], pa.int64()),
            "plan": pa.array([("basic", "premium")[i % 2] for i in range(n)], pa.string()),
            "charges": pa.array([10.5 * (i + 1) for i in range(n)], pa.float64()),
            "churned": pa.array([("no", "yes")[i % 2] for i in range(n)], pa.string()),
        }
    )


def replace(
    table: pa.Table, name: str, values: list[object], kind: pa.DataType | None = None
) -> pa.Table:
    column = pa.array(values, kind or table.schema.field(name).type)
    return table.set_column(table.schema.get_field_index(name), name, column)


def only(report: ValidationReport, column: str, rule: str) -> Violation:
    found = [v for v in report.violations if (v.column, v.rule) == (column, rule)]
    assert len(found) == 1, report.violations
    return found[0]


def examples(violation: Violation) -> list[tuple[int, str | None]]:
    return [(e.row, e.value) for e in violation.examples]


# --- each rule on a crafted batch -------------------------------------------------------------


def test_clean_batch_has_no_violation() -> None:
    report = validate_batch(churn_contract(), Dataset.from_arrow(clean_table()))
    assert report == ValidationReport(total_rows=6, bad_rows=0, good_rows=6, violations=())
    assert report.ok


def test_clean_batch_without_the_optional_target() -> None:
    report = validate_batch(
        churn_contract(), Dataset.from_arrow(clean_table().drop_columns(["churned"]))
    )
    assert report.ok and report.violations == ()


def test_empty_batch_is_ok() -> None:
    report = validate_batch(churn_contract(), Dataset.from_arrow(clean_table().slice(0, 0)))
    assert (report.total_rows, report.bad_rows, report.ok) == (0, 0, True)


def test_type_rule_reports_values_that_do_not_convert() -> None:
    batch = replace(clean_table(), "age", ["20", "abc", "1.5", " 7 ", None, "2e1"], pa.string())
    report = validate_batch(churn_contract(), Dataset.from_arrow(batch))
    violation = only(report, "age", "type")
    assert (violation.rows, violation.level) == (2, "error")
    assert examples(violation) == [(2, "abc"), (3, "1.5")]
    assert violation.message == "2 rows of 'age' hold values that are not integer"
    assert (report.bad_rows, report.good_rows, report.ok) == (2, 4, False)


def test_not_null_rule() -> None:
    batch = replace(clean_table(), "charges", [1.0, None, 2.0, None, None, 3.0])
    violation = only(
        validate_batch(churn_contract(), Dataset.from_arrow(batch)), "charges", "not_null"
    )
    assert violation.rows == 3
    assert examples(violation) == [(2, None), (4, None), (5, None)]


def test_nullable_columns_accept_empty_values() -> None:
    batch = replace(clean_table(), "age", [None] * 6)
    batch = replace(batch, "plan", [None] * 6)
    assert validate_batch(churn_contract(), Dataset.from_arrow(batch)).violations == ()


def test_range_rule_on_both_sides_with_bounds_included() -> None:
    batch = replace(clean_table(), "age", [0, -1, 120, 121, 200, 50])
    batch = replace(batch, "charges", [0.0, 500.0, 500.01, -0.01, math.inf, math.nan])
    report = validate_batch(churn_contract(), Dataset.from_arrow(batch))
    age = only(report, "age", "range")
    assert (age.rows, examples(age)) == (3, [(2, "-1"), (4, "121"), (5, "200")])
    assert age.message == "3 rows of 'age' are outside the accepted range [0, 120]"
    charges = only(report, "charges", "range")
    assert (charges.rows, [row for row, _ in examples(charges)]) == (4, [3, 4, 5, 6])
    assert report.bad_rows == 5  # rows 2 to 6


def test_category_rule_is_exact() -> None:
    batch = replace(clean_table(), "plan", ["basic", "Basic", "gold", None, "premium ", "premium"])
    violation = only(
        validate_batch(churn_contract(), Dataset.from_arrow(batch)), "plan", "category"
    )
    assert violation.rows == 3
    assert examples(violation) == [(2, "Basic"), (3, "gold"), (5, "premium ")]
    assert violation.message == "3 rows of 'plan' hold values outside its 2 accepted categories"


def test_duplicate_entity_flags_every_copy() -> None:
    batch = replace(clean_table(7), "customer_id", [1, 2, 2, 3, 3, 3, None])
    batch = replace(batch, "plan", ["basic"] * 7)
    report = validate_batch(churn_contract(), Dataset.from_arrow(batch), max_examples=3)
    duplicate = only(report, "customer_id", "duplicate_entity")
    assert duplicate.rows == 5
    assert examples(duplicate) == [(2, "2"), (3, "2"), (4, "3")]
    assert only(report, "customer_id", "not_null").rows == 1
    assert report.bad_rows == 6


def test_repeated_entity_is_fine_when_the_contract_allows_it() -> None:
    contract = churn_contract().model_copy(
        update={"entity": EntityRule(column="customer_id", unique=False)}
    )
    batch = replace(clean_table(), "customer_id", [1, 1, 1, 2, 2, 2])
    assert validate_batch(contract, Dataset.from_arrow(batch)).violations == ()


def test_missing_required_column_fails_the_whole_batch() -> None:
    report = validate_batch(
        churn_contract(), Dataset.from_arrow(clean_table().drop_columns(["plan"]))
    )
    violation = only(report, "plan", "missing_column")
    assert (violation.rows, violation.level, violation.examples) == (6, "error", ())
    assert violation.message == "required column 'plan' is missing from the batch"
    assert (report.bad_rows, report.good_rows, report.ok) == (6, 0, False)


def test_extra_column_is_only_a_warning() -> None:
    batch = clean_table().append_column("coupon", pa.array(["x"] * 6))
    report = validate_batch(churn_contract(), Dataset.from_arrow(batch))
    violation = only(report, "coupon", "extra_column")
    assert violation.level == "warning"
    assert (
        report.ok
        and report.bad_rows == 0
        and report.warnings == (violation,)
        and report.errors == ()
    )


def test_each_rule_counts_its_rows_and_bad_rows_count_each_row_once() -> None:
    batch = pa.table(
        {
            "customer_id": pa.array([1, 1, 3, 4, 5, 6], pa.int64()),
            "age": pa.array(["20", "x", "150", None, "30", "40"], pa.string()),
            "plan": pa.array(["basic", "gold", "basic", "basic", "gold", "basic"]),
            "charges": pa.array([1.0, None, 2.0, 3.0, 4.0, 5.0]),
        }
    )
    report = validate_batch(churn_contract(), Dataset.from_arrow(batch))
    counts = {(v.column, v.rule): v.rows for v in report.violations}
    assert counts == {
        ("customer_id", "duplicate_entity"): 2,
        ("age", "type"): 1,
        ("age", "range"): 1,
        ("plan", "category"): 2,
        ("charges", "not_null"): 1,
    }
    assert (report.total_rows, report.bad_rows, report.good_rows) == (6, 4, 2)


def test_max_examples_limits_examples_not_counts() -> None:
    batch = replace(clean_table(), "plan", ["gold"] * 6)
    contract = churn_contract()
    assert (
        len(only(validate_batch(contract, Dataset.from_arrow(batch)), "plan", "category").examples)
        == 5
    )
    none = only(
        validate_batch(contract, Dataset.from_arrow(batch), max_examples=0), "plan", "category"
    )
    assert (none.rows, none.examples) == (6, ())
    with pytest.raises(UsageError, match="max_examples=-1"):
        validate_batch(contract, Dataset.from_arrow(batch), max_examples=-1)


def test_rule_levels_table() -> None:
    assert RULE_LEVELS == {
        "missing_column": "error",
        "type": "error",
        "not_null": "error",
        "range": "error",
        "category": "error",
        "duplicate_entity": "error",
        "extra_column": "warning",
    }


def test_report_serialises_with_ok() -> None:
    batch = replace(clean_table(), "plan", ["gold"] + ["basic"] * 5)
    document = json.loads(
        validate_batch(churn_contract(), Dataset.from_arrow(batch)).model_dump_json()
    )
    assert document["ok"] is False
    assert document["violations"][0]["examples"] == [{"row": 1, "value": "gold"}]


# --- types: what converts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("want", "values", "kind", "bad_rows"),
    [
        ("integer", [1, 2, None], pa.int32(), []),
        ("integer", [1.0, 1.5, -3.0, math.inf], pa.float64(), [2, 4]),
        ("integer", ["1", "1.0", "x", ""], pa.string(), [3, 4]),
        ("integer", [True, False], pa.bool_(), [1, 2]),
        ("number", [1, 2], pa.int64(), []),
        ("number", ["1.5", "-2e3", "one"], pa.string(), [3]),
        ("number", [date(2024, 1, 1)], pa.date32(), [1]),
        ("boolean", [True, None], pa.bool_(), []),
        ("boolean", [0, 1, 2], pa.int64(), [3]),
        ("boolean", ["true", "false", "maybe"], pa.string(), [3]),
        ("date", [date(2024, 1, 31)], pa.date32(), []),
        ("date", ["2024-01-31", "2024-02-30", "soon"], pa.string(), [2, 3]),
        ("date", [datetime(2024, 1, 1), datetime(2024, 1, 1, 10)], pa.timestamp("us"), [2]),
        ("timestamp", [date(2024, 1, 31)], pa.date32(), []),
        ("timestamp", ["2024-01-31 10:00:00", "later"], pa.string(), [2]),
        ("timestamp", [datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC"), []),
        ("string", [1, 2], pa.int64(), []),
        ("string", [datetime(2024, 1, 1)], pa.timestamp("us"), []),
    ],
)
def test_type_rule_conversions(
    want: str, values: list[object], kind: pa.DataType, bad_rows: list[int]
) -> None:
    contract = make_contract(x=ColumnRule.model_validate({"type": want}))
    report = validate_batch(contract, Dataset.from_arrow(pa.table({"x": pa.array(values, kind)})))
    found = [e.row for v in report.violations for e in v.examples]
    assert found == bad_rows
    assert {v.rule for v in report.violations} <= {"type"}


def test_range_applies_to_numbers_read_as_text() -> None:
    contract = make_contract(x=ColumnRule(type="integer", min=0, max=10))
    report = validate_batch(contract, Dataset.from_arrow(pa.table({"x": ["5", "11", "x", "-1"]})))
    assert examples(only(report, "x", "range")) == [(2, "11"), (4, "-1")]
    assert examples(only(report, "x", "type")) == [(3, "x")]


# --- hand-edited contracts --------------------------------------------------------------------


def test_hand_edited_contract_is_honoured() -> None:
    contract = churn_contract()
    batch = replace(clean_table(), "age", [20, 130, 21, 22, 23, 24])
    batch = replace(batch, "plan", ["basic", "basic", "gold", "premium", "basic", "basic"])
    before = validate_batch(contract, Dataset.from_arrow(batch))
    assert {(v.column, v.rule) for v in before.violations} == {
        ("age", "range"),
        ("plan", "category"),
    }

    text = contract_yaml(contract)
    assert "    max: 120\n" in text and "      - premium\n" in text
    edited = text.replace(
        "    max: 120\n", "    max: 150   # seniors up to 150, agreed with the owner\n"
    )
    edited = edited.replace("      - premium\n", "      - premium\n      - gold\n")
    after = validate_batch(parse_contract(edited), Dataset.from_arrow(batch))
    assert after.ok and after.violations == ()


def test_hand_edited_contract_can_drop_a_rule() -> None:
    text = contract_yaml(churn_contract())
    edited = text.replace("    categories:\n      - basic\n      - premium\n", "")
    batch = replace(clean_table(), "plan", ["anything"] * 6)
    assert validate_batch(parse_contract(edited), Dataset.from_arrow(batch)).ok


# --- batches read from files ------------------------------------------------------------------


def write_batch_csv(path: Path) -> Path:
    path.write_text(
        "customer_id,age,plan,charges\n"
        "1,20,basic,10.0\n"
        "2,abc,basic,11.0\n"
        "3,30,gold,12.0\n"
        "3,40,premium,\n"
        "5,50,premium,900\n",
        encoding="utf-8",
    )
    return path


def test_csv_batch_reports_rows_in_file_order(tmp_path: Path) -> None:
    batch = read_file(write_batch_csv(tmp_path / "batch.csv"))
    assert batch.columns["age"] == "VARCHAR"  # 'abc' made DuckDB read the column as text
    report = validate_batch(churn_contract(), batch)
    found = {(v.column, v.rule): examples(v) for v in report.violations}
    assert found == {
        ("age", "type"): [(2, "abc")],
        ("plan", "category"): [(3, "gold")],
        ("charges", "not_null"): [(4, None)],
        ("charges", "range"): [(5, "900.0")],
        ("customer_id", "duplicate_entity"): [(3, "3"), (4, "3")],
    }
    assert (report.total_rows, report.bad_rows, report.good_rows) == (5, 4, 1)


def test_parquet_batch_opened_with_plain_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    pq.write_table(
        replace(clean_table(), "plan", ["basic", "basic", "gold", "basic", "basic", "gold"]), path
    )
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW dataset AS SELECT * FROM read_parquet('{path}')")
    report = validate_batch(churn_contract(), Dataset(connection, []))
    assert examples(only(report, "plan", "category")) == [(3, "gold"), (6, "gold")]


def test_rows_are_numbered_in_file_order_on_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    connection = duckdb.connect()
    connection.execute(
        "COPY (SELECT i + 1 AS customer_id, 30 AS age, "
        "CASE WHEN i % 99991 = 7 THEN 'gold' ELSE 'basic' END AS plan, 1.0 AS charges "
        f"FROM range(400000) t(i)) TO '{path}' (ROW_GROUP_SIZE 20000)"
    )
    report = validate_batch(churn_contract(), read_file(path))
    violation = only(report, "plan", "category")
    assert violation.rows == 5
    assert examples(violation) == [(8 + k * 99991, "gold") for k in range(5)]


# --- quarantine -------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, object]]:
    cursor = duckdb.connect().execute(f"SELECT * FROM '{path}'")
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_split_batch_writes_good_and_bad_rows(tmp_path: Path) -> None:
    dataset = read_file(write_batch_csv(tmp_path / "batch.csv"))
    contract = churn_contract()
    report = validate_batch(contract, dataset)
    result = split_batch(
        contract,
        dataset,
        report,
        bad_path=tmp_path / "out" / "bad.csv",
        good_path=tmp_path / "out" / "good.csv",
    )
    assert (result.good_rows, result.bad_rows) == (1, 4)
    assert (tmp_path / "out" / "good.csv").read_text().splitlines() == [
        "customer_id,age,plan,charges",
        "1,20,basic,10.0",
    ]
    bad = read_rows(tmp_path / "out" / "bad.csv")
    assert [(row["_row"], row["_violations"]) for row in bad] == [
        (2, "age: type"),
        (3, "plan: category; customer_id: duplicate_entity"),
        (4, "charges: not_null; customer_id: duplicate_entity"),
        (5, "charges: range"),
    ]
    assert list(bad[0]) == ["_row", "customer_id", "age", "plan", "charges", "_violations"]


@pytest.mark.parametrize("extension", ["parquet", "jsonl", "csv"])
def test_split_batch_formats_from_extension(tmp_path: Path, extension: str) -> None:
    batch = replace(clean_table(), "plan", ["basic", "gold", "basic", "basic", "gold", "basic"])
    dataset = Dataset.from_arrow(batch)
    report = validate_batch(churn_contract(), dataset)
    good, bad = tmp_path / f"good.{extension}", tmp_path / f"bad.{extension}"
    split_batch(churn_contract(), dataset, report, bad_path=bad, good_path=good)
    assert [row["customer_id"] for row in read_rows(good)] == [1, 3, 4, 6]
    assert [(row["_row"], row["customer_id"], row["_violations"]) for row in read_rows(bad)] == [
        (2, 2, "plan: category"),
        (5, 5, "plan: category"),
    ]
    if extension == "parquet":
        assert pq.read_table(good).schema.names == batch.schema.names


def test_split_batch_with_a_missing_column_quarantines_every_row(tmp_path: Path) -> None:
    dataset = Dataset.from_arrow(clean_table().drop_columns(["plan"]))
    report = validate_batch(churn_contract(), dataset)
    result = split_batch(
        churn_contract(), dataset, report, bad_path=tmp_path / "b.csv", good_path=tmp_path / "g.csv"
    )
    assert (result.good_rows, result.bad_rows) == (0, 6)
    assert {row["_violations"] for row in read_rows(tmp_path / "b.csv")} == {"plan: missing_column"}


def test_split_batch_refuses_unclear_targets(tmp_path: Path) -> None:
    dataset = Dataset.from_arrow(clean_table())
    report = validate_batch(churn_contract(), dataset)
    with pytest.raises(UsageError, match=r"end the name with .csv, .parquet or .jsonl"):
        split_batch(
            churn_contract(),
            dataset,
            report,
            bad_path=tmp_path / "b.xlsx",
            good_path=tmp_path / "g.csv",
        )
    with pytest.raises(UsageError, match="two different paths"):
        split_batch(
            churn_contract(),
            dataset,
            report,
            bad_path=tmp_path / "x.csv",
            good_path=tmp_path / "x.csv",
        )


def test_split_batch_refuses_a_batch_with_its_own_violations_column(tmp_path: Path) -> None:
    dataset = Dataset.from_arrow(clean_table().append_column("_violations", pa.array(["x"] * 6)))
    report = validate_batch(churn_contract(), dataset)
    with pytest.raises(ContractError, match="already has a column named '_violations'"):
        split_batch(
            churn_contract(),
            dataset,
            report,
            bad_path=tmp_path / "b.csv",
            good_path=tmp_path / "g.csv",
        )


def test_split_batch_refuses_a_report_of_another_batch(tmp_path: Path) -> None:
    dataset = Dataset.from_arrow(replace(clean_table(), "plan", ["gold"] * 6))
    stale = validate_batch(churn_contract(), Dataset.from_arrow(clean_table()))
    with pytest.raises(ContractError, match="the batch changed while it was checked"):
        split_batch(
            churn_contract(),
            dataset,
            stale,
            bad_path=tmp_path / "b.csv",
            good_path=tmp_path / "g.csv",
        )


# --- property: every row lands in one file, and bad rows really break a rule ------------------

PROPERTY_CONTRACT = DataContract(
    project="p",
    created=NOW,
    entity=EntityRule(column="id", unique=True),
    columns={
        "id": ColumnRule(type="integer", nullable=False),
        "age": ColumnRule(type="integer", min=0, max=100),
        "score": ColumnRule(type="number", nullable=False, min=-1.5, max=1.5),
        "plan": ColumnRule(type="string", categories=("a", "b")),
    },
)
AGE_TEXT = ["12", "x", "1.5", " 7 ", "", "150", "-3", "100"]


def expected_violations(rows: list[dict[str, object]]) -> list[set[str]]:
    """The rules each row breaks, recomputed in plain Python."""
    ids = [row["id"] for row in rows]
    found: list[set[str]] = []
    for row in rows:
        broken: set[str] = set()
        if row["id"] is None:
            broken.add("id: not_null")
        elif ids.count(row["id"]) > 1:
            broken.add("id: duplicate_entity")
        age = row["age"]
        if isinstance(age, str):
            try:
                number = float(age.strip())
            except ValueError:
                number = None
            if number is None or not number.is_integer():
                broken.add("age: type")
                age = None
            else:
                age = number
        if age is not None and not 0 <= float(age) <= 100:
            broken.add("age: range")
        if row["score"] is None:
            broken.add("score: not_null")
        elif not -1.5 <= float(row["score"]) <= 1.5:
            broken.add("score: range")
        if row["plan"] is not None and row["plan"] not in ("a", "b"):
            broken.add("plan: category")
        found.append(broken)
    return found


batches = st.integers(0, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.one_of(st.none(), st.integers(0, 8)), min_size=n, max_size=n),
        st.one_of(
            st.lists(st.one_of(st.none(), st.integers(-20, 120)), min_size=n, max_size=n),
            st.lists(st.one_of(st.none(), st.sampled_from(AGE_TEXT)), min_size=n, max_size=n),
        ),
        st.lists(st.one_of(st.none(), st.floats(-3, 3, allow_nan=False)), min_size=n, max_size=n),
        st.lists(
            st.one_of(st.none(), st.sampled_from(["a", "b", "c", "A"])), min_size=n, max_size=n
        ),
        st.sampled_from(["csv", "parquet", "jsonl"]),
    )
)


@settings(max_examples=60, deadline=None)
@given(batch=batches)
def test_split_keeps_every_row_and_bad_rows_really_break_rules(
    batch: tuple[list, list, list, list, str],
) -> None:
    ids, ages, scores, plans, extension = batch
    age_kind = pa.string() if any(isinstance(a, str) for a in ages) else pa.int64()
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "age": pa.array(ages, age_kind),
            "score": pa.array(scores, pa.float64()),
            "plan": pa.array(plans, pa.string()),
        }
    )
    rows = table.to_pylist()
    expected = expected_violations(rows)
    dataset = Dataset.from_arrow(table)
    report = validate_batch(PROPERTY_CONTRACT, dataset, max_examples=3)

    bad_rows = [i + 1 for i, broken in enumerate(expected) if broken]
    assert (report.total_rows, report.bad_rows, report.good_rows) == (
        len(rows),
        len(bad_rows),
        len(rows) - len(bad_rows),
    )
    for violation in report.violations:
        label = f"{violation.column}: {violation.rule}"
        hits = [i + 1 for i, broken in enumerate(expected) if label in broken]
        assert violation.rows == len(hits)
        assert [e.row for e in violation.examples] == hits[:3]
    assert sum(v.rows for v in report.violations) == sum(len(b) for b in expected)

    with tempfile.TemporaryDirectory() as folder:
        good, bad = Path(folder) / f"good.{extension}", Path(folder) / f"bad.{extension}"
        result = split_batch(PROPERTY_CONTRACT, dataset, report, bad_path=bad, good_path=good)
        assert result.good_rows + result.bad_rows == len(rows)
        held = read_rows(bad) if result.bad_rows else []
        kept = read_rows(good) if result.good_rows else []
    assert [row["_row"] for row in held] == bad_rows
    for row in held:
        assert set(str(row["_violations"]).split("; ")) == expected[int(row["_row"]) - 1]
    assert [row["id"] for row in kept] == [
        r["id"] for r, broken in zip(rows, expected, strict=True) if not broken
    ]


def test_violation_example_model() -> None:
    assert ViolationExample(row=3, value=None).model_dump() == {"row": 3, "value": None}
