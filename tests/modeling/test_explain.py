"""Contributions add up to the model's output; reasons read right; importance matches scikit-learn."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from charter.errors import UsageError
from charter.modeling._explain import (
    Contributions,
    linear_contributions,
    mean_abs_contributions,
    permutation_importance,
    reasons,
    show_value,
    tree_contributions,
)
from charter.modeling._frame import ModelingFrame
from charter.modeling._simple import SimpleCandidate, preprocessor

LGB_PARAMS = {
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
    "seed": 0,
    "num_threads": 1,  # tiny data: threads only add waiting, more so on a busy machine
    "min_data_in_leaf": 5,
}


def churn_like(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Numbers with gaps, categoricals (one rare level, one name a prefix of another), 0/1 and value targets."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, n).astype(float),
            "charges": rng.normal(70, 20, n),
            "contract": pd.Categorical(
                rng.choice(["monthly", "annual", "two_year", "rare"], n, p=[0.5, 0.3, 0.18, 0.02])
            ),
            "age": pd.Categorical(rng.choice(["band_a", "band_b"], n)),
            "age_band": pd.Categorical(rng.choice(["young", "old"], n)),
        }
    )
    X.loc[rng.random(n) < 0.1, "charges"] = np.nan
    signal = -1 + 0.04 * (30 - X["tenure"]) + 1.5 * (X["contract"] == "monthly")
    signal = signal + 0.5 * (X["age_band"] == "young")
    y_class = (rng.random(n) < expit(signal.to_numpy())).astype(np.int8)
    y_value = 100 * signal.to_numpy() + rng.normal(0, 20, n)
    return X, y_class, y_value


def frame_of(X: pd.DataFrame, y: np.ndarray, task: str) -> ModelingFrame:
    return ModelingFrame(
        task=task,  # type: ignore[arg-type]
        X=X,
        y=y,
        row_id=np.arange(len(y), dtype=np.uint64),
        groups=None,
        time=None,
        baseline=None,
        positive_class="yes" if task == "classification" else None,
        classes=("no", "yes") if task == "classification" else (),
        dropped={},
    )


# --- tree contributions ---------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["binary", "regression"])
def test_tree_contributions_add_up_to_the_raw_output(objective: str) -> None:
    X, y_class, y_value = churn_like()
    y = y_class if objective == "binary" else y_value
    booster = lgb.train({**LGB_PARAMS, "objective": objective}, lgb.Dataset(X, y), 40)
    contributions = tree_contributions(booster, X)
    assert contributions.features == tuple(X.columns)
    assert contributions.values.shape == (len(X), X.shape[1])
    np.testing.assert_allclose(contributions.raw(), booster.predict(X, raw_score=True), atol=1e-6)


def test_tree_contributions_follow_the_best_iteration_of_early_stopping() -> None:
    X, y, _ = churn_like(800)
    train, valid = slice(0, 600), slice(600, 800)
    booster = lgb.train(
        {**LGB_PARAMS, "objective": "binary", "learning_rate": 0.3},
        lgb.Dataset(X.iloc[train], y[train]),
        500,
        valid_sets=[lgb.Dataset(X.iloc[valid], y[valid])],
        callbacks=[lgb.early_stopping(5, verbose=False)],
    )
    assert 0 < booster.best_iteration < 500
    contributions = tree_contributions(booster, X.iloc[valid])
    np.testing.assert_allclose(
        contributions.raw(), booster.predict(X.iloc[valid], raw_score=True), atol=1e-6
    )


def test_tree_contributions_refuse_other_columns() -> None:
    X, y, _ = churn_like(200)
    booster = lgb.train({**LGB_PARAMS, "objective": "binary"}, lgb.Dataset(X, y), 5)
    with pytest.raises(UsageError, match="trained on 5 features"):
        tree_contributions(booster, X.drop(columns="age"))


# --- linear contributions -------------------------------------------------------------------


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_linear_contributions_of_the_simple_candidate_add_up(task: str) -> None:
    X, y_class, y_value = churn_like()
    frame = frame_of(X, y_class if task == "classification" else y_value, task)
    candidate = SimpleCandidate(task).fit(frame.subset(np.arange(400)))
    explained = frame.subset(np.arange(400, 600))
    contributions = linear_contributions(candidate.pipeline_, explained.X, background=X.iloc[:400])
    assert contributions.features == tuple(X.columns)
    np.testing.assert_allclose(contributions.raw(), candidate.raw_output(explained), atol=1e-6)


def test_linear_contributions_known_answer() -> None:
    """y = 1 + 2·x + 3·[c = b] exactly: x contributes 2·(x − x̄), c contributes 3·([c = b] − share of b)."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=200), "c": pd.Categorical(rng.choice(["a", "b"], 200))})
    is_b = (X["c"] == "b").to_numpy(dtype=float)
    y = 1 + 2 * X["x"].to_numpy() + 3 * is_b
    prep = ColumnTransformer([("num", "passthrough", ["x"]), ("cat", OneHotEncoder(), ["c"])])
    pipeline = Pipeline([("prep", prep), ("model", LinearRegression())]).fit(X, y)
    background = X.iloc[:50]
    contributions = linear_contributions(pipeline, X, background=background)
    np.testing.assert_allclose(
        contributions.values[:, 0], 2 * (X["x"] - background["x"].mean()), atol=1e-9
    )
    np.testing.assert_allclose(contributions.values[:, 1], 3 * (is_b - is_b[:50].mean()), atol=1e-9)
    assert contributions.bias == pytest.approx(
        1 + 2 * background["x"].mean() + 3 * is_b[:50].mean()
    )


