"""The drift statistics, computed from the reference grid and window counts, against scipy on the
raw rows and against worked examples."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from charter.monitoring import GRID_BINS, PSI_EPSILON, compare, count, reference_statistics

Draw = Callable[[np.random.Generator, int], np.ndarray]

DISTRIBUTIONS: dict[str, tuple[Draw, Draw]] = {
    # name: (reference draw, current draw)
    "normal, same": (lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0, 1, n)),
    "normal, shifted": (lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0.3, 1, n)),
    "lognormal, wider": (
        lambda g, n: g.lognormal(3, 0.5, n),
        lambda g, n: g.lognormal(3, 0.8, n),
    ),
    "poisson counts, shifted": (
        lambda g, n: g.poisson(3, n).astype(float),
        lambda g, n: g.poisson(3.6, n).astype(float),
    ),
    "spike at 0 plus gamma": (
        lambda g, n: np.where(g.random(n) < 0.4, 0.0, g.gamma(2, 10, n)),
        lambda g, n: np.where(g.random(n) < 0.25, 0.0, g.gamma(2, 12, n)),
    ),
    "current beyond the range": (
        lambda g, n: g.uniform(0, 1, n),
        lambda g, n: g.uniform(0.5, 1.7, n),
    ),
}


def numeric_reference(sample: np.ndarray) -> dict[str, Any]:
    frame = pd.DataFrame({"x": sample})
    feature: dict[str, Any] = reference_statistics(frame, {"x": "number"})["features"]["x"]
    return feature


def category_reference(counts: dict[str, int], other: int = 0) -> dict[str, Any]:
    present = sum(counts.values()) + other
    return {
        "kind": "category",
        "rows": present,
        "missing": 0,
        "missing_share": 0.0,
        "counts": counts,
        "other": other,
        "shares": {k: v / present for k, v in counts.items()},
        "other_share": other / present,
    }


def grid_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows per bin, bins [edges[i-1], edges[i]) — an independent binning with numpy."""
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)


def wasserstein_bound(edges: np.ndarray, counts: np.ndarray, low: float, high: float) -> float:
    """Largest error of a CDF known only at the bin edges, integrated: sum of width x share."""
    knots = np.concatenate(([low], np.clip(edges, low, high), [high]))
    return float(np.sum(np.diff(knots) * counts / counts.sum()))


@pytest.mark.parametrize("window", [200, 5_000])
@pytest.mark.parametrize("case", list(DISTRIBUTIONS))
def test_ks_is_within_the_grid_bound_of_scipy(case: str, window: int) -> None:
    draw_reference, draw_current = DISTRIBUTIONS[case]
    rng = np.random.default_rng(7)
    reference_rows = draw_reference(rng, 40_000)
    current_rows = draw_current(rng, window)
    reference = numeric_reference(reference_rows)
    found = compare("x", reference, count(reference, current_rows))

    exact = stats.ks_2samp(reference_rows, current_rows, method="asymp")
    counts = np.asarray(reference["grid"]["counts"])
    bound = counts.max() / counts.sum()
    assert bound <= 0.4 if "poisson" in case or "spike" in case else bound <= 1.01 / GRID_BINS
    assert found.test == "ks"
    assert found.statistic is not None and found.p_value is not None
    assert found.statistic <= exact.statistic + 1e-12
    assert exact.statistic - found.statistic <= bound + 1e-12
    # The p-value is taken at the grid statistic: between scipy's and that at D - bound.
    effective = round(40_000 * window / (40_000 + window))
    assert found.p_value >= exact.pvalue - 1e-12
    lowest = max(exact.statistic - bound, 0.0)
    if effective <= 1_000:  # scipy's kstwo, as ks_2samp(method="asymp")
        assert found.p_value <= stats.kstwo.sf(lowest, effective) + 1e-12
    else:  # the limiting distribution: within 2 % of kstwo, upwards
        assert found.p_value <= stats.kstwobign.sf(lowest * math.sqrt(effective)) + 1e-12
        assert found.p_value <= 1.02 * stats.kstwo.sf(lowest, effective) + 1e-12
    if "same" in case:
        assert found.p_value > 0.01
    else:
        assert found.p_value < 0.05 or window == 200


