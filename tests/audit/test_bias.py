"""Representativeness and bias: class balance, outcomes per sensitive group, small groups."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from charter.audit import AuditContext, Finding, Severity
from charter.audit._bias import (
    anova_p_value,
    check_bias,
    class_label,
    same_class,
    target_classes,
)
from charter.spec import ConstraintsSpec
from conftest import dataset_from_csv, make_context


def with_charter(ctx: AuditContext, **updates: Any) -> AuditContext:
    """The same data under a charter with some fields changed (a fresh context, no cache)."""
    return AuditContext(
        charter=ctx.charter.model_copy(update=updates),
        dataset=ctx.dataset,
        profile=ctx.profile,
        now=ctx.now,
    )


def grouped(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.check, f.columns[0] if f.columns else ""): f for f in findings}


def assert_json_ready(findings: list[Finding]) -> None:
    for finding in findings:
        document = finding.to_dict()
        assert json.loads(json.dumps(document)) == document


def rated_table(groups: dict[str, tuple[int, int]], *, column: str = "gender") -> pa.Table:
    """Exactly `positives` of `rows` per group have y = 'yes'."""
    values, labels = [], []
    for group, (rows, positives) in groups.items():
        values += [group] * rows
        labels += ["yes"] * positives + ["no"] * (rows - positives)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(values))
    return pa.table(
        {
            column: [values[i] for i in order],
            "x": rng.normal(size=len(values)),
            "y": [labels[i] for i in order],
        }
    )


def test_clean_table_raises_no_alarm() -> None:
    table = rated_table({"female": (1200, 360), "male": (1100, 341), "other": (200, 58)})
    findings = check_bias(make_context(table, sensitive=["gender"]))
    assert [f.check for f in findings] == ["bias.class_balance", "bias.group_rates"]
    assert all(f.severity == Severity.INFO for f in findings), [f.message for f in findings]
    assert_json_ready(findings)


def test_class_balance_shares() -> None:
    table = rated_table({"a": (700, 210), "b": (300, 90)})
    [finding] = check_bias(make_context(table))
    assert finding.check == "bias.class_balance"
    assert finding.evidence["classes"] == [
        {"class": "no", "rows": 700, "share": 0.7},
        {"class": "yes", "rows": 300, "share": 0.3},
    ]
    assert finding.evidence["positive_class"] == "yes"  # the minority class
    assert finding.evidence["positive_class_source"] == "minority"


def test_large_gap_between_groups_is_a_warning() -> None:
    table = rated_table({"a": (500, 250), "b": (500, 100), "c": (400, 120)})
    found = grouped(check_bias(make_context(table, sensitive=["gender"])))
    finding = found["bias.group_rates", "gender"]
    assert finding.severity == Severity.WARNING
    evidence = finding.evidence
    assert evidence["metric"] == "positive_rate"
    assert evidence["positive_class"] == "yes"
    assert {g["group"]: g["rate"] for g in evidence["groups"]} == {"a": 0.5, "b": 0.2, "c": 0.3}
    assert {g["group"]: g["rows"] for g in evidence["groups"]} == {"a": 500, "b": 500, "c": 400}
    assert evidence["gap"] == pytest.approx(0.3)
    assert (evidence["highest"], evidence["lowest"]) == ("a", "b")
    table_counts = [[250, 250], [100, 400], [120, 280]]
    assert evidence["p_value"] == pytest.approx(
        stats.chi2_contingency(table_counts, correction=False).pvalue, rel=1e-4, abs=1e-12
    )
    assert "50.0%" in finding.message and "20.0%" in finding.message
    assert_json_ready([finding])


def test_gap_within_chance_is_not_a_warning() -> None:
    # 0.14 apart, but on 40 rows per group that is well within chance
    table = rated_table({"a": (40, 14), "b": (40, 9)}, column="region")
    found = grouped(check_bias(make_context(table, sensitive=["region"])))
    finding = found["bias.group_rates", "region"]
    assert finding.evidence["gap"] == pytest.approx(0.125)
    assert finding.evidence["p_value"] > 0.05
    assert finding.severity == Severity.INFO


def test_charter_fairness_gap_sets_the_threshold() -> None:
    table = rated_table({"a": (5000, 1500), "b": (5000, 1200)})  # 6 points, p ≈ 1e-11
    context = make_context(table, sensitive=["gender"])
    default = grouped(check_bias(context))["bias.group_rates", "gender"]
    assert default.severity == Severity.INFO  # below the default 0.1
    strict = with_charter(context, constraints=ConstraintsSpec(max_fairness_gap=0.05))
    finding = grouped(check_bias(strict))["bias.group_rates", "gender"]
    assert finding.severity == Severity.WARNING
    assert finding.evidence["threshold"] == 0.05


def test_small_groups_are_listed() -> None:
    table = rated_table(
        {"a": (3000, 900), "b": (2900, 870), "c": (45, 13), "d": (12, 3)}, column="origin"
    )
    found = grouped(check_bias(make_context(table, sensitive=["origin"])))
    small = found["bias.small_group", "origin"]
    assert small.severity == Severity.WARNING
    # 'c' has 45 rows, above 30 but under 1% of 5,957; 'd' has 12
    assert small.evidence["groups"] == [{"group": "c", "rows": 45}, {"group": "d", "rows": 12}]
    rates = found["bias.group_rates", "origin"].evidence["groups"]
    assert {g["group"]: g["evaluable"] for g in rates} == {
        "a": True,
        "b": True,
        "c": False,
        "d": False,
    }


def test_missing_values_form_their_own_group_but_are_never_small() -> None:
    table = rated_table({"a": (1000, 300), "b": (1000, 310)})
    values = table["gender"].to_pylist()
    values[:5] = [None] * 5
    table = table.set_column(0, "gender", pa.array(values))
    found = grouped(check_bias(make_context(table, sensitive=["gender"])))
    groups = {g["group"] for g in found["bias.group_rates", "gender"].evidence["groups"]}
    assert "(missing)" in groups
    assert ("bias.small_group", "gender") not in found


def test_numeric_sensitive_column_is_banded() -> None:
    rng = np.random.default_rng(3)
    age = rng.integers(18, 80, 4000)
    churned = np.where(rng.random(4000) < np.where(age < 30, 0.45, 0.25), "yes", "no")
    table = pa.table({"age": age, "y": churned})
    finding = grouped(check_bias(make_context(table, sensitive=["age"])))["bias.group_rates", "age"]
    groups = finding.evidence["groups"]
    assert len(groups) == 4
    assert groups[0]["group"].startswith("under ") and groups[-1]["group"].endswith(" and over")
    first_edge = float(groups[0]["group"].removeprefix("under "))
    young = age < first_edge
    assert groups[0]["rows"] == int(young.sum())
    assert groups[0]["rate"] == pytest.approx(float(np.mean(churned[young] == "yes")), abs=1e-6)
    assert finding.severity == Severity.WARNING


def test_regression_compares_mean_target() -> None:
    rng = np.random.default_rng(4)
    group = rng.choice(["x", "y", "z"], 3000)
    salary = rng.normal(50_000, 5_000, 3000) + np.where(group == "z", 10_000, 0)
    table = pa.table({"group": group, "salary": salary})
    context = make_context(table, target="salary", task="regression", sensitive=["group"])
    findings = check_bias(context)
    assert "bias.class_balance" not in {f.check for f in findings}
    finding = grouped(findings)["bias.group_rates", "group"]
    assert finding.evidence["metric"] == "mean_target"
    means = {g["group"]: g["rate"] for g in finding.evidence["groups"]}
    for name in "xyz":
        assert means[name] == pytest.approx(salary[group == name].mean(), rel=1e-9)
    assert finding.evidence["highest"] == "z"
    assert finding.evidence["relative_gap"] == pytest.approx(
        (max(means.values()) - min(means.values())) / salary.mean(), abs=1e-6
    )
    assert finding.severity == Severity.WARNING
    expected_p = stats.f_oneway(*(salary[group == name] for name in "xyz")).pvalue
    assert finding.evidence["p_value"] == pytest.approx(expected_p, abs=1e-12)


def test_missing_sensitive_column_is_a_warning() -> None:
    table = rated_table({"a": (100, 30), "b": (100, 30)})
    found = grouped(check_bias(make_context(table, sensitive=["ethnicity"])))
    assert found["bias.group_rates", "ethnicity"].severity == Severity.WARNING
    assert "not in the data" in found["bias.group_rates", "ethnicity"].message


def test_many_groups_pool_the_rest() -> None:
    groups = {f"g{i:02d}": (100, 30) for i in range(40)}
    table = rated_table(groups, column="zip")
    finding = grouped(check_bias(make_context(table, sensitive=["zip"])))["bias.group_rates", "zip"]
    names = [g["group"] for g in finding.evidence["groups"]]
    assert len(names) == 31 and names[-1] == "(other)"
    assert finding.evidence["groups"][-1]["rows"] == 1000


@pytest.mark.parametrize(
    ("declared", "values", "positive"),
    [
        ("yes", ["Yes", "No", "No"], "Yes"),
        (True, ["yes", "no", "yes"], "yes"),  # YAML gave a bool, the data holds text
        (1, ["good", "bad", "bad"], "good"),  # no match: the minority class is used
        ("true", [True, False, False], "true"),
        (1, [0.0, 1.0, 1.0], "1"),
        ("bad", ["good", "bad", "good"], "bad"),
    ],
)
def test_positive_class(declared: Any, values: list[Any], positive: str) -> None:
    table = pa.table({"x": list(range(len(values))), "y": values})
    context = with_charter(make_context(table), positive_class=declared)
    classes = target_classes(context)
    assert classes is not None
    assert classes.positive_label == positive
    if positive == "good" and declared == 1:
        assert classes.source == "minority" and "matches none" in classes.note


def test_positive_class_declared_changes_the_rate() -> None:
    table = rated_table({"a": (500, 150), "b": (500, 150)})
    context = with_charter(make_context(table, sensitive=["gender"]), positive_class="no")
    finding = grouped(check_bias(context))["bias.group_rates", "gender"]
    assert finding.evidence["positive_class"] == "no"
    assert {g["rate"] for g in finding.evidence["groups"]} == {0.7}


def test_class_label_and_same_class() -> None:
    assert class_label(True) == "true" and class_label(1.0) == "1" and class_label(2.5) == "2.5"
    assert same_class("YES", True) and same_class(1, "yes") and same_class(True, 1.0)
    assert same_class(" Churned ", "churned")
    assert not same_class("yes", "no") and not same_class(0, True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=30),
        min_size=2,
        max_size=5,
    )
)
def test_anova_p_value_matches_scipy(samples: list[list[float]]) -> None:
    arrays = [np.array(s) for s in samples]
    within = sum(float(((a - a.mean()) ** 2).sum()) for a in arrays)
    if within < 1e-6:  # scipy's own answer is degenerate when every group is constant
        return
    expected = stats.f_oneway(*arrays).pvalue
    if np.isnan(expected):  # scipy gives up when the group means are all equal; F = 0, p = 1
        expected = 1.0
    got = anova_p_value(
        [a.size for a in arrays],
        [float(a.mean()) for a in arrays],
        [float(a.var(ddof=1)) for a in arrays],
    )
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.fixture
def german(data_dir):
    dataset = dataset_from_csv(data_dir / "german_credit.csv")
    return make_context(dataset, target="class", sensitive=["personal_status", "age"])


def test_german_credit_group_rates(german, data_dir) -> None:
    findings = check_bias(german)
    assert_json_ready(findings)
    found = grouped(findings)
    balance = found["bias.class_balance", "class"].evidence
    assert balance["positive_class"] == "bad"
    assert [(c["class"], c["rows"]) for c in balance["classes"]] == [("good", 700), ("bad", 300)]

    status = found["bias.group_rates", "personal_status"]
    frame = pd.read_csv(data_dir / "german_credit.csv")
    expected = (frame["class"] == "bad").groupby(frame["personal_status"]).mean().to_dict()
    rates = {g["group"]: g["rate"] for g in status.evidence["groups"]}
    assert rates == pytest.approx(expected, abs=1e-6)
    assert rates["male div/sep"] == pytest.approx(0.4)
    assert status.evidence["highest"] == "male div/sep"
    assert status.severity == Severity.WARNING  # 13 points apart, p ≈ 0.02

    age = found["bias.group_rates", "age"]
    assert len(age.evidence["groups"]) == 4
    assert age.evidence["highest"].startswith("under ")  # the youngest default most
    assert ("bias.small_group", "personal_status") not in found  # smallest group has 50 rows
