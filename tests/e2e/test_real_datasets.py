"""The whole audit on real public datasets raises what a careful analyst would raise."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from charter.api import Project

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _needs_data():
    if not DATA.is_dir():
        pytest.skip(f"real datasets not found at {DATA}")


def audit(tmp_path: Path, charter: str):
    path = tmp_path / "charter.yaml"
    path.write_text(charter.replace("DATA", str(DATA)))
    return Project(path).audit(now=NOW)


def checks(result, severity=None):
    return {f.check: f for f in result.findings if severity is None or f.severity == severity}


def test_bike_sharing_counts_that_add_up_to_the_target_block_modelling(tmp_path):
    result = audit(
        tmp_path,
        """
project: bikes
task: regression
target: cnt
data: {sources: {hours: DATA/bike_sharing_hour.csv}, entity: instant, time: dteday}
""",
    )
    assert result.verdict == "NOT READY"
    derived = checks(result, "error")["leakage.target_derived"]
    assert {"casual", "registered"} <= set(derived.columns)
    assert "timeliness.staleness" in checks(result)  # the data ends in 2012


def test_german_credit_is_clean_but_shows_group_rates(tmp_path):
    result = audit(
        tmp_path,
        """
project: credit
task: classification
target: class
positive_class: bad
data: {sources: {applicants: DATA/german_credit.csv}, sensitive: [personal_status]}
""",
    )
    found = checks(result)
    assert "quality.missing" not in checks(result, "error")
    assert not any(
        f.check.startswith("leakage.") and f.severity == "error" for f in result.findings
    )
    rates = [
        f
        for f in result.findings
        if f.check.startswith("bias.") and f.columns == ("personal_status",)
    ]
    assert rates, "the target rate per personal_status group is reported"
    assert found["bias.class_balance"].evidence
    assert result.profile.rows == 1000


def test_california_housing_blank_bedrooms_and_capped_values(tmp_path):
    result = audit(
        tmp_path,
        """
project: housing
task: regression
target: median_house_value
data: {sources: {districts: DATA/california_housing.csv}}
""",
    )
    assert result.profile.columns["total_bedrooms"].missing == 207
    found = checks(result)
    assert "total_bedrooms" in found["quality.missing"].columns or any(
        "total_bedrooms" in f.columns for f in result.findings if f.check == "quality.missing"
    )
    # house values are capped at 500,001 in this dataset: a careful analyst notices
    assert any(
        "median_house_value" in f.columns
        for f in result.findings
        if f.check in {"quality.capped", "target.capped", "quality.sentinel"}
    )


def test_walmart_weekly_sales_is_weekly_without_gaps(tmp_path):
    result = audit(
        tmp_path,
        """
project: walmart
task: regression
target: Weekly_Sales
data: {sources: {sales: DATA/walmart_weekly_sales.csv}, entity: Store, time: Date}
""",
    )
    found = checks(result)
    assert "week" in found["timeliness.span"].message
    assert "timeliness.gaps" in found and found["timeliness.gaps"].severity == "info"
