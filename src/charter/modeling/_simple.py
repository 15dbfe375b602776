"""The simple candidate (regularised logistic / ridge regression) and a user's own estimator.

Both sit behind the same scikit-learn preprocessing, fitted on the training rows only: numbers
are imputed with the median (plus a missing-value indicator) and standardised; categories are
imputed with "(missing)" and one-hot encoded, rare ones grouped into one "infrequent" column that
also takes categories never seen in training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from charter.errors import UsageError
from charter.modeling._candidates import (
    BUILT_IN_NAMES,
    COMPLEXITY,
    CandidateKind,
    check_frame,
    check_task,
    log_odds,
    not_fitted,
    select_features,
)
from charter.modeling._frame import ModelingFrame, Task

__all__ = ["RIDGE_ALPHAS", "CustomCandidate", "SimpleCandidate", "preprocessor"]

RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))
"""The grid RidgeCV searches (leave-one-out on the training rows) for the regression penalty."""

MISSING_CATEGORY = "(missing)"
_MIN_RARE = 10  # a category seen fewer times than this (or 1% of rows) is grouped as infrequent
_RARE_SHARE = 0.01
_MAX_ITER = 5000  # lbfgs on standardised features converges far sooner; this only guards


def preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    """An unfitted ColumnTransformer for `X`'s columns (numbers and categories), sized for its rows."""
    numeric, categorical = column_kinds(X)
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        numbers = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        transformers.append(("num", numbers, numeric))
    if categorical:
        min_frequency = max(_MIN_RARE, math.ceil(_RARE_SHARE * len(X)))
        categories = make_pipeline(
            SimpleImputer(
                strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True
            ),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency),
        )
        transformers.append(("cat", categories, categorical))
    return ColumnTransformer(transformers, remainder="drop")


class SimpleCandidate:
    """Logistic regression (C=1, lbfgs) or ridge regression (alpha by RidgeCV) after preprocessing.

    Example:
        >>> fitted = SimpleCandidate("classification").fit(train)  # doctest: +SKIP
        >>> fitted.predict(test)  # probabilities of the positive class  # doctest: +SKIP
    """

    def __init__(self, task: Task, *, seed: int = 0) -> None:
        self.task: Task = check_task(task)
        self.seed = int(seed)
        self.name = "simple"
        self.kind: CandidateKind = "simple"
        self.complexity = COMPLEXITY["simple"]
        self.pipeline_: Pipeline | None = None
        self.features_: tuple[str, ...] = ()

    @property
    def fitted(self) -> bool:
        """Whether this copy has been fitted."""
        return self.pipeline_ is not None

    def fit(self, frame: ModelingFrame) -> Self:
        """A fitted copy: preprocessing and model learned from `frame`'s rows only."""
        check_frame(frame, task=self.task, name=self.name)
        features = _features(frame, name=self.name)
        model: LogisticRegression | RidgeCV
        if self.task == "classification":
            model = LogisticRegression(
                C=1.0, solver="lbfgs", max_iter=_MAX_ITER, random_state=self.seed
            )
        else:
            model = RidgeCV(alphas=RIDGE_ALPHAS)
        pipeline = Pipeline([("prepare", preprocessor(frame.X[list(features)])), ("model", model)])
        _fit(pipeline, frame, features, name=self.name)
        fitted = copy.copy(self)
        fitted.pipeline_ = pipeline
        fitted.features_ = features
        return fitted

    def predict(self, frame: ModelingFrame) -> np.ndarray:
        """Probability of the positive class, or the predicted value."""
        return _predict(self.pipeline_, self.features_, frame, task=self.task, name=self.name)

    def raw_output(self, frame: ModelingFrame) -> np.ndarray:
        """The linear score: log-odds (classification) or the value (regression)."""
        if self.pipeline_ is None:
            raise not_fitted(self.name)
        X = select_features(frame, self.features_, name=self.name)
        if self.task == "classification":
            return np.asarray(self.pipeline_.decision_function(X), dtype=np.float64)
        return np.asarray(self.pipeline_.predict(X), dtype=np.float64)

    def params(self) -> dict[str, Any]:
        """The model and preprocessing settings, and the penalty RidgeCV chose."""
        described: dict[str, Any] = {"kind": self.kind, "task": self.task, "seed": self.seed}
        if self.task == "classification":
            described.update(model="logistic_regression", C=1.0, solver="lbfgs")
        else:
            described.update(model="ridge", alphas=list(RIDGE_ALPHAS))
        if self.pipeline_ is not None:
            described.update(_preprocessing_params(self.pipeline_))
            model = self.pipeline_.named_steps["model"]
            if isinstance(model, RidgeCV):
                described["alpha"] = float(model.alpha_)
            else:
                described["iterations"] = int(np.max(model.n_iter_))
        return described

    def state(self) -> dict[str, Any]:
        """The JSON-ready part of what rebuilds this candidate; the pipeline is saved apart."""
        return {"task": self.task, "seed": self.seed, "features": list(self.features_)}

    @classmethod
    def from_state(cls, state: dict[str, Any], pipeline: Pipeline) -> SimpleCandidate:
        """The candidate `state()` and its fitted `pipeline` describe."""
        candidate = cls(state["task"], seed=int(state["seed"]))
        candidate.pipeline_ = pipeline
        candidate.features_ = tuple(str(f) for f in state["features"])
        return candidate


