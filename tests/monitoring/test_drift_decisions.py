"""Drift decisions on whole windows: no false alarms on stable data (at the promised rate),
planted drift found and named, importance, sample size, old references, the JSON form."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from charter.errors import UsageError
from charter.monitoring import DriftResult, count, drift, drift_from_counts, reference_statistics

ALPHA = 0.05
CONTRACTS = ["Month-to-month", "One year", "Two year"]
REGIONS = [f"region {i}" for i in range(8)]
TYPES = {"contract": "category", "region": "category"}


def population(
    rng: np.random.Generator,
    rows: int,
    *,
    tenure_shift: float = 0.0,
    contract: list[float] | None = None,
    new_region: float = 0.0,
) -> dict[str, Any]:
    """Six features like a churn table, and a score; arguments plant drift in one of them."""
    charges = rng.normal(70, 20, rows)
    charges[rng.random(rows) < 0.03] = np.nan
    regions = rng.choice(REGIONS, rows, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    if new_region:
        regions = np.where(rng.random(rows) < new_region, "region new", regions)
    return {
        "tenure": rng.gamma(2.0, 12.0, rows) + tenure_shift * math.sqrt(2.0) * 12.0,
        "charges": charges,
        "calls": rng.poisson(2.0, rows).astype(float),
        "satisfaction": rng.beta(5, 2, rows),
        "contract": rng.choice(CONTRACTS, rows, p=contract or [0.4, 0.35, 0.25]),
        "region": regions,
        "score": rng.beta(2, 5, rows),
    }


def reference_of(rows: dict[str, Any]) -> dict[str, Any]:
    frame = pd.DataFrame({k: v for k, v in rows.items() if k != "score"})
    found: dict[str, Any] = reference_statistics(frame, TYPES, rows["score"])
    return json.loads(json.dumps(found, allow_nan=False))  # as read back from reference.json


def window_of(rows: dict[str, Any]) -> dict[str, Any]:
    return {k: pa.array(v) if k in TYPES else v for k, v in rows.items() if k != "score"}


def judged_drift(reference: dict[str, Any], rows: dict[str, Any], **options: Any) -> DriftResult:
    return drift(reference, window_of(rows), scores=rows["score"], **options)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return reference_of(population(np.random.default_rng(0), 50_000))


def false_alarms(window: int, runs: int) -> tuple[int, int, int]:
    """Runs (fresh reference and fresh window from one distribution) where: the window was called
    drifted; any feature's q-value was under alpha; the score's p-value was under alpha."""
    alarms = features = score = 0
    for seed in range(runs):
        rng = np.random.default_rng(1000 + seed)
        reference = reference_of(population(rng, 20_000))
        found = judged_drift(reference, population(rng, window), alpha=ALPHA)
        alarms += found.drifted
        features += any(f.q_value is not None and f.q_value < ALPHA for f in found.features)
        assert found.score is not None and found.score.p_value is not None
        score += found.score.p_value < ALPHA
    return alarms, features, score


def allowed(runs: int) -> float:
    """The promised rate alpha, plus three binomial standard errors of a rate measured over runs."""
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


@pytest.mark.slow
def test_false_alarm_rate_on_stable_small_windows_is_within_the_promise() -> None:
    runs = 300
    alarms, features, score = false_alarms(200, runs)
    # The window's alarm needs a material effect too: on stable data it stays under alpha.
    assert alarms / runs <= ALPHA
    # The adjustment alone: any feature's q under alpha at most alpha of the time, the score too.
    assert features / runs <= allowed(runs)
    assert score / runs <= allowed(runs)


@pytest.mark.slow
def test_false_alarm_rate_on_stable_large_windows_is_within_the_promise() -> None:
    runs = 40
    alarms, features, score = false_alarms(200_000, runs)
    assert alarms == 0  # tiny p-values from tiny differences raise no alarm: PSI stays small
    assert features / runs <= allowed(runs)
    assert score / runs <= allowed(runs)


def test_a_planted_shift_in_one_feature_is_found_and_named(reference: dict[str, Any]) -> None:
    rng = np.random.default_rng(21)
    found = judged_drift(reference, population(rng, 5_000, tenure_shift=0.6))
    drifted = [f.name for f in found.features if f.drifted]
    assert drifted == ["tenure"]
    tenure = found.feature("tenure")
    assert found.features[0] is tenure  # drifted features come first
    assert tenure.change.startswith("median rose from ")
    assert tenure.q_value is not None and tenure.q_value < ALPHA
    assert tenure.psi is not None and tenure.psi >= 0.2
    # One feature of six, equal importance: 17 % of it, under the 20 % that raises the alarm.
    assert found.drifted_importance == pytest.approx(1 / 6)
    assert found.score is not None and not found.score.drifted
    assert not found.drifted


def test_importance_decides_whether_one_drifted_feature_raises_the_alarm(
    reference: dict[str, Any],
) -> None:
    rows = population(np.random.default_rng(22), 5_000, tenure_shift=0.6)
    heavy = judged_drift(reference, rows, importance={"tenure": 5.0, "charges": 5.0})
    assert heavy.drifted and heavy.drifted_importance == pytest.approx(0.5)
    assert heavy.feature("tenure").importance == pytest.approx(0.5)
    assert heavy.feature("calls").importance == 0.0
    assert heavy.reason == (
        "1 feature drifted (tenure), carrying 50% of the importance (the alarm is at 20%)."
    )
    light = judged_drift(reference, rows, importance={"tenure": 1.0, "charges": 19.0})
    assert not light.drifted
    assert [f.name for f in light.features if f.drifted] == ["tenure"]
    assert light.reason == (
        "1 feature drifted (tenure) but carries only 5% of the importance, under the 20% "
        "that raises the alarm."
    )


def test_a_planted_change_of_category_shares_is_found_and_named(
    reference: dict[str, Any],
) -> None:
    # 40 % -> 61 % alone is a PSI of 0.18, under the threshold; 40 % -> 65 % is 0.26.
    rows = population(np.random.default_rng(23), 5_000, contract=[0.65, 0.2, 0.15])
    found = judged_drift(reference, rows, importance={"contract": 1.0})
    assert [f.name for f in found.features if f.drifted] == ["contract"]
    assert found.feature("contract").change == "share of 'Month-to-month' rose from 40% to 65%"
    assert found.drifted


def test_a_planted_new_category_value_is_found_and_named(reference: dict[str, Any]) -> None:
    rows = population(np.random.default_rng(24), 5_000, new_region=0.12)
    found = judged_drift(reference, rows)
    region = found.feature("region")
    assert [f.name for f in found.features if f.drifted] == ["region"]
    assert region.change == "new value 'region new' is 12% of rows"


def test_a_drifted_score_raises_the_alarm_on_its_own(reference: dict[str, Any]) -> None:
    rng = np.random.default_rng(25)
    rows = population(rng, 5_000)
    rows["score"] = rng.beta(4, 4, 5_000)
    found = judged_drift(reference, rows)
    assert not any(f.drifted for f in found.features)
    assert found.score is not None and found.score.drifted
    assert found.score.q_value == found.score.p_value
    assert found.drifted
    assert found.reason.startswith("The model's score drifted (median rose from ")


def test_a_huge_window_with_a_tiny_real_change_raises_no_alarm(reference: dict[str, Any]) -> None:
    rows = population(np.random.default_rng(26), 400_000, tenure_shift=0.03)
    found = judged_drift(reference, rows)
    tenure = found.feature("tenure")
    assert tenure.q_value is not None and tenure.q_value < ALPHA  # "significant" ...
    assert tenure.psi is not None and tenure.psi < 0.01  # ... but immaterial
    assert not tenure.drifted and not found.drifted
    assert found.reason == "No drift: none of the 6 judged features drifted, nor the score."


def test_a_small_window_is_not_judged(reference: dict[str, Any]) -> None:
    rows = population(np.random.default_rng(27), 60, tenure_shift=2.0)
    found = judged_drift(reference, rows)
    assert not found.drifted
    assert all(not f.judged and f.q_value is None for f in found.features)
    assert found.feature("tenure").change == "too few rows to judge (60 with a value, 100 needed)"
    assert found.reason == "Too few rows to judge: no feature has 100 values in the window."
    assert found.feature("tenure").p_value is not None  # still computed, shown for what it is
    smaller = judged_drift(reference, rows, min_rows=50)
    assert smaller.feature("tenure").judged and smaller.feature("tenure").drifted


def format_one(reference: dict[str, Any]) -> dict[str, Any]:
    """What versions registered before the grid keep: deciles and shares only."""
    numeric = ["kind", "rows", "missing_share", "min", "max", "mean", "std", "edges", "shares"]
    category = ["kind", "rows", "missing_share", "shares", "other_share"]

    def old(feature: dict[str, Any]) -> dict[str, Any]:
        keys = numeric if feature["kind"] == "number" else category
        return {k: feature[k] for k in keys}

    return {
        "rows": reference["rows"],
        "features": {k: old(v) for k, v in reference["features"].items()},
        "score": old(reference["score"]),
    }


def test_an_old_reference_still_works_coarsely_and_says_so(reference: dict[str, Any]) -> None:
    old = format_one(reference)
    stable = judged_drift(old, population(np.random.default_rng(28), 5_000))
    assert stable.approximate and not stable.drifted
    assert not judged_drift(reference, population(np.random.default_rng(28), 5_000)).approximate

    rows = population(np.random.default_rng(29), 5_000, tenure_shift=0.6, new_region=0.12)
    found = judged_drift(old, rows)
    assert found.approximate
    assert {f.name for f in found.features if f.drifted} == {"tenure", "region"}
    assert found.feature("region").change == "new value 'region new' is 12% of rows"
    fine = judged_drift(reference, rows)
    for name in ("tenure", "charges", "satisfaction"):
        # Deciles only: the KS statistic is within the largest decile's share of the fine one.
        coarse_d, fine_d = found.feature(name).statistic, fine.feature(name).statistic
        assert coarse_d is not None and fine_d is not None
        assert coarse_d <= fine_d + 0.005 + 1e-9 and fine_d - coarse_d <= 0.1 + 0.005
        assert found.feature(name).psi == pytest.approx(fine.feature(name).psi, rel=1e-6)


def test_the_result_is_plain_json_with_every_documented_field(reference: dict[str, Any]) -> None:
    rows = population(np.random.default_rng(30), 3_000, tenure_shift=0.6)
    window = window_of(rows)
    window["charges"] = np.full(3_000, np.nan)  # no values: statistics are None, not NaN
    window["not a feature"] = np.arange(3_000)  # ignored
    del window["calls"]  # not given: listed as absent
    found = drift(reference, window, scores=rows["score"])
    document = json.loads(json.dumps(found.to_dict(), allow_nan=False))
    assert set(document) == {
        "rows",
        "features",
        "score",
        "drifted",
        "drifted_importance",
        "reason",
        "approximate",
        "absent",
    }
    assert document["absent"] == ["calls"] and document["rows"] == 3_000
    fields = {
        "name",
        "kind",
        "rows",
        "missing_share",
        "reference_missing_share",
        "psi",
        "js",
        "test",
        "statistic",
        "p_value",
        "q_value",
        "wasserstein",
        "wasserstein_std",
        "importance",
        "judged",
        "drifted",
        "change",
    }
    assert all(set(f) == fields for f in document["features"]) and set(document["score"]) == fields
    by_name = {f["name"]: f for f in document["features"]}
    assert by_name["charges"]["psi"] is None and by_name["charges"]["missing_share"] == 1.0
    assert by_name["contract"]["test"] == "chi2" and by_name["contract"]["wasserstein"] is None
    assert [f["name"] for f in document["features"]][0] == "tenure"
    assert sum(f["importance"] for f in document["features"]) == pytest.approx(1.0)


def test_threads_and_merged_counts_give_the_same_result(reference: dict[str, Any]) -> None:
    rows = population(np.random.default_rng(31), 20_000, tenure_shift=0.2)
    window = window_of(rows)
    one = drift(reference, window, scores=rows["score"], threads=1)
    two = drift(reference, window, scores=rows["score"], threads=2)
    assert one == two
    # The split a Dask run makes: count the parts, merge, then judge.
    features = reference["features"]
    halves = [
        {k: v[:7_000] for k, v in window.items()},
        {k: v[7_000:] for k, v in window.items()},
    ]
    merged = {
        name: count(features[name], halves[0][name]).merge(count(features[name], halves[1][name]))
        for name in features
    }
    score = count(reference["score"], rows["score"][:7_000]).merge(
        count(reference["score"], rows["score"][7_000:])
    )
    parts = drift_from_counts(reference, merged, score=score)
    assert _close(parts, one)


def _close(a: DriftResult, b: DriftResult) -> bool:
    for x, y in zip((*a.features, a.score), (*b.features, b.score), strict=True):
        assert x is not None and y is not None
        assert (x.name, x.drifted, x.judged, x.change) == (y.name, y.drifted, y.judged, y.change)
        for field in ("psi", "js", "statistic", "p_value", "q_value", "wasserstein"):
            assert getattr(x, field) == pytest.approx(getattr(y, field), rel=1e-9, abs=1e-12)
    return (a.drifted, a.reason) == (b.drifted, b.reason)


def test_bad_options_are_refused_with_clear_messages(reference: dict[str, Any]) -> None:
    window = window_of(population(np.random.default_rng(32), 500))
    with pytest.raises(UsageError, match="alpha must be between 0 and 1"):
        drift(reference, window, alpha=1.5)
    with pytest.raises(UsageError, match="importance must be a finite number >= 0; 'tenure'"):
        drift(reference, window, importance={"tenure": -1.0})
    with pytest.raises(UsageError, match="the reference has no statistics of the scores"):
        drift({"features": reference["features"]}, window, scores=np.ones(500))
    with pytest.raises(UsageError, match="nothing to compare"):
        drift(reference, {"other": np.ones(3)})
    with pytest.raises(UsageError, match="^tenure: a numeric feature's current values are string"):
        drift(reference, {**window, "tenure": pa.array(["a"] * 500)})
