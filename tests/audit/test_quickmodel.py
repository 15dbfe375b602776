"""The quick model shared by the volume and leakage checks: encoding, ROC AUC and scores."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from charter.audit._quickmodel import model_frame, quick_score, roc_auc
from conftest import make_context


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=60).filter(
        lambda rows: len({label for label, _ in rows}) == 2
    )
)
def test_roc_auc_matches_scikit_learn(rows: list[tuple[bool, int]]) -> None:
    labels = np.array([label for label, _ in rows])
    scores = np.array([score for _, score in rows], dtype=float)  # many ties on purpose
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_roc_auc_undefined_with_one_class() -> None:
    assert math.isnan(roc_auc(np.array([True, True]), np.array([0.1, 0.2])))


def test_multiclass_score_is_macro_one_vs_rest() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300).astype(float)
    proba = rng.dirichlet([1, 1, 1], 300)
    expected = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert quick_score("multiclass", y, proba) == pytest.approx(expected)


def test_model_frame_encodes_features_and_positive_class() -> None:
    table = pa.table(
        {
            "n": [1.0, None, 3.0, 4.0],
            "c": ["a", "b", None, "a"],
            "d": pa.array([0, 1, 2, 3], pa.int32()).cast(pa.date32()),
            "y": ["No", "Yes", "No", None],
        }
    )
    frame = model_frame(make_context(table))
    assert frame is not None
    assert frame.features == ("n", "c", "d")
    assert frame.rows == 3  # the row without a target is left out
    assert frame.kind == "binary"
    assert frame.y.tolist() == [0.0, 1.0, 0.0]  # 'Yes' is the minority class, hence positive
    assert np.isnan(frame.x[1, 0]) and np.isnan(frame.x[2, 1])
    assert frame.categorical == (1,)
    assert frame.levels[1] == ["a", "b"]
    assert frame.x[:, 2].tolist() == [0.0, 1.0, 2.0]