class CustomCandidate:
    """A user's own scikit-learn-compatible estimator, compared like the built-in candidates.

    The estimator is cloned on every fit (the one passed in is never fitted) and sits behind the
    simple candidate's preprocessing unless `preprocess=False`, in which case it receives the
    feature columns as they are (numbers as float64, categories as pandas categoricals).

    Example:
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> forest = CustomCandidate(RandomForestClassifier(random_state=0), name="forest")
    """

    def __init__(self, estimator: Any, *, name: str, preprocess: bool = True) -> None:
        if not isinstance(name, str) or not name.strip():
            raise UsageError("a custom candidate needs a name, e.g. name='forest'.")
        if name.strip().lower() in BUILT_IN_NAMES:
            raise UsageError(
                f"name={name!r} is taken by a built-in candidate ({', '.join(BUILT_IN_NAMES)}); "
                "give your estimator another name, e.g. name='my_forest'."
            )
        _check_estimator(estimator)
        self.estimator = estimator
        self.name = name.strip()
        self.preprocess = bool(preprocess)
        self.kind: CandidateKind = "custom"
        self.complexity = COMPLEXITY["custom"]
        self.task: Task | None = _estimator_task(estimator)
        self.model_: Any = None  # the fitted pipeline, or the fitted estimator itself
        self.features_: tuple[str, ...] = ()

    @property
    def fitted(self) -> bool:
        """Whether this copy has been fitted."""
        return self.model_ is not None

    def fit(self, frame: ModelingFrame) -> Self:
        """A fitted copy: a clone of the estimator (and the preprocessing) fitted on `frame`."""
        task = frame.task
        if self.task is not None and self.task != task:
            raise UsageError(
                f"candidate {self.name!r} holds a {self.task} estimator "
                f"({type(self.estimator).__name__}) but the frame is for {task}."
            )
        check_frame(frame, task=task, name=self.name)
        features = _features(frame, name=self.name)
        estimator = clone(self.estimator)
        model: Any = estimator
        if self.preprocess:
            model = Pipeline(
                [("prepare", preprocessor(frame.X[list(features)])), ("model", estimator)]
            )
        _fit(model, frame, features, name=self.name)
        fitted = copy.copy(self)
        fitted.task = task
        fitted.model_ = model
        fitted.features_ = features
        return fitted

    def predict(self, frame: ModelingFrame) -> np.ndarray:
        """predict_proba[:, positive] for classifiers that have it, else predict."""
        return _predict(self.model_, self.features_, frame, task=self.task, name=self.name)

    def raw_output(self, frame: ModelingFrame) -> np.ndarray:
        """Log-odds of the predicted probability (classification) or the value (regression)."""
        predicted = self.predict(frame)
        return log_odds(predicted) if self.task == "classification" else predicted

    def params(self) -> dict[str, Any]:
        """The estimator's class and its parameters (as JSON, others as their repr)."""
        estimator = self.estimator
        described: dict[str, Any] = {
            "kind": self.kind,
            "task": self.task,
            "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "estimator_params": {
                key: _json_value(value)
                for key, value in sorted(estimator.get_params(deep=False).items())
            },
            "preprocess": self.preprocess,
        }
        if self.preprocess and isinstance(self.model_, Pipeline):  # charter's own "prepare" step
            described.update(_preprocessing_params(self.model_))
        return described

    def state(self) -> dict[str, Any]:
        """The JSON-ready part of what rebuilds this candidate; the model is saved apart."""
        return {
            "name": self.name,
            "task": self.task,
            "preprocess": self.preprocess,
            "features": list(self.features_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], model: Any) -> CustomCandidate:
        """The candidate `state()` and its fitted `model` (pipeline or estimator) describe."""
        preprocess = bool(state["preprocess"])
        estimator = model.steps[-1][1] if preprocess else model
        candidate = cls(clone(estimator), name=state["name"], preprocess=preprocess)
        candidate.task = check_task(state["task"])
        candidate.model_ = model
        candidate.features_ = tuple(str(f) for f in state["features"])
        return candidate


