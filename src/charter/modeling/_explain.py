"""Why a model predicts what it does: per-row contributions, plain-language reasons, importance.

Contributions are SHAP values in the model's raw output (log-odds for classifiers, the value for
regression): exact tree SHAP from LightGBM's `pred_contrib`, and for linear models the exact
decomposition coef · (x − mean x over a background set). Each row's contributions plus the bias
add up to the model's raw output, so a reason never claims more than the model did.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit

from charter.errors import UsageError

if TYPE_CHECKING:
    import lightgbm
    from sklearn.pipeline import Pipeline

__all__ = [
    "Contributions",
    "Reason",
    "linear_contributions",
    "mean_abs_contributions",
    "permutation_importance",
    "reasons",
    "show_value",
    "tree_contributions",
]

Task = Literal["classification", "regression"]

_YES = {"yes", "y", "true", "1", "1.0"}  # positive classes that need not be named in a reason


@dataclass(frozen=True, eq=False)
class Contributions:
    """Per-row, per-feature contributions to the raw output, and the bias they start from.

    `values` has one row per explained row and one column per entry of `features` (the original
    columns of X, in order); `bias` is the expected raw output, one per row or one for all.
    `values.sum(axis=1) + bias` equals the model's raw output (log-odds or value).
    """

    values: np.ndarray
    bias: np.ndarray | float
    features: tuple[str, ...]

    def raw(self) -> np.ndarray:
        """The raw output the contributions add up to, one per row."""
        return np.asarray(self.values.sum(axis=1) + self.bias, dtype=np.float64)

    def bias_at(self, row: int) -> float:
        """The bias of one row."""
        if isinstance(self.bias, np.ndarray):
            return float(self.bias[row])
        return float(self.bias)


@dataclass(frozen=True)
class Reason:
    """One feature's part in one prediction, in words a business user reads.

    `value` is the feature's value as shown to people; `effect` is in probability points
    (0–100 scale) for classifiers and in target units for regression, positive when the
    feature pushed the prediction up.
    """

    feature: str
    value: str
    effect: float
    text: str


def tree_contributions(booster: lightgbm.Booster, X: pd.DataFrame) -> Contributions:
    """Exact tree SHAP values of a binary or regression LightGBM booster on `X`.

    `X` must hold the columns the booster was trained on, in the same order (categoricals as
    pandas categories, as at training). Uses the booster's best iteration when it has one.
    """
    features = tuple(str(c) for c in X.columns)
    if booster.num_feature() != len(features):
        raise UsageError(
            f"the booster was trained on {booster.num_feature()} features but X has {len(features)} "
            "columns; pass the same feature columns the model was trained on."
        )
    if booster.num_model_per_iteration() != 1:
        raise UsageError(
            "contributions are explained for binary classifiers and regressors only; "
            f"this booster has {booster.num_model_per_iteration()} outputs per iteration."
        )
    contrib = np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)
    return Contributions(
        values=contrib[:, :-1].copy(), bias=contrib[:, -1].copy(), features=features
    )


def linear_contributions(
    pipeline: Pipeline, X: pd.DataFrame, *, background: pd.DataFrame | None = None
) -> Contributions:
    """Exact contributions of a linear model in a scikit-learn Pipeline, per original column.

    The pipeline ends in a fitted linear estimator with `coef_` and `intercept_` (e.g.
    LogisticRegression, Ridge) after a ColumnTransformer. Each transformed column contributes
    coef · (x − mean of x over `background`, default X itself); one-hot columns and missing
    indicators are summed back to the column they came from. The bias is
    intercept + coef · background mean, so each row adds up to `decision_function` (classifiers)
    or `predict` (regressors).
    """
    steps = list(pipeline.steps) if hasattr(pipeline, "steps") else []
    if not steps:
        raise UsageError(
            "linear_contributions needs a scikit-learn Pipeline ending in a linear model."
        )
    model = steps[-1][1]
    coef = np.asarray(getattr(model, "coef_", None), dtype=np.float64)
    if coef.ndim == 0 or (coef.ndim == 2 and coef.shape[0] != 1):
        raise UsageError(
            f"the pipeline's last step ({type(model).__name__}) is not a fitted single-output "
            "linear model with coef_; explain a binary LogisticRegression or a Ridge/linear regressor."
        )
    coef = coef.reshape(-1)
    intercept = float(
        np.asarray(getattr(model, "intercept_", 0.0), dtype=np.float64).reshape(-1)[0]
    )
    prep = pipeline[:-1]
    features = tuple(str(c) for c in X.columns)
    owners = _owners(prep, features, width=coef.shape[0])
    weights = np.zeros((coef.shape[0], len(features)))
    weights[np.arange(coef.shape[0]), owners] = coef
    centre = _dense_mean(prep.transform(X if background is None else background))
    values = _dense(prep.transform(X) @ weights) - centre @ weights
    return Contributions(values=values, bias=intercept + float(centre @ coef), features=features)


def _owners(prep: Any, features: tuple[str, ...], *, width: int) -> np.ndarray:
    """For each transformed column, the index in `features` of the column it came from."""
    ct = next((step for _, step in reversed(prep.steps) if hasattr(step, "output_indices_")), None)
    if ct is None:
        if len(features) == width:
            return np.arange(width)
        raise UsageError(
            "the pipeline has no ColumnTransformer to map its columns back to the data's; "
            "build the simple candidate as Pipeline([ColumnTransformer(...), model])."
        )
    produced = max((w.stop for w in ct.output_indices_.values()), default=0)
    if produced != width:
        raise UsageError(
            f"the ColumnTransformer makes {produced} columns but the model has {width} coefficients; "
            "steps that change the columns after it cannot be mapped back to the data's columns."
        )
    index = {name: i for i, name in enumerate(features)}
    owners = np.full(width, -1)
    for name, where in ct.output_indices_.items():
        if where.stop <= where.start:
            continue
        transformer = ct.named_transformers_[name]
        inputs = [str(c) for c in getattr(transformer, "feature_names_in_", [])]
        outputs = [str(c) for c in transformer.get_feature_names_out(inputs or None)]
        if not inputs or len(outputs) != where.stop - where.start:
            raise UsageError(
                f"cannot map the outputs of transformer {name!r} back to the data's columns."
            )
        levels = _levels(transformer, inputs)
        for k, output in enumerate(outputs):
            source = _source(output, inputs, levels)
            if source not in index:
                raise UsageError(
                    f"transformed column {output!r} comes from {source!r}, which is not a column of X."
                )
            owners[where.start + k] = index[source]
    return owners


def _source(output: str, inputs: list[str], levels: dict[str, set[str]]) -> str:
    """The input column a transformer's output column was made from (one-hot, indicator, same)."""
    if len(inputs) == 1 or output in inputs:
        return inputs[0] if len(inputs) == 1 else output
    # OneHotEncoder names outputs "column_level", MissingIndicator "missingindicator_column".
    matches = [c for c in inputs if output.startswith(c + "_") or output.endswith("_" + c)]
    if not matches:
        raise UsageError(f"cannot tell which column the transformed column {output!r} comes from.")
    # "age_band_a" may be age = "band_a" or age_band = "a": the encoder's levels decide.
    known = [c for c in matches if output[len(c) + 1 :] in levels.get(c, ())]
    return known[0] if len(known) == 1 else max(matches, key=len)


