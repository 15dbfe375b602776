"""The candidates: baseline, simple, boosted and a user's own estimator, each fitted on crafted data."""

from __future__ import annotations

import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from charter.errors import UsageError
from charter.modeling._baseline import BaselineCandidate
from charter.modeling._boosted import DEFAULT_CONFIG, BoostedCandidate, _validation_split
from charter.modeling._candidates import Candidate, default_candidates, log_odds
from charter.modeling._frame import ModelingFrame
from charter.modeling._simple import RIDGE_ALPHAS, CustomCandidate, SimpleCandidate

FAST = 1.0  # seconds of search budget for the boosted candidate in these tests


def make_frame(
    task: str = "classification",
    *,
    rows: int = 500,
    seed: int = 0,
    with_time: bool = False,
    baseline: np.ndarray | None = None,
) -> ModelingFrame:
    """Two numbers (one with gaps) and a category (one rare level) that drive the target."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    b = np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows))
    c = rng.choice(["monthly", "yearly", "two-year"], size=rows, p=[0.5, 0.3, 0.2])
    c[:3] = "rare"  # seen 3 times: grouped as infrequent by the simple model
    signal = 1.5 * a + np.nan_to_num(b) + np.where(c == "monthly", 1.0, -0.5)
    if task == "classification":
        y = (signal + rng.normal(scale=0.7, size=rows) > 0).astype(np.int8)
    else:
        y = signal + rng.normal(scale=0.3, size=rows)
    X = pd.DataFrame({"a": a, "b": b, "c": pd.Series(c).astype("category")})
    return ModelingFrame(
        task=task,  # type: ignore[arg-type]
        X=X,
        y=y,
        row_id=np.arange(rows, dtype=np.uint64),
        groups=None,
        time=(np.datetime64("2024-01-01") + rng.permutation(rows).astype("timedelta64[D]"))
        if with_time
        else None,
        baseline=baseline,
        positive_class="yes" if task == "classification" else None,
        classes=("no", "yes") if task == "classification" else (),
        dropped={},
    )


def with_features(frame: ModelingFrame, X: pd.DataFrame) -> ModelingFrame:
    return ModelingFrame(
        task=frame.task,
        X=X,
        y=frame.y[: len(X)],
        row_id=frame.row_id[: len(X)],
        groups=None,
        time=None,
        baseline=None,
        positive_class=frame.positive_class,
        classes=frame.classes,
        dropped={},
    )


TRAIN = np.arange(400)
TEST = np.arange(400, 500)


# --- the protocol and the line-up -------------------------------------------------------------


def test_every_candidate_follows_the_protocol_and_orders_by_complexity() -> None:
    candidates = [
        BaselineCandidate("classification", has_rule=False),
        SimpleCandidate("classification"),
        CustomCandidate(RandomForestClassifier(n_estimators=5, random_state=0), name="forest"),
        BoostedCandidate("classification", budget_seconds=FAST),
    ]
    assert all(isinstance(c, Candidate) for c in candidates)
    assert [c.kind for c in candidates] == ["baseline", "simple", "custom", "boosted"]
    assert [c.complexity for c in candidates] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "make",
    [
        lambda: BaselineCandidate("classification", has_rule=False),
        lambda: SimpleCandidate("classification"),
        lambda: BoostedCandidate("classification", budget_seconds=FAST, max_trials=2),
        lambda: CustomCandidate(RandomForestClassifier(n_estimators=5, random_state=0), name="rf"),
    ],
)
def test_fit_returns_a_fitted_copy_and_leaves_the_candidate_unfitted(make) -> None:
    frame = make_frame()
    candidate = make()
    fitted = candidate.fit(frame)
    assert fitted is not candidate and fitted.fitted and not candidate.fitted
    with pytest.raises(UsageError, match="not fitted"):
        candidate.predict(frame)
    predicted = fitted.predict(frame)
    assert predicted.shape == (frame.rows,) and predicted.dtype == np.float64
    assert np.all((predicted >= 0) & (predicted <= 1))
    np.testing.assert_allclose(fitted.raw_output(frame), log_odds(predicted), rtol=1e-6, atol=1e-6)


def test_default_candidates_are_simplest_first_and_honour_only() -> None:
    everything = default_candidates("regression", has_rule=True, seed=3, budget_seconds=5.0)
    assert [c.name for c in everything] == ["baseline", "simple", "boosted"]
    assert everything[0].has_rule and everything[2].budget_seconds == 5.0
    assert everything[2].seed == 3
    chosen = default_candidates("classification", has_rule=False, only=[" Simple", "baseline"])
    assert [c.name for c in chosen] == ["baseline", "simple"]


@pytest.mark.parametrize("only", [["baseline", "forest"], ["", " "]])
def test_only_refuses_unknown_or_no_names_and_names_the_allowed_ones(only: list[str]) -> None:
    with pytest.raises(UsageError, match="baseline, simple, boosted"):
        default_candidates("classification", has_rule=False, only=only)


# --- baseline -------------------------------------------------------------------------------


def test_baseline_without_a_rule_predicts_the_training_positive_share() -> None:
    frame = make_frame()
    fitted = BaselineCandidate("classification", has_rule=False).fit(frame.subset(TRAIN))
    share = frame.y[TRAIN].sum() / TRAIN.size
    np.testing.assert_array_equal(fitted.predict(frame.subset(TEST)), np.full(TEST.size, share))
    assert fitted.params()["source"] == "majority" and fitted.params()["fallback"] == share


def test_baseline_without_a_rule_predicts_the_training_mean_for_regression() -> None:
    frame = make_frame("regression")
    fitted = BaselineCandidate("regression", has_rule=False).fit(frame.subset(TRAIN))
    expected = np.full(TEST.size, frame.y[TRAIN].mean())
    np.testing.assert_allclose(fitted.predict(frame.subset(TEST)), expected, rtol=1e-12)
    np.testing.assert_array_equal(
        fitted.raw_output(frame.subset(TEST)), fitted.predict(frame.subset(TEST))
    )


def test_baseline_with_a_condition_predicts_its_ones_and_zeros() -> None:
    rule = np.array([1.0, 0.0] * 250)
    frame = make_frame(baseline=rule)
    fitted = BaselineCandidate("classification", has_rule=True).fit(frame.subset(TRAIN))
    np.testing.assert_array_equal(fitted.predict(frame.subset(TEST)), rule[TEST])
    assert np.all(np.isfinite(fitted.raw_output(frame)))


def test_baseline_with_a_numeric_rule_uses_it_as_is_and_fills_gaps_with_the_mean() -> None:
    rule = np.linspace(-3, 3, 500)
    rule[450] = np.nan
    frame = make_frame("regression", baseline=rule)
    fitted = BaselineCandidate("regression", has_rule=True).fit(frame.subset(TRAIN))
    predicted = fitted.predict(frame)
    np.testing.assert_array_equal(predicted[:450], rule[:450])
    assert predicted[450] == pytest.approx(frame.y[TRAIN].mean())


def test_baseline_with_a_rule_refuses_a_frame_without_rule_values() -> None:
    with pytest.raises(UsageError, match="baseline.rule"):
        BaselineCandidate("classification", has_rule=True).fit(make_frame())


# --- simple ---------------------------------------------------------------------------------


def test_simple_is_a_pipeline_fitted_on_the_given_rows_only() -> None:
    frame = make_frame()
    X = frame.X.copy()
    X.loc[400:, "a"] = 100.0  # rows outside training would move the median if they leaked
    frame = with_features(frame, X)
    fitted = SimpleCandidate("classification").fit(frame.subset(TRAIN))
    assert isinstance(fitted.pipeline_, Pipeline)
    imputer = fitted.pipeline_.named_steps["prepare"].named_transformers_["num"][0]
    expected = np.nanmedian(X.loc[:399, ["a", "b"]].to_numpy(), axis=0)
    np.testing.assert_allclose(imputer.statistics_, expected)
    assert imputer.statistics_[0] != pytest.approx(np.nanmedian(X["a"]))


def test_simple_groups_rare_categories_and_accepts_unseen_ones() -> None:
    frame = make_frame()
    fitted = SimpleCandidate("classification").fit(frame.subset(TRAIN))
    encoder = fitted.pipeline_.named_steps["prepare"].named_transformers_["cat"][-1]
    assert fitted.params()["min_frequency"] == 10
    assert list(encoder.infrequent_categories_[0]) == ["rare"]
    X = frame.X.iloc[[7, 7, 7]].reset_index(drop=True)
    X["c"] = pd.Series(["never seen", "rare", None]).astype("category")
    predicted = fitted.predict(with_features(frame, X))
    assert np.all(np.isfinite(predicted))
    assert predicted[0] == pytest.approx(predicted[1])  # unseen goes with the infrequent ones


def test_simple_classifier_learns_the_signal() -> None:
    frame = make_frame(rows=500)
    fitted = SimpleCandidate("classification").fit(frame.subset(TRAIN))
    assert roc_auc_score(frame.y[TEST], fitted.predict(frame.subset(TEST))) > 0.85
    assert fitted.params()["model"] == "logistic_regression"


def test_simple_regression_chooses_alpha_from_the_grid_and_fits_well() -> None:
    frame = make_frame("regression")
    fitted = SimpleCandidate("regression").fit(frame.subset(TRAIN))
    assert fitted.params()["alpha"] in RIDGE_ALPHAS
    assert r2_score(frame.y[TEST], fitted.predict(frame.subset(TEST))) > 0.8
    np.testing.assert_array_equal(fitted.raw_output(frame), fitted.predict(frame))


def test_simple_refuses_one_class_and_missing_columns() -> None:
    frame = make_frame()
    ones = np.flatnonzero(frame.y == 1)
    with pytest.raises(UsageError, match="one class"):
        SimpleCandidate("classification").fit(frame.subset(ones))
    fitted = SimpleCandidate("classification").fit(frame)
    with pytest.raises(UsageError, match="lacks: b"):
        fitted.predict(with_features(frame, frame.X.drop(columns="b")))


def test_a_candidate_refuses_a_frame_for_another_task() -> None:
    with pytest.raises(UsageError, match="for regression but the frame is for classification"):
        SimpleCandidate("regression").fit(make_frame())


# --- boosted --------------------------------------------------------------------------------


def test_boosted_with_a_tiny_budget_still_fits_the_default_configuration() -> None:
    fitted = BoostedCandidate("classification", budget_seconds=1e-6).fit(make_frame())
    search = fitted.params()["search"]
    assert search["trials_run"] == 1 and search["stopped_by"] == "budget"
    assert fitted.config_ == DEFAULT_CONFIG
    assert fitted.booster_.num_trees() == search["trials"][0]["iterations"]


def test_boosted_search_stops_when_the_budget_is_spent() -> None:
    frame = make_frame(rows=3000)
    started = time.perf_counter()
    fitted = BoostedCandidate("classification", budget_seconds=1.0, max_trials=10_000).fit(frame)
    elapsed = time.perf_counter() - started
    assert fitted.params()["search"]["stopped_by"] == "budget"
    assert elapsed < 2.5  # the budget plus a trial's worth of slack


def test_boosted_is_deterministic_for_a_seed() -> None:
    frame = make_frame()
    first = BoostedCandidate("classification", seed=7, budget_seconds=600, max_trials=3).fit(frame)
    second = BoostedCandidate("classification", seed=7, budget_seconds=600, max_trials=3).fit(frame)
    assert first.params() == second.params()
    assert first.booster_.model_to_string() == second.booster_.model_to_string()
    np.testing.assert_array_equal(first.predict(frame), second.predict(frame))


def test_boosted_sends_unseen_categories_where_missing_ones_go() -> None:
    frame = make_frame()
    fitted = BoostedCandidate("classification", budget_seconds=FAST, max_trials=2).fit(frame)
    assert fitted.categories_["c"] == ["monthly", "rare", "two-year", "yearly"]
    X = frame.X.iloc[:3].copy()
    X["c"] = pd.Series(["never seen", None, "monthly"], dtype="category")
    X.loc[1, "a"] = np.nan
    predicted = fitted.predict(with_features(frame, X))
    assert np.all(np.isfinite(predicted))
    same_row_missing = X.iloc[[0]].assign(c=pd.Categorical([None], categories=["monthly"]))
    assert predicted[0] == fitted.predict(with_features(frame, same_row_missing))[0]


def test_boosted_contributions_add_up_to_the_raw_output() -> None:
    frame = make_frame("regression")
    fitted = BoostedCandidate("regression", budget_seconds=FAST, max_trials=1).fit(frame)
    contributions = fitted.contributions(frame)
    assert contributions.shape == (frame.rows, len(fitted.features_) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), fitted.raw_output(frame), atol=1e-9)
    assert r2_score(frame.y, fitted.predict(frame)) > 0.8


def test_boosted_learns_and_matches_a_plain_lightgbm_with_its_settings() -> None:
    frame = make_frame(rows=500)
    train = frame.subset(TRAIN)
    fitted = BoostedCandidate("classification", budget_seconds=FAST, max_trials=1).fit(train)
    assert roc_auc_score(frame.y[TEST], fitted.predict(frame.subset(TEST))) > 0.85
    plain = lgb.train(
        {
            "objective": "binary",
            "verbosity": -1,
            "num_threads": 1,
            "deterministic": True,
            "force_col_wise": True,
            "seed": 0,
            "feature_pre_filter": False,
            **DEFAULT_CONFIG,
        },
        lgb.Dataset(fitted.prepare(train), label=train.y),
        num_boost_round=fitted.iterations_,
    )
    test = frame.subset(TEST)
    np.testing.assert_allclose(
        fitted.predict(test), plain.predict(fitted.prepare(test)), rtol=1e-12
    )


def test_boosted_validates_on_the_latest_rows_when_the_frame_has_a_time() -> None:
    frame = make_frame(with_time=True)
    fit_rows, valid_rows, how = _validation_split(frame, seed=0)
    assert "latest" in how and valid_rows.size == 75
    assert frame.time[valid_rows].min() > frame.time[fit_rows].max()
    fitted = BoostedCandidate("classification", budget_seconds=FAST, max_trials=2).fit(frame)
    assert fitted.params()["search"]["validation"].startswith("latest")


def test_boosted_stratifies_its_validation_part_without_a_time() -> None:
    frame = make_frame()
    _, valid_rows, how = _validation_split(frame, seed=0)
    assert how.startswith("stratified")
    assert frame.y[valid_rows].mean() == pytest.approx(frame.y.mean(), abs=0.02)


def test_boosted_on_too_few_rows_fits_the_default_without_a_search() -> None:
    fitted = BoostedCandidate("classification", budget_seconds=FAST).fit(make_frame(rows=60))
    assert fitted.params()["search"]["validation"] is None
    assert fitted.iterations_ == 100 and fitted.config_ == DEFAULT_CONFIG


def test_boosted_handles_awkward_feature_names() -> None:
    frame = make_frame()
    X = frame.X.rename(columns={"a": 'tenure "months", [x]', "c": "contract: type"})
    fitted = BoostedCandidate("classification", budget_seconds=FAST, max_trials=1).fit(
        with_features(frame, X)
    )
    assert fitted.features_ == ('tenure "months", [x]', "b", "contract: type")
    assert list(fitted.prepare(with_features(frame, X)).columns) == list(fitted.features_)
    assert np.all(np.isfinite(fitted.predict(with_features(frame, X))))


@pytest.mark.parametrize("budget", [0, -1, float("nan")])
def test_boosted_refuses_a_budget_that_is_not_positive(budget: float) -> None:
    with pytest.raises(UsageError, match="budget_seconds"):
        BoostedCandidate("classification", budget_seconds=budget)


# --- a user's own estimator -----------------------------------------------------------------


def test_custom_estimator_is_cloned_and_preprocessed() -> None:
    forest = RandomForestClassifier(n_estimators=20, random_state=0)
    frame = make_frame()
    fitted = CustomCandidate(forest, name="forest").fit(frame.subset(TRAIN))
    assert not hasattr(forest, "estimators_")  # the user's estimator itself is never fitted
    assert isinstance(fitted.model_, Pipeline) and fitted.task == "classification"
    assert roc_auc_score(frame.y[TEST], fitted.predict(frame.subset(TEST))) > 0.8
    assert fitted.params()["estimator"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert fitted.params()["estimator_params"]["n_estimators"] == 20


def test_custom_estimator_without_preprocessing_gets_the_raw_columns() -> None:
    model = HistGradientBoostingClassifier(
        max_iter=20, categorical_features="from_dtype", random_state=0
    )
    frame = make_frame()
    fitted = CustomCandidate(model, name="hgb", preprocess=False).fit(frame)
    assert not isinstance(fitted.model_, Pipeline)
    assert np.all(np.isfinite(fitted.predict(frame)))


def test_a_custom_pipeline_of_its_own_is_described_without_charters_steps() -> None:
    frame = make_frame()
    numbers = [c for c in frame.X.columns if c != "c"]
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0)  # takes missing values
    own = Pipeline([("scale", StandardScaler()), ("model", model)])
    fitted = CustomCandidate(own, name="own", preprocess=False).fit(
        with_features(frame, frame.X[numbers])
    )
    described = fitted.params()
    assert described["estimator"] == "sklearn.pipeline.Pipeline"
    assert described["preprocess"] is False


def test_custom_regressor_predicts_values() -> None:
    frame = make_frame("regression")
    X = frame.X.drop(columns="c")
    frame = with_features(frame, X)
    fitted = CustomCandidate(LinearRegression(), name="ols").fit(frame)
    np.testing.assert_array_equal(fitted.raw_output(frame), fitted.predict(frame))


def test_custom_refuses_a_taken_name_a_non_estimator_and_the_wrong_task() -> None:
    with pytest.raises(UsageError, match="taken by a built-in"):
        CustomCandidate(LinearRegression(), name="Simple")
    with pytest.raises(UsageError, match="scikit-learn-compatible"):
        CustomCandidate(object(), name="thing")
    with pytest.raises(UsageError, match="regression estimator"):
        CustomCandidate(LinearRegression(), name="ols").fit(make_frame())


class _NoParams(BaseEstimator):
    def __init__(self, *args):  # *args: clone cannot read the parameters
        self.args = args

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


def test_custom_refuses_an_estimator_that_cannot_be_cloned() -> None:
    with pytest.raises(UsageError, match="cloned"):
        CustomCandidate(_NoParams(), name="broken")
