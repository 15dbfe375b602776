"""Reference statistics kept at training time: the fine grid, the deciles, category counts,
checked against numpy and pandas on the same rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from charter.modeling._artifacts import json_bytes
from charter.monitoring import GRID_BINS, MAX_CATEGORIES, REFERENCE_FORMAT, reference_statistics


def test_numeric_grid_holds_reference_quantiles_with_their_counts_and_sums() -> None:
    rng = np.random.default_rng(4)
    values = rng.lognormal(2.0, 0.7, 30_001)
    values[::50] = np.nan
    values[1] = np.inf  # not a value: counted as missing
    found = reference_statistics(pd.DataFrame({"x": values}), {"x": "number"})
    feature = found["features"]["x"]
    present = values[np.isfinite(values)]

    assert found["format"] == REFERENCE_FORMAT == 2 and found["rows"] == values.size
    assert feature["kind"] == "number" and feature["rows"] == values.size
    assert feature["missing"] == values.size - present.size
    assert feature["missing_share"] == pytest.approx(feature["missing"] / values.size)
    assert (feature["min"], feature["max"]) == (present.min(), present.max())
    assert feature["mean"] == pytest.approx(present.mean(), rel=1e-12)
    assert feature["std"] == pytest.approx(present.std(), rel=1e-12)

    grid = feature["grid"]
    edges = np.asarray(grid["edges"])
    assert grid["bins"] == GRID_BINS
    expected = np.quantile(present, np.arange(1, GRID_BINS) / GRID_BINS)
    np.testing.assert_allclose(edges, expected, rtol=1e-12)
    which = np.searchsorted(edges, present, side="right")  # bin i: edges[i-1] <= x < edges[i]
    counts = np.bincount(which, minlength=edges.size + 1)
    assert grid["counts"] == counts.tolist()
    np.testing.assert_allclose(
        grid["sums"], np.bincount(which, weights=present, minlength=edges.size + 1), rtol=1e-9
    )
    assert max(grid["counts"]) - min(grid["counts"]) <= 2  # equal-count bins, no ties here

    deciles = np.asarray(feature["edges"])
    np.testing.assert_allclose(deciles, np.quantile(present, np.arange(1, 10) / 10), rtol=1e-12)
    assert np.isin(deciles, edges).all()  # PSI's bins are unions of grid bins
    shares = np.bincount(np.searchsorted(deciles, present, side="right"), minlength=10)
    np.testing.assert_allclose(feature["shares"], shares / present.size, rtol=1e-12)


def test_ties_merge_grid_edges_into_wider_bins() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([np.zeros(6_000), rng.poisson(4, 4_000).astype(float)])
    feature = reference_statistics(pd.DataFrame({"n": values}), {"n": "number"})["features"]["n"]
    edges = feature["grid"]["edges"]
    assert edges == sorted(set(edges)) and set(edges) <= set(np.unique(values)) | {0.0}
    assert len(edges) < 20
    assert sum(feature["grid"]["counts"]) == values.size
    assert feature["grid"]["counts"][1] >= 6_000  # the zeros: one bin from edge 0
    assert feature["edges"][0] == 0.0


def test_category_counts_keep_the_most_common_values_and_pool_the_rest() -> None:
    values = [f"v{i:03d}" for i in range(150) for _ in range(200 - i)]
    column = pd.Series(values + [None] * 40 + [np.nan] * 10, dtype=object)
    feature = reference_statistics(pd.DataFrame({"c": column}), {"c": "category"})["features"]["c"]
    tally = pd.Series(values).value_counts()
    kept = tally.iloc[:MAX_CATEGORIES]
    assert feature["kind"] == "category"
    assert feature["rows"] == len(column) and feature["missing"] == 50
    assert feature["counts"] == {str(k): int(v) for k, v in kept.items()}
    assert feature["other"] == int(tally.iloc[MAX_CATEGORIES:].sum())
    assert feature["shares"] == pytest.approx({k: v / len(values) for k, v in kept.items()})
    assert feature["other_share"] == pytest.approx(feature["other"] / len(values))
    assert feature["missing_share"] == pytest.approx(50 / len(column))


def test_the_reference_is_plain_json_with_the_score() -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=1_000),
            "empty": np.full(1_000, np.nan),
            "c": pd.Series(rng.choice(["a", "b"], 1_000)).astype("category"),
        }
    )
    found = reference_statistics(
        frame, {"x": "number", "empty": "number", "c": "category"}, rng.random(1_000)
    )
    text = json_bytes(found)  # sorted keys, NaN refused
    back = json.loads(text)
    assert back == found
    assert back["features"]["empty"] == {
        "kind": "number",
        "rows": 1_000,
        "missing": 1_000,
        "missing_share": 1.0,
    }
    assert back["score"]["kind"] == "number" and back["score"]["grid"]["bins"] == GRID_BINS
    assert back["features"]["c"]["counts"].keys() == {"a", "b"}
    assert len(text) < 2 * 14_000 + 3_000  # about 13 KB per numeric feature (x and the score)