def _levels(transformer: Any, inputs: list[str]) -> dict[str, set[str]]:
    """The one-hot levels of each input, when the transformer one-hot encodes its inputs in order."""
    steps = [s for _, s in transformer.steps] if hasattr(transformer, "steps") else [transformer]
    for step in steps:
        categories = getattr(step, "categories_", None)
        if categories is not None and len(categories) == len(inputs):
            extra = {"infrequent_sklearn"}
            return {
                c: {str(v) for v in cats} | extra
                for c, cats in zip(inputs, categories, strict=True)
            }
    return {}


def _dense(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.toarray() if sparse.issparse(matrix) else matrix, dtype=np.float64)


def _dense_mean(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.mean(axis=0), dtype=np.float64).reshape(-1)


def reasons(
    contributions: Contributions,
    row: int,
    X: pd.DataFrame,
    *,
    task: Task,
    positive_class: str | None,
    target: str,
    top: int = 3,
) -> list[Reason]:
    """The `top` features that moved one prediction most, as sentences.

    For classifiers a feature's effect is p(raw) − p(raw − contribution) in probability points:
    how much the predicted chance would drop if the feature were at its average. For regression
    it is the contribution in target units. Features with no effect are left out.

    Example: ``reasons(c, 0, X, task="classification", positive_class="yes", target="churn")``
    → ``[Reason("contract", "monthly", 18.2, "contract = monthly raised the chance of churn by
    18 points"), ...]``.
    """
    if not 0 <= row < contributions.values.shape[0]:
        raise UsageError(
            f"row={row} is outside the {contributions.values.shape[0]} explained rows."
        )
    values = contributions.values[row]
    raw = float(values.sum()) + contributions.bias_at(row)
    if task == "classification":
        effects = 100.0 * (expit(raw) - expit(raw - values))
        outcome = _chance_of(target, positive_class)
    else:
        effects = values.astype(np.float64)
        outcome = f"the predicted {target}"
    order = np.argsort(-np.abs(effects), kind="stable")
    found: list[Reason] = []
    for i in order[:top]:
        effect = float(effects[i])
        if effect == 0.0:
            break
        feature = contributions.features[i]
        if feature not in X.columns:
            raise UsageError(f"feature {feature!r} is explained but is not a column of X.")
        shown = show_value(X[feature].iloc[row])
        verb = "raised" if effect > 0 else "lowered"
        amount = _points(abs(effect)) if task == "classification" else _amount(abs(effect))
        found.append(
            Reason(feature, shown, effect, f"{feature} = {shown} {verb} {outcome} by {amount}")
        )
    return found


