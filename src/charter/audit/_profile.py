"""One scan of the data for the statistics every check needs, computed by DuckDB."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.data import DATASET, Dataset, quote_identifier

__all__ = ["PLACEHOLDERS", "ColumnProfile", "DatasetProfile", "Kind", "kind_of", "profile_dataset"]

Kind = Literal["numeric", "boolean", "temporal", "categorical", "other"]

PLACEHOLDERS = ("", "?", "na", "n/a", "nan", "null", "none", "-", "--", "missing", "unknown", "#n/a")
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
    top_values: tuple[tuple[Any, int], ...] = ()  # most frequent values with counts
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


def kind_of(dtype: str) -> Kind:
    """Classify a DuckDB type name."""
    upper = dtype.upper()
    if upper == "BOOLEAN":
        return "boolean"
    if upper.startswith(("DATE", "TIMESTAMP", "TIME")):
        return "temporal"
    if upper in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL"} or upper.startswith("DECIMAL"):
        return "numeric"
    if upper == "VARCHAR" or upper.startswith("ENUM"):
        return "categorical"
    return "other"


def profile_dataset(dataset: Dataset) -> DatasetProfile:
    """Profile every column in two scans: moments and quantiles, then histograms and top values."""
    kinds = {name: kind_of(dtype) for name, dtype in dataset.columns.items()}
    first = _first_pass(dataset, kinds)
    rows = int(first.pop("__rows"))
    second = _second_pass(dataset, kinds, first)
    columns = {}
    for name, dtype in dataset.columns.items():
        stats = first[name]
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
            placeholders=int(stats.get("placeholders") or 0),
            numeric_text=int(stats.get("numeric_text") or 0),
            temporal_text=int(stats.get("temporal_text") or 0),
            top_values=second.get(name, {}).get("top", ()),
            histogram=second.get(name, {}).get("histogram", ()),
        )
    return DatasetProfile(rows=rows, columns=columns)


def _first_pass(dataset: Dataset, kinds: dict[str, Kind]) -> dict[str, Any]:
    expressions: list[str] = ["count(*)"]
    layout: list[tuple[str, str]] = []

    def add(column: str, stat: str, sql: str) -> None:
        expressions.append(sql)
        layout.append((column, stat))

    placeholder_list = ", ".join("'" + p.replace("'", "''") + "'" for p in PLACEHOLDERS)
    for name, kind in kinds.items():
        q = quote_identifier(name)
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
        if kind == "categorical":
            cleaned = f"lower(trim({q}::VARCHAR))"
            add(name, "placeholders", f"count_if({cleaned} IN ({placeholder_list}))")
            add(name, "numeric_text", f"count_if(TRY_CAST(trim({q}::VARCHAR) AS DOUBLE) IS NOT NULL AND {cleaned} NOT IN ({placeholder_list}))")
            add(name, "temporal_text", f"count_if(TRY_CAST(trim({q}::VARCHAR) AS TIMESTAMP) IS NOT NULL)")
    row = dataset.connection.execute(f"SELECT {', '.join(expressions)} FROM {DATASET}").fetchone()
    assert row is not None
    result: dict[str, Any] = {"__rows": row[0]}
    for (column, stat), value in zip(layout, row[1:], strict=True):
        stats = result.setdefault(column, {})
        if stat == "quantiles":
            value = {k: v for k, v in zip(("q01", "q25", "q50", "q75", "q99"), value or (), strict=False) if v is not None}
        stats[stat] = value
    return result


def _second_pass(dataset: Dataset, kinds: dict[str, Kind], first: dict[str, Any]) -> dict[str, dict[str, Any]]:
    expressions: list[str] = []
    layout: list[tuple[str, str, Any]] = []
    for name, kind in kinds.items():
        q = quote_identifier(name)
        stats = first[name]
        if kind == "numeric" and stats.get("min") is not None and stats["max"] is not None:
            low, high = float(stats["min"]), float(stats["max"])
            if high > low:
                width = (high - low) / _BINS
                expressions.append(f"histogram(least(floor(({q}::DOUBLE - {low!r}) / {width!r}), {_BINS - 1})::INTEGER)")
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
    if not expressions:
        return {}
    row = dataset.connection.execute(f"SELECT {', '.join(expressions)} FROM {DATASET}").fetchone()
    assert row is not None
    result: dict[str, dict[str, Any]] = {}
    for (name, what, extra), value in zip(layout, row, strict=True):
        if what == "histogram":
            low, width = extra
            counts = dict(value or {})
            result[name] = {"histogram": tuple(
                (low + i * width, low + (i + 1) * width, int(counts.get(i, 0))) for i in range(_BINS)
            )}
        elif what == "constant":
            result[name] = {"histogram": ((extra, extra, int(value)),)}
        elif what == "top":
            ranked = sorted((value or {}).items(), key=lambda kv: (-kv[1], str(kv[0])))
            result[name] = {"top": tuple((k, int(v)) for k, v in ranked[:_TOP_VALUES])}
        else:
            result[name] = {"top": tuple((k, -1) for k in (value or []))}
    return result


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