@pytest.mark.parametrize("window", [200, 5_000])
@pytest.mark.parametrize("case", list(DISTRIBUTIONS))
def test_wasserstein_is_within_the_grid_tolerance_of_scipy(case: str, window: int) -> None:
    draw_reference, draw_current = DISTRIBUTIONS[case]
    rng = np.random.default_rng(11)
    reference_rows = draw_reference(rng, 40_000)
    current_rows = draw_current(rng, window)
    reference = numeric_reference(reference_rows)
    found = compare("x", reference, count(reference, current_rows))

    edges = np.asarray(reference["grid"]["edges"])
    tolerance = wasserstein_bound(
        edges, np.asarray(reference["grid"]["counts"]), reference_rows.min(), reference_rows.max()
    ) + wasserstein_bound(
        edges, grid_counts(edges, current_rows), current_rows.min(), current_rows.max()
    )
    exact = stats.wasserstein_distance(reference_rows, current_rows)
    assert found.wasserstein is not None and found.wasserstein_std is not None
    assert abs(found.wasserstein - exact) <= tolerance
    # In practice much closer than the guaranteed bound: within 2 % of the reference's std.
    # In practice far closer: the bins' sums place their mass, so only a sign change of the CDFs'
    # difference inside a bin costs accuracy (observed: under 0.1 % of the std).
    assert abs(found.wasserstein - exact) <= 0.005 * reference_rows.std()
    assert found.wasserstein_std == pytest.approx(found.wasserstein / reference_rows.std())


def test_psi_and_js_on_the_reference_deciles_match_a_direct_computation() -> None:
    rng = np.random.default_rng(3)
    reference_rows = rng.gamma(2.0, 3.0, 30_000)
    current_rows = rng.gamma(2.4, 3.0, 2_000)
    reference = numeric_reference(reference_rows)
    found = compare("x", reference, count(reference, current_rows))

    deciles = np.asarray(reference["edges"])
    expected = np.quantile(reference_rows, np.arange(1, 10) / 10)
    np.testing.assert_allclose(deciles, expected, rtol=1e-12)
    p = grid_counts(deciles, reference_rows) / reference_rows.size
    q = grid_counts(deciles, current_rows) / current_rows.size
    np.testing.assert_allclose(p, reference["shares"], rtol=1e-12)
    psi = float(np.sum((q - p) * np.log(q / p)))  # no empty bin here: no epsilon
    assert found.psi == pytest.approx(psi, rel=1e-9)
    assert found.js == pytest.approx(jensenshannon(p, q, base=2), rel=1e-9)


def test_psi_worked_example_on_two_bins() -> None:
    # Reference: half below 0, half above (format 1: edges and shares only). Window: 30 % below.
    reference = {
        "kind": "number",
        "rows": 1000,
        "missing_share": 0.0,
        "min": -2.0,
        "max": 2.0,
        "mean": 0.0,
        "std": 1.0,
        "edges": [0.0],
        "shares": [0.5, 0.5],
    }
    window = np.array([-1.0] * 30 + [1.0] * 70)
    found = compare("x", reference, count(reference, window))
    # (0.3 - 0.5) ln(0.3 / 0.5) + (0.7 - 0.5) ln(0.7 / 0.5) = 0.102165 + 0.067294
    assert found.psi == pytest.approx(0.1694596, abs=1e-7)


