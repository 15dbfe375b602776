"""One scan of the data for the statistics every check needs, computed by DuckDB."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from charter.data import DATASET, Dataset, quote_identifier
from charter.data._types import FLOAT_TYPES, Kind, kind_of

__all__ = [
    "FULL_COUNTS_LIMIT",
    "HISTOGRAM_BINS",
    "PLACEHOLDERS",
    "QUANTILES",
    "TOP_VALUES",
    "ColumnProfile",
    "DatasetProfile",
    "Kind",
    "assemble_profile",
    "fixed_histogram",
    "histogram_bin_sql",
    "kind_of",
    "profile_dataset",
    "ranked_values",
    "text_statistics_of_counts",
    "text_statistics_sql",
    "value_sql",
]


PLACEHOLDERS = (
    "",
    "?",
    "na",
    "n/a",
    "nan",
    "null",
    "none",
    "-",
    "--",
    "missing",
    "unknown",
    "#n/a",
)
"""Strings (compared trimmed and lower-cased) that stand for a missing value."""

TOP_VALUES = 20
"""Most frequent values kept per text or boolean column."""
FULL_COUNTS_LIMIT = 1000
"""Columns with at most this many distinct values keep every value's count."""
HISTOGRAM_BINS = 20
"""Equal-width bins between a numeric column's minimum and maximum."""
QUANTILES = {"q01": 0.01, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q99": 0.99}
"""The quantiles profiled, by name."""


@dataclass(frozen=True)
class ColumnProfile:
    """Summary statistics of one column; fields that do not apply to its kind are None."""

    name: str
    dtype: str
    kind: Kind
    rows: int
    missing: int
    distinct: int
    minimum: Any = None
    maximum: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)  # "q01", "q25", "q50", "q75", "q99"
    placeholders: int = 0  # string values that mean missing (see PLACEHOLDERS)
    numeric_text: int = 0  # non-placeholder strings that parse as numbers
    temporal_text: int = 0  # non-placeholder strings that parse as dates or timestamps
    top_values: tuple[
        tuple[Any, int], ...
    ] = ()  # most frequent values with counts (-1: count unknown)
    value_counts: tuple[tuple[Any, int], ...] | None = None  # every value with its count, when few
    histogram: tuple[tuple[float, float, int], ...] = ()  # (left edge, right edge, count)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class DatasetProfile:
    rows: int
    columns: dict[str, ColumnProfile]


def profile_dataset(dataset: Dataset) -> DatasetProfile:
    """Profile every column in two scans: moments and quantiles, then histograms and top values."""
    kinds = {name: kind_of(dtype) for name, dtype in dataset.columns.items()}
    first = _first_pass(dataset, kinds)
    rows = int(first.pop("__rows"))
    second = _second_pass(dataset, kinds, first)
    return assemble_profile(dataset.columns, rows, first, second)


def assemble_profile(
    columns: Mapping[str, str],
    rows: int,
    first: Mapping[str, Mapping[str, Any]],
    second: Mapping[str, Mapping[str, Any]],
) -> DatasetProfile:
    """The profile from the two scans' statistics, by column (also built from a cluster's).

    `first` holds count, distinct, min, max, mean, std and quantiles; `second` the histogram,
    top values ("top", and "top_all" when every value was counted) and the text counts.
    """
    profiles = {}
    for name, dtype in columns.items():
        stats, extra = first[name], second.get(name, {})
        missing = rows - int(stats["count"] or 0)
        profiles[name] = ColumnProfile(
            name=name,
            dtype=dtype,
            kind=kind_of(dtype),
            rows=rows,
            missing=missing,
            distinct=int(stats["distinct"] or 0),
            minimum=stats.get("min"),
            maximum=stats.get("max"),
            mean=_finite(stats.get("mean")),
            std=_finite(stats.get("std")),
            quantiles=stats.get("quantiles", {}),
            placeholders=int(extra.get("placeholders") or 0),
            numeric_text=int(extra.get("numeric_text") or 0),
            temporal_text=int(extra.get("temporal_text") or 0),
            value_counts=extra.get("top_all"),
            top_values=extra.get("top", ()),
            histogram=extra.get("histogram", ()),
        )
    return DatasetProfile(rows=rows, columns=profiles)


def _first_pass(dataset: Dataset, kinds: dict[str, Kind]) -> dict[str, Any]:
    expressions: list[str] = ["count(*)"]
    layout: list[tuple[str, str]] = []

    def add(column: str, stat: str, sql: str) -> None:
        expressions.append(sql)
        layout.append((column, stat))

    for name, kind in kinds.items():
        q = value_sql(name, dataset.columns[name])
        add(name, "count", f"count({q})")
        add(name, "distinct", f"approx_count_distinct({q})")
        if kind in {"numeric", "temporal"}:
            add(name, "min", f"min({q})")
            add(name, "max", f"max({q})")
        if kind == "numeric":
            x = f"{q}::DOUBLE"
            add(name, "mean", f"avg({x})")
            add(name, "std", f"stddev_samp({x})")
            probabilities = ", ".join(map(repr, QUANTILES.values()))
            add(name, "quantiles", f"approx_quantile({x}, [{probabilities}])")
    row = dataset.connection.execute(f"SELECT {', '.join(expressions)} FROM {DATASET}").fetchone()
    assert row is not None
    result: dict[str, Any] = {"__rows": row[0]}
    for (column, stat), value in zip(layout, row[1:], strict=True):
        stats = result.setdefault(column, {})
        if stat == "quantiles":
            value = {k: v for k, v in zip(QUANTILES, value or (), strict=False) if v is not None}
        stats[stat] = value
    return result


