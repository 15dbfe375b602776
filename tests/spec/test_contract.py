from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.audit import profile_dataset
from charter.data import Dataset, read_file
from charter.errors import ContractError
from charter.spec import (
    Charter,
    ColumnRule,
    DataContract,
    EntityRule,
    infer_contract,
    load_contract,
    parse_contract,
    validate_batch,
    write_contract,
)
from charter.spec._contract import MAX_CATEGORIES, column_type_of, contract_yaml, widen_range

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def make_charter(
    target: str = "churned", entity: str | None = "customer_id", time: str | None = None
) -> Charter:
    data: dict[str, object] = {"sources": {"customers": "customers.csv"}}
    if entity:
        data["entity"] = entity
    if time:
        data["time"] = time
    return Charter.model_validate({"project": "churn", "target": target, "data": data})


def infer(table: pa.Table, charter: Charter | None = None, **options: object) -> DataContract:
    dataset = Dataset.from_arrow(table)
    return infer_contract(
        charter or make_charter(), dataset, profile_dataset(dataset), now=NOW, **options
    )


def sample_contract() -> DataContract:
    return DataContract(
        project="churn",
        created=NOW,
        target="churned",
        entity=EntityRule(column="customer_id", unique=True),
        columns={
            "customer_id": ColumnRule(type="integer", nullable=False, missing_share=0.0),
            "age": ColumnRule(type="integer", nullable=True, missing_share=0.05, min=10, max=98),
            "charges": ColumnRule(type="number", nullable=False, min=-0.5, max=120.25),
            "plan": ColumnRule(type="string", categories=("basic", "premium", "yes", "1")),
            "signup": ColumnRule(type="date"),
            "churned": ColumnRule(type="boolean", required=False, nullable=False),
        },
    )


# --- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("BIGINT", "integer"),
        ("UTINYINT", "integer"),
        ("HUGEINT", "integer"),
        ("DOUBLE", "number"),
        ("FLOAT", "number"),
        ("DECIMAL(10,2)", "number"),
        ("VARCHAR", "string"),
        ("ENUM('a', 'b')", "string"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("TIME", "string"),
        ("UUID", "string"),
        ("BIGINT[]", "string"),
    ],
)
def test_column_type_of_maps_duckdb_types(dtype: str, expected: str) -> None:
    assert column_type_of(dtype) == expected


# --- widening ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (18, 90, True, (10, 98)),  # 10% of 72 = 7.2 on each side, rounded outwards
        (0, 72, True, (0, 80)),  # never negative, so the lower bound stays at 0
        (-10, 10, True, (-12, 12)),
        (5, 5, True, (5, 5)),  # a constant has no width to widen by
        (0.5, 3.3, False, (0.22, 3.58)),
        (-1.0, 1.0, False, (-1.2, 1.2)),
        (2.5, 2.5, False, (2.5, 2.5)),
    ],
)
def test_widen_range_hand_worked(
    low: float, high: float, integer: bool, expected: tuple[float, float]
) -> None:
    lower, upper = widen_range(low, high, 0.1, integer=integer)
    assert lower == pytest.approx(expected[0])
    assert upper == pytest.approx(expected[1])
    if integer:
        assert isinstance(lower, int) and isinstance(upper, int)


@settings(max_examples=300)
@given(
    low=st.floats(-1e9, 1e9),
    width=st.floats(0, 1e9),
    tolerance=st.sampled_from([0.0, 0.05, 0.1, 0.5]),
    integer=st.booleans(),
)
def test_widen_range_widens_by_the_tolerance_and_barely_more(
    low: float, width: float, tolerance: float, integer: bool
) -> None:
    if integer:
        low, width = float(math.floor(low)), float(math.floor(width))
    high = low + width
    span = high - low
    lower, upper = widen_range(low, high, tolerance, integer=integer)
    floor = max(low - tolerance * span, 0.0) if low >= 0 else low - tolerance * span
    ceiling = high + tolerance * span
    slack = 1.0 if integer else span / 1000 + 1e-9 * max(1.0, abs(low), abs(high))
    assert lower <= low and upper >= high
    assert floor - slack <= lower <= floor + 1e-9 * max(1.0, abs(floor))
    assert ceiling - 1e-9 * max(1.0, abs(ceiling)) <= upper <= ceiling + slack
    if low >= 0:
        assert lower >= 0


