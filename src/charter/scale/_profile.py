"""The profile of data spread over a Dask cluster: statistics of each partition, merged.

Each partition is profiled on a worker with the same DuckDB expressions `profile_dataset` runs
on one machine (`value_sql`, `text_statistics_sql`, `histogram_bin_sql`), and the partial
results are merged in a fixed tree, so the same data always gives the same profile.

Exact, equal to the single-machine profile: rows, missing values (NaN and infinities count as
missing), placeholders and text that parses as numbers or dates, minimum and maximum, the
counts of every value of text and boolean columns with at most `FULL_COUNTS_LIMIT` values, and
the histogram on fixed edges (a second pass once the minimum and maximum are known). Mean and
standard deviation are merged from each partition's count, mean and sum of squared deviations
(Chan, Golub and LeVeque's formula): equal up to floating-point rounding.

Sketched (`charter.scale._sketches` states each bound):
- distinct values: a bottom-k sketch of 64-bit hashes, exact below `DISTINCT_SKETCH` (4,096)
  values, else about 1.6% relative standard error. On one machine DuckDB's HyperLogLog is
  approximate at every size (5-10% off is common).
- quantiles: log-spaced buckets with their ranges, within `QUANTILE_RELATIVE_ERROR` (0.5%) of
  the exact order statistic x_(ceil(p*n)) (DuckDB's `quantile_disc`), exact when the value is a
  spike. One machine uses DuckDB's `approx_quantile` (a t-digest), whose error is not bounded.
- top values of a column with more than `FULL_COUNTS_LIMIT` values: a Misra-Gries summary of
  `FULL_COUNTS_LIMIT` counters, which keeps every value found in more than rows / 1001 rows;
  counts are reported as -1 (unknown), as one machine reports them.
Whether a text column keeps every value's count is decided on its exact number of values
(one machine decides on its HyperLogLog estimate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from charter.audit._profile import (
    FULL_COUNTS_LIMIT,
    HISTOGRAM_BINS,
    QUANTILES,
    TOP_VALUES,
    DatasetProfile,
    assemble_profile,
    fixed_histogram,
    histogram_bin_sql,
    kind_of,
    ranked_values,
    text_statistics_sql,
    value_sql,
)
from charter.data import DATASET, Dataset
from charter.scale._sketches import (
    Buckets,
    Hashes,
    bottom_hashes,
    distinct_count,
    frequent,
    merge_moments,
    moments,
)
from charter.scale._sources import ClusterData, as_arrow
from charter.scale._tasks import current_client, tree_reduce

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ClusterProfile",
    "ColumnStatistics",
    "PartitionStatistics",
    "cluster_profile",
    "column_types",
    "merge_statistics",
    "partition_histograms",
    "partition_dataset",
    "partition_statistics",
    "profile_on_cluster",
    "profile_statistics",
]

_TEXT = ("placeholders", "numeric_text", "temporal_text")


@dataclass
class ColumnStatistics:
    """Mergeable statistics of one column over some rows."""

    count: int  # values present (NaN and infinities count as missing, as on one machine)
    hashes: Hashes  # bottom-k sketch: the smallest distinct hashes of the values, ascending
    minimum: Any = None
    maximum: Any = None
    mean: float = 0.0  # numeric columns: mean and sum of squared deviations of the values
    m2: float = 0.0
    buckets: Buckets | None = None  # numeric columns: the quantile sketch
    values: dict[Any, int] | None = None  # text and booleans: counts, or Misra-Gries counters
    complete: bool = True  # whether `values` holds every value's exact count
    text: tuple[int, int, int] = (0, 0, 0)  # text: placeholders, numeric_text, temporal_text


@dataclass
class PartitionStatistics:
    """Mergeable statistics of some partitions: their rows, in order, and each column's."""

    rows: tuple[int, ...]
    columns: dict[str, ColumnStatistics] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterProfile:
    """The profile, the DuckDB type of each column, and how many rows each partition holds."""

    profile: DatasetProfile
    columns: dict[str, str]
    partition_rows: tuple[int, ...]


