"""The boosted candidate: LightGBM with native categoricals, early stopping and a budgeted search.

Fitting holds out an internal validation part of the *training* rows (the latest 15% by time
when the frame has a time, else a stratified random 15%), tries the default configuration and
then random ones until the time budget is spent or `max_trials` have run, and refits the best
configuration on all the training rows with its best number of trees.

Configurations are drawn from the seed before the search starts and each trial stops early on
the validation part, so the result is identical for the same data and seed whenever the search
ends by `max_trials`; when the budget ends it, `params()["search"]["trials_run"]` says how many
ran (passing that as `max_trials` reproduces the model on a slower machine).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from charter.errors import UsageError
from charter.modeling._candidates import (
    COMPLEXITY,
    CandidateKind,
    check_frame,
    check_task,
    not_fitted,
    select_features,
)
from charter.modeling._frame import ModelingFrame, Task
from charter.modeling._simple import column_kinds

__all__ = [
    "DEFAULT_CONFIG",
    "BoostedCandidate",
    "base_params",
    "booster_input",
    "encode_features",
]

DEFAULT_CONFIG: dict[str, float | int] = {
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "lambda_l2": 0.0,
}
"""The first configuration tried, always: LightGBM's defaults with a gentler learning rate."""

_SEARCH_SPACE: dict[str, Sequence[float | int]] = {
    "num_leaves": (7, 15, 31, 63, 127),
    "min_data_in_leaf": (5, 10, 20, 50, 100),
    "feature_fraction": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "lambda_l2": (0.0, 0.01, 0.1, 1.0, 10.0),
}
_LEARNING_RATES = (0.02, 0.2)  # drawn log-uniformly between these
_MAX_ROUNDS = 2000
_PATIENCE = 50
_ROUNDS_WITHOUT_VALIDATION = 100
_VALIDATION_SHARE = 0.15
_MIN_VALIDATION_ROWS = 20
_THREADS = 2
_THREADED_ROWS = 20_000  # below this LightGBM runs on one thread


class _OutOfTime(Exception):
    """Raised inside LightGBM's training loop when a search trial passes the deadline."""


