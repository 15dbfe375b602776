"""Training on real public datasets reaches what a careful practitioner gets on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.api import Project

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(autouse=True)
def _needs_data():
    if not DATA.is_dir():
        pytest.skip(f"real datasets not found at {DATA}")


def train(tmp_path: Path, charter: str):
    path = tmp_path / "charter.yaml"
    path.write_text(charter.replace("DATA", str(DATA)))
    return Project(path).train(budget_seconds=8)


def test_german_credit_models_beat_approving_everyone(tmp_path):
    # The cost matrix of the dataset: approving a bad applicant costs 5, rejecting a good one 1.
    result = train(
        tmp_path,
        """
project: credit
task: classification
target: class
positive_class: bad
data: {sources: {applicants: DATA/german_credit.csv}, sensitive: [personal_status]}
success:
  value: {true_positive: 0, false_positive: -1, false_negative: -5, true_negative: 0}
""",
    )
    selected = result.candidate(result.selected)
    assert selected.kind in {"simple", "boosted"}
    assert selected.test_metrics["roc_auc"] >= 0.72
    assert result.beats_baseline


def test_california_housing_boosted_trees_earn_their_place(tmp_path):
    result = train(
        tmp_path,
        """
project: housing
task: regression
target: median_house_value
data: {sources: {districts: DATA/california_housing.csv}}
success: {metric: rmse}
""",
    )
    boosted, simple = result.candidate("boosted"), result.candidate("simple")
    assert boosted.test_metrics["r2"] >= 0.80
    assert simple.test_metrics["r2"] >= 0.60
    assert result.selected == "boosted"


def test_bike_sharing_hourly_demand_without_the_leaking_counts(tmp_path):
    result = train(
        tmp_path,
        """
project: bikes
task: regression
target: cnt
data:
  sources: {hours: DATA/bike_sharing_hour.csv}
  query: select * exclude (casual, registered, instant, dteday) from hours
success: {metric: mae}
""",
    )
    assert result.candidate("boosted").test_metrics["r2"] >= 0.90
    assert result.beats_baseline