def test_linear_contributions_give_indicators_and_one_hot_columns_to_their_source() -> None:
    """Checked against the transformer layout (output slices, categories_), not names."""
    X, y, _ = churn_like()
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()),
                ["tenure", "charges"],
            ),
            ("cat", OneHotEncoder(), ["contract", "age", "age_band"]),
        ]
    )
    pipeline = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(X, y)
    contributions = linear_contributions(pipeline, X)
    T = prep.transform(X)
    T = T.toarray() if hasattr(T, "toarray") else T
    parts = pipeline[-1].coef_[0] * (T - T.mean(axis=0))
    widths = [len(c) for c in prep.named_transformers_["cat"].categories_]
    cat = np.cumsum([3, *widths])  # tenure, charges, then the missing indicator of charges
    expected = {
        "tenure": parts[:, 0],
        "charges": parts[:, 1] + parts[:, 2],
        "contract": parts[:, cat[0] : cat[1]].sum(axis=1),
        "age": parts[:, cat[1] : cat[2]].sum(axis=1),
        "age_band": parts[:, cat[2] : cat[3]].sum(axis=1),
    }
    for name, column in expected.items():
        np.testing.assert_allclose(
            contributions.values[:, contributions.features.index(name)], column, atol=1e-9
        )
    np.testing.assert_allclose(contributions.raw(), pipeline.decision_function(X), atol=1e-6)


def test_linear_contributions_with_ridge_and_the_real_preprocessor_on_sparse_output() -> None:
    X, _, y = churn_like()
    pipeline = Pipeline([("prepare", preprocessor(X)), ("model", RidgeCV())]).fit(X, y)
    contributions = linear_contributions(pipeline, X.iloc[:50], background=X)
    np.testing.assert_allclose(contributions.raw(), pipeline.predict(X.iloc[:50]), atol=1e-6)
    # a column the model never saw contributes nothing, and keeps its place
    assert contributions.features == tuple(X.columns)


def test_linear_contributions_refuse_a_model_without_coefficients() -> None:
    X, y, _ = churn_like(100)
    pipeline = Pipeline(
        [("prepare", preprocessor(X)), ("model", lgb.LGBMClassifier(n_estimators=2, verbose=-1))]
    )
    with pytest.raises(UsageError, match="linear model"):
        linear_contributions(pipeline.fit(X, y), X)


# --- reasons --------------------------------------------------------------------------------


def _one_row() -> tuple[Contributions, pd.DataFrame]:
    X = pd.DataFrame(
        {
            "contract": pd.Categorical(["monthly"]),
            "tenure": [3.0],
            "plan": pd.Categorical(["basic"]),
            "charges": [np.nan],
        }
    )
    values = np.array([[1.0, -0.5, 0.0, 0.001]])
    return Contributions(values=values, bias=0.0, features=tuple(X.columns)), X


def test_reasons_for_a_classifier_speak_in_probability_points() -> None:
    contributions, X = _one_row()
    found = reasons(
        contributions, 0, X, task="classification", positive_class="yes", target="churn"
    )
    raw = 0.501
    assert [r.feature for r in found] == ["contract", "tenure", "charges"]
    assert found[0].effect == pytest.approx(100 * (expit(raw) - expit(raw - 1.0)))
    assert found[0].text == "contract = monthly raised the chance of churn by 24 points"
    assert found[1].effect < 0
    assert found[1].text == "tenure = 3 lowered the chance of churn by 11 points"
    assert found[2].value == "missing"
    assert found[2].text == "charges = missing raised the chance of churn by less than 0.1 points"