def profile_on_cluster(data: ClusterData) -> DatasetProfile:
    """Profile data spread over the current Dask cluster: the fields `profile_dataset` gives.

    Two passes over the partitions (statistics, then histograms on the merged edges); see the
    module's notes for which fields are exact and the bounds of the sketched ones.

    Example:
        >>> with connect(parse_cluster("local:4")):  # doctest: +SKIP
        ...     profile = profile_on_cluster(read_location("data/*.parquet", base_dir=Path(".")))
    """
    return cluster_profile(data).profile


def cluster_profile(data: ClusterData) -> ClusterProfile:
    """`profile_on_cluster`, keeping the column types and the rows of each partition."""
    from dask.delayed import delayed

    client = current_client()
    columns = column_types(data.schema)
    parts = data.frame.to_delayed()
    first = [delayed(_partition_statistics)(part, columns) for part in parts]
    statistics = client.compute(tree_reduce(first, merge_statistics)).result()
    edges = _histogram_edges(statistics, columns)
    counts: dict[str, dict[int, int]] = {}
    if edges:
        second = [delayed(_partition_histograms)(part, edges) for part in parts]
        counts = client.compute(tree_reduce(second, _merge_histograms)).result()
    profile = profile_statistics(statistics, columns, edges, counts)
    return ClusterProfile(profile, columns, statistics.rows)


def column_types(schema: pa.Schema) -> dict[str, str]:
    """The DuckDB type of each column, as a Dataset over data of this schema shows it."""
    dataset = partition_dataset(schema.empty_table())
    try:
        return dict(dataset.columns)
    finally:
        dataset.connection.close()


def partition_dataset(table: pa.Table) -> Dataset:
    """A partition as a Dataset, on one DuckDB thread (the worker process is the unit of work)."""
    dataset = Dataset.from_arrow(table)
    dataset.connection.execute("SET threads TO 1")
    return dataset


def _partition_statistics(partition: pd.DataFrame, columns: dict[str, str]) -> PartitionStatistics:
    return partition_statistics(as_arrow(partition), columns)


def partition_statistics(table: pa.Table, columns: Mapping[str, str]) -> PartitionStatistics:
    """The mergeable statistics of the rows of one table, with the single-machine definitions."""
    dataset = partition_dataset(table)
    try:
        rows, aggregates = _aggregates(dataset, columns)
        arrays = _value_arrays(dataset, columns)
        result = PartitionStatistics((rows,))
        for name, dtype in columns.items():
            stats = aggregates[name]
            kind = kind_of(dtype)
            hashes = bottom_hashes(arrays[f"h_{name}"])
            column = ColumnStatistics(count=int(stats["count"]), hashes=hashes)
            column.minimum, column.maximum = stats.get("min"), stats.get("max")
            if kind == "numeric":
                values = arrays[f"x_{name}"]
                column.mean, column.m2 = moments(values)
                column.buckets = Buckets.of(values)
            if kind in {"categorical", "boolean"}:
                column.values, column.complete = _value_counts(dataset, name, dtype)
            if kind == "categorical":
                placeholders, numeric, temporal = (int(stats[s] or 0) for s in _TEXT)
                column.text = (placeholders, numeric, temporal)
            result.columns[name] = column
        return result
    finally:
        dataset.connection.close()


