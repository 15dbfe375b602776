"""What the training data looked like, kept with each version so monitoring never re-reads it.

Computed once at training time and stored as ``reference.json`` beside the model. Everything is
plain JSON; the layout (format 2) is::

    {"format": 2, "rows": 80000,
     "features": {name: <numeric> | <category>, ...},
     "score": <numeric>}                      # the model's scores on the test rows, when given

    <numeric> = {"kind": "number", "rows": n, "missing": m, "missing_share": m / n,
                 "min": .., "max": .., "mean": .., "std": ..,
                 "edges": [9 decile edges], "shares": [10 decile shares],     # PSI's bins
                 "grid": {"bins": GRID_BINS, "edges": [<= GRID_BINS - 1 quantile edges],
                          "counts": [rows per bin], "sums": [sum of the values per bin]}}
    <category> = {"kind": "category", "rows": n, "missing": m, "missing_share": m / n,
                  "counts": {value: rows, ...}, "other": rows,        # the 100 most common values
                  "shares": {value: share, ...}, "other_share": share}

Bins are half open and the outer ones unbounded: bin 0 is (-inf, edges[0]), bin i is
[edges[i-1], edges[i]), the last is [edges[-1], +inf), so later data beyond the range still
counts. Edges are reference quantiles with ties merged, so a value with many rows (a spike at 0)
makes one wide bin rather than empty ones. The decile edges are a subset of the grid's edges,
so PSI's bins are unions of grid bins. A numeric feature with no values at all keeps only kind,
rows, missing and missing_share.

Why a fine grid: the drift engine computes Kolmogorov-Smirnov and Wasserstein from bin counts
alone; on GRID_BINS equal-count bins the KS statistic is within the largest bin's share
(1 / GRID_BINS when there are no ties) of the one on the raw rows. The size was chosen by
measurement (BENCHMARKS.md, "Drift"): 200 bins cost about 13 KB of JSON per numeric feature
(100: 7 KB, 400: 25 KB) and bound the KS error at 0.005, a tenth of KS's 5 % critical value
(1.36 / sqrt(n)) for windows up to 700 rows; the error seen on lognormal data was a fifth of the
bound. The sums per bin place each bin's mass (where in the bin its values lie), which makes the
Wasserstein distance from the grid close to the one on the raw rows even in long tails.

Format 1 (versions registered before the grid existed) has only the decile edges and shares
and, for categories, shares; the drift engine still reads it, more coarsely, and says so.
Values of category features are compared as text: the reference and the current side both go
through ``category_strings``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "GRID_BINS",
    "MAX_CATEGORIES",
    "REFERENCE_BINS",
    "REFERENCE_FORMAT",
    "category_strings",
    "reference_statistics",
]

REFERENCE_FORMAT = 2
"""The layout written by `reference_statistics` (format 1 had no grid and no counts)."""
REFERENCE_BINS = 10
"""Quantile bins per numeric feature for PSI (deciles)."""
GRID_BINS = 200
"""Fine quantile bins per numeric feature for KS, Wasserstein and medians (a multiple of 10)."""
MAX_CATEGORIES = 100
"""Values kept per category feature; the rest are pooled as "other"."""


def reference_statistics(
    X: pd.DataFrame, feature_types: dict[str, str], scores: np.ndarray | None = None
) -> dict[str, Any]:
    """Reference statistics of the training features (and of the scores, when given).

    `feature_types` maps a feature to "number", "category" or "date"; anything but "category"
    is read as a number (dates are numbers of days in the modeling frame).
    """
    features = {
        str(name): _categorical(category_strings(X[name]))
        if feature_types.get(str(name)) == "category"
        else _numeric(X[name].to_numpy(dtype=np.float64, na_value=np.nan))
        for name in X.columns
    }
    found: dict[str, Any] = {"format": REFERENCE_FORMAT, "rows": len(X), "features": features}
    if scores is not None:
        found["score"] = _numeric(np.asarray(scores, dtype=np.float64).ravel())
    return found


def category_strings(values: Any) -> pa.ChunkedArray:
    """A category column as Arrow text, nulls for missing values.

    Takes a pandas Series, a pyarrow Array or ChunkedArray, or a numpy array (object arrays of
    strings with None or NaN for missing). Non-text values are cast to text by Arrow, the same
    way on the reference and the current side, so they compare equal.
    """
    if isinstance(values, pa.ChunkedArray):
        array = values
    elif isinstance(values, pa.Array):
        array = pa.chunked_array([values])
    elif isinstance(values, pd.Series):
        array = pa.chunked_array([pa.array(values.astype(object), from_pandas=True)])
    else:
        array = pa.chunked_array([pa.array(np.asarray(values, dtype=object), from_pandas=True)])
    if pa.types.is_dictionary(array.type):
        array = pc.cast(array, array.type.value_type)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    return array


def _numeric(values: np.ndarray) -> dict[str, Any]:
    finite = np.isfinite(values)
    present = np.sort(values[finite])
    rows = int(values.size)
    missing = rows - int(present.size)
    found: dict[str, Any] = {
        "kind": "number",
        "rows": rows,
        "missing": missing,
        "missing_share": missing / rows if rows else 0.0,
    }
    if present.size == 0:
        return found
    quantiles = _quantiles(present, np.arange(1, GRID_BINS) / GRID_BINS)
    grid = np.unique(quantiles)
    deciles = np.unique(quantiles[GRID_BINS // REFERENCE_BINS - 1 :: GRID_BINS // REFERENCE_BINS])
    decile_counts = _bin_counts(present, deciles)
    return found | {
        "min": float(present[0]),
        "max": float(present[-1]),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "edges": deciles.tolist(),
        "shares": (decile_counts / present.size).tolist(),
        "grid": {
            "bins": GRID_BINS,
            "edges": grid.tolist(),
            "counts": _bin_counts(present, grid).tolist(),
            "sums": _bin_sums(present, grid).tolist(),
        },
    }


def _quantiles(ordered: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Quantiles of sorted values, linear interpolation (numpy's default method), in one pass."""
    position = probabilities * (ordered.size - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, ordered.size - 1)
    fraction = position - below
    found: np.ndarray = ordered[below] + fraction * (ordered[above] - ordered[below])
    # Interpolation may round just outside its neighbours; keep the edges in order.
    return np.maximum.accumulate(found)


