"""Counting a window on the reference's bins: mergeable (the parts add up to the whole), the same
for every input form, and checked against an independent binning."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.errors import UsageError
from charter.monitoring import NEW_VALUES_KEPT, Counts, count, reference_statistics

RNG = np.random.default_rng(2)
NUMBERS = reference_statistics(
    pd.DataFrame({"x": np.round(RNG.normal(0, 10, 5_000), 1)}), {"x": "number"}
)["features"]["x"]
CATEGORIES = reference_statistics(
    pd.DataFrame({"c": RNG.choice(["a", "b", "c", "d"], 5_000, p=[0.4, 0.3, 0.2, 0.1])}),
    {"c": "category"},
)["features"]["c"]

floats = st.one_of(
    st.floats(-60, 60, allow_nan=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, NUMBERS["grid"]["edges"][7]]),
)
labels = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "new1", "new2", "zz"]))


def assert_same_counts(merged: Counts, whole: Counts) -> None:
    assert (merged.kind, merged.bins, merged.rows, merged.missing) == (
        whole.kind,
        whole.bins,
        whole.rows,
        whole.missing,
    )
    assert (merged.low, merged.high, merged.outside, merged.new) == (
        whole.low,
        whole.high,
        whole.outside,
        whole.new,
    )
    # Sums are added, so they are equal up to rounding.
    assert merged.total == pytest.approx(whole.total, rel=1e-9, abs=1e-9)
    assert merged.squares == pytest.approx(whole.squares, rel=1e-9, abs=1e-9)
    assert merged.sums == pytest.approx(whole.sums, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(floats, max_size=300), st.data())
def test_numeric_counts_of_parts_merge_into_the_counts_of_the_whole(
    values: list[float], data: st.DataObject
) -> None:
    whole = np.asarray(values, dtype=np.float64)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=3)))
    parts = np.split(whole, cuts)
    merged = count(NUMBERS, parts[0])
    for part in parts[1:]:
        merged = merged.merge(count(NUMBERS, part))
    assert_same_counts(merged, count(NUMBERS, whole))


@settings(max_examples=200, deadline=None)
@given(st.lists(labels, max_size=300), st.integers(0, 300))
def test_category_counts_of_parts_merge_into_the_counts_of_the_whole(
    values: list[str | None], cut: int
) -> None:
    whole = count(CATEGORIES, pa.array(values, type=pa.string()))
    first = count(CATEGORIES, pa.array(values[:cut], type=pa.string()))
    second = count(CATEGORIES, np.asarray(values[cut:], dtype=object))
    assert_same_counts(first.merge(second), whole)


@settings(max_examples=100, deadline=None)
@given(st.lists(floats, max_size=200))
def test_numeric_counts_match_an_independent_binning(values: list[float]) -> None:
    whole = np.asarray(values, dtype=np.float64)
    found = count(NUMBERS, whole)
    finite = whole[np.isfinite(whole)]
    edges = np.asarray(NUMBERS["grid"]["edges"])
    bins = [int(np.sum((finite >= lo) & (finite < hi))) for lo, hi in _bins(edges)]
    assert list(found.bins) == bins
    assert found.rows == whole.size and found.missing == whole.size - finite.size
    if finite.size:
        assert (found.low, found.high) == (finite.min(), finite.max())
        assert found.total == pytest.approx(np.sum(finite), abs=1e-6)
        assert found.squares == pytest.approx(np.sum(finite**2), rel=1e-9)
        sums = [float(np.sum(finite[(finite >= lo) & (finite < hi)])) for lo, hi in _bins(edges)]
        assert list(found.sums) == pytest.approx(sums, abs=1e-6)
    else:
        assert (found.low, found.high) == (np.inf, -np.inf)


def _bins(edges: np.ndarray) -> list[tuple[float, float]]:
    bounds = [-np.inf, *edges.tolist(), np.inf]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


@settings(max_examples=100, deadline=None)
@given(st.lists(labels, max_size=200))
def test_category_counts_match_a_counter(values: list[str | None]) -> None:
    found = count(CATEGORIES, np.asarray(values, dtype=object))
    tally = Counter(value for value in values if value is not None)
    known = list(CATEGORIES["counts"])
    assert dict(zip(known, found.bins, strict=True)) == {v: tally.get(v, 0) for v in known}
    assert found.missing == values.count(None)
    new = {v: n for v, n in tally.items() if v not in known}
    assert found.outside == sum(new.values())
    assert dict(found.new) == new


def test_every_input_form_counts_the_same() -> None:
    values = RNG.normal(0, 10, 1_000)
    values[::7] = np.nan
    expected = count(NUMBERS, values)
    as_arrow = pa.array(values, from_pandas=True)  # NaN becomes null
    chunked = pa.chunked_array([as_arrow[:300], as_arrow[300:]])
    for form in (as_arrow, chunked, pa.array(values), values.tolist()):
        assert count(NUMBERS, form) == expected
    integers = pa.array([1, None, 3, 40], type=pa.int32())
    assert count(NUMBERS, integers) == count(NUMBERS, np.array([1.0, np.nan, 3.0, 40.0]))

    words = ["a", None, "b", "new", "a", None, "c"]
    expected_words = count(CATEGORIES, pa.array(words))
    forms: list[Any] = [
        np.asarray(words, dtype=object),
        np.asarray(["a", np.nan, "b", "new", "a", None, "c"], dtype=object),
        pa.chunked_array([pa.array(words[:3]), pa.array(words[3:])]),
        pa.array(words).dictionary_encode(),
        pa.chunked_array(
            [pa.array(words[:4]).dictionary_encode(), pa.array(words[4:]).dictionary_encode()]
        ),
        pa.array(words, type=pa.large_string()),
        pd.Series(words, dtype="category"),
    ]
    for form in forms:
        assert count(CATEGORIES, form) == expected_words
    assert expected_words.new == (("new", 1),)


def test_non_text_categories_compare_as_text_on_both_sides() -> None:
    reference = reference_statistics(pd.DataFrame({"n": [1, 2, 2, 3] * 50}), {"n": "category"})
    feature = reference["features"]["n"]
    assert set(feature["counts"]) == {"1", "2", "3"}
    found = count(feature, pa.array([2, 2, 3, None, 4]))
    assert found.bins == (2, 0, 1)  # the reference order: "2" (most common), then "1", "3"
    assert (found.missing, found.outside, found.new) == (1, 1, (("4", 1),))


def test_new_values_are_capped_but_their_rows_are_all_counted() -> None:
    values = pa.array([f"v{i:04d}" for i in range(NEW_VALUES_KEPT + 50) for _ in range(1 + i % 3)])
    found = count(CATEGORIES, values)
    assert found.outside == len(values)
    assert len(found.new) == NEW_VALUES_KEPT
    assert found.new[0][1] == 3  # the most common first
    half = count(CATEGORIES, values[: len(values) // 2]).merge(
        count(CATEGORIES, values[len(values) // 2 :])
    )
    assert half.outside == found.outside
    assert len(half.new) == NEW_VALUES_KEPT


def test_counts_of_different_references_do_not_merge() -> None:
    numbers = count(NUMBERS, np.arange(10.0))
    words = count(CATEGORIES, pa.array(["a"]))
    with pytest.raises(UsageError, match="cannot merge counts of a number"):
        numbers.merge(words)


def test_wrong_kind_of_values_is_refused_with_a_clear_message() -> None:
    with pytest.raises(UsageError, match="current values are string, not numbers"):
        count(NUMBERS, pa.array(["1", "2"]))
    with pytest.raises(UsageError, match="cannot be read as numbers"):
        count(NUMBERS, np.asarray(["x", "y"], dtype=object))
    with pytest.raises(UsageError, match="kind is 'text'"):
        count({"kind": "text"}, np.arange(3.0))