# --- inference --------------------------------------------------------------------------------


def churn_table() -> pa.Table:
    n = 40
    return pa.table(
        {
            "customer_id": pa.array(range(1000, 1000 + n), pa.int64()),
            "age": pa.array(
                [18 + (i * 72) // (n - 1) if i % 10 != 5 else None for i in range(n)], pa.int64()
            ),
            "charges": pa.array([0.5 + i * (3.3 - 0.5) / (n - 1) for i in range(n)], pa.float64()),
            "plan": pa.array(["basic", "premium", "basic", None] * (n // 4), pa.string()),
            "city": pa.array(
                [f"city{i % 30}" for i in range(n)], pa.string()
            ),  # 30 values > top 20
            "code": pa.array([f"code{i}" for i in range(n)], pa.string()),
            "signup": pa.array(
                [date(2024, 1, 1) + timedelta(days=i) for i in range(n)], pa.date32()
            ),
            "paperless": pa.array([i % 2 == 0 for i in range(n)], pa.bool_()),
            "churned": pa.array(["yes", "no"] * (n // 2), pa.string()),
        }
    )


def test_infer_contract_records_types_missing_ranges_and_categories() -> None:
    contract = infer(churn_table())
    columns = contract.columns
    assert contract.project == "churn"
    assert contract.created == NOW
    assert contract.target == "churned"
    assert contract.range_tolerance == 0.1
    assert {name: rule.type for name, rule in columns.items()} == {
        "customer_id": "integer",
        "age": "integer",
        "charges": "number",
        "plan": "string",
        "city": "string",
        "code": "string",
        "signup": "date",
        "paperless": "boolean",
        "churned": "string",
    }
    assert columns["age"].nullable and columns["age"].missing_share == pytest.approx(0.1)
    assert not columns["charges"].nullable and columns["charges"].missing_share == 0.0
    assert (columns["age"].min, columns["age"].max) == (10, 98)
    assert (columns["charges"].min, columns["charges"].max) == pytest.approx((0.22, 3.58))
    assert columns["plan"].categories == ("basic", "premium")
    assert columns["city"].categories == tuple(sorted(f"city{i}" for i in range(30)))
    assert columns["churned"].categories == ("no", "yes")


def test_infer_contract_special_columns() -> None:
    contract = infer(churn_table(), make_charter(time="signup"))
    columns = contract.columns
    assert contract.entity == EntityRule(column="customer_id", unique=True)
    # New customers get new ids: the entity gets neither a range nor categories.
    assert columns["customer_id"].min is None and columns["customer_id"].max is None
    # Batches to score have no answer yet, so only the target is optional.
    assert not columns["churned"].required
    assert all(rule.required for name, rule in columns.items() if name != "churned")


def test_infer_contract_text_with_many_values_gets_no_categories() -> None:
    table = pa.table(
        {
            "customer_id": pa.array(range(200), pa.int64()),
            "fifty": pa.array([f"v{i % MAX_CATEGORIES}" for i in range(200)]),
            "fifty_one": pa.array([f"v{i % (MAX_CATEGORIES + 1)}" for i in range(200)]),
            "churned": pa.array([True, False] * 100),
        }
    )
    columns = infer(table).columns
    assert (
        columns["fifty"].categories is not None
        and len(columns["fifty"].categories) == MAX_CATEGORIES
    )
    assert columns["fifty_one"].categories is None
    assert columns["churned"].categories is None  # booleans are checked by type only


def test_infer_contract_notices_repeated_entity_ids() -> None:
    table = pa.table({"customer_id": [1, 2, 2, 3], "churned": ["y", "n", "n", "y"]})
    contract = infer(table)
    assert contract.entity == EntityRule(column="customer_id", unique=False)


def test_infer_contract_without_entity() -> None:
    contract = infer(pa.table({"x": [1, 2], "churned": ["y", "n"]}), make_charter(entity=None))
    assert contract.entity is None


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-1000, 1000)),
            st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
            st.one_of(st.none(), st.sampled_from(["a", "b", "c", "yes", "1", ""])),
            st.one_of(st.none(), st.booleans()),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_contract_accepts_the_data_it_was_inferred_from(rows: list[tuple[object, ...]]) -> None:
    ints, floats, texts, flags = zip(*rows, strict=True)
    table = pa.table(
        {
            "customer_id": pa.array(range(len(rows)), pa.int64()),
            "i": pa.array(ints, pa.int64()),
            "f": pa.array(floats, pa.float64()),
            "t": pa.array(texts, pa.string()),
            "churned": pa.array(flags, pa.bool_()),
        }
    )
    contract = infer(table)
    report = validate_batch(contract, Dataset.from_arrow(table))
    assert report.violations == ()
    assert report.good_rows == len(rows)


@pytest.fixture
def shared_data() -> Path:
    if not DATA.exists():
        pytest.skip(f"real datasets not present at {DATA}")
    return DATA


@pytest.mark.parametrize(
    ("file", "target", "entity"),
    [
        ("german_credit.csv", "class", None),
        ("bike_sharing_hour.csv", "cnt", "instant"),
        ("california_housing.csv", "median_house_value", None),
        ("walmart_weekly_sales.csv", "Weekly_Sales", None),
    ],
)
def test_contract_from_real_data_accepts_that_data(
    shared_data: Path, tmp_path: Path, file: str, target: str, entity: str | None
) -> None:
    dataset = read_file(shared_data / file)
    charter = Charter.model_validate(
        {
            "project": "real",
            "target": target,
            "data": {"sources": {"d": str(shared_data / file)}, "entity": entity},
        }
    )
    contract = infer_contract(charter, dataset, profile_dataset(dataset), now=NOW)
    path = write_contract(contract, tmp_path / "contract.yaml")
    assert load_contract(path) == contract
    report = validate_batch(load_contract(path), dataset)
    assert report.ok and report.violations == ()


def test_california_housing_contract_knows_its_blanks_and_categories(shared_data: Path) -> None:
    dataset = read_file(shared_data / "california_housing.csv")
    charter = Charter.model_validate(
        {"project": "housing", "target": "median_house_value", "data": {"sources": {"d": "x.csv"}}}
    )
    columns = infer_contract(charter, dataset, profile_dataset(dataset), now=NOW).columns
    assert columns["total_bedrooms"].nullable
    assert columns["total_bedrooms"].missing_share == pytest.approx(207 / 20640, abs=1e-4)
    assert not columns["median_income"].nullable
    assert columns["ocean_proximity"].categories == (
        "<1H OCEAN",
        "INLAND",
        "ISLAND",
        "NEAR BAY",
        "NEAR OCEAN",
    )


# --- the model --------------------------------------------------------------------------------


def test_contract_model_is_frozen_and_strict() -> None:
    contract = sample_contract()
    with pytest.raises(ValueError, match="frozen"):
        contract.project = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs"):
        ColumnRule(type="integer", maximum=3)  # type: ignore[call-arg]


def test_created_is_kept_in_utc() -> None:
    local = datetime(2026, 11, 22, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert sample_contract().model_copy(update={}).created.tzinfo == UTC
    contract = DataContract(project="p", created=local, columns={"x": ColumnRule(type="integer")})
    assert contract.created == NOW and contract.created.utcoffset() == timedelta(0)
    naive = DataContract(
        project="p",
        created=datetime(2026, 11, 22, 9, 30),
        columns={"x": ColumnRule(type="integer")},
    )
    assert naive.created == NOW


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "integer", "min": 5, "max": 1}, "larger than max"),
        ({"type": "string", "min": 0}, "apply to integer and number"),
        ({"type": "integer", "categories": ["a"]}, "apply to string columns"),
        ({"type": "string", "categories": []}, "empty category list"),
        ({"type": "string", "categories": [True]}, "write it in quotes"),
        ({"type": "number", "max": "high"}, "expected a number"),
    ],
)
def test_column_rule_refuses_rules_that_do_not_fit(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColumnRule.model_validate(rule)


def test_numbers_listed_as_categories_become_text() -> None:
    rule = ColumnRule.model_validate({"type": "string", "categories": [1, 2.5, "a", "a"]})
    assert rule.categories == ("1", "2.5", "a")


def test_entity_and_target_must_be_listed_columns() -> None:
    with pytest.raises(ValueError, match="entity column 'id' is not listed"):
        DataContract(
            project="p",
            created=NOW,
            entity=EntityRule(column="id"),
            columns={"x": ColumnRule(type="integer")},
        )
    with pytest.raises(ValueError, match="target column 'y' is not listed"):
        DataContract(
            project="p", created=NOW, target="y", columns={"x": ColumnRule(type="integer")}
        )


# --- YAML -------------------------------------------------------------------------------------


def test_yaml_round_trip(tmp_path: Path) -> None:
    contract = sample_contract()
    path = write_contract(contract, tmp_path / "sub" / "contract.yaml")
    assert path.is_file()
    assert load_contract(path) == contract


def test_yaml_round_trip_of_inferred_contract_with_awkward_names(tmp_path: Path) -> None:
    table = (
        churn_table()
        .append_column("yes", pa.array(["no"] * 40))
        .append_column("a: b", pa.array([1.5] * 40))
    )
    contract = infer(table.append_column("123", pa.array(["true", "null"] * 20)))
    assert load_contract(write_contract(contract, tmp_path / "c.yaml")) == contract


def test_yaml_is_commented_and_says_whose_file_it_is() -> None:
    text = contract_yaml(sample_contract())
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "Generated by `charter audit` on 2026-11-22" in header[1]
    assert "this is your file" in "\n".join(header)
    assert "version control with the model" in "\n".join(header)
    assert "range_tolerance" in "\n".join(header) and "(10% of its width)" in "\n".join(header)
    assert "range_tolerance: 0.1\n" in text
    assert "created: '2026-11-22T09:30:00Z'\n" in text
    # Hand-editable: one key per line, list items on their own lines under their key.
    assert "    categories:\n      - basic\n      - premium\n      - 'yes'\n      - '1'\n" in text


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_contract_errors_name_key_and_line() -> None:
    good = contract_yaml(sample_contract())
    bad = good.replace("    max: 98\n", "    max: lots\n").replace("type: date", "type: day")
    with pytest.raises(ContractError) as error:
        parse_contract(bad, source="contract.yaml")
    message = str(error.value)
    assert "2 problems" in message
    assert (
        f"contract.yaml:{line_of(bad, 'max: lots')}: columns.age.max: expected a number" in message
    )
    assert (
        f"contract.yaml:{line_of(bad, 'type: day')}: columns.signup.type: expected one of"
        in message
    )
    assert "example: type: integer" in message


def test_contract_error_for_misspelled_key_and_for_a_rule_names_the_column_line() -> None:
    good = contract_yaml(sample_contract())
    typo = good.replace("    nullable: false\n", "    nulable: false\n", 1)
    with pytest.raises(
        ContractError,
        match=rf"contract.yaml:{line_of(typo, 'nulable')}: columns.customer_id.nulable: is not a",
    ):
        parse_contract(typo)
    swapped = good.replace("    min: 10\n", "    min: 200\n")
    with pytest.raises(
        ContractError,
        match=rf"contract.yaml:{line_of(swapped, '  age:')}: columns.age: min \(200\) is larger",
    ):
        parse_contract(swapped)


def test_contract_errors_for_files_that_are_not_contracts(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no data contract here. Run `charter audit`"):
        load_contract(tmp_path / "missing.yaml")
    with pytest.raises(ContractError, match=r"c.yaml:2: not valid YAML"):
        parse_contract("project: p\n  columns: [\n", source="c.yaml")
    with pytest.raises(ContractError, match="a data contract is a YAML mapping"):
        parse_contract("- just\n- a list\n")
    with pytest.raises(
        ContractError, match=r"\(top level\): columns: is required|columns: is required"
    ):
        parse_contract("project: p\ncreated: 2026-01-01T00:00:00Z\n")