def test_psi_worked_example_on_categories_with_a_new_value() -> None:
    reference = category_reference({"a": 500, "b": 300, "c": 200})
    same_values = pa.array(["a"] * 40 + ["b"] * 40 + ["c"] * 20)
    found = compare("c", reference, count(reference, same_values))
    # (0.4 - 0.5) ln(0.8) + (0.4 - 0.3) ln(4 / 3) + 0 = 0.0223144 + 0.0287682
    assert found.psi == pytest.approx(0.0510826, abs=1e-7)

    with_new = pa.array(["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["d"] * 10)
    found = compare("c", reference, count(reference, with_new))
    # 'd' was never seen: its reference share counts as PSI_EPSILON (1e-4).
    # (0.4 - 0.5) ln(0.8) + (0.1 - 1e-4) ln(0.1 / 1e-4) = 0.0223144 + 0.6900848
    assert PSI_EPSILON == 1e-4
    assert found.psi == pytest.approx(0.7123992, abs=1e-6)
    assert found.change == "new value 'd' is 10% of rows"


def test_chi_square_matches_scipy_on_a_table_with_a_new_value() -> None:
    reference = category_reference({"a": 5000, "b": 3000, "c": 2000})
    window = pa.array(["a"] * 900 + ["b"] * 650 + ["c"] * 350 + ["new"] * 100)
    found = compare("c", reference, count(reference, window))
    table = np.array([[5000, 3000, 2000, 0], [900, 650, 350, 100]])
    exact = stats.chi2_contingency(table, correction=False)
    assert found.test == "chi2"
    assert found.statistic == pytest.approx(exact.statistic, rel=1e-9)
    assert found.p_value == pytest.approx(exact.pvalue, rel=1e-6, abs=1e-300)
    p = table[0] / table[0].sum()
    q = table[1] / table[1].sum()
    assert found.js == pytest.approx(jensenshannon(p, q, base=2), rel=1e-9)


def test_chi_square_pools_cells_with_small_expected_counts() -> None:
    # A window of 200: a cell needs 5 x 10,200 / 200 = 255 rows in all. 'd' and 'e' are far
    # under; together still under, so the next smallest ('c') joins their pool.
    reference = category_reference({"a": 5000, "b": 3000, "c": 1990, "d": 6, "e": 4})
    window = pa.array(["a"] * 90 + ["b"] * 70 + ["c"] * 35 + ["d"] * 3 + ["e"] * 2)
    found = compare("c", reference, count(reference, window))
    pooled = np.array([[5000, 3000, 1990 + 6 + 4], [90, 70, 35 + 3 + 2]])
    exact = stats.chi2_contingency(pooled, correction=False)
    assert found.statistic == pytest.approx(exact.statistic, rel=1e-9)
    assert found.p_value == pytest.approx(exact.pvalue, rel=1e-9)


def test_category_tail_values_share_the_reference_other_cell() -> None:
    # The reference pooled its tail: a value outside its list may be old or new, so the window's
    # such values are compared with the tail's cell, not called new.
    reference = category_reference({"a": 600, "b": 300}, other=100)
    window = pa.array(["a"] * 60 + ["b"] * 20 + ["zz"] * 20)
    found = compare("c", reference, count(reference, window))
    table = np.array([[600, 300, 100], [60, 20, 20]])
    exact = stats.chi2_contingency(table, correction=False)
    assert found.statistic == pytest.approx(exact.statistic, rel=1e-9)
    assert found.change == (
        "values outside the reference's 2 most common rose from 10% to 20% (most common now: 'zz')"
    )


NUMBER = r"(-?[\d,]+(?:\.\d+)?)"


def numbers_in(pattern: str, text: str) -> list[float]:
    """The numbers a sentence of the given shape holds (NUMBER marks each)."""
    matched = re.fullmatch(pattern, text)
    assert matched, f"{text!r} does not read like {pattern!r}"
    return [float(group.replace(",", "")) for group in matched.groups()]


def test_plain_words_for_numbers() -> None:
    rng = np.random.default_rng(5)
    reference_rows = rng.normal(42, 8, 50_000)
    reference = numeric_reference(reference_rows)
    window = rng.normal(57, 8, 20_000)
    found = compare("age", reference, count(reference, window))
    shape = rf"median rose from {NUMBER} to {NUMBER} \(mean {NUMBER} → {NUMBER}\)"
    said = numbers_in(shape, found.change)
    truth = [np.median(reference_rows), np.median(window), reference_rows.mean(), window.mean()]
    assert said == pytest.approx(truth, abs=0.1)

    wider = rng.normal(42, 16, 20_000)
    found = compare("age", reference, count(reference, wider))
    shape = rf"median stayed near {NUMBER} \(mean {NUMBER} → {NUMBER}\); spread widened \(std {NUMBER} → {NUMBER}\)"
    said = numbers_in(shape, found.change)
    truth = [np.median(reference_rows), reference_rows.mean(), wider.mean()]
    assert said[:3] == pytest.approx(truth, abs=0.1)
    assert said[3:] == pytest.approx([reference_rows.std(), wider.std()], abs=0.1)

    with_missing = np.where(rng.random(20_000) < 0.3, np.nan, rng.normal(42, 8, 20_000))
    found = compare("age", reference, count(reference, with_missing))
    assert found.change.endswith("; missing rose from 0% to 30%")
    assert found.missing_share == pytest.approx(0.3, abs=0.02)


def test_median_of_a_count_feature_is_a_value_it_takes() -> None:
    rng = np.random.default_rng(9)
    reference = numeric_reference(rng.poisson(3, 40_000).astype(float))
    found = compare("calls", reference, count(reference, rng.poisson(6, 5_000).astype(float)))
    assert found.change.startswith("median rose from 3 to 6 ")


def test_category_words_name_the_largest_change() -> None:
    reference = category_reference({"Month-to-month": 400, "One year": 350, "Two year": 250})
    window = pa.array(["Month-to-month"] * 61 + ["One year"] * 24 + ["Two year"] * 15)
    found = compare("contract", reference, count(reference, window))
    assert found.change == "share of 'Month-to-month' rose from 40% to 61%"


def test_a_window_without_values_has_no_statistics() -> None:
    reference = numeric_reference(np.random.default_rng(1).normal(size=1000))
    found = compare("x", reference, count(reference, np.full(500, np.nan)))
    assert (found.psi, found.statistic, found.p_value, found.wasserstein) == (None,) * 4
    assert not found.judged and not found.drifted
    assert found.missing_share == 1.0
    assert found.change == "no values in the window"
    assert math.isclose(found.reference_missing_share, 0.0)
