"""Numbers and evidence written for people."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from charter.reports._format import (
    compact,
    display_value,
    evidence_items,
    number,
    percent,
    shorten,
)


def test_number_hand_worked_cases():
    assert number(None) == "—"
    assert number(True) == "true"
    assert number(12345) == "12,345"
    assert number(np.int64(7)) == "7"
    assert number(3.0) == "3"
    assert number(1234567.891) == "1,234,568"
    assert number(1234.56) == "1,234.6"
    assert number(0.123456) == "0.1235"
    assert number(-8.18765) == "-8.188"
    assert number(0.0000123) == "1.23e-05"
    assert number(float("nan")) == "nan"
    assert number(datetime(2024, 1, 31, 8)) == "2024-01-31 08:00:00"
    assert number(date(2024, 1, 31)) == "2024-01-31"
    assert number("text") == "text"


def test_percent_hand_worked_cases():
    assert percent(0) == "0%"
    assert percent(0.32) == "32.0%"
    assert percent(0.0004) == "<0.1%"
    assert percent(0.9996) == ">99.9%"
    assert percent(1) == "100.0%"
    assert percent(None) == "—"


@given(st.floats(min_value=0.001, max_value=0.999))
def test_percent_is_within_rounding(share):
    assert abs(float(percent(share).rstrip("%")) / 100 - share) <= 0.0005 + 1e-12


@given(st.floats(min_value=1e-3, max_value=1e14) | st.floats(min_value=-1e14, max_value=-1e-3))
def test_compact_keeps_three_significant_digits(x):
    text = compact(x)
    scale = {"k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(text[-1], 1.0)
    value = float(text.rstrip("kMBT")) * scale
    assert math.isclose(value, x, rel_tol=0.0051)


def test_compact_hand_worked_cases():
    assert compact(0) == "0"
    assert compact(1234) == "1.23k"
    assert compact(2_500_000) == "2.5M"
    assert compact(0.25) == "0.25"


def test_shorten():
    assert shorten("abc", 3) == "abc"
    assert shorten("abcdef", 4) == "abc…"


def test_evidence_items_shape_each_value():
    evidence = {
        "share": 0.32,
        "counts": {"yes": 10, " ": 90},
        "values": ["?", "N/A"],
        "none": [],
        "curve": [{"rows": 100, "score": 0.7}, {"rows": 200, "score": 0.75, "std": 0.01}],
        "pairs": [[98, 2], [505, 2]],
        "deep": {"a": [1, {"b": 2}]},
        "per_column": {"x": {"rows": 10, "share": 0.5}, "y": {"rows": 4}},
        "array": np.array([1.5, 2.5]),
        "missing": None,
    }
    items = {i.key: i for i in evidence_items(evidence)}
    assert items["share"].kind == "value" and items["share"].value == "0.32"
    assert items["counts"].kind == "table" and items["counts"].headers == ()
    assert items["counts"].rows == (("yes", "10"), ("' '", "90"))
    assert items["values"].value == "?, N/A"
    assert items["none"].value == "(none)"
    curve = items["curve"]
    assert curve.headers == ("rows", "score", "std")
    assert curve.rows == (("100", "0.7", "—"), ("200", "0.75", "0.01"))
    assert items["pairs"].kind == "table" and items["pairs"].rows == (("98", "2"), ("505", "2"))
    assert items["deep"].kind == "json" and '"b": 2' in items["deep"].value
    per_column = items["per_column"]
    assert per_column.headers == ("", "rows", "share")
    assert per_column.rows == (("x", "10", "0.5"), ("y", "4", "—"))
    assert items["array"].value == "1.5, 2.5"
    assert items["missing"].value == "—"


def test_evidence_items_cut_long_lists():
    items = evidence_items({"ids": list(range(25)), "rows": [{"i": i} for i in range(60)]})
    assert items[0].value is not None and items[0].value.endswith(", … (5 more)")
    assert len(items[1].rows) == 50 and items[1].more_rows == 10


def test_display_value_makes_blanks_and_stray_spaces_visible():
    assert display_value("Monthly") == "Monthly"
    assert display_value("Monthly ") == "'Monthly '"
    assert display_value(" ") == "' '"
    assert display_value("") == "(empty text)"
    assert display_value(None) == "(missing)"
    assert display_value(True) == "true"
    assert display_value(2.5) == "2.5"