def _second_pass(
    dataset: Dataset, kinds: dict[str, Kind], first: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    expressions: list[str] = []
    layout: list[tuple[str, str, Any]] = []
    for name, kind in kinds.items():
        q = value_sql(name, dataset.columns[name])
        stats = first[name]
        if kind == "numeric" and stats.get("min") is not None and stats["max"] is not None:
            low, high = float(stats["min"]), float(stats["max"])
            if high > low:
                width = (high - low) / HISTOGRAM_BINS
                expressions.append(histogram_bin_sql(q, low, width))
                layout.append((name, "histogram", (low, width)))
            else:
                expressions.append(f"count({q})")
                layout.append((name, "constant", low))
        elif kind in {"categorical", "boolean"}:
            if int(stats["distinct"] or 0) <= FULL_COUNTS_LIMIT:
                expressions.append(f"histogram({q})")
                layout.append((name, "top", None))
            else:
                expressions.append(f"approx_top_k({q}, {TOP_VALUES})")
                layout.append((name, "top_approx", None))
                for stat, sql in text_statistics_sql(f"{q}::VARCHAR").items():
                    expressions.append(f"sum({sql})")
                    layout.append((name, stat, None))
    if not expressions:
        return {}
    row = dataset.connection.execute(f"SELECT {', '.join(expressions)} FROM {DATASET}").fetchone()
    assert row is not None
    result: dict[str, dict[str, Any]] = {}
    for (name, what, extra), value in zip(layout, row, strict=True):
        if what == "histogram":
            low, width = extra
            result[name] = {"histogram": fixed_histogram(low, width, value or {})}
        elif what == "constant":
            result[name] = {"histogram": ((extra, extra, int(value)),)}
        elif what == "top":
            ranked = ranked_values(value or {})
            result[name] = {"top": ranked[:TOP_VALUES], "top_all": ranked}
        elif what == "top_approx":
            result[name] = {"top": tuple((k, -1) for k in (value or []))}
        else:
            result.setdefault(name, {})[what] = int(value or 0)
    _text_statistics_of_counts(dataset, kinds, result)
    return result


def histogram_bin_sql(q: str, low: float, width: float) -> str:
    """SQL for the counts of `q` in `HISTOGRAM_BINS` bins of `width` from `low`, as a map."""
    # least() skips NULLs, so filter them out or they land in the last bin.
    bin_of = f"least(floor(({q}::DOUBLE - {low!r}) / {width!r}), {HISTOGRAM_BINS - 1})::INTEGER"
    return f"histogram({bin_of}) FILTER (WHERE {q} IS NOT NULL)"


def fixed_histogram(
    low: float, width: float, counts: Mapping[int, int]
) -> tuple[tuple[float, float, int], ...]:
    """(left edge, right edge, count) of every bin, from the counts by bin number."""
    return tuple(
        (low + i * width, low + (i + 1) * width, int(counts.get(i, 0)))
        for i in range(HISTOGRAM_BINS)
    )


def ranked_values(counts: Mapping[Any, int]) -> tuple[tuple[Any, int], ...]:
    """Values with their counts, most frequent first, ties in the order of their text."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return tuple((k, int(v)) for k, v in ranked)


def text_statistics_sql(value: str) -> dict[str, str]:
    """SQL counting, per row, strings that mean missing, parse as numbers, or parse as timestamps."""
    cleaned = f"lower(trim({value}))"
    tokens = ", ".join("'" + p.replace("'", "''") + "'" for p in PLACEHOLDERS)
    return {
        "placeholders": f"({cleaned} IN ({tokens}))::INTEGER",
        "numeric_text": f"(TRY_CAST(trim({value}) AS DOUBLE) IS NOT NULL AND {cleaned} NOT IN ({tokens}))::INTEGER",
        "temporal_text": f"(TRY_CAST(trim({value}) AS TIMESTAMP) IS NOT NULL)::INTEGER",
    }


def _text_statistics_of_counts(
    dataset: Dataset, kinds: dict[str, Kind], result: dict[str, dict[str, Any]]
) -> None:
    """For columns whose full value counts are known, evaluate the text statistics on distinct values only."""
    counted = {
        name: stats["top_all"]
        for name, stats in result.items()
        if kinds[name] == "categorical" and "placeholders" not in stats and "top_all" in stats
    }
    for name, totals in text_statistics_of_counts(dataset.connection, counted).items():
        result[name].update(totals)


def text_statistics_of_counts(
    connection: duckdb.DuckDBPyConnection, counts: Mapping[str, Iterable[tuple[Any, int]]]
) -> dict[str, dict[str, int]]:
    """The text statistics of columns given as (value, count) pairs, evaluated once per value."""
    names, values, numbers = [], [], []
    for name, pairs in counts.items():
        for value, count in pairs:
            names.append(name)
            values.append(None if value is None else str(value))
            numbers.append(count)
    if not names:
        return {}
    table = pa.table({"name": names, "value": values, "n": numbers})
    statistics = text_statistics_sql("value")
    sums = ", ".join(f"sum(n * {sql})" for sql in statistics.values())
    relation = connection.from_arrow(table)
    rows = relation.query("counts", f"SELECT name, {sums} FROM counts GROUP BY name").fetchall()
    return {
        name: {stat: int(total or 0) for stat, total in zip(statistics, totals, strict=True)}
        for name, *totals in rows
    }


def value_sql(name: str, dtype: str) -> str:
    """SQL for a column's values as profiled: NaN and infinities count as missing."""
    q = quote_identifier(name)
    upper = dtype.upper()
    if upper in FLOAT_TYPES:
        return f"(CASE WHEN isfinite({q}) THEN {q} END)"
    return q


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