def _aggregates(
    dataset: Dataset, columns: Mapping[str, str]
) -> tuple[int, dict[str, dict[str, Any]]]:
    expressions = ["count(*)"]
    layout: list[tuple[str, str]] = []
    for name, dtype in columns.items():
        q, kind = value_sql(name, dtype), kind_of(dtype)
        wanted = {"count": f"count({q})"}
        if kind in {"numeric", "temporal"}:
            wanted |= {"min": f"min({q})", "max": f"max({q})"}
        if kind == "categorical":
            text = text_statistics_sql(f"{q}::VARCHAR")
            wanted |= {stat: f"sum({text[stat]})" for stat in _TEXT}
        expressions.extend(wanted.values())
        layout.extend((name, stat) for stat in wanted)
    row = dataset.sql(f"SELECT {', '.join(expressions)} FROM {DATASET}")[0]
    result: dict[str, dict[str, Any]] = {name: {} for name in columns}
    for (name, stat), value in zip(layout, row[1:], strict=True):
        result[name][stat] = value
    return int(row[0]), result


def _value_arrays(dataset: Dataset, columns: Mapping[str, str]) -> dict[str, npt.NDArray[Any]]:
    """Per column, the hashes of its present values and, for numbers, the values as doubles."""
    selected = []
    for index, (name, dtype) in enumerate(columns.items()):
        q = value_sql(name, dtype)
        selected.append(f"CASE WHEN {q} IS NOT NULL THEN hash({q}) END AS h{index}")
        if kind_of(dtype) == "numeric":
            selected.append(f"{q}::DOUBLE AS x{index}")
    table = dataset.connection.sql(f"SELECT {', '.join(selected)} FROM {DATASET}").to_arrow_table()
    arrays: dict[str, npt.NDArray[Any]] = {}
    for index, (name, dtype) in enumerate(columns.items()):
        hashes = table.column(f"h{index}").drop_null()
        arrays[f"h_{name}"] = hashes.to_numpy().astype(np.uint64)
        if kind_of(dtype) == "numeric":
            values = table.column(f"x{index}").drop_null()
            arrays[f"x_{name}"] = values.to_numpy().astype(np.float64)
    return arrays


def _value_counts(dataset: Dataset, name: str, dtype: str) -> tuple[dict[Any, int], bool]:
    """Every value's count when there are at most FULL_COUNTS_LIMIT, else Misra-Gries counters."""
    q = value_sql(name, dtype)
    rows = dataset.sql(
        f"SELECT {q}, count(*) AS n FROM {DATASET} WHERE {q} IS NOT NULL "
        f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {FULL_COUNTS_LIMIT + 1}"
    )
    counts = {value: int(n) for value, n in rows}
    if len(counts) <= FULL_COUNTS_LIMIT:
        return counts, True
    return frequent(counts, FULL_COUNTS_LIMIT), False


def merge_statistics(*parts: PartitionStatistics) -> PartitionStatistics:
    """The statistics of all the parts' rows, the parts in order (rows of each partition kept)."""
    merged = PartitionStatistics(tuple(r for p in parts for r in p.rows))
    for name in parts[0].columns:
        merged.columns[name] = _merge_column([p.columns[name] for p in parts])
    return merged


def _merge_column(parts: Sequence[ColumnStatistics]) -> ColumnStatistics:
    hashes = bottom_hashes(np.concatenate([p.hashes for p in parts]))
    merged = ColumnStatistics(count=sum(p.count for p in parts), hashes=hashes)
    minima = [p.minimum for p in parts if p.minimum is not None]
    maxima = [p.maximum for p in parts if p.maximum is not None]
    merged.minimum = min(minima) if minima else None
    merged.maximum = max(maxima) if maxima else None
    merged.mean, merged.m2 = merge_moments((p.count, p.mean, p.m2) for p in parts)
    if parts[0].buckets is not None:
        merged.buckets = Buckets.merge([p.buckets for p in parts if p.buckets is not None])
    if parts[0].values is not None:
        total: dict[Any, int] = {}
        for part in parts:
            for value, n in (part.values or {}).items():
                total[value] = total.get(value, 0) + n
        merged.complete = all(p.complete for p in parts) and len(total) <= FULL_COUNTS_LIMIT
        merged.values = total if merged.complete else frequent(total, FULL_COUNTS_LIMIT)
    merged.text = (
        sum(p.text[0] for p in parts),
        sum(p.text[1] for p in parts),
        sum(p.text[2] for p in parts),
    )
    return merged


