"""Each chart: drawn from plain numbers, titled, described; None when there is nothing to draw."""

from __future__ import annotations

import re
from datetime import datetime

from charter.audit import ColumnProfile
from charter.reports._charts import (
    GroupRate,
    distribution_chart,
    group_rate_chart,
    learning_curve_chart,
    missingness_chart,
    volume_chart,
)


def column(name: str, **fields) -> ColumnProfile:
    base = {"dtype": "DOUBLE", "kind": "numeric", "rows": 100, "missing": 0, "distinct": 10}
    return ColumnProfile(name=name, **{**base, **fields})


def texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_missingness_sorts_largest_first_and_stacks_placeholders():
    columns = [
        column("a", missing=5),
        column("b", missing=0),
        column("c", missing=40),
        column("d", kind="categorical", dtype="VARCHAR", missing=10, placeholders=20),
    ]
    chart = missingness_chart(columns)
    assert chart is not None
    assert chart.description.startswith(
        "Share of rows missing per column, largest first: c 40.0%, d 30.0%, a 5.0%."
    )
    assert "1 columns have no missing values" in chart.description
    labels = texts(chart.svg)
    assert labels.index("c") < labels.index("d") < labels.index("a")
    assert "b" not in labels
    assert "placeholder text ('?', 'N/A', ...)" in "".join(labels).replace("&#x27;", "'")
    assert "missing (% of rows)" in labels


def test_missingness_is_none_when_nothing_is_missing():
    assert missingness_chart([column("a"), column("b")]) is None
    assert missingness_chart([]) is None


def test_missingness_draws_at_most_the_limit():
    columns = [column(f"c{i}", missing=i + 1) for i in range(10)]
    chart = missingness_chart(columns, limit=3)
    assert chart is not None
    assert "7 more columns" in chart.description
    assert {"c9", "c8", "c7"} <= set(texts(chart.svg)) and "c6" not in texts(chart.svg)


def test_histogram_describes_its_fullest_bin():
    bins = ((0.0, 1.0, 10), (1.0, 2.0, 60), (2.0, 3.0, 30))
    chart = distribution_chart(column("age", histogram=bins), key="d0")
    assert chart is not None
    assert chart.title == "age"
    assert "3 bins from 0 to 3" in chart.description
    assert "the fullest bin, 1 to 2, holds 60.0% of rows" in chart.description
    assert {"rows", "age (value)"} <= set(texts(chart.svg))


def test_constant_column_is_one_bar():
    chart = distribution_chart(column("flat", histogram=((7.0, 7.0, 100),)), key="d0")
    assert chart is not None
    assert chart.description == "flat holds one value, 7, in 100 rows."


def test_top_values_show_shares_of_all_rows_and_the_rest():
    profile = column(
        "plan",
        kind="categorical",
        dtype="VARCHAR",
        rows=100,
        missing=10,
        top_values=(("basic", 50), ("plus", 30)),
    )
    chart = distribution_chart(profile, key="d1")
    assert chart is not None
    assert (
        chart.description
        == "Most frequent values of plan: basic 50.0%, plus 30.0%, (other values) 10.0%."
    )
    assert "share of rows (%)" in texts(chart.svg)


def test_top_values_quote_values_with_stray_spaces():
    profile = column(
        "contract", kind="categorical", rows=10, top_values=(("monthly", 6), ("Monthly ", 4))
    )
    chart = distribution_chart(profile, key="d2")
    assert chart is not None
    assert "monthly 60.0%, 'Monthly ' 40.0%." in chart.description


def test_no_distribution_without_counts_or_for_dates():
    approximate = column("email", kind="categorical", top_values=(("a", -1), ("b", -1)))
    dates = column("when", kind="temporal", minimum=datetime(2024, 1, 1))
    assert distribution_chart(approximate, key="x") is None
    assert distribution_chart(dates, key="y") is None
    assert distribution_chart(column("empty", missing=100), key="z") is None


def test_group_rates_draw_the_weighted_overall_rate():
    groups = [GroupRate("F", 300, 0.10), GroupRate("M", 100, 0.30), GroupRate("X", 3, None)]
    chart = group_rate_chart("gender", groups, percent_scale=True)
    assert chart is not None
    assert chart.title == "Target rate by gender"
    assert "F 10.0% (300 rows), M 30.0% (100 rows)" in chart.description
    assert "No rate for: X." in chart.description
    labels = texts(chart.svg)
    assert "overall 15.0%" in labels  # (300 × 0.10 + 100 × 0.30) / 400
    assert "target rate (% of rows)" in labels


def test_groups_too_small_to_judge_are_greyed_and_left_out_of_the_overall():
    groups = [GroupRate("F", 300, 0.10), GroupRate("M", 100, 0.30), GroupRate("X", 4, 1.0, False)]
    chart = group_rate_chart("gender", groups, percent_scale=True, label="share of 'yes'")
    assert chart is not None
    assert "X 100.0% (4 rows, too few to judge)" in chart.description
    labels = texts(chart.svg)
    assert "overall 15.0%" in labels
    assert "100.0% · 4 rows (too few)" in labels
    assert "share of 'yes'" in labels


def test_group_means_for_regression():
    chart = group_rate_chart(
        "region", [GroupRate("n", 10, 250.0), GroupRate("s", 30, 150.0)], percent_scale=False
    )
    assert chart is not None
    assert "overall 175" in texts(chart.svg)
    assert "mean of the target" in texts(chart.svg)


def test_group_chart_is_none_without_rates():
    assert group_rate_chart("g", [GroupRate("a", 2, None)], percent_scale=True) is None
    assert group_rate_chart("g", [], percent_scale=True) is None


def test_learning_curve_sorts_points_and_labels_the_metric():
    chart = learning_curve_chart(
        [4000, 1000, 2000], [0.8, 0.7, 0.75], [0.01, 0.03, float("nan")], metric="ROC AUC"
    )
    assert chart is not None
    assert chart.description == (
        "Validation ROC AUC against training rows: 0.7 with 1,000 rows, 0.8 with 4,000 rows."
    )
    labels = texts(chart.svg)
    assert {"training rows", "ROC AUC", "validation ROC AUC"} <= set(labels)
    assert learning_curve_chart([], [], [], metric="x") is None


def test_volume_names_its_fewest_and_most():
    chart = volume_chart(["2024-01", "2024-02", "2024-03"], [120, 40, 300])
    assert chart is not None
    assert chart.description == (
        "Rows per period from 2024-01 to 2024-03 (3 periods): "
        "fewest 40 in 2024-02, most 300 in 2024-03."
    )
    assert {"rows", "period"} <= set(texts(chart.svg))
    assert volume_chart([], []) is None


def test_charts_are_small():
    many = [f"2020-{i:03d}" for i in range(400)]
    chart = volume_chart(many, list(range(400)))
    assert chart is not None
    assert len(chart.svg) < 120_000
    histogram = tuple((i, i + 1, i * 3) for i in range(20))
    small = distribution_chart(column("x", histogram=histogram), key="x")
    assert small is not None and len(small.svg) < 30_000
