"""One scan of the data for the statistics every check needs, computed by DuckDB."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from charter.data import DATASET, Dataset, quote_identifier
from charter.data._types import FLOAT_TYPES, Kind, kind_of

__all__ = ["PLACEHOLDERS", "ColumnProfile", "DatasetProfile", "Kind", "kind_of", "profile_dataset"]


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

_TOP_VALUES = 20
_FULL_HISTOGRAM_LIMIT = 1000
_BINS = 20


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
    columns = {}
    for name, dtype in dataset.columns.items():
        stats, extra = first[name], second.get(name, {})
        missing = rows - int(stats["count"] or 0)
        columns[name] = ColumnProfile(
            name=name,
            dtype=dtype,
            kind=kinds[name],
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
    return DatasetProfile(rows=rows, columns=columns)


def _first_pass(dataset: Dataset, kinds: dict[str, Kind]) -> dict[str, Any]:
    expressions: list[str] = ["count(*)"]
    layout: list[tuple[str, str]] = []

    def add(column: str, stat: str, sql: str) -> None:
        expressions.append(sql)
        layout.append((column, stat))

    for name, kind in kinds.items():
        q = _value(name, dataset.columns[name])
        add(name, "count", f"count({q})")
        add(name, "distinct", f"approx_count_distinct({q})")
        if kind in {"numeric", "temporal"}:
            add(name, "min", f"min({q})")
            add(name, "max", f"max({q})")
        if kind == "numeric":
            x = f"{q}::DOUBLE"
            add(name, "mean", f"avg({x})")
            add(name, "std", f"stddev_samp({x})")
            add(name, "quantiles", f"approx_quantile({x}, [0.01, 0.25, 0.5, 0.75, 0.99])")
    row = dataset.connection.execute(f"SELECT {', '.join(expressions)} FROM {DATASET}").fetchone()
    assert row is not None
    result: dict[str, Any] = {"__rows": row[0]}
    for (column, stat), value in zip(layout, row[1:], strict=True):
        stats = result.setdefault(column, {})
        if stat == "quantiles":
            value = {
                k: v
                for k, v in zip(("q01", "q25", "q50", "q75", "q99"), value or (), strict=False)
                if v is not None
            }
        stats[stat] = value
    return result


def _second_pass(
    dataset: Dataset, kinds: dict[str, Kind], first: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    expressions: list[str] = []
    layout: list[tuple[str, str, Any]] = []
    for name, kind in kinds.items():
        q = _value(name, dataset.columns[name])
        stats = first[name]
        if kind == "numeric" and stats.get("min") is not None and stats["max"] is not None:
            low, high = float(stats["min"]), float(stats["max"])
            if high > low:
                width = (high - low) / _BINS
                # least() skips NULLs, so filter them out or they land in the last bin.
                bin_of = f"least(floor(({q}::DOUBLE - {low!r}) / {width!r}), {_BINS - 1})::INTEGER"
                expressions.append(f"histogram({bin_of}) FILTER (WHERE {q} IS NOT NULL)")
                layout.append((name, "histogram", (low, width)))
            else:
                expressions.append(f"count({q})")
                layout.append((name, "constant", low))
        elif kind in {"categorical", "boolean"}:
            if int(stats["distinct"] or 0) <= _FULL_HISTOGRAM_LIMIT:
                expressions.append(f"histogram({q})")
                layout.append((name, "top", None))
            else:
                expressions.append(f"approx_top_k({q}, {_TOP_VALUES})")
                layout.append((name, "top_approx", None))
                for stat, sql in _text_statistics(f"{q}::VARCHAR").items():
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
            counts = dict(value or {})
            result[name] = {
                "histogram": tuple(
                    (low + i * width, low + (i + 1) * width, int(counts.get(i, 0)))
                    for i in range(_BINS)
                )
            }
        elif what == "constant":
            result[name] = {"histogram": ((extra, extra, int(value)),)}
        elif what == "top":
            ranked = sorted((value or {}).items(), key=lambda kv: (-kv[1], str(kv[0])))
            result[name] = {
                "top": tuple((k, int(v)) for k, v in ranked[:_TOP_VALUES]),
                "top_all": tuple((k, int(v)) for k, v in ranked),
            }
        elif what == "top_approx":
            result[name] = {"top": tuple((k, -1) for k in (value or []))}
        else:
            result.setdefault(name, {})[what] = int(value or 0)
    _text_statistics_of_counts(dataset, kinds, result)
    return result


def _text_statistics(value: str) -> dict[str, str]:
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
    names, values, counts = [], [], []
    for name, stats in result.items():
        if kinds[name] == "categorical" and "placeholders" not in stats:
            for value, count in stats.get("top_all", ()):
                names.append(name)
                values.append(None if value is None else str(value))
                counts.append(count)
    if not names:
        return
    table = pa.table({"name": names, "value": values, "n": counts})
    statistics = _text_statistics("value")
    sums = ", ".join(f"sum(n * {sql})" for sql in statistics.values())
    relation = dataset.connection.from_arrow(table)
    rows = relation.query("counts", f"SELECT name, {sums} FROM counts GROUP BY name").fetchall()
    for name, *totals in rows:
        result[name].update(
            {stat: int(total or 0) for stat, total in zip(statistics, totals, strict=True)}
        )


def _value(name: str, dtype: str) -> str:
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
