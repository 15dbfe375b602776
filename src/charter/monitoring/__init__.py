"""Phase 5: reference statistics kept with each version, drift, live performance, value."""

from charter.monitoring._drift import (
    NEW_VALUES_KEPT,
    PSI_EPSILON,
    Counts,
    DriftResult,
    FeatureDrift,
    compare,
    count,
    drift,
    drift_from_counts,
)
from charter.monitoring._reference import (
    GRID_BINS,
    MAX_CATEGORIES,
    REFERENCE_BINS,
    REFERENCE_FORMAT,
    category_strings,
    reference_statistics,
)

__all__ = [
    "GRID_BINS",
    "MAX_CATEGORIES",
    "NEW_VALUES_KEPT",
    "PSI_EPSILON",
    "REFERENCE_BINS",
    "REFERENCE_FORMAT",
    "Counts",
    "DriftResult",
    "FeatureDrift",
    "category_strings",
    "compare",
    "count",
    "drift",
    "drift_from_counts",
    "reference_statistics",
]
