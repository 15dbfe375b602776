"""Leakage checks: target copies and derivations, one-feature answers, dominance, later dates."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

from charter.audit import Finding, Severity
from charter.audit._leakage import check_leakage, linear_combination, out_of_fold_score
from conftest import dataset_from_csv, make_context


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.check, []).append(finding)
    return grouped


def flagged(findings: list[Finding], check: str) -> set[str]:
    return {c for f in findings if f.check == check for c in f.columns}


def churn_table(n: int = 3000, seed: int = 0) -> dict[str, object]:
    """A realistic churn snapshot: signal spread over features, all dates before the snapshot."""
    rng = np.random.default_rng(seed)
    snapshot = np.datetime64("2024-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")
    signup = snapshot - rng.integers(30, 2000, n).astype("timedelta64[D]")
    last_payment = snapshot - rng.integers(0, 40, n).astype("timedelta64[D]")
    tenure = ((snapshot - signup).astype(int) / 30).round()
    charges = rng.normal(70, 20, n).round(2)
    calls = rng.poisson(1.5, n)
    contract = rng.choice(["monthly", "yearly", "two-year"], n, p=[0.5, 0.3, 0.2])
    logit = -1.0 - 0.02 * tenure + 0.02 * (charges - 70) + 0.3 * calls
    logit += np.where(contract == "monthly", 0.8, -0.4)
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return {
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "snapshot_date": pa.array(snapshot),
        "signup_date": pa.array(signup),
        "last_payment_date": [str(d) for d in last_payment],  # ISO text dates
        "tenure_months": tenure,
        "monthly_charges": charges,
        "total_charges": (charges * tenure * rng.uniform(0.9, 1.1, n)).round(2),
        "support_calls": calls,
        "contract": contract,
        "region": rng.choice(["north", "south", "east", "west"], n),
        "churned": churned,
    }


def context(columns: dict[str, object], **charter: object):
    charter.setdefault("target", "churned")
    return make_context(pa.table(columns), **charter)  # type: ignore[arg-type]


def churn_context(columns: dict[str, object]):
    return context(columns, entity="customer_id", time="snapshot_date")


def test_clean_table_raises_no_alarm() -> None:
    findings = check_leakage(churn_context(churn_table()))
    assert findings == []


def test_copy_of_the_target_under_another_name() -> None:
    columns = churn_table()
    columns["churn_flag"] = ["Yes" if v == "yes" else "No" for v in columns["churned"]]
    findings = check_leakage(churn_context(columns))
    [finding] = by_check(findings)["leakage.target_derived"]
    assert finding.columns == ("churn_flag",)
    assert finding.severity == Severity.ERROR
    assert finding.evidence["relation"] == "identical"  # 'Yes' is 'yes', ignoring case
    assert "leakage.single_feature" not in by_check(findings)  # reported once, not twice


def test_one_to_one_recoding_of_the_target() -> None:
    columns = churn_table()
    columns["status"] = ["closed" if v == "yes" else "active" for v in columns["churned"]]
    [finding] = by_check(check_leakage(churn_context(columns)))["leakage.target_derived"]
    assert finding.columns == ("status",)
    assert finding.evidence["relation"] == "one_to_one"
    assert finding.evidence["mapping"] == {"active": "no", "closed": "yes"}
    assert "'closed' ↔ 'yes'" in finding.message


def test_coarsened_multiclass_target() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    reason = rng.choice(["price", "service", "moved", "none"], n, p=[0.2, 0.2, 0.1, 0.5])
    columns = {
        "x": rng.normal(size=n),
        "left": (reason != "none").astype(int),  # a function of the target, not one-to-one
        "y": reason,
    }
    [finding] = by_check(check_leakage(context(columns, target="y")))["leakage.target_derived"]
    assert finding.columns == ("left",)
    assert finding.evidence["relation"] == "function"


def test_sum_of_parts_reproduces_a_regression_target() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    casual = rng.poisson(30, n)
    registered = rng.poisson(150, n)
    columns = {
        "temp": rng.normal(20, 5, n),
        "hour": rng.integers(0, 24, n),
        "casual": casual,
        "registered": registered,
        "cnt": casual + registered,
    }
    findings = check_leakage(context(columns, target="cnt", task="regression"))
    [finding] = by_check(findings)["leakage.target_derived"]
    assert set(finding.columns) == {"casual", "registered"}
    assert finding.evidence["relation"] == "linear_combination"
    assert finding.evidence["coefficients"] == pytest.approx({"casual": 1.0, "registered": 1.0})
    assert finding.evidence["r2"] > 0.999


def test_unit_change_of_a_continuous_target() -> None:
    rng = np.random.default_rng(5)
    price = rng.lognormal(12, 0.5, 2000)
    columns = {"rooms": rng.integers(1, 8, 2000), "log_price": np.log(price), "price": price}
    [finding] = by_check(check_leakage(context(columns, target="price", task="regression")))[
        "leakage.target_derived"
    ]
    assert finding.columns == ("log_price",)
    assert finding.evidence["relation"] == "monotone"


def test_numeric_feature_that_alone_separates_the_classes() -> None:
    columns = churn_table()
    rng = np.random.default_rng(6)
    positive = np.array(columns["churned"]) == "yes"
    # days since cancellation: filled for churners, almost never for the others
    columns["days_since_cancel"] = np.where(positive, rng.integers(1, 30, positive.size), 0) + (
        rng.random(positive.size) < 0.005
    )
    findings = check_leakage(churn_context(columns))
    [finding] = by_check(findings)["leakage.single_feature"]
    assert finding.columns == ("days_since_cancel",)
    assert finding.evidence["metric"] == "roc_auc"
    assert finding.evidence["score"] >= 0.98
    assert "leakage.dominant_feature" not in by_check(findings)  # refitted without it


def test_category_that_alone_separates_the_classes() -> None:
    columns = churn_table()
    rng = np.random.default_rng(7)
    positive = np.array(columns["churned"]) == "yes"
    noise = rng.random(positive.size) < 0.01
    columns["account_state"] = np.where(positive ^ noise, "closing", "open")
    columns["account_state"] = np.where(
        columns["account_state"] == "open",
        rng.choice(["open", "open-premium"], positive.size),
        columns["account_state"],
    )
    findings = check_leakage(churn_context(columns))
    assert flagged(findings, "leakage.single_feature") == {"account_state"}


def test_filled_only_after_the_outcome() -> None:
    columns = churn_table()
    rng = np.random.default_rng(8)
    positive = np.array(columns["churned"]) == "yes"
    reasons = rng.choice(["price", "service", "moved"], positive.size)
    columns["cancel_reason"] = [r if p else None for r, p in zip(reasons, positive, strict=True)]
    [finding] = by_check(check_leakage(churn_context(columns)))["leakage.single_feature"]
    assert finding.columns == ("cancel_reason",)
    assert "empty" in finding.message  # the missingness gives it away


def test_regression_feature_that_alone_predicts() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(100, 20, 3000)
    columns = {
        "noise": rng.normal(size=3000),
        "approx": y + rng.normal(0, 3, 3000),  # R² ≈ 0.98, not an exact transform
        "y": y,
    }
    findings = check_leakage(context(columns, target="y", task="regression"))
    assert flagged(findings, "leakage.single_feature") == {"approx"}
    assert flagged(findings, "leakage.target_derived") == set()


def test_identifier_like_column_is_not_a_leak() -> None:
    columns = churn_table()
    columns["ticket"] = [f"T{i}" for i in range(len(columns["churned"]))]
    assert check_leakage(churn_context(columns)) == []


def test_dominant_feature_asks_whether_it_is_known_in_time() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.normal(size=(n, 6))
    y = x[:, 0] + 0.1 * x[:, 1] + 0.4 * rng.normal(size=n) > 0
    columns = {**{f"x{i}": x[:, i] for i in range(6)}, "y": y}
    findings = check_leakage(context(columns, target="y"))
    [finding] = findings
    assert finding.check == "leakage.dominant_feature"
    assert finding.severity == Severity.WARNING
    assert finding.columns == ("x0",)
    assert finding.evidence["share"] > 0.5
    assert finding.evidence["share"] > 5 * finding.evidence["next_share"]
    assert "known at decision time" in finding.message


def test_dates_after_the_decision_time() -> None:
    columns = churn_table()
    rng = np.random.default_rng(10)
    snapshot = columns["snapshot_date"].to_numpy(zero_copy_only=False)
    n = snapshot.size
    later = rng.random(n) < 0.3
    closed = snapshot + np.where(later, 10, -400).astype("timedelta64[D]")
    columns["closed_on"] = [d.astype(date).strftime("%d/%m/%Y") for d in closed]  # text, day first
    few = np.arange(n) < 60  # 2% of rows
    login = snapshot + np.where(few, 3, -2).astype("timedelta64[D]")
    columns["last_login"] = pa.array(login)
    findings = by_check(check_leakage(churn_context(columns)))["leakage.future_timestamp"]
    found = {f.columns[0]: f for f in findings}
    assert set(found) == {"closed_on", "last_login"}
    assert found["closed_on"].severity == Severity.ERROR
    assert found["closed_on"].evidence["rows_after"] == int(later.sum())
    assert found["closed_on"].evidence["share"] == pytest.approx(later.mean(), abs=1e-4)
    assert found["last_login"].severity == Severity.WARNING
    assert found["last_login"].evidence["rows_after"] == 60


def test_outcome_date_is_reported_once() -> None:
    columns = churn_table()
    rng = np.random.default_rng(14)
    snapshot = columns["snapshot_date"].to_numpy(zero_copy_only=False)
    positive = np.array(columns["churned"]) == "yes"
    offset = np.where(positive, rng.integers(5, 60, positive.size), -rng.integers(1, 9, 3000) * 365)
    columns["account_closed_date"] = pa.array(snapshot + offset.astype("timedelta64[D]"))
    findings = check_leakage(churn_context(columns))
    assert [(f.check, f.columns) for f in findings] == [
        ("leakage.future_timestamp", ("account_closed_date",))
    ]
    assert findings[0].severity == Severity.ERROR


def test_same_day_is_not_after_a_date_snapshot() -> None:
    columns = churn_table(500)
    snapshot = columns["snapshot_date"].to_numpy(zero_copy_only=False)
    columns["updated_at"] = pa.array(
        snapshot.astype("datetime64[s]") + np.timedelta64(15, "h")
    )  # later the same day
    assert flagged(check_leakage(churn_context(columns)), "leakage.future_timestamp") == set()


def test_no_time_column_no_timestamp_check() -> None:
    columns = churn_table(500)
    later = columns["snapshot_date"].to_numpy(zero_copy_only=False) + np.timedelta64(5, "D")
    columns["closed_on"] = pa.array(later)
    findings = check_leakage(context(columns, entity="customer_id"))
    assert "leakage.future_timestamp" not in by_check(findings)


def test_same_data_gives_same_findings() -> None:
    columns = churn_table(1500)
    columns["status"] = ["closed" if v == "yes" else "open" for v in columns["churned"]]
    first = [f.to_dict() for f in check_leakage(churn_context(columns))]
    second = [f.to_dict() for f in check_leakage(churn_context(columns))]
    assert first == second
    assert json.loads(json.dumps(first)) == first


def test_linear_combination_finds_the_smallest_exact_set() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(500, 6))
    x[:, 5] = x[:, 0] + 0.01 * rng.normal(size=500)  # a near-duplicate column
    y = 2 * x[:, 1] - x[:, 4] + 3
    members, r2, coefficients = linear_combination(x, y)
    assert members == (1, 4)
    assert coefficients == pytest.approx((2.0, -1.0))
    assert r2 == pytest.approx(LinearRegression().fit(x[:, [1, 4]], y).score(x[:, [1, 4]], y))


def test_linear_combination_none_for_noisy_relations() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(500, 5))
    y = x @ np.array([1.0, 2.0, 0.5, 0.0, 1.0]) + 0.05 * rng.normal(size=500)
    assert linear_combination(x, y) is None  # R² ≈ 0.9995 needs four columns, not three


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_out_of_fold_score_of_an_unrelated_column_is_near_chance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(2000) < 0.3).astype(float)
    assert 0.4 < out_of_fold_score(rng.normal(size=2000), y, "binary") < 0.6
    ids = np.arange(2000, dtype=float)  # unique per row: every held-out bin is unseen
    assert 0.4 < out_of_fold_score(ids, y, "binary", categorical=True) < 0.6


def test_out_of_fold_score_of_a_perfect_column() -> None:
    rng = np.random.default_rng(13)
    y = rng.normal(size=3000)
    assert out_of_fold_score(y, y, "regression") > 0.99
    labels = (y > 0).astype(float)
    assert out_of_fold_score(y, labels, "binary") > 0.99


@pytest.fixture
def bike(data_dir):
    dataset = dataset_from_csv(data_dir / "bike_sharing_hour.csv")
    return make_context(dataset, target="cnt", task="regression", time="dteday")


def test_bike_sharing_casual_plus_registered_is_target_derived(bike) -> None:
    findings = check_leakage(bike)
    [finding] = by_check(findings)["leakage.target_derived"]
    assert set(finding.columns) == {"casual", "registered"}
    assert finding.severity == Severity.ERROR
    assert "'casual'" in finding.message and "'registered'" in finding.message
    assert flagged(findings, "leakage.single_feature") == set()


@pytest.mark.parametrize(
    ("file", "target", "task"),
    [
        ("german_credit.csv", "class", "classification"),
        ("california_housing.csv", "median_house_value", "regression"),
    ],
)
def test_real_tables_without_leaks(data_dir, file: str, target: str, task: str) -> None:
    ctx = make_context(dataset_from_csv(data_dir / file), target=target, task=task)  # type: ignore[arg-type]
    assert check_leakage(ctx) == []
