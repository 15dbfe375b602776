"""Volume checks: rows, rows per class and per feature, and the learning curve."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from charter.audit import Finding, Severity
from charter.audit._quickmodel import model_frame
from charter.audit._volume import (
    MAX_CATEGORY_WIDTH,
    CurvePoint,
    check_volume,
    curve_verdict,
    gain_per_doubling,
)
from conftest import dataset_from_csv, make_context


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def assert_plain_json(findings: list[Finding]) -> None:
    """Evidence holds only JSON types (no numpy scalars), and survives a round trip."""

    def walk(value: object) -> None:
        if isinstance(value, dict):
            assert all(type(k) is str for k in value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert type(value) in (str, int, float, bool, type(None)), (type(value), value)

    for finding in findings:
        document = finding.to_dict()
        walk(document)
        assert json.loads(json.dumps(document)) == document


def clean_table(n: int = 3000, seed: int = 0) -> pa.Table:
    """A churn-like table: several features matter a little, none gives the answer away."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    charges = rng.normal(70, 20, n).round(2)
    calls = rng.poisson(1.5, n)
    contract = rng.choice(["monthly", "yearly", "two-year"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], n)
    logit = -1.0 - 0.03 * tenure + 0.02 * (charges - 70) + 0.3 * calls
    logit += np.where(contract == "monthly", 0.8, -0.4)
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pa.table(
        {
            "tenure": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "contract": contract,
            "region": region,
            "churned": churned,
        }
    )


def test_clean_table_raises_no_alarm() -> None:
    findings = check_volume(make_context(clean_table(), target="churned"))
    assert {f.check for f in findings} == {
        "volume.rows",
        "volume.class_size",
        "volume.rows_per_feature",
        "volume.learning_curve",
    }
    assert all(f.severity == Severity.INFO for f in findings), [f.message for f in findings]
    assert_plain_json(findings)


@pytest.mark.parametrize(
    ("rows", "severity"),
    [(60, Severity.ERROR), (99, Severity.ERROR), (100, Severity.WARNING), (999, Severity.WARNING),
     (1000, Severity.INFO)],
)  # fmt: skip
def test_rows_thresholds(rows: int, severity: Severity) -> None:
    rng = np.random.default_rng(0)
    table = pa.table({"x": rng.normal(size=rows + 7), "y": [*rng.normal(size=rows), *[None] * 7]})
    finding = by_check(check_volume(make_context(table, task="regression")))["volume.rows"]
    assert finding.severity == severity
    assert finding.evidence["rows"] == rows  # rows with an unknown target do not count
    assert finding.evidence["total_rows"] == rows + 7


@pytest.mark.parametrize(
    ("smallest", "severity"), [(10, Severity.ERROR), (50, Severity.WARNING), (150, Severity.INFO)]
)
def test_class_size_names_the_smallest_class(smallest: int, severity: Severity) -> None:
    labels = ["a"] * 1000 + ["b"] * 400 + ["c"] * smallest
    table = pa.table({"x": np.arange(len(labels), dtype=float), "y": labels})
    finding = by_check(check_volume(make_context(table)))["volume.class_size"]
    assert finding.severity == severity
    assert finding.evidence["smallest_class"] == "c"
    assert finding.evidence["smallest_rows"] == smallest
    assert [c["rows"] for c in finding.evidence["classes"]] == [1000, 400, smallest]
    assert "'c'" in finding.message


def test_class_size_is_not_reported_for_regression() -> None:
    table = pa.table({"x": np.arange(500.0), "y": np.random.default_rng(0).normal(size=500)})
    assert "volume.class_size" not in by_check(check_volume(make_context(table, task="regression")))


def test_rows_per_feature_counts_categories_one_hot() -> None:
    rng = np.random.default_rng(1)
    n = 400
    table = pa.table(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, n),
            "flag": rng.random(n) < 0.5,
            "city": [f"c{i % 20}" for i in range(n)],  # 20 levels: width 19
            "code": [f"k{i % 200}" for i in range(n)],  # 200 levels: width capped
            "y": rng.normal(size=n),
        }
    )
    finding = by_check(check_volume(make_context(table, task="regression")))[
        "volume.rows_per_feature"
    ]
    inputs = 1 + 1 + 1 + 19 + MAX_CATEGORY_WIDTH
    assert finding.evidence["inputs"] == inputs
    assert finding.evidence["rows_per_input"] == pytest.approx(n / inputs, abs=1e-3)
    assert finding.severity == Severity.WARNING  # 400 / 72 ≈ 5.6 < 10
    assert "'code'" in finding.message


def test_rows_per_feature_leaves_out_target_entity_and_time() -> None:
    n = 200
    table = pa.table(
        {
            "id": [f"id{i}" for i in range(n)],
            "when": pa.array(np.datetime64("2024-01-01") + np.arange(n).astype("timedelta64[D]")),
            "x": np.arange(n, dtype=float),
            "y": np.arange(n, dtype=float) % 7,
        }
    )
    context = make_context(table, task="regression", entity="id", time="when")
    finding = by_check(check_volume(context))["volume.rows_per_feature"]
    assert finding.evidence["features"] == 1
    assert finding.evidence["inputs"] == 1