class BoostedCandidate:
    """Gradient-boosted trees (LightGBM) tuned within `budget_seconds`.

    Example:
        >>> fitted = BoostedCandidate("classification", budget_seconds=10).fit(train)  # doctest: +SKIP
        >>> fitted.booster_.num_trees()  # doctest: +SKIP
    """

    def __init__(
        self,
        task: Task,
        *,
        seed: int = 0,
        budget_seconds: float = 60.0,
        max_trials: int = 20,
        config: Mapping[str, float | int] | None = None,
    ) -> None:
        self.task: Task = check_task(task)
        if not (isinstance(budget_seconds, int | float) and math.isfinite(budget_seconds)):
            raise UsageError(
                f"budget_seconds={budget_seconds!r} must be a number of seconds, e.g. 60."
            )
        if budget_seconds <= 0:
            raise UsageError(f"budget_seconds={budget_seconds!r} must be above 0, e.g. 60.")
        if int(max_trials) < 1:
            raise UsageError(
                f"max_trials={max_trials!r} must be at least 1 (the default configuration)."
            )
        self.seed = int(seed)
        self.budget_seconds = float(budget_seconds)
        self.max_trials = int(max_trials)
        self.config = (
            dict(config) if config is not None else None
        )  # fixed: no search, only early stopping
        self.name = "boosted"
        self.kind: CandidateKind = "boosted"
        self.complexity = COMPLEXITY["boosted"]
        self.booster_: lgb.Booster | None = None
        self.features_: tuple[str, ...] = ()
        self.categories_: dict[str, list[Any]] = {}  # categorical column -> training categories
        self.config_: dict[str, float | int] = {}
        self.iterations_: int = 0
        self.search_: dict[str, Any] = {}

    @property
    def fitted(self) -> bool:
        """Whether this copy has been fitted."""
        return self.booster_ is not None

    def fit(self, frame: ModelingFrame) -> Self:
        """A fitted copy: searched on an internal validation part of `frame`, refitted on all of it."""
        started = time.perf_counter()
        check_frame(frame, task=self.task, name=self.name)
        if frame.X.shape[1] == 0:
            raise UsageError(f"candidate {self.name!r} has no feature to learn from.")
        if self.task == "classification" and np.unique(frame.y).size < 2:
            raise UsageError(
                f"candidate {self.name!r} cannot be fitted: the training rows hold one class only; "
                "use more rows or fewer folds."
            )
        fitted = copy.copy(self)
        fitted.features_ = tuple(str(c) for c in frame.X.columns)
        fitted.categories_ = _training_categories(frame.X)
        X = _positional(fitted._prepare(frame.X))
        y = np.asarray(frame.y, dtype=np.float64)
        split = _validation_split(frame, seed=self.seed)
        if split is None:
            config, rounds = dict(DEFAULT_CONFIG), _ROUNDS_WITHOUT_VALIDATION
            search: dict[str, Any] = {
                "validation": None,
                "reason": "too few training rows (or one class) for an internal validation part",
                "trials": [],
                "trials_run": 0,
            }
        else:
            config, rounds, search = self._search(X, y, split, started=started)
        fitted.booster_ = _train(self._base_params(len(y)), config, X, y, rounds=rounds)
        fitted.config_ = config
        fitted.iterations_ = rounds
        fitted.search_ = search
        return fitted

    def predict(self, frame: ModelingFrame) -> np.ndarray:
        """Probability of the positive class, or the predicted value."""
        booster = self._booster()
        return np.asarray(booster.predict(_positional(self.prepare(frame))), dtype=np.float64)

    def raw_output(self, frame: ModelingFrame) -> np.ndarray:
        """The trees' sum: log-odds (classification) or the value (regression)."""
        booster = self._booster()
        X = _positional(self.prepare(frame))
        return np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)

    def contributions(self, frame: ModelingFrame) -> np.ndarray:
        """Exact tree SHAP values, one column per feature (in `features_` order) plus the bias.

        Each row adds up to `raw_output` for that row.
        """
        booster = self._booster()
        X = _positional(self.prepare(frame))
        return np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)

    def prepare(self, frame: ModelingFrame) -> pd.DataFrame:
        """`frame`'s features as the booster takes them: training order and categories re-applied.

        Categories not seen in training become missing values, which LightGBM sends down the
        branch it learned for rare or missing categories. Columns keep their names here; the
        booster itself knows them by position (`f0`, `f1`, ...), as LightGBM refuses some
        characters in feature names, and does not check names when predicting.
        """
        if self.booster_ is None:
            raise not_fitted(self.name)
        return self._prepare(select_features(frame, self.features_, name=self.name))

    def params(self) -> dict[str, Any]:
        """Settings, the configuration chosen, its number of trees and the search's trials."""
        described: dict[str, Any] = {
            "kind": self.kind,
            "task": self.task,
            "seed": self.seed,
            "budget_seconds": self.budget_seconds,
            "max_trials": self.max_trials,
        }
        if self.booster_ is not None:
            described.update(
                config=dict(self.config_),
                iterations=self.iterations_,
                categorical=sorted(self.categories_),
                search=copy.deepcopy(self.search_),
            )
        return described

    def state(self) -> dict[str, Any]:
        """The JSON-ready part of what rebuilds this candidate; the booster is saved apart."""
        return {
            "task": self.task,
            "seed": self.seed,
            "budget_seconds": self.budget_seconds,
            "max_trials": self.max_trials,
            "features": list(self.features_),
            "categories": {column: list(values) for column, values in self.categories_.items()},
            "config": dict(self.config_),
            "iterations": self.iterations_,
            "search": copy.deepcopy(self.search_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], booster: lgb.Booster) -> BoostedCandidate:
        """The candidate `state()` and its `booster` describe."""
        candidate = cls(
            state["task"],
            seed=int(state["seed"]),
            budget_seconds=float(state["budget_seconds"]),
            max_trials=int(state["max_trials"]),
        )
        candidate.booster_ = booster
        candidate.features_ = tuple(str(f) for f in state["features"])
        candidate.categories_ = {str(k): list(v) for k, v in state["categories"].items()}
        candidate.config_ = dict(state["config"])
        candidate.iterations_ = int(state["iterations"])
        candidate.search_ = dict(state["search"])
        return candidate

    def _booster(self) -> lgb.Booster:
        if self.booster_ is None:
            raise not_fitted(self.name)
        return self.booster_

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        return encode_features(X, self.features_, self.categories_)

    def _base_params(self, rows: int) -> dict[str, Any]:
        return base_params(self.task, seed=self.seed, rows=rows)

    def _search(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        split: tuple[np.ndarray, np.ndarray, str],
        *,
        started: float,
    ) -> tuple[dict[str, float | int], int, dict[str, Any]]:
        fit_rows, valid_rows, how = split
        train_set = lgb.Dataset(X.iloc[fit_rows], label=y[fit_rows], free_raw_data=False)
        valid_set = lgb.Dataset(X.iloc[valid_rows], label=y[valid_rows], reference=train_set)
        if self.config is not None:
            configs = [dict(self.config)]
        else:
            configs = [dict(DEFAULT_CONFIG), *_random_configs(self.max_trials - 1, seed=self.seed)]
        base = self._base_params(len(y))
        trials: list[dict[str, Any]] = []
        deadline = math.inf
        stopped_by = "max_trials"
        for number, config in enumerate(configs):
            if number > 0 and time.perf_counter() >= deadline:
                stopped_by = "budget"
                break
            trial_started = time.perf_counter()
            try:
                score, rounds = _trial(base, config, train_set, valid_set, deadline)
            except _OutOfTime:
                stopped_by = "budget"
                break
            trials.append({"config": config, "score": score, "iterations": rounds})
            if number == 0:
                # Keep time for the final refit on all rows, about as long as this first trial.
                refit = (time.perf_counter() - trial_started) * len(y) / max(fit_rows.size, 1)
                deadline = started + self.budget_seconds - refit
        best = min(trials, key=lambda trial: trial["score"])
        metric = "binary_logloss" if self.task == "classification" else "l2"
        search = {
            "validation": how,
            "validation_rows": int(valid_rows.size),
            "metric": metric,
            "trials": trials,
            "trials_run": len(trials),
            "stopped_by": stopped_by,
            "best_trial": trials.index(best),
        }
        return dict(best["config"]), int(best["iterations"]), search