def column_kinds(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """`X`'s numeric columns and its categorical ones (categories, text, booleans)."""
    numeric: list[str] = []
    categorical: list[str] = []
    for column in X.columns:
        dtype = X[column].dtype
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numeric.append(str(column))
        else:
            categorical.append(str(column))
    return numeric, categorical


def _features(frame: ModelingFrame, *, name: str) -> tuple[str, ...]:
    if frame.X.shape[1] == 0:
        raise UsageError(
            f"candidate {name!r} has no feature to learn from: every column is the target, the "
            f"entity, the time or was dropped ({', '.join(frame.dropped) or 'none'})."
        )
    return tuple(str(column) for column in frame.X.columns)


def _fit(model: Any, frame: ModelingFrame, features: Sequence[str], *, name: str) -> None:
    if frame.task == "classification" and np.unique(frame.y).size < 2:
        raise UsageError(
            f"candidate {name!r} cannot be fitted: the training rows hold one class only; "
            "use more rows or fewer folds."
        )
    try:
        model.fit(frame.X.loc[:, list(features)], frame.y)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"candidate {name!r} could not be fitted on the data: {exc}") from exc


def _predict(
    model: Any, features: Sequence[str], frame: ModelingFrame, *, task: Task | None, name: str
) -> np.ndarray:
    if model is None:
        raise not_fitted(name)
    X = select_features(frame, features, name=name)
    if task == "classification" and hasattr(model, "predict_proba"):
        probabilities = np.asarray(model.predict_proba(X), dtype=np.float64)
        positive = list(model.classes_).index(1)
        return np.ascontiguousarray(probabilities[:, positive])
    return np.asarray(model.predict(X), dtype=np.float64)


def _preprocessing_params(pipeline: Pipeline) -> dict[str, Any]:
    prepare: ColumnTransformer = pipeline.named_steps["prepare"]
    columns = {
        label: list(cols) for label, _, cols in prepare.transformers_ if label != "remainder"
    }
    described: dict[str, Any] = {
        "numeric": columns.get("num", []),
        "categorical": columns.get("cat", []),
        "encoded_features": len(prepare.get_feature_names_out()),
    }
    if "cat" in prepare.named_transformers_:
        encoder: OneHotEncoder = prepare.named_transformers_["cat"][-1]
        described["min_frequency"] = int(encoder.min_frequency)
    return described


def _check_estimator(estimator: Any) -> None:
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise UsageError(
            f"{type(estimator).__name__} is not a scikit-learn-compatible estimator: it needs "
            "fit() and predict() (and get_params() so that it can be cloned)."
        )
    try:
        clone(estimator)
    except (TypeError, RuntimeError) as exc:
        raise UsageError(
            f"{type(estimator).__name__} cannot be cloned as scikit-learn estimators are: {exc}; "
            "derive it from sklearn.base.BaseEstimator with its parameters in __init__."
        ) from exc


def _estimator_task(estimator: Any) -> Task | None:
    if not isinstance(estimator, BaseEstimator):
        return None
    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    return None


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return repr(value)