def _histogram_edges(
    statistics: PartitionStatistics, columns: Mapping[str, str]
) -> dict[str, tuple[str, float, float]]:
    """Numeric columns with a range, and their first edge and bin width (as on one machine)."""
    edges = {}
    for name, dtype in columns.items():
        column = statistics.columns[name]
        if kind_of(dtype) != "numeric" or column.minimum is None:
            continue
        low, high = float(column.minimum), float(column.maximum)
        if high > low:
            edges[name] = (dtype, low, (high - low) / HISTOGRAM_BINS)
    return edges


def _partition_histograms(
    partition: pd.DataFrame, edges: dict[str, tuple[str, float, float]]
) -> dict[str, dict[int, int]]:
    return partition_histograms(as_arrow(partition), edges)


def partition_histograms(
    table: pa.Table, edges: Mapping[str, tuple[str, float, float]]
) -> dict[str, dict[int, int]]:
    """Counts by bin of the numeric columns in `edges` ((dtype, first edge, width) by name)."""
    dataset = partition_dataset(table)
    try:
        expressions = [
            histogram_bin_sql(value_sql(name, dtype), low, width)
            for name, (dtype, low, width) in edges.items()
        ]
        row = dataset.sql(f"SELECT {', '.join(expressions)} FROM {DATASET}")[0]
    finally:
        dataset.connection.close()
    return {name: dict(value or {}) for name, value in zip(edges, row, strict=True)}


def _merge_histograms(*parts: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
    merged: dict[str, dict[int, int]] = {}
    for part in parts:
        for name, counts in part.items():
            bins = merged.setdefault(name, {})
            for index, n in counts.items():
                bins[index] = bins.get(index, 0) + int(n)
    return merged


def profile_statistics(
    statistics: PartitionStatistics,
    columns: Mapping[str, str],
    edges: Mapping[str, tuple[str, float, float]],
    histograms: Mapping[str, Mapping[int, int]],
) -> DatasetProfile:
    """The profile from merged statistics and histogram counts, assembled as on one machine."""
    first: dict[str, dict[str, Any]] = {}
    second: dict[str, dict[str, Any]] = {}
    for name, dtype in columns.items():
        column, kind = statistics.columns[name], kind_of(dtype)
        first[name] = {"count": column.count, "distinct": distinct_count(column.hashes)}
        extra: dict[str, Any] = {}
        if kind in {"numeric", "temporal"}:
            first[name] |= {"min": column.minimum, "max": column.maximum}
        if kind == "numeric" and column.buckets is not None:
            first[name] |= _numeric(column)
            if name in edges:
                _, low, width = edges[name]
                extra["histogram"] = fixed_histogram(low, width, histograms.get(name, {}))
            elif column.minimum is not None:
                constant = float(column.minimum)
                extra["histogram"] = ((constant, constant, column.count),)
        if column.values is not None:
            ranked = ranked_values(column.values)
            if column.complete:
                extra |= {"top": ranked[:TOP_VALUES], "top_all": ranked}
            else:
                extra["top"] = tuple((value, -1) for value, _ in ranked[:TOP_VALUES])
        if kind == "categorical":
            extra |= dict(zip(_TEXT, column.text, strict=True))
        second[name] = extra
    return assemble_profile(columns, sum(statistics.rows), first, second)


def _numeric(column: ColumnStatistics) -> dict[str, Any]:
    assert column.buckets is not None
    estimates = {key: column.buckets.quantile(p) for key, p in QUANTILES.items()}
    return {
        "mean": column.mean if column.count else None,
        "std": math.sqrt(column.m2 / (column.count - 1)) if column.count > 1 else None,
        "quantiles": {k: v for k, v in estimates.items() if v is not None},
    }
