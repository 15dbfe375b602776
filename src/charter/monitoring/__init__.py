"""Phase 5: reference statistics kept with each version, drift, live performance, value."""

from charter.monitoring._reference import REFERENCE_BINS, reference_statistics

__all__ = ["REFERENCE_BINS", "reference_statistics"]