def test_reasons_name_a_positive_class_that_is_not_a_yes() -> None:
    contributions, X = _one_row()
    found = reasons(
        contributions, 0, X, task="classification", positive_class="premium", target="plan", top=1
    )
    assert len(found) == 1
    assert found[0].text == "contract = monthly raised the chance of plan = premium by 24 points"


def test_reasons_for_regression_speak_in_target_units() -> None:
    X = pd.DataFrame({"tenure": [3.0], "region": pd.Categorical(["north"]), "flat": [1.0]})
    contributions = Contributions(
        values=np.array([[-1234.4, 35.25, 0.0]]), bias=5000.0, features=tuple(X.columns)
    )
    found = reasons(
        contributions, 0, X, task="regression", positive_class=None, target="sales", top=5
    )
    assert [r.text for r in found] == [
        "tenure = 3 lowered the predicted sales by 1,234",
        "region = north raised the predicted sales by 35.2",
    ]
    assert found[0].effect == pytest.approx(-1234.4)


def test_reasons_refuse_a_row_outside_the_contributions() -> None:
    contributions, X = _one_row()
    with pytest.raises(UsageError, match="row=1"):
        reasons(contributions, 1, X, task="classification", positive_class="yes", target="churn")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-8, 8), min_size=1, max_size=6), st.floats(-4, 4))
def test_reason_effects_share_the_sign_of_their_contribution(
    values: list[float], bias: float
) -> None:
    features = tuple(f"f{i}" for i in range(len(values)))
    X = pd.DataFrame({f: [1.5] for f in features})
    contributions = Contributions(np.array([values]), bias, features)
    for reason in reasons(
        contributions, 0, X, task="classification", positive_class=None, target="t", top=6
    ):
        c = values[features.index(reason.feature)]
        assert np.sign(reason.effect) == np.sign(c)
        assert abs(reason.effect) <= 100
        assert ("raised" in reason.text) == (c > 0)


def test_show_value_writes_values_for_people() -> None:
    assert show_value(float("nan")) == "missing"
    assert show_value(None) == "missing"
    assert show_value(12.0) == "12"
    assert show_value(1234567.891) == "1,234,568"
    assert show_value(0.123456) == "0.123"
    assert show_value(True) == "yes"
    assert show_value("monthly") == "monthly"


# --- global importance ----------------------------------------------------------------------


def test_mean_abs_contributions_ranks_features() -> None:
    contributions = Contributions(
        np.array([[1.0, -3.0, 0.0], [-1.0, 1.0, 0.5]]), 0.0, ("a", "b", "c")
    )
    assert mean_abs_contributions(contributions) == {"b": 2.0, "a": 1.0, "c": 0.25}


def test_permutation_importance_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    y = 3 * X["a"] - X["b"] + 0.1 * rng.normal(size=300)
    model = LinearRegression().fit(X, y)
    ours = permutation_importance(model.predict, X, y.to_numpy(), r2_score, repeats=4, seed=7)
    theirs = sklearn_permutation_importance(
        model,
        X,
        y,
        scoring=lambda est, X_, y_: r2_score(y_, est.predict(X_)),
        n_repeats=4,
        random_state=7,
    )
    assert list(ours) == ["a", "b", "c", "d"]
    np.testing.assert_allclose([m for m, _ in ours.values()], theirs.importances_mean, atol=1e-12)
    np.testing.assert_allclose([s for _, s in ours.values()], theirs.importances_std, atol=1e-12)
    assert ours["a"][0] > ours["b"][0] > 10 * abs(ours["c"][0])


def test_permutation_importance_keeps_categorical_dtypes_and_is_deterministic() -> None:
    X, y, _ = churn_like(300)
    booster = lgb.train({**LGB_PARAMS, "objective": "binary"}, lgb.Dataset(X, y), 20)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        assert all(frame[c].dtype == X[c].dtype for c in X.columns)
        return np.asarray(booster.predict(frame))

    def accuracy(truth: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean((p >= 0.5) == truth))

    first = permutation_importance(predict, X, y, accuracy, seed=1)
    assert first == permutation_importance(predict, X, y, accuracy, seed=1)
    assert max(first, key=lambda f: first[f][0]) in {"tenure", "contract"}