def steep_table(n: int = 3000) -> pa.Table:
    """A noise-free but intricate rule: a quick model keeps improving with every row."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(n, 8))
    y = np.sin(4 * x[:, 0]) * np.cos(3 * x[:, 1]) + np.sin(5 * x[:, 2] * x[:, 3]) > 0
    return pa.table({**{f"x{i}": x[:, i] for i in range(8)}, "y": y})


def flat_table(n: int = 10_000) -> pa.Table:
    """A simple rule under heavy label noise: the model has learned all it can early."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 5))
    y = x[:, 0] + 0.5 * x[:, 1] + 1.5 * rng.normal(size=n) > 0
    return pa.table({**{f"x{i}": x[:, i] for i in range(5)}, "y": y})


def test_learning_curve_warns_while_still_rising() -> None:
    finding = by_check(check_volume(make_context(steep_table(), task="classification")))[
        "volume.learning_curve"
    ]
    assert finding.severity == Severity.WARNING
    assert finding.evidence["verdict"] == "steep"
    assert finding.evidence["metric"] == "roc_auc"
    points = finding.evidence["points"]
    assert len(points) == 5
    assert [p["rows"] for p in points] == sorted(p["rows"] for p in points)
    assert points[-1]["rows"] == 2250  # three quarters of the rows train, one quarter scores
    assert points[-1]["score"] > points[0]["score"] + 0.1
    assert "more data would likely improve" in finding.message
    assert_plain_json([finding])


def test_learning_curve_flat_when_more_rows_do_not_help() -> None:
    finding = by_check(check_volume(make_context(flat_table(), task="classification")))[
        "volume.learning_curve"
    ]
    assert finding.severity == Severity.INFO
    assert finding.evidence["verdict"] == "flat"
    assert all(set(p) == {"rows", "score", "std"} for p in finding.evidence["points"])


def test_learning_curve_scores_regression_with_r2() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 3))
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": 2 * x[:, 0] + x[:, 1]})
    finding = by_check(check_volume(make_context(table, task="regression")))[
        "volume.learning_curve"
    ]
    assert finding.evidence["metric"] == "r2"
    assert 0.9 < finding.evidence["points"][-1]["score"] <= 1.0


def test_learning_curve_for_several_classes() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1500, 3))
    labels = np.array(["low", "mid", "high"])[np.digitize(x[:, 0] + 0.3 * x[:, 1], [-0.5, 0.5])]
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": labels})
    context = make_context(table, task="classification")
    frame = model_frame(context)
    assert frame is not None and frame.kind == "multiclass" and len(frame.classes) == 3
    finding = by_check(check_volume(context))["volume.learning_curve"]
    assert finding.evidence["metric"] == "roc_auc"
    assert finding.evidence["points"][-1]["score"] > 0.9


def test_learning_curve_skipped_on_tiny_data() -> None:
    table = pa.table({"x": np.arange(80.0), "y": np.arange(80) % 2 == 0})
    finding = by_check(check_volume(make_context(table)))["volume.learning_curve"]
    assert finding.severity == Severity.INFO
    assert finding.evidence["points"] == []


def test_same_data_gives_same_findings() -> None:
    first = [f.to_dict() for f in check_volume(make_context(steep_table(1200)))]
    second = [f.to_dict() for f in check_volume(make_context(steep_table(1200)))]
    assert first == second


def test_missing_target_column_does_not_crash() -> None:
    table = pa.table({"x": np.arange(500.0)})
    findings = by_check(check_volume(make_context(table, target="absent", task="regression")))
    assert findings["volume.rows"].evidence["rows"] == 500
    assert "volume.learning_curve" not in findings


@pytest.mark.parametrize(
    ("points", "verdict"),
    [
        ([(100, 0.70, 0.01), (200, 0.80, 0.01)], "steep"),  # +0.10 per doubling, noise 0.014
        ([(100, 0.800, 0.001), (200, 0.805, 0.001)], "rising"),  # +0.005, noise 0.0014
        ([(100, 0.70, 0.001), (400, 0.70, 0.001), (800, 0.71, 0.001)], "rising"),  # slope 0.004
        ([(100, 0.70, 0.001), (200, 0.74, 0.001), (400, 0.78, 0.001)], "steep"),  # slope 0.04
        ([(100, 0.80, 0.02), (200, 0.81, 0.02)], "flat"),  # +0.01 within noise 0.028
        ([(100, 0.80, 0.0), (200, 0.79, 0.0)], "flat"),  # falling
        ([(100, 0.80, 0.0)], "flat"),
    ],
)
def test_curve_verdict(points: list[tuple[int, float, float]], verdict: str) -> None:
    assert curve_verdict([CurvePoint(*p) for p in points]) == verdict


def test_gain_per_doubling_is_the_slope_against_log2_rows() -> None:
    points = [CurvePoint(50, 0.5, 0), CurvePoint(100, 0.6, 0), CurvePoint(200, 0.7, 0),
              CurvePoint(800, 0.8, 0)]  # fmt: skip
    expected = np.polyfit(np.log2([100, 200, 800]), [0.6, 0.7, 0.8], 1)[0]
    assert gain_per_doubling(points) == pytest.approx(expected)


@pytest.fixture
def german(data_dir):
    return make_context(dataset_from_csv(data_dir / "german_credit.csv"), target="class")


def test_german_credit_volume(german) -> None:
    findings = by_check(check_volume(german))
    assert findings["volume.rows"].evidence["rows"] == 1000
    assert findings["volume.class_size"].evidence["smallest_class"] == "bad"
    assert findings["volume.class_size"].evidence["smallest_rows"] == 300
    assert findings["volume.rows_per_feature"].severity == Severity.INFO
    curve = findings["volume.learning_curve"].evidence
    assert curve["metric"] == "roc_auc"
    assert 0.6 < curve["points"][-1]["score"] < 0.9
    assert_plain_json(list(findings.values()))
