"""Mergeable sketches: statistics of parts of the data that combine into those of the whole.

Pure functions over numpy arrays; `charter.scale` computes them per partition and merges them.
- `Buckets`: quantiles within `QUANTILE_RELATIVE_ERROR` of the exact order statistic. Buckets
  are log-spaced (DDSketch's layout: bucket i holds magnitudes in (gamma^(i-1), gamma^i], zero
  apart) and keep their count, smallest and largest value; the estimate is read by rank inside
  the bucket that holds the order statistic, so both lie in one bucket, and it is exact when the
  bucket holds a single value. Merging is exact: counts add, ranges widen.
- `bottom_hashes` / `distinct_count`: the `DISTINCT_SKETCH` smallest distinct 64-bit hashes (a
  bottom-k sketch): exact below k distinct values (barring a hash collision), else estimated
  as (k - 1) / (k-th smallest hash as a share of 2^64), relative standard error ~1/sqrt(k - 2).
- `frequent`: a Misra-Gries summary: every value found in more than n / (counters + 1) of n
  rows keeps a counter, which undercounts it by at most that much.
- `moments` / `merge_moments`: mean and sum of squared deviations, merged by Chan, Golub and
  LeVeque's pairwise update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DISTINCT_SKETCH",
    "QUANTILE_RELATIVE_ERROR",
    "Buckets",
    "bottom_hashes",
    "distinct_count",
    "frequent",
    "merge_moments",
    "moments",
]

Floats = npt.NDArray[np.float64]
Integers = npt.NDArray[np.int64]
Hashes = npt.NDArray[np.uint64]

DISTINCT_SKETCH = 4096
"""Hashes kept per column: distinct counts are exact below this many values."""
QUANTILE_RELATIVE_ERROR = 0.005
"""Quantiles are within this share of the exact order statistic (see `Buckets`)."""

_GAMMA = 1 + QUANTILE_RELATIVE_ERROR
_LOG_GAMMA = math.log(_GAMMA)
_BUCKET_OFFSET = 1 << 20  # above any |ceil(log|x| / log gamma)| of a float64, so signs never mix


@dataclass(frozen=True)
class Buckets:
    """A mergeable quantile sketch: log-spaced buckets with their counts and value ranges."""

    keys: Integers
    counts: Integers
    low: Floats
    high: Floats

    @classmethod
    def of(cls, values: Floats) -> Buckets:
        """The sketch of some finite values."""
        keys = _bucket_keys(values)
        order = np.lexsort((values, keys))
        ordered, ordered_keys = values[order], keys[order]
        unique, first, counts = np.unique(ordered_keys, return_index=True, return_counts=True)
        return cls(unique, counts.astype(np.int64), ordered[first], ordered[first + counts - 1])

    @classmethod
    def merge(cls, parts: Sequence[Buckets]) -> Buckets:
        """The sketch of all the parts' values together (exact: counts add, ranges widen)."""
        keys = np.concatenate([p.keys for p in parts])
        unique, inverse = np.unique(keys, return_inverse=True)
        counts = np.zeros(unique.size, dtype=np.int64)
        low = np.full(unique.size, np.inf)
        high = np.full(unique.size, -np.inf)
        np.add.at(counts, inverse, np.concatenate([p.counts for p in parts]))
        np.minimum.at(low, inverse, np.concatenate([p.low for p in parts]))
        np.maximum.at(high, inverse, np.concatenate([p.high for p in parts]))
        return cls(unique, counts, low, high)

    def quantile(self, p: float) -> float | None:
        """The estimate of x_(ceil(p*n)), read by rank between its bucket's smallest and largest."""
        total = int(self.counts.sum())
        if total == 0:
            return None
        index = max(math.ceil(p * total), 1) - 1
        cumulative = np.cumsum(self.counts)
        bucket = int(np.searchsorted(cumulative, index, side="right"))
        count = int(self.counts[bucket])
        low, high = float(self.low[bucket]), float(self.high[bucket])
        if count == 1 or high == low:
            return low
        position = index - (int(cumulative[bucket]) - count)
        return low + (high - low) * position / (count - 1)


def _bucket_keys(values: Floats) -> Integers:
    """Bucket numbers that grow with the value: 0 for zero, signed log-magnitudes otherwise."""
    keys = np.zeros(values.shape, dtype=np.int64)
    nonzero = values != 0
    magnitude = np.ceil(np.log(np.abs(values[nonzero])) / _LOG_GAMMA).astype(np.int64)
    magnitude += _BUCKET_OFFSET
    keys[nonzero] = np.where(values[nonzero] > 0, magnitude, -magnitude)
    return keys


def bottom_hashes(hashes: Hashes) -> Hashes:
    """The `DISTINCT_SKETCH` smallest distinct hashes, ascending (merge: pass the sketches joined)."""
    return np.unique(hashes)[:DISTINCT_SKETCH]


def distinct_count(hashes: Hashes) -> int:
    """Distinct values from the bottom-k hashes: exact below k, else (k - 1) / k-th hash share."""
    if hashes.size < DISTINCT_SKETCH:
        return int(hashes.size)
    kth = float(hashes[DISTINCT_SKETCH - 1]) + 1.0
    return round((DISTINCT_SKETCH - 1) * 2.0**64 / kth)


def frequent(counts: Mapping[Any, int], counters: int) -> dict[Any, int]:
    """Misra-Gries reduction to `counters` counters: the largest counts less the next one.

    Counters that reach zero (ties at the cut) are kept, so values remain to show when none is
    frequent. Merge summaries by adding their counters and reducing again.
    """
    if len(counts) <= counters:
        return dict(counts)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    cut = ordered[counters][1]
    return {value: n - cut for value, n in ordered[:counters]}


def moments(values: Floats) -> tuple[float, float]:
    """Mean and sum of squared deviations; infinite or NaN when the values overflow a double."""
    if values.size == 0:
        return 0.0, 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(values.mean())
        return mean, float(np.square(values - mean).sum())


def merge_moments(parts: Iterable[tuple[int, float, float]]) -> tuple[float, float]:
    """Mean and sum of squared deviations of all the parts' values, from each part's
    (count, mean, sum of squared deviations)."""
    count, mean, m2 = 0, 0.0, 0.0
    for n, part_mean, part_m2 in parts:
        if n == 0:
            continue
        total = count + n
        delta = part_mean - mean
        mean += delta * n / total
        m2 += part_m2 + delta * delta * count * n / total
        count = total
    return mean, m2