def _chance_of(target: str, positive_class: str | None) -> str:
    if positive_class is None or positive_class.strip().lower() in _YES:
        return f"the chance of {target}"
    return f"the chance of {target} = {positive_class}"


def show_value(value: Any) -> str:
    """A feature value as people read it: 'missing', 1,250, 3, 0.125, monthly."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        x = float(value)
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    return str(value)


def _points(points: float) -> str:
    if points < 0.1:
        return "less than 0.1 points"
    if points < 0.95:
        return f"{points:.1f} points"
    whole = round(points)
    return "1 point" if whole == 1 else f"{whole} points"


def _amount(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x == 0 or x >= 1:
        return f"{x:.3g}"
    return f"{x:.2g}"


def mean_abs_contributions(contributions: Contributions) -> dict[str, float]:
    """Global importance: each feature's mean absolute contribution, largest first."""
    means = np.abs(contributions.values).mean(axis=0) if len(contributions.values) else None
    if means is None:
        return {f: 0.0 for f in contributions.features}
    order = np.argsort(-means, kind="stable")
    return {contributions.features[i]: float(means[i]) for i in order}


def permutation_importance(
    predict: Callable[[pd.DataFrame], np.ndarray],
    X: pd.DataFrame,
    y: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    *,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """How much the score drops when one column's values are shuffled: (mean drop, std).

    Run it on validation rows. `score(y_true, prediction)` is higher-is-better. Each column is
    shuffled `repeats` times (categoricals keep their dtype); the random draws follow
    scikit-learn's `permutation_importance` with `random_state=seed`, so both give the same
    numbers. Columns come back in the order of X.
    """
    if repeats < 1:
        raise UsageError(f"repeats={repeats} must be at least 1.")
    y = np.asarray(y)
    reference = float(score(y, predict(X)))
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    result: dict[str, tuple[float, float]] = {}
    for column in X.columns:
        rng = np.random.RandomState(column_seed)
        shuffled = X.copy()
        order = np.arange(len(X))
        drops = np.empty(repeats)
        for r in range(repeats):
            rng.shuffle(order)
            moved = shuffled[column].iloc[order]  # shuffles compose, as in scikit-learn
            moved.index = X.index
            shuffled[column] = moved
            drops[r] = reference - float(score(y, predict(shuffled)))
        result[str(column)] = (float(drops.mean()), float(drops.std()))
    return result
