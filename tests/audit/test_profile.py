from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.audit import profile_dataset
from charter.data import Dataset
from charter.data._types import kind_of


def profile(**columns):
    return profile_dataset(Dataset.from_arrow(pa.table(columns))).columns


def test_numeric_statistics_match_numpy():
    rng = np.random.default_rng(1)
    values = rng.normal(10, 3, 5000)
    column = profile(x=values)["x"]
    assert column.kind == "numeric" and column.rows == 5000 and column.missing == 0
    assert column.mean == pytest.approx(values.mean())
    assert column.std == pytest.approx(values.std(ddof=1))
    assert column.minimum == values.min() and column.maximum == values.max()
    for key, q in (("q01", 0.01), ("q25", 0.25), ("q50", 0.5), ("q75", 0.75), ("q99", 0.99)):
        # approximate quantiles: within half a percentile of the exact one
        low, high = np.quantile(values, [max(q - 0.005, 0), min(q + 0.005, 1)])
        assert low <= column.quantiles[key] <= high


def test_missing_values_and_text_statistics():
    column = profile(t=["1", "2.5", "?", " n/a ", None, "x", "2024-01-31"])["t"]
    assert column.kind == "categorical"
    assert column.missing == 1
    assert column.placeholders == 2
    assert column.numeric_text == 2
    assert column.temporal_text == 1
    assert dict(column.value_counts)["?"] == 1


def test_high_cardinality_text_statistics_are_computed_in_sql():
    values = [str(i) for i in range(3000)] + ["NA"] * 10 + ["abc"]
    column = profile(t=values)["t"]
    assert column.value_counts is None
    assert column.placeholders == 10
    assert column.numeric_text == 3000


def test_top_values_are_ranked_by_count():
    column = profile(c=["b", "a", "a", "c", "a", "b"])["c"]
    assert column.top_values[:3] == (("a", 3), ("b", 2), ("c", 1))


def test_kinds_of_duckdb_types():
    assert [
        kind_of(t)
        for t in (
            "BIGINT",
            "DOUBLE",
            "DECIMAL(10,2)",
            "VARCHAR",
            "BOOLEAN",
            "DATE",
            "TIMESTAMP WITH TIME ZONE",
            "BLOB",
        )
    ] == [
        "numeric",
        "numeric",
        "numeric",
        "categorical",
        "boolean",
        "temporal",
        "temporal",
        "other",
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=200)
)
def test_histogram_counts_every_present_value_once(values):
    column = profile(x=pa.array(values, pa.float64()))["x"]
    present = [v for v in values if v is not None]
    assert column.missing == len(values) - len(present)
    assert sum(count for _, _, count in column.histogram) == len(present)
    if present:
        assert column.mean == pytest.approx(float(np.mean(present)), rel=1e-9, abs=1e-6)


def test_nan_and_infinities_count_as_missing():
    column = profile(x=[1.0, float("nan"), 3.0, None, float("inf"), -float("inf")])["x"]
    assert column.missing == 4
    assert column.mean == 2.0 and column.maximum == 3.0
    assert sum(count for _, _, count in column.histogram) == 2


def test_time_zone_aware_timestamps_are_profiled_in_utc():
    import datetime as dt

    values = pa.array([0, 3600], pa.timestamp("s", tz="Europe/Paris"))
    column = profile(t=values)["t"]
    assert column.kind == "temporal"
    assert column.minimum == dt.datetime(1970, 1, 1, 0, 0)
    assert column.maximum == dt.datetime(1970, 1, 1, 1, 0)
