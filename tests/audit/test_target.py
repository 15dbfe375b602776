from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from charter.audit import Severity
from charter.audit._target import check_target, is_capped
from conftest import dataset_from_csv, make_context

N = 10_000


def target(table: pa.Table, **charter):
    return check_target(make_context(table, **charter))


def only(findings, check):
    found = [f for f in findings if f.check == check]
    assert len(found) == 1, [f.message for f in findings]
    return found[0]


def labels(counts: dict[str, int]) -> list[str]:
    values = [label for label, n in counts.items() for _ in range(n)]
    return list(np.random.default_rng(0).permutation(values))


def table_with(y, rows=None) -> pa.Table:
    rows = rows or len(y)
    return pa.table({"x": np.random.default_rng(1).normal(size=rows), "y": y})


@pytest.mark.parametrize(
    ("y", "task"),
    [
        (labels({"yes": 1500, "no": 8500}), None),
        (np.random.default_rng(2).integers(0, 2, N), "classification"),
        (labels({"a": 3000, "b": 3000, "c": 2000, "d": 2000}), None),
        (np.random.default_rng(3).lognormal(10, 1, N), "regression"),
        (np.random.default_rng(4).normal(0, 1, N), "regression"),
    ],
)
def test_a_clean_target_raises_nothing(y, task):
    assert target(table_with(y), task=task) == []


def test_a_target_absent_from_the_data_is_left_to_another_check():
    assert target(table_with(labels({"a": 50, "b": 50})), target="missing_column") == []


def test_a_few_rows_without_target_are_a_warning():
    y = labels({"yes": 2000, "no": 7500, "?": 100}) + [None] * 400
    finding = only(target(table_with(y)), "target.missing")
    assert finding.severity == Severity.WARNING
    assert finding.evidence["missing"] == 500 and finding.evidence["placeholders"] == 100
    assert finding.message.startswith("500 rows (5%) have no value for the target 'y'")


def test_many_rows_without_target_are_an_error():
    y = [1.0] * 3000 + [None] * 3000 + list(np.random.default_rng(5).normal(size=4000))
    finding = only(target(table_with(y), task="regression"), "target.missing")
    assert finding.severity == Severity.ERROR and finding.evidence["share"] == pytest.approx(0.3)


def test_a_single_class_is_an_error():
    finding = only(target(table_with(["stayed"] * 990 + [None] * 10)), "target.single_class")
    assert finding.severity == Severity.ERROR and "'stayed'" in finding.message


def test_a_rare_class_is_a_warning_and_a_tiny_one_an_error():
    findings = target(table_with(labels({"a": 9000, "b": 960, "c": 35, "d": 5})))
    rare = [f for f in findings if f.check == "target.rare_class"]
    assert [(f.severity, f.evidence["rare"]) for f in rare] == [
        (Severity.ERROR, {"d": 5}),
        (Severity.WARNING, {"c": 35}),
    ]
    assert "'c' (35 rows, 0.35%)" in rare[1].message


def test_a_class_under_one_percent_is_rare_even_with_many_rows():
    findings = target(table_with(labels({"ok": 99_200, "fraud": 800})))
    assert only(findings, "target.rare_class").evidence["rare"] == {"fraud": 800}


def test_numeric_classes_are_counted_in_sql():
    y = np.array([0] * 9980 + [1] * 20)
    finding = only(target(table_with(y), task="classification"), "target.rare_class")
    assert finding.evidence["rare"] == {"1": 20} and finding.severity == Severity.WARNING


def test_positive_class_must_occur():
    context = make_context(table_with(labels({"Yes": 500, "No": 500})))
    context.charter = context.charter.model_copy(update={"positive_class": "yes"})
    finding = only(check_target(context), "target.positive_class")
    assert finding.severity == Severity.ERROR and "'Yes'" in finding.message
    context.charter = context.charter.model_copy(update={"positive_class": "Yes"})
    assert check_target(context) == []


def test_boolean_and_integer_positive_classes_match_their_values():
    for y, positive in (([True, False] * 500, True), ([1, 0] * 500, 1)):
        context = make_context(table_with(y), task="classification")
        context.charter = context.charter.model_copy(update={"positive_class": positive})
        assert check_target(context) == []


def test_a_constant_regression_target_is_an_error():
    finding = only(target(table_with([3.5] * 1000), task="regression"), "target.constant")
    assert finding.severity == Severity.ERROR


def test_a_nearly_constant_regression_target_is_a_warning():
    y = np.zeros(N)
    y[:20] = np.random.default_rng(6).lognormal(size=20)
    finding = only(target(table_with(y), task="regression"), "target.constant")
    assert finding.severity == Severity.WARNING and finding.evidence["rows"] == N - 20


def test_a_regression_target_with_a_sentinel_code():
    y = np.random.default_rng(7).uniform(100, 5000, N)
    y[:80] = 99999
    finding = only(target(table_with(y), task="regression"), "target.sentinel")
    assert finding.evidence["value"] == 99999 and finding.evidence["rows"] == 80


def test_a_capped_regression_target():
    y = np.minimum(np.random.default_rng(8).lognormal(12, 0.5, N).round(), 300_000)
    finding = only(target(table_with(y), task="regression"), "target.capped")
    assert finding.evidence["rows"] == int((y == 300_000).sum())
    assert "maximum, 300,000" in finding.message


def test_a_text_regression_target_is_an_error():
    finding = only(
        target(table_with(["1,200", "900"] * 500), task="regression"), "target.not_numeric"
    )
    assert finding.severity == Severity.ERROR


@pytest.mark.parametrize(
    ("edge", "present", "near_rows", "near_values", "expected"),
    [
        (965, 20640, 60, 50, True),  # house prices capped at 500,001
        (80, 5000, 79, 1, False),  # the oldest age is as frequent as the next one
        (9, 100, 0, 0, False),  # too few rows to call it a cap
        (158, 17379, 4000, 20, False),  # a count's smallest value, as frequent as its neighbours
    ],
)
def test_is_capped(edge, present, near_rows, near_values, expected):
    assert is_capped(edge, present, near_rows, near_values) is expected


def test_california_housing_prices_are_capped(data_dir):
    context = make_context(
        dataset_from_csv(data_dir / "california_housing.csv"), target="median_house_value"
    )
    findings = check_target(context)
    capped = only(findings, "target.capped")
    assert capped.evidence["value"] == 500_001 and capped.evidence["rows"] == 965
    assert [f.check for f in findings] == ["target.capped"]


def test_german_credit_classes_are_fine(data_dir):
    context = make_context(dataset_from_csv(data_dir / "german_credit.csv"), target="class")
    context.charter = context.charter.model_copy(update={"positive_class": "bad"})
    assert check_target(context) == []


def test_bike_sharing_counts_are_fine(data_dir):
    context = make_context(
        dataset_from_csv(data_dir / "bike_sharing_hour.csv"), target="cnt", time="dteday"
    )
    assert check_target(context) == []
