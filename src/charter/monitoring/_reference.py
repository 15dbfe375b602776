"""What the training data looked like, kept with each version so monitoring never re-reads it.

Per feature: for numbers the range, moments, missing share and quantile bin edges with the share
of rows in each bin (the reference side of PSI); for categories the share of each value; plus the
same for the model's scores on the test rows. Everything is plain JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["REFERENCE_BINS", "reference_statistics"]

REFERENCE_BINS = 10
"""Quantile bins per numeric feature (deciles)."""
_MAX_CATEGORIES = 100  # the rest are pooled as "other"


def reference_statistics(
    X: pd.DataFrame, feature_types: dict[str, str], scores: np.ndarray | None = None
) -> dict[str, Any]:
    """Reference statistics of the training features (and of the scores, when given)."""
    features = {
        str(name): _numeric(X[name].to_numpy(dtype=np.float64, na_value=np.nan))
        if feature_types.get(str(name)) != "category"
        else _categorical(X[name])
        for name in X.columns
    }
    found: dict[str, Any] = {"rows": len(X), "features": features}
    if scores is not None:
        found["score"] = _numeric(np.asarray(scores, dtype=np.float64))
    return found


def _numeric(values: np.ndarray) -> dict[str, Any]:
    present = values[np.isfinite(values)]
    missing = 1.0 - present.size / values.size if values.size else 0.0
    if present.size == 0:
        return {"kind": "number", "missing_share": missing, "rows": int(values.size)}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, REFERENCE_BINS + 1)))
    # Interior edges only: the outer bins are open, so later data beyond the range still counts.
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, present, side="right"), minlength=inner.size + 1)
    return {
        "kind": "number",
        "rows": int(values.size),
        "missing_share": missing,
        "min": float(present.min()),
        "max": float(present.max()),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "edges": inner.tolist(),
        "shares": (counts / present.size).tolist(),
    }


def _categorical(column: pd.Series) -> dict[str, Any]:
    values = column.astype(object)
    present = values[values.notna()]
    missing = 1.0 - len(present) / len(values) if len(values) else 0.0
    shares = present.astype(str).value_counts(normalize=True, sort=True)
    kept = shares.iloc[:_MAX_CATEGORIES]
    other = float(shares.iloc[_MAX_CATEGORIES:].sum())
    return {
        "kind": "category",
        "rows": len(values),
        "missing_share": missing,
        "shares": {str(k): float(v) for k, v in kept.items()},
        "other_share": other,
    }