def encode_features(
    X: pd.DataFrame, features: Sequence[str], categories: Mapping[str, Sequence[Any]]
) -> pd.DataFrame:
    """`X`'s `features` as a booster takes them: numbers as float64, `categories` re-applied.

    Values outside a column's categories (unseen or missing) become missing values.
    """
    columns: dict[str, Any] = {}
    for column in features:
        values = X[column]
        if column in categories:
            known = pd.Index(list(categories[column]), dtype=object)
            codes = known.get_indexer(values.astype(object))  # -1: unseen or missing
            columns[column] = pd.Categorical.from_codes(codes, categories=known)
        else:
            numbers = pd.Series(pd.to_numeric(values, errors="coerce"))
            # By position: `X` may come with any index (a filtered partition).
            columns[column] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(X)))


def booster_input(
    X: pd.DataFrame, features: Sequence[str], categories: Mapping[str, Sequence[Any]]
) -> pd.DataFrame:
    """`encode_features` with the columns named by position (`f0`, `f1`, ...), as boosters know them."""
    return _positional(encode_features(X, features, categories))


def base_params(task: Task, *, seed: int, rows: int) -> dict[str, Any]:
    """The LightGBM parameters every boosted fit shares, for `rows` training rows."""
    classification = task == "classification"
    # OpenMP threads cost more than they save on small data, and far more on a busy machine.
    threads = _THREADS if rows >= _THREADED_ROWS else 1
    return {
        "objective": "binary" if classification else "regression",
        "metric": "binary_logloss" if classification else "l2",
        "verbosity": -1,
        "num_threads": threads,
        "deterministic": True,
        "force_col_wise": True,
        "seed": seed,
        "feature_pre_filter": False,
    }


