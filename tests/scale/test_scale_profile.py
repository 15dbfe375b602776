"""The profile computed on a cluster equals the single-machine profile of the same data.

Exact fields are compared for equality; mean and std to 1e-9 relative; quantiles within the
sketch's stated bound (QUANTILE_RELATIVE_ERROR of DuckDB's exact `quantile_disc`); distinct
counts against the exact count (the single machine's HyperLogLog is itself approximate).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.audit import profile_dataset
from charter.audit._profile import QUANTILES
from charter.data import Dataset
from charter.scale import _sources, read_location
from charter.scale._profile import (
    ColumnStatistics,
    merge_statistics,
    partition_statistics,
    profile_on_cluster,
    profile_statistics,
)
from charter.scale._sketches import (
    DISTINCT_SKETCH,
    QUANTILE_RELATIVE_ERROR,
    Buckets,
    distinct_count,
    frequent,
)

EXACT = (
    "dtype",
    "kind",
    "rows",
    "missing",
    "minimum",
    "maximum",
    "placeholders",
    "numeric_text",
    "temporal_text",
    "value_counts",
    "histogram",
)


def _table(rows: int = 3000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(4, 1, rows)
    amount[::17] = np.nan
    amount[5] = np.inf
    amount[6] = -np.inf
    amount[::23] = 0.0  # a spike at zero
    common = rng.choice([f"v{i}" for i in range(1500)], rows).astype(object)
    common[rng.random(rows) < 0.3] = "frequent"
    return pa.table(
        {
            "id": pa.array(np.arange(rows)),
            "amount": pa.array(amount, mask=np.arange(rows) % 29 == 0),
            "delta": rng.normal(0, 5, rows).round(2),
            "plan": pa.array(rng.choice(["basic", "plus", "pro", "NA", "?", "", " n/a "], rows)),
            "numeric_text": pa.array(
                rng.choice(["1", "2.5", " 3 ", "n/a", "x", "2024-01-05", None], rows)
            ),
            "code": pa.array([f"c{i:05d}" for i in rng.permutation(rows)]),
            "common": pa.array(common),
            "flag": pa.array(rng.choice([True, False, None], rows)),
            "day": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 365, rows)).cast(
                pa.date32()
            ),
            "seen": pa.array(
                np.datetime64("2024-01-01T00:00:00", "us")
                + rng.integers(0, 10**13, rows).astype("timedelta64[us]")
            ),
            "constant": pa.array(np.full(rows, 7)),
            "empty": pa.nulls(rows, pa.float64()),
            "empty_text": pa.nulls(rows, pa.string()),
        }
    )


@pytest.fixture
def table_and_profile(dask_client, tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    """The table, and its profile on the cluster from Parquet files with an empty one among them."""
    monkeypatch.setattr(_sources, "PARTITION_ROWS", 400)
    table = _table()
    for index, (start, stop) in enumerate([(0, 1000), (1000, 1000), (1000, 2200), (2200, 3000)]):
        pq.write_table(
            table.slice(start, stop - start), tmp_path / f"part{index}.parquet", row_group_size=300
        )
    data = read_location(str(tmp_path), base_dir=tmp_path)
    sizes = data.frame.map_partitions(len).compute().tolist()
    assert len(sizes) >= 6 and 0 in sizes  # several partitions, one of them empty
    return table, profile_on_cluster(data)


def test_exact_fields_equal_the_single_machine_profile(table_and_profile):  # type: ignore[no-untyped-def]
    table, clustered = table_and_profile
    single = profile_dataset(Dataset.from_arrow(table))
    assert clustered.rows == single.rows == table.num_rows
    assert list(clustered.columns) == list(single.columns)
    for name, column in single.columns.items():
        ours = clustered.columns[name]
        for field in EXACT:
            assert getattr(ours, field) == getattr(column, field), (name, field)
        if column.value_counts is not None:
            assert ours.top_values == column.top_values, name


def test_moments_equal_to_rounding(table_and_profile):  # type: ignore[no-untyped-def]
    table, clustered = table_and_profile
    single = profile_dataset(Dataset.from_arrow(table))
    for name in ("id", "amount", "delta", "constant"):
        ours, theirs = clustered.columns[name], single.columns[name]
        assert ours.mean == pytest.approx(theirs.mean, rel=1e-9), name
        assert ours.std == pytest.approx(theirs.std, rel=1e-9, abs=1e-12), name
    assert clustered.columns["constant"].std == 0.0
    assert clustered.columns["empty"].mean is None and clustered.columns["empty"].std is None


def test_quantiles_within_the_stated_bound_of_the_exact_ones(table_and_profile):  # type: ignore[no-untyped-def]
    table, clustered = table_and_profile
    dataset = Dataset.from_arrow(table)
    probabilities = ", ".join(map(repr, QUANTILES.values()))
    for name in ("id", "amount", "delta", "constant"):
        finite = f'CASE WHEN isfinite("{name}") THEN "{name}" END::DOUBLE'
        exact = dataset.sql(f"SELECT quantile_disc({finite}, [{probabilities}]) FROM dataset")[0][0]
        for key, truth in zip(QUANTILES, exact, strict=True):
            estimate = clustered.columns[name].quantiles[key]
            assert abs(estimate - truth) <= QUANTILE_RELATIVE_ERROR * abs(truth), (name, key)
    assert clustered.columns["empty"].quantiles == {}
    assert clustered.columns["constant"].quantiles == dict.fromkeys(QUANTILES, 7.0)


def test_distinct_counts_are_exact_below_the_sketch_size(table_and_profile):  # type: ignore[no-untyped-def]
    table, clustered = table_and_profile
    with duckdb.connect() as connection:
        connection.register("t", table)
        for name in table.column_names:
            q = f'"{name}"'
            if table.schema.field(name).type == pa.float64():
                q = f"CASE WHEN isfinite({q}) THEN {q} END"
            exact = connection.execute(f"SELECT count(DISTINCT {q}) FROM t").fetchone()
            assert exact is not None
            assert clustered.columns[name].distinct == exact[0], name


def test_columns_with_many_values_keep_their_frequent_ones(table_and_profile):  # type: ignore[no-untyped-def]
    table, clustered = table_and_profile
    single = profile_dataset(Dataset.from_arrow(table))
    for name in ("code", "common"):
        assert clustered.columns[name].value_counts is None
        assert all(count == -1 for _, count in clustered.columns[name].top_values)
        assert len(clustered.columns[name].top_values) == len(single.columns[name].top_values)
    # a value in 30% of the rows is kept by the summary, as DuckDB's approx_top_k keeps it
    assert clustered.columns["common"].top_values[0][0] == "frequent"
    assert single.columns["common"].top_values[0][0] == "frequent"


def test_distinct_counts_past_the_sketch_are_estimated_within_its_error() -> None:
    values = np.arange(60_000) * 7919 % 1_000_003
    parts = [
        partition_statistics(pa.table({"x": values[i : i + 20_000]}), {"x": "BIGINT"})
        for i in range(0, values.size, 20_000)
    ]
    merged = merge_statistics(*parts).columns["x"]
    standard_error = 1 / math.sqrt(DISTINCT_SKETCH - 2)
    assert merged.hashes.size == DISTINCT_SKETCH
    assert abs(distinct_count(merged.hashes) / 60_000 - 1) < 3 * standard_error


# -- merging partial statistics equals the statistics of the whole, for any split ---------------

_TEXT = st.sampled_from(["a", "b", "NA", "", " 12 ", "3.5", "2024-02-03", "?", "none"])
_FLOAT = st.one_of(
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, -0.0, 1.5, -3.0, math.nan, math.inf, -math.inf]),
)


@st.composite
def _split_table(draw: st.DrawFn) -> tuple[pa.Table, list[int]]:
    rows = draw(st.integers(0, 60))
    table = pa.table(
        {
            "i": pa.array(
                draw(
                    st.lists(
                        st.one_of(st.none(), st.integers(-50, 50)), min_size=rows, max_size=rows
                    )
                ),
                pa.int64(),
            ),
            "f": pa.array(
                draw(st.lists(st.one_of(st.none(), _FLOAT), min_size=rows, max_size=rows)),
                pa.float64(),
            ),
            "s": pa.array(
                draw(st.lists(st.one_of(st.none(), _TEXT), min_size=rows, max_size=rows)),
                pa.string(),
            ),
            "b": pa.array(
                draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=rows, max_size=rows)),
                pa.bool_(),
            ),
            "d": pa.array(
                draw(st.lists(st.one_of(st.none(), st.dates()), min_size=rows, max_size=rows)),
                pa.date32(),
            ),
        }
    )
    cuts = sorted(draw(st.lists(st.integers(0, rows), max_size=4)))
    return table, cuts


_TYPES = {"i": "BIGINT", "f": "DOUBLE", "s": "VARCHAR", "b": "BOOLEAN", "d": "DATE"}


def _assert_same(merged: ColumnStatistics, whole: ColumnStatistics) -> None:
    assert merged.count == whole.count
    assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)
    assert np.array_equal(merged.hashes, whole.hashes)
    assert (merged.values, merged.complete, merged.text) == (
        whole.values,
        whole.complete,
        whole.text,
    )
    if whole.buckets is not None:
        assert merged.buckets is not None
        for field in ("keys", "counts", "low", "high"):
            assert np.array_equal(getattr(merged.buckets, field), getattr(whole.buckets, field))
        assert math.isclose(merged.mean, whole.mean, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(merged.m2, whole.m2, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=40, deadline=None)
@given(_split_table())
def test_merging_any_split_equals_the_statistics_of_the_whole(
    case: tuple[pa.Table, list[int]],
) -> None:
    table, cuts = case
    bounds = [0, *cuts, table.num_rows]
    parts = [
        partition_statistics(table.slice(a, b - a), _TYPES) for a, b in itertools.pairwise(bounds)
    ]
    merged = merge_statistics(*parts)
    whole = partition_statistics(table, _TYPES)
    assert merged.rows == tuple(b - a for a, b in itertools.pairwise(bounds))
    assert sum(merged.rows) == table.num_rows
    for name in _TYPES:
        _assert_same(merged.columns[name], whole.columns[name])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e12, 1e12, allow_nan=False),
            st.sampled_from([0.0, 1.0, -2.5, 1e-300]),
        ),
        min_size=1,
        max_size=300,
    ),
    st.integers(1, 5),
)
def test_quantile_sketch_is_within_its_bound_for_any_values_and_split(
    values: list[float], parts: int
) -> None:
    x = np.array(values)
    whole = Buckets.of(x)
    merged = Buckets.merge([Buckets.of(piece) for piece in np.array_split(x, parts)])
    for field in ("keys", "counts", "low", "high"):
        assert np.array_equal(getattr(merged, field), getattr(whole, field))
    for p in QUANTILES.values():
        truth = float(np.quantile(x, p, method="inverted_cdf"))
        estimate = merged.quantile(p)
        assert estimate is not None
        assert abs(estimate - truth) <= QUANTILE_RELATIVE_ERROR * abs(truth)


def test_values_too_large_for_moments_leave_mean_and_std_out() -> None:
    table = pa.table({"x": [1e308, -1e308, 1e308, 1.0]})
    whole = partition_statistics(table, {"x": "DOUBLE"})
    merged = merge_statistics(
        partition_statistics(table.slice(0, 2), {"x": "DOUBLE"}),
        partition_statistics(table.slice(2), {"x": "DOUBLE"}),
    )
    for statistics in (whole, merged):
        column = profile_statistics(statistics, {"x": "DOUBLE"}, {}, {}).columns["x"]
        assert (column.mean, column.std) == (None, None) or column.std is None
        assert (column.minimum, column.maximum) == (-1e308, 1e308)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=200), st.integers(1, 5), st.integers(1, 4))
def test_merged_frequent_value_summaries_keep_every_frequent_value(
    values: list[int], parts: int, counters: int
) -> None:
    summaries = []
    for piece in np.array_split(np.array(values, dtype=np.int64), parts):
        counts: dict[int, int] = {}
        for value in piece.tolist():
            counts[value] = counts.get(value, 0) + 1
        summaries.append(frequent(counts, counters))
    merged: dict[int, int] = {}
    for summary in summaries:
        for value, n in summary.items():
            merged[value] = merged.get(value, 0) + n
    merged = frequent(merged, counters)
    slack = len(values) / (counters + 1)
    for value in set(values):
        truth = values.count(value)
        if truth > slack:
            assert truth - slack <= merged[value] <= truth
