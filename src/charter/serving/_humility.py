"""Humility: saying when a record lies outside what the model has seen.

A record is flagged when a number falls beyond the training range, a category was never seen in
training, too many features are missing, or (classification) its score falls in the band the
charter calls uncertain. The charter decides what a flagged record gets: the model's decision
with the flags, or today's rule's decision (`serving.fallback: baseline`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FLAGS", "Humility", "flag_column", "flag_lists"]

FLAGS = ("out_of_range", "unseen_category", "too_many_missing", "uncertain")


class Humility:
    """Flags for records, from the version's reference statistics and the charter's settings."""

    def __init__(
        self,
        reference: Mapping[str, Any],
        features: Sequence[str],
        *,
        max_missing_share: float,
        uncertain_band: tuple[float, float] | None,
    ) -> None:
        stats = reference.get("features", {})
        self.features = tuple(features)
        self.ranges = {
            f: (float(s["min"]), float(s["max"]))
            for f, s in stats.items()
            if s.get("kind") == "number" and "min" in s
        }
        self.seen = {
            f: frozenset(s.get("shares", {}))
            for f, s in stats.items()
            # a pooled "other" share means rare categories were left out: unseen cannot be told
            if s.get("kind") == "category" and not s.get("other_share")
        }
        self._seen_index = {f: pd.Index(sorted(v), dtype=object) for f, v in self.seen.items()}
        self._seen_arrays = {f: pa.array(sorted(v), type=pa.string()) for f, v in self.seen.items()}
        self.max_missing = max_missing_share
        self.band = uncertain_band

    def codes(
        self, columns: Mapping[str, np.ndarray], scores: np.ndarray | None = None
    ) -> np.ndarray:
        """The flags of many rows at once, as bit codes (bit i set: `FLAGS[i]` raised).

        `columns` are converted feature columns (floats, or object arrays for categories);
        `scores` are classification scores (None for regression).
        """
        rows = len(next(iter(columns.values()))) if columns else 0
        out_of_range = np.zeros(rows, dtype=bool)
        unseen = np.zeros(rows, dtype=bool)
        missing = np.zeros(rows, dtype=np.int64)
        for feature in self.features:
            values = columns.get(feature)
            if values is None:
                missing += 1
                continue
            if values.dtype == object:
                absent = pd.isna(values)
                index = self._seen_index.get(feature)
                if index is not None:
                    unseen |= ~absent & (index.get_indexer(values) < 0)
            else:
                absent = np.isnan(values)
                bounds = self.ranges.get(feature)
                if bounds is not None:
                    with np.errstate(invalid="ignore"):
                        out_of_range |= (values < bounds[0]) | (values > bounds[1])
            missing += absent
        too_many = (
            missing / len(self.features) > self.max_missing
            if self.features
            else np.zeros(rows, bool)
        )
        uncertain = np.zeros(rows, dtype=bool)
        if scores is not None and self.band is not None:
            uncertain = (scores >= self.band[0]) & (scores <= self.band[1])
        return (
            out_of_range.astype(np.int8)
            | unseen.astype(np.int8) << 1
            | np.asarray(too_many, dtype=np.int8) << 2
            | uncertain.astype(np.int8) << 3
        )

    def table_codes(
        self, numbers: Mapping[str, np.ndarray], texts: Mapping[str, pa.Array], rows: int
    ) -> np.ndarray:
        """`codes` without the score's bit, from features kept in Arrow (`TableFeatures`):
        floats for numbers and dates, Arrow text for categories (null where missing).

        Gives what `codes` gives on the same rows; add the score's bit with `with_scores`."""
        out_of_range = np.zeros(rows, dtype=bool)
        unseen = np.zeros(rows, dtype=bool)
        missing = np.zeros(rows, dtype=np.int64)
        for feature in self.features:
            number = numbers.get(feature)
            text = texts.get(feature)
            if number is not None:
                absent = np.isnan(number)
                bounds = self.ranges.get(feature)
                if bounds is not None:
                    with np.errstate(invalid="ignore"):
                        out_of_range |= (number < bounds[0]) | (number > bounds[1])
            elif text is not None:
                absent = np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
                seen = self._seen_arrays.get(feature)
                if seen is not None:
                    known = pc.is_in(text, value_set=seen).to_numpy(zero_copy_only=False)
                    unseen |= ~absent & ~np.asarray(known, dtype=bool)
            else:
                missing += 1
                continue
            missing += absent
        too_many = (
            missing / len(self.features) > self.max_missing
            if self.features
            else np.zeros(rows, bool)
        )
        return (
            out_of_range.astype(np.int8)
            | unseen.astype(np.int8) << 1
            | np.asarray(too_many, dtype=np.int8) << 2
        )

    def with_scores(self, codes: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
        """`table_codes` with the bit of scores in the uncertain band (classification)."""
        if scores is None or self.band is None:
            return codes
        uncertain = (scores >= self.band[0]) & (scores <= self.band[1])
        return np.asarray(codes | uncertain.astype(np.int8) << 3, dtype=np.int8)

    def flags(self, row: Mapping[str, Any], score: float | None = None) -> list[str]:
        """The flags of one converted record (and its classification score, when known)."""
        found: list[str] = []
        missing = 0
        out_of_range = unseen = False
        for feature in self.features:
            value = row.get(feature)
            if value is None:
                missing += 1
                continue
            bounds = self.ranges.get(feature)
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                out_of_range = True
            seen = self.seen.get(feature)
            if seen is not None and _text(value) not in seen:
                unseen = True
        if out_of_range:
            found.append("out_of_range")
        if unseen:
            found.append("unseen_category")
        if self.features and missing / len(self.features) > self.max_missing:
            found.append("too_many_missing")
        if score is not None and self.band is not None and self.band[0] <= score <= self.band[1]:
            found.append("uncertain")
        return found


_COMBOS = [[f for bit, f in enumerate(FLAGS) if code >> bit & 1] for code in range(1 << len(FLAGS))]


def flag_lists(codes: np.ndarray) -> list[list[str]]:
    """Bit codes from `Humility.codes` as lists of flag names (`FLAGS` order)."""
    return [_COMBOS[int(c)] for c in codes]


def flag_column(codes: np.ndarray) -> pa.Array:
    """Bit codes as an Arrow list<string> column, without a Python list per row."""
    combos = pa.array(_COMBOS, type=pa.list_(pa.string()))
    return combos.take(pa.array(codes.astype(np.int32)))


def _text(value: Any) -> str:
    return str(value)