def _bin_counts(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per bin of sorted values: bin i holds edges[i-1] <= x < edges[i]."""
    below = np.searchsorted(ordered, edges, side="left")
    return np.diff(np.concatenate(([0], below, [ordered.size]))).astype(np.int64)


def _bin_sums(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Sum of the sorted values in each bin (bins as in `_bin_counts`)."""
    below = np.searchsorted(ordered, edges, side="left")
    bounds = np.concatenate(([0], below, [ordered.size]))
    running = np.concatenate(([0.0], np.cumsum(ordered)))
    found: np.ndarray = np.diff(running[bounds])
    return found


def _categorical(values: pa.ChunkedArray) -> dict[str, Any]:
    rows = len(values)
    missing = values.null_count
    present = rows - missing
    tally = pc.value_counts(values.drop_null()) if present else None
    pairs: list[tuple[str, int]] = []
    if tally is not None:
        counted = zip(
            tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True
        )
        pairs = sorted(((str(v), int(c)) for v, c in counted), key=lambda p: (-p[1], p[0]))
    kept = pairs[:MAX_CATEGORIES]
    other = present - sum(count for _, count in kept)
    return {
        "kind": "category",
        "rows": rows,
        "missing": missing,
        "missing_share": missing / rows if rows else 0.0,
        "counts": dict(kept),
        "other": other,
        "shares": {value: count / present for value, count in kept},
        "other_share": other / present if present else 0.0,
    }