def _trial(
    base: dict[str, Any],
    config: dict[str, float | int],
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset,
    deadline: float,
) -> tuple[float, int]:
    callbacks: list[Any] = [lgb.early_stopping(_PATIENCE, first_metric_only=True, verbose=False)]
    if math.isfinite(deadline):
        callbacks.append(_deadline_callback(deadline))
    booster = lgb.train(
        {**base, **config},
        train_set,
        num_boost_round=_MAX_ROUNDS,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=callbacks,
    )
    rounds = max(int(booster.best_iteration), 1)
    score = float(booster.best_score["valid"][base["metric"]])
    return score, rounds


def _deadline_callback(deadline: float) -> Any:
    def stop_when_late(env: Any) -> None:
        if time.perf_counter() > deadline:
            raise _OutOfTime

    stop_when_late.order = 40  # type: ignore[attr-defined]  # after early stopping (order 30)
    return stop_when_late


def _train(
    base: dict[str, Any],
    config: dict[str, float | int],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    rounds: int,
) -> lgb.Booster:
    data = lgb.Dataset(X, label=y, free_raw_data=False)
    return lgb.train({**base, **config}, data, num_boost_round=rounds)


def _positional(X: pd.DataFrame) -> pd.DataFrame:
    """`X` with its columns named by position, as the booster knows them."""
    return X.set_axis([f"f{position}" for position in range(X.shape[1])], axis=1)


def _random_configs(count: int, *, seed: int) -> list[dict[str, float | int]]:
    rng = np.random.default_rng(seed)
    configs: list[dict[str, float | int]] = []
    low, high = (math.log(bound) for bound in _LEARNING_RATES)
    for _ in range(count):
        config: dict[str, float | int] = {
            key: values[int(rng.integers(len(values)))] for key, values in _SEARCH_SPACE.items()
        }
        config["learning_rate"] = float(f"{math.exp(rng.uniform(low, high)):.3g}")
        configs.append(config)
    return configs


def _training_categories(X: pd.DataFrame) -> dict[str, list[Any]]:
    _, categorical = column_kinds(X)
    categories: dict[str, list[Any]] = {}
    for column in categorical:
        values = X[column]
        seen = set(values.dropna().tolist())
        if isinstance(values.dtype, pd.CategoricalDtype):
            ordered = [c for c in values.cat.categories.tolist() if c in seen]
        else:
            ordered = sorted(seen, key=str)
        categories[column] = [_plain(value) for value in ordered]
    return categories


def _plain(value: Any) -> Any:
    """A category as a JSON value (numpy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _validation_split(
    frame: ModelingFrame, *, seed: int
) -> tuple[np.ndarray, np.ndarray, str] | None:
    rows = frame.rows
    size = math.ceil(_VALIDATION_SHARE * rows)
    if size < _MIN_VALIDATION_ROWS or rows - size < _MIN_VALIDATION_ROWS:
        return None
    if frame.time is not None:
        order = np.argsort(np.asarray(frame.time), kind="stable")
        valid, how = np.sort(order[rows - size :]), "latest 15% of the training rows by time"
    elif frame.task == "classification":
        rng = np.random.default_rng(seed)
        parts = []
        for label in np.unique(frame.y):
            members = rng.permutation(np.flatnonzero(frame.y == label))
            parts.append(members[: round(_VALIDATION_SHARE * members.size)])
        valid, how = np.sort(np.concatenate(parts)), "stratified random 15% of the training rows"
    else:
        rng = np.random.default_rng(seed)
        valid, how = np.sort(rng.permutation(rows)[:size]), "random 15% of the training rows"
    fit = np.setdiff1d(np.arange(rows), valid, assume_unique=True)
    if frame.task == "classification":
        y = frame.y
        if np.unique(y[valid]).size < 2 or np.unique(y[fit]).size < 2:
            return None
    return fit, valid, how
