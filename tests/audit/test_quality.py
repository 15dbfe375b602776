from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.audit import Severity
from charter.audit._quality import check_quality
from charter.audit._quality_plan import iqr_fences, placeholder_counts
from charter.audit._quality_text import spelling_groups
from charter.audit._target import is_sentinel, share
from conftest import dataset_from_csv, make_context

N = 10_000


def quality(table: pa.Table, **charter):
    return check_quality(make_context(table, **charter))


def named(findings, check):
    return [f for f in findings if f.check == check]


def only(findings, check, column=None):
    found = [f for f in named(findings, check) if column is None or column in f.columns]
    assert len(found) == 1, [f.message for f in findings]
    return found[0]


def serious(findings):
    return [f for f in findings if f.severity != Severity.INFO]


def clean_table(seed: int, rows: int = 20_000) -> pa.Table:
    """A realistic table without quality problems: ids, dates, skewed and symmetric numbers, categories."""
    rng = np.random.default_rng(seed)
    start = dt.date(2023, 1, 1)
    income = rng.lognormal(10, 0.7, rows)
    income[rng.random(rows) < 0.02] = np.nan  # a few missing: info at most
    return pa.table(
        {
            "customer_id": [f"C{100000 + i}" for i in range(rows)],
            "snapshot": [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, rows)],
            "age": rng.integers(18, 90, rows),
            "tenure_months": rng.poisson(20, rows),
            "income": pa.array(income, from_pandas=True),
            "balance": np.round(rng.normal(0, 500, rows), 2),
            "temperature": rng.normal(15, 8, rows).round(1),
            "usage": rng.uniform(0, 1, rows),
            "calls": rng.negative_binomial(2, 0.3, rows),
            "plan": rng.choice(["basic", "plus", "premium"], rows, p=[0.6, 0.3, 0.1]),
            "region": rng.choice(["north", "south", "east", "west", "centre"], rows),
            "channel": rng.choice(["web", "shop", "phone"], rows),
            "town": rng.choice([f"town {i}" for i in range(60)], rows),
            "newsletter": rng.random(rows) < 0.3,
            "y": rng.choice(["yes", "no"], rows, p=[0.15, 0.85]),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_realistic_table_raises_no_warning_or_error(seed):
    findings = quality(clean_table(seed), entity="customer_id", time="snapshot")
    assert serious(findings) == [], [f.message for f in serious(findings)]
    # the few missing incomes are mentioned, as information only
    assert only(findings, "quality.missing").severity == Severity.INFO


def test_the_pass_is_one_scan_on_clean_data():
    context = make_context(clean_table(0, rows=2000), entity="customer_id", time="snapshot")
    queries = []
    original = context.dataset.sql

    def counting(query, parameters=None):
        queries.append(query)
        return original(query, parameters)

    context.dataset.sql = counting
    check_quality(context)
    assert len(queries) == 1


# -- missing values and placeholders ------------------------------------------------------------


def test_missing_share_counts_nulls_nan_and_placeholders():
    rng = np.random.default_rng(0)
    income = rng.normal(50, 10, N)
    income[:1000] = np.nan  # becomes null
    text = np.array(rng.choice(["a", "b"], N), dtype=object)
    text[:600] = None
    text[600:700] = "?"
    text[700:750] = " N/A "
    text[750:800] = "none"  # a genuine answer: not counted
    mostly = np.where(np.arange(N) < 6000, None, "x")
    table = pa.table(
        {
            "income": pa.array(income, from_pandas=True),
            "text": text,
            "mostly": mostly,
            "y": rng.integers(0, 2, N),
        }
    )
    findings = quality(table)
    income_finding = only(findings, "quality.missing", "income")
    assert income_finding.severity == Severity.WARNING
    assert income_finding.evidence["empty"] == 1000 and income_finding.evidence["missing"] == 1000
    assert "10% of 'income' is missing (1,000 of 10,000 rows" in income_finding.message
    text_finding = only(findings, "quality.missing", "text")
    assert text_finding.evidence["missing"] == 750
    assert text_finding.evidence["placeholders"] == 150
    assert text_finding.severity == Severity.WARNING
    mostly_finding = only(findings, "quality.missing", "mostly")
    assert mostly_finding.severity == Severity.ERROR
    assert mostly_finding.evidence["share"] == pytest.approx(0.6)


def test_nan_counts_as_missing():
    values = np.arange(1000.0)
    values[:100] = np.nan
    context = make_context(pa.table({"x": pa.array(values, from_pandas=False), "y": [0, 1] * 500}))
    finding = only(check_quality(context), "quality.missing")
    assert finding.evidence["nan"] == 100 and finding.evidence["missing"] == 100


def test_a_few_missing_values_are_information():
    values = [None] * 20 + list(range(N - 20))
    finding = only(quality(pa.table({"x": values, "y": [0, 1] * (N // 2)})), "quality.missing")
    assert finding.severity == Severity.INFO and finding.columns == ("x",)
    assert finding.evidence["columns"]["x"]["missing"] == 20


def test_placeholders_are_listed_per_spelling():
    values = ["a", "b"] * 480 + ["?"] * 20 + ["NA"] * 15 + [""] * 5
    finding = only(quality(pa.table({"c": values, "y": [0, 1] * 500})), "quality.placeholder")
    assert finding.severity == Severity.WARNING
    assert finding.evidence["tokens"] == {"?": 20, "NA": 15, "": 5}
    assert "'?' (20 rows)" in finding.message


def test_soft_placeholders_are_information_and_not_missing():
    values = ["yes", "none"] * 500
    findings = quality(pa.table({"phone": values, "y": [0, 1] * 500}))
    assert named(findings, "quality.missing") == []
    assert only(findings, "quality.placeholder").severity == Severity.INFO


def test_placeholders_in_high_cardinality_text_are_counted_in_sql():
    values = [f"v{i}" for i in range(3000)] + ["n/a"] * 200
    findings = quality(pa.table({"c": values, "y": [0, 1] * 1600}))
    assert only(findings, "quality.placeholder").evidence["tokens"] == {"n/a": 200}
    assert only(findings, "quality.missing").evidence["missing"] == 200


def test_placeholder_counts_is_case_and_space_blind():
    counts = placeholder_counts([("N/A", 3), (" ? ", 2), ("x", 5), (None, 4), ("Unknown", 1)])
    assert counts == {"N/A": 3, " ? ": 2, "Unknown": 1}


# -- sentinels and caps -------------------------------------------------------------------------


def test_minus_one_in_a_non_negative_column_is_a_sentinel():
    rng = np.random.default_rng(1)
    days = rng.integers(0, 400, N)
    days[:300] = -1
    finding = only(
        quality(pa.table({"days": days, "y": rng.integers(0, 2, N)})), "quality.sentinel"
    )
    assert finding.severity == Severity.WARNING
    assert finding.evidence["value"] == -1 and finding.evidence["rows"] == 300
    assert finding.evidence["other_min"] == 0


def test_9999_far_above_the_rest_is_a_sentinel():
    rng = np.random.default_rng(2)
    age = rng.integers(18, 90, N).astype(float)
    age[:50] = 9999
    findings = quality(pa.table({"age": age, "y": rng.integers(0, 2, N)}))
    finding = only(findings, "quality.sentinel")
    assert finding.evidence["value"] == 9999 and finding.evidence["rows"] == 50
    assert "9999 in 50 rows (0.5%)" in finding.message
    assert named(findings, "quality.outliers") == []  # codes are not counted as outliers


def test_minus_one_among_many_negatives_is_clean():
    rng = np.random.default_rng(3)
    correlation = np.clip(rng.normal(0, 0.5, N), -1, 1)  # many exact -1s, and values just above
    change = np.round(rng.normal(0, 3, N)).astype(int)  # -1 is one of many negative values
    table = pa.table({"correlation": correlation, "change": change, "y": rng.integers(0, 2, N)})
    assert named(quality(table), "quality.sentinel") == []


def test_a_single_odd_value_is_an_outlier_not_a_sentinel():
    rng = np.random.default_rng(4)
    values = rng.normal(50, 5, N)
    values[0] = 9999
    findings = quality(pa.table({"v": values, "y": rng.integers(0, 2, N)}))
    assert named(findings, "quality.sentinel") == []


@given(
    value=st.floats(-1e6, 1e6),
    rows=st.integers(0, 1000),
    low=st.floats(-1e6, 1e6),
    width=st.floats(0, 1e6),
)
def test_a_value_within_the_others_is_never_a_sentinel(value, rows, low, width):
    high = low + width
    if low <= value <= high:
        assert not is_sentinel(value, rows, low, high)
    if rows < 3:
        assert not is_sentinel(value, rows, low, high)


def test_capped_values_are_noticed():
    rng = np.random.default_rng(5)
    income = np.minimum(rng.lognormal(1, 0.5, N), 6.0).round(4)
    finding = only(
        quality(pa.table({"income": income, "y": rng.integers(0, 2, N)})), "quality.capped"
    )
    at_cap = int((income == 6.0).sum())
    assert finding.evidence == {"edge": "maximum", "value": 6.0, "rows": at_cap, "present": N}
    assert finding.severity == Severity.INFO


# -- types --------------------------------------------------------------------------------------


def test_numbers_stored_as_text_name_the_values_that_do_not_parse():
    values = [str(i) for i in range(950)] + ["abc"] * 30 + ["12 kg"] * 10 + ["?"] * 10
    finding = only(quality(pa.table({"weight": values, "y": [0, 1] * 500})), "quality.type_as_text")
    assert finding.evidence["kind"] == "number"
    assert finding.evidence["failing"] == 40
    assert set(finding.evidence["examples"]) == {"abc", "12 kg"}
    assert "40 do not" in finding.message


def test_dates_stored_as_text():
    days = [str(dt.date(2024, 1, 1) + dt.timedelta(days=i % 300)) for i in range(1000)]
    days[:5] = ["31/02/2024"] * 5
    finding = only(quality(pa.table({"day": days, "y": [0, 1] * 500})), "quality.type_as_text")
    assert finding.evidence["kind"] == "date" and finding.evidence["examples"] == ["31/02/2024"]


def test_numbers_with_many_values_stored_as_text_are_found_in_sql():
    values = [str(i * 1.5) for i in range(5000)] + ["n.a."] * 7
    finding = only(quality(pa.table({"amount": values, "y": [0] * 5007})), "quality.type_as_text")
    assert finding.evidence["failing"] == 7 and finding.evidence["examples"] == ["n.a."]


def test_codes_with_leading_zeros_are_rightly_text():
    codes = [f"{i % 900:05d}" for i in range(2000)]
    assert (
        named(quality(pa.table({"zip": codes, "y": [0, 1] * 1000})), "quality.type_as_text") == []
    )


# -- duplicates ---------------------------------------------------------------------------------


def test_duplicate_rows_match_pandas():
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.choice(["x", "y"], 2000), "y": 0})
    frame = pd.concat([frame, frame.iloc[:37], frame.iloc[:5]], ignore_index=True)
    finding = only(
        quality(pa.Table.from_pandas(frame, preserve_index=False)), "quality.duplicate_rows"
    )
    assert finding.evidence["copies"] == int(frame.duplicated().sum()) == 42
    assert finding.severity == Severity.WARNING
    assert "42 rows (2.1%) are exact copies" in finding.message


def test_duplicate_rows_expected_by_chance_are_information():
    rng = np.random.default_rng(7)
    table = pa.table(
        {
            "a": rng.integers(0, 3, 1000),
            "b": rng.choice(["x", "y"], 1000),
            "y": rng.integers(0, 2, 1000),
        }
    )
    assert only(quality(table), "quality.duplicate_rows").severity == Severity.INFO


def test_repeated_entity_without_time_is_a_warning():
    ids = list(range(900)) + list(range(50)) * 2
    table = pa.table({"id": ids, "x": np.arange(1000), "y": [0, 1] * 500})
    finding = only(quality(table, entity="id"), "quality.duplicate_entity")
    assert finding.severity == Severity.WARNING
    assert finding.evidence["extra_rows"] == 100 and finding.evidence["repeated_ids"] == 50
    assert finding.evidence["examples"][0][1] == 3


def test_repeated_entity_over_time_is_information_but_conflicting_pairs_are_not():
    ids = [i % 100 for i in range(1000)]
    months = [dt.date(2024, 1 + i // 100, 1) for i in range(1000)]
    columns = {"id": ids, "month": months, "x": np.arange(1000), "y": [0, 1] * 500}
    findings = named(
        quality(pa.table(columns), entity="id", time="month"), "quality.duplicate_entity"
    )
    assert [f.severity for f in findings] == [Severity.INFO]
    months[5] = months[105]  # customer 5 twice in February, with different values of x
    findings = quality(pa.table({**columns, "month": months}), entity="id", time="month")
    repeated = named(findings, "quality.duplicate_entity")
    assert [f.severity for f in repeated] == [Severity.INFO, Severity.WARNING]
    assert repeated[1].evidence["conflicting_rows"] == 1
    assert named(findings, "quality.duplicate_rows") == []


def test_rows_copied_whole_are_duplicate_rows_not_conflicting_entities():
    table = pa.table(
        {
            "id": list(range(500)) + [7, 8],
            "month": [dt.date(2024, 1, 1)] * 502,
            "x": list(range(500)) + [7, 8],
            "y": [i % 2 for i in [*range(500), 7, 8]],
        }
    )
    findings = quality(table, entity="id", time="month")
    assert only(findings, "quality.duplicate_rows").evidence["copies"] == 2
    assert [f.severity for f in named(findings, "quality.duplicate_entity")] == [Severity.INFO]


# -- columns carrying little or odd information ---------------------------------------------------


def test_constant_and_near_constant_columns():
    rng = np.random.default_rng(8)
    near = np.zeros(N)
    near[:30] = rng.normal(size=30)  # 99.7% zeros
    flag = np.array(["no"] * N, dtype=object)
    flag[:30] = "yes"
    varied = np.zeros(N)
    varied[:200] = 1.0  # 98% zeros: fine
    table = pa.table(
        {
            "country": ["FR"] * N,
            "near": near,
            "flag": flag,
            "varied": varied,
            "y": rng.integers(0, 2, N),
        }
    )
    findings = quality(table)
    constant = only(findings, "quality.constant", "country")
    assert constant.severity == Severity.WARNING and "'FR' in every row" in constant.message
    assert only(findings, "quality.constant", "near").evidence["rows_with_value"] == N - 30
    assert only(findings, "quality.constant", "flag").severity == Severity.INFO
    assert [f for f in named(findings, "quality.constant") if "varied" in f.columns] == []


def test_a_column_that_reencodes_another():
    rng = np.random.default_rng(9)
    states = rng.choice(["Texas", "Ohio", "Iowa", "Utah"], N)
    codes = {"Texas": "TX", "Ohio": "OH", "Iowa": "IA", "Utah": "UT"}
    numbers = {"Texas": 48, "Ohio": 39, "Iowa": 19, "Utah": 49}
    table = pa.table(
        {
            "state": states,
            "state_code": [codes[s] for s in states],
            "state_number": [numbers[s] for s in states],
            "other": rng.choice(["a", "b", "c", "d"], N),
            "y": rng.integers(0, 2, N),
        }
    )
    findings = named(quality(table), "quality.reencoding")
    assert {f.columns for f in findings} == {
        ("state", "state_code"),
        ("state", "state_number"),
        ("state_code", "state_number"),
    }
    assert findings[0].evidence["distinct"] == 4


def test_nearly_one_to_one_columns_are_not_reencodings():
    rng = np.random.default_rng(10)
    a = rng.integers(0, 5, N)
    b = a.copy()
    b[0] = (b[0] + 1) % 5  # one row breaks the mapping
    c = rng.permutation(a)  # same counts, no mapping
    assert named(quality(pa.table({"a": a, "b": b, "c": c, "y": a})), "quality.reencoding") == []


def test_high_cardinality_text():
    rng = np.random.default_rng(11)
    table = pa.table(
        {
            "product": rng.choice([f"p{i}" for i in range(800)], 5000),
            "colour": rng.choice([f"c{i}" for i in range(50)], 5000),
            "y": rng.integers(0, 2, 5000),
        }
    )
    finding = only(quality(table), "quality.high_cardinality")
    assert finding.columns == ("product",)


def test_text_almost_unique_but_not_quite_is_high_cardinality():
    rng = np.random.default_rng(15)
    names = [f"n{i}" for i in rng.integers(0, 3000, 5000)]  # about 80% distinct
    findings = quality(pa.table({"name": names, "y": rng.integers(0, 2, 5000)}))
    assert named(findings, "quality.identifier") == []
    assert only(findings, "quality.high_cardinality").columns == ("name",)


def test_identifiers_are_found_but_not_the_declared_entity():
    rng = np.random.default_rng(12)
    rows = 5000
    table = pa.table(
        {
            "customer": [f"C{i}" for i in range(rows)],
            "row_number": np.arange(1, rows + 1),
            "order_no": rng.permutation(10**7)[:rows],
            "email": [f"user{i}@example.com" for i in rng.permutation(rows)],
            "amount_cents": rng.permutation(10**7)[:rows],  # unique, but a measurement
            "price": rng.lognormal(3, 1, rows),
            "y": rng.integers(0, 2, rows),
        }
    )
    findings = named(quality(table, entity="customer"), "quality.identifier")
    assert {f.columns[0] for f in findings} == {"row_number", "order_no", "email"}
    assert all(f.severity == Severity.WARNING for f in findings)
    assert "running number" in only(findings, "quality.identifier", "row_number").message


def test_outlier_count_matches_its_fences():
    rng = np.random.default_rng(13)
    values = rng.normal(100, 10, N)
    values[:300] = rng.uniform(1000, 2000, 300)
    finding = only(quality(pa.table({"v": values, "y": rng.integers(0, 2, N)})), "quality.outliers")
    low, high = finding.evidence["low_fence"], finding.evidence["high_fence"]
    assert finding.evidence["outside"] == int(((values < low) | (values > high)).sum()) == 300
    assert finding.severity == Severity.WARNING


def test_skewed_values_are_judged_on_a_log_scale():
    rng = np.random.default_rng(14)
    table = pa.table({"income": rng.lognormal(10, 1, N), "y": rng.integers(0, 2, N)})
    assert serious(named(quality(table), "quality.outliers")) == []


@given(st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_iqr_fences_contain_the_quartiles(q25, spread):
    low, high = iqr_fences(q25, q25 + spread)
    assert low <= q25 <= q25 + spread <= high
    assert high - low == pytest.approx(7 * spread, abs=1e-6)


def test_spellings_that_differ_by_case_or_spaces():
    values = ["Yes"] * 400 + ["yes "] * 30 + ["YES"] * 5 + ["No"] * 500 + ["no"] * 65
    finding = only(quality(pa.table({"answer": values, "y": [0, 1] * 500})), "quality.spelling")
    assert finding.evidence["groups"] == [
        [["No", 500], ["no", 65]],
        [["Yes", 400], ["yes ", 30], ["YES", 5]],
    ]
    assert finding.severity == Severity.WARNING


def test_spellings_in_high_cardinality_text_are_found_in_sql():
    values = [f"name {i}" for i in range(3000)] + ["Name  7", "NAME 7"]
    finding = only(quality(pa.table({"n": values, "y": [0, 1] * 1501})), "quality.spelling")
    assert finding.evidence["groups"] == [[["NAME 7", 1], ["Name  7", 1], ["name 7", 1]]]


@given(
    st.lists(
        st.tuples(st.text(max_size=6), st.integers(1, 9)), max_size=30, unique_by=lambda p: p[0]
    )
)
def test_spelling_groups_only_join_values_equal_up_to_case_and_spaces(pairs):
    for group in spelling_groups(pairs):
        assert len(group) > 1
        assert len({" ".join(v.split()).lower() for v in group}) == 1


def test_share_is_written_for_people():
    assert [share(x) for x in (0, 0.00001, 0.0089, 0.021, 0.12, 1)] == [
        "0%",
        "<0.01%",
        "0.89%",
        "2.1%",
        "12%",
        "100%",
    ]


# -- real datasets ------------------------------------------------------------------------------


def real(data_dir, name: str, **charter):
    return make_context(dataset_from_csv(data_dir / f"{name}.csv"), **charter)


def test_california_housing(data_dir):
    findings = check_quality(real(data_dir, "california_housing", target="median_house_value"))
    missing = only(findings, "quality.missing")
    assert missing.columns == ("total_bedrooms",)
    assert missing.evidence["columns"]["total_bedrooms"]["missing"] == 207
    # housing_median_age is top-coded at 52 in the census extract
    capped = only(findings, "quality.capped")
    assert capped.columns == ("housing_median_age",) and capped.evidence["value"] == 52
    assert [f for f in findings if f.severity == Severity.ERROR] == []


def test_german_credit_has_no_missing_values(data_dir):
    findings = check_quality(real(data_dir, "german_credit", target="class"))
    assert named(findings, "quality.missing") == []
    assert serious(findings) == []
    # 'none' (no guarantor, no telephone) is a real answer, only pointed out
    assert {f.columns[0] for f in named(findings, "quality.placeholder")} == {
        "other_parties",
        "other_payment_plans",
        "own_telephone",
    }


def test_bike_sharing_hour(data_dir):
    findings = check_quality(real(data_dir, "bike_sharing_hour", target="cnt", time="dteday"))
    # `instant` numbers the rows: an analyst drops it
    identifier = only(findings, "quality.identifier")
    assert identifier.columns == ("instant",) and identifier.evidence["sequence"] is True
    assert (
        named(findings, "quality.missing") == [] and named(findings, "quality.duplicate_rows") == []
    )
    assert serious(findings) == [identifier]


def test_walmart_stores_repeat_once_per_week(data_dir):
    findings = check_quality(
        real(data_dir, "walmart_weekly_sales", target="Weekly_Sales", entity="Store", time="Date")
    )
    repeated = only(findings, "quality.duplicate_entity")
    assert repeated.severity == Severity.INFO and repeated.evidence["repeated_ids"] == 45
    assert serious(findings) == []


def test_a_csv_whose_numbers_use_question_marks_for_missing(tmp_path):
    path = tmp_path / "d.csv"
    lines = [f"{i * 1.5},{i % 2}" for i in range(300)] + ["?,0"] * 30
    path.write_text("amount,y\n" + "\n".join(lines) + "\n")
    findings = check_quality(make_context(dataset_from_csv(path)))
    assert only(findings, "quality.placeholder").evidence["tokens"] == {"?": 30}
    assert only(findings, "quality.missing").evidence["missing"] == 30
    text = only(findings, "quality.type_as_text")
    assert text.evidence["parsed"] == 300 and text.evidence["failing"] == 0
