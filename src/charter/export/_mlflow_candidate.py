"""MLflow models a team already has, as charter candidates: fitted already, so `fit` learns nothing.

Two kinds, by what charter can store safely:

- `ImportedCandidate`: a model with MLflow's scikit-learn flavour. It *is* a `CustomCandidate`
  (no preprocessing: the model takes the feature columns as charter reads them) whose `fit`
  returns itself, so it is validated, saved with skops, registered, served and monitored like
  any custom candidate; after registration it loads back as one and predicts the same.
- `PyfuncCandidate`: any other flavour, scored through MLflow's pyfunc with the columns its
  signature names, converted back from charter's reading (dates from days since 1970 to
  datetimes, categories to text). It faces the same holdout and metric, but charter cannot
  store it (loading it runs MLflow's loader), so it is compared, not registered.

Because the model was fitted elsewhere, its "cross-validated" figures are the same fitted model
scored on each fold, and charter cannot know which rows it learned from: `params()` says so.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from charter.errors import CharterError, UsageError
from charter.modeling._candidates import (
    BUILT_IN_NAMES,
    COMPLEXITY,
    CandidateKind,
    check_frame,
    log_odds,
)
from charter.modeling._frame import ModelingFrame, Task
from charter.modeling._simple import CustomCandidate
from charter.spec._classes import same_class

__all__ = [
    "PREFITTED_NOTE",
    "ImportedCandidate",
    "PyfuncCandidate",
    "check_features",
    "check_name",
    "model_inputs",
    "positive_index",
    "relabelled",
    "scores_of",
]

PREFITTED_NOTE = (
    "fitted outside charter: every fold is scored by the same fitted model, so its "
    "cross-validated figures are not out of fold; the test set is a fair comparison only if the "
    "model never learned from those rows, which charter cannot check"
)


class ImportedCandidate(CustomCandidate):
    """A fitted scikit-learn model from MLflow: a CustomCandidate whose `fit` returns itself.

    `model` must predict from `features` (charter's reading: numbers as float64, categories
    as pandas categoricals, dates as days since 1970); for classification its `classes_` must
    be 0/1 with 1 the charter's positive class (see `relabelled`).

    Example:
        >>> model = mlflow.sklearn.load_model("mlruns/0/abc/artifacts/model")  # doctest: +SKIP
        >>> ImportedCandidate(model, name="team_model", task="classification",
        ...                   features=["tenure", "plan"], source={"uri": "..."})  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        task: Task,
        features: Sequence[str],
        source: Mapping[str, Any],
    ) -> None:
        super().__init__(model, name=name, preprocess=False)
        self.task = task
        self.model_ = model
        self.features_ = tuple(str(f) for f in features)
        self.source = dict(source)

    def fit(self, frame: ModelingFrame) -> Self:
        """Nothing to learn: checks the frame fits the model and returns this candidate."""
        check_frame(frame, task=self.task or frame.task, name=self.name)
        check_features(frame, self.features_, name=self.name)
        return self

    def params(self) -> dict[str, Any]:
        """The model's class, what it reads, and where it came from.

        Not CustomCandidate's description: that reads a Pipeline as charter's own preprocessing.
        """
        model = self.model_
        return {
            "kind": self.kind,
            "task": self.task,
            "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
            "features": list(self.features_),
            "preprocess": False,
            "imported": {**self.source, "note": PREFITTED_NOTE},
        }


class PyfuncCandidate:
    """Any MLflow model, scored through its pyfunc; compared on charter's holdout, not stored.

    `inputs` maps the columns the model's signature names to their MLflow type ("double",
    "long", "string", "boolean", "datetime", ...); `required` those it cannot do without.
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        task: Task,
        positive_class: str | None,
        inputs: Mapping[str, str],
        required: Sequence[str],
        source: Mapping[str, Any],
    ) -> None:
        self.name = check_name(name)
        self.kind: CandidateKind = "custom"
        self.complexity = COMPLEXITY["custom"]
        self.task: Task = task
        self.model = model
        self.positive_class = positive_class
        self.inputs = dict(inputs)
        self.required = tuple(required)
        self.source = dict(source)

    @property
    def fitted(self) -> bool:
        """Always: the model was fitted where it came from."""
        return True

    def fit(self, frame: ModelingFrame) -> Self:
        """Nothing to learn: checks the frame holds the columns the model needs."""
        check_frame(frame, task=self.task, name=self.name)
        check_features(frame, self.required, name=self.name)
        return self

    def predict(self, frame: ModelingFrame) -> np.ndarray:
        """The model's probability of the positive class (classification) or its value."""
        columns = model_inputs(frame, self.inputs)
        try:
            output = self.model.predict(columns)
        except Exception as exc:  # MLflow and the model's own code raise many types
            raise UsageError(
                f"the MLflow model {self.source.get('uri')!r} could not score charter's rows: {exc}"
            ) from exc
        return scores_of(output, task=self.task, positive_class=self.positive_class, name=self.name)

    def raw_output(self, frame: ModelingFrame) -> np.ndarray:
        """Log-odds of the prediction (classification) or the prediction."""
        predicted = self.predict(frame)
        return log_odds(predicted) if self.task == "classification" else predicted

    def params(self) -> dict[str, Any]:
        """Where the model came from and what it reads."""
        return {
            "kind": self.kind,
            "task": self.task,
            "inputs": dict(self.inputs),
            "imported": {**self.source, "note": PREFITTED_NOTE},
        }


def check_name(name: str) -> str:
    """A candidate name for the leaderboard: not empty, not a built-in candidate's."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise UsageError("an imported model needs a name, e.g. name='team_model'.")
    if cleaned.lower() in BUILT_IN_NAMES:
        raise UsageError(
            f"name={name!r} is taken by a built-in candidate ({', '.join(BUILT_IN_NAMES)}); "
            "name the imported model otherwise, e.g. name='team_model'."
        )
    return cleaned


def check_features(frame: ModelingFrame, features: Sequence[str], *, name: str) -> None:
    """A UsageError naming the columns a model needs that charter's features lack."""
    missing = [f for f in features if f not in frame.X.columns]
    if missing:
        raise UsageError(
            f"candidate {name!r} reads column(s) charter does not give models: "
            f"{', '.join(missing)} (charter's features: {', '.join(map(str, frame.X.columns))}; "
            "the target, the entity, the time and dropped columns are never features)."
        )


def positive_index(classes: Sequence[Any], positive_class: str | None, *, name: str) -> int:
    """Which of a binary classifier's two classes is the charter's positive class.

    The class the charter's positive_class names (as text, any case; yes = true = 1); else, for
    0/1 or false/true classes, 1 or true.
    """
    labels = list(classes)
    if len(labels) != 2:
        raise UsageError(
            f"candidate {name!r} predicts {len(labels)} classes ({', '.join(map(str, labels))}); "
            "charter scores two: the positive class and the others."
        )
    if positive_class is not None:
        named = [i for i, c in enumerate(labels) if same_class(positive_class, c)]
        if len(named) == 1:
            return named[0]
    if {str(c).lower() for c in labels} in ({"0", "1"}, {"false", "true"}):
        return next(i for i, c in enumerate(labels) if str(c).lower() in ("1", "true"))
    raise UsageError(
        f"candidate {name!r} predicts the classes {labels[0]!r} and {labels[1]!r}, neither of "
        f"which is the charter's positive_class {positive_class!r}; import a model of this "
        "project's target."
    )


def relabelled(model: Any, positive: int, X: pd.DataFrame, *, name: str) -> Any:
    """A copy of a fitted classifier whose classes read 0/1 (1: the positive class), as charter
    encodes the target; its probabilities must stay exactly those of `model` on `X`.

    Raises a UsageError when the classifier keeps its classes where they cannot be renamed.
    """
    if not hasattr(model, "predict_proba"):
        raise UsageError(
            f"candidate {name!r} ({type(model).__name__}) has no predict_proba: charter needs "
            "a score per row to choose the threshold the business value is best at."
        )
    if list(model.classes_) == [0, 1] and positive == 1:
        return model
    renamed = copy.deepcopy(model)
    final = renamed.steps[-1][1] if isinstance(renamed, Pipeline) else renamed
    codes = np.zeros(2, dtype=np.int64)
    codes[positive] = 1
    before = np.asarray(model.predict_proba(X), dtype=np.float64)
    try:
        final.classes_ = codes
        after = np.asarray(renamed.predict_proba(X), dtype=np.float64)
    except (AttributeError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UsageError(
            f"candidate {name!r} ({type(final).__name__}) keeps its classes where charter cannot "
            f"map them to the positive class ({exc}); train it on 0/1 labels (1: positive)."
        ) from exc
    if not np.array_equal(before, after):
        raise UsageError(
            f"candidate {name!r} ({type(final).__name__}) scores differently once its classes "
            "are read as 0/1; train it on 0/1 labels (1: the positive class)."
        )
    return renamed


def model_inputs(frame: ModelingFrame, inputs: Mapping[str, str]) -> pd.DataFrame:
    """The frame's features as a model's signature wants them (all of them without one)."""
    if not inputs:
        return frame.X
    columns: dict[str, Any] = {}
    for name, kind in inputs.items():
        if name not in frame.X.columns:
            continue
        columns[name] = _as(frame.X[name], kind, frame.feature_types.get(name, "number"))
    return pd.DataFrame(columns, index=frame.X.index)


def _as(values: pd.Series, kind: str, reading: str) -> Any:
    """One column back from charter's reading to the type a signature names."""
    if kind == "datetime":
        if reading != "date":
            return values
        return pd.to_datetime(values.to_numpy(dtype=np.float64) * 86_400.0, unit="s")
    if kind == "string":
        if isinstance(values.dtype, pd.CategoricalDtype):
            return values.astype(object).where(values.notna(), None)
        # Numbers kept as text: charter read blanks as missing, so a missing one is a blank.
        return ["" if _missing(v) else _text(v) for v in values]
    if kind in ("long", "integer"):
        numbers = values.to_numpy(dtype=np.float64)
        return numbers if np.isnan(numbers).any() else numbers.astype(np.int64)
    if kind == "boolean":
        return [None if _missing(v) else str(v).lower() == "true" for v in values]
    if kind in ("double", "float"):
        return pd.to_numeric(values.astype(object), errors="coerce").astype(np.float64)
    return values


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def scores_of(output: Any, *, task: Task, positive_class: str | None, name: str) -> np.ndarray:
    """A pyfunc's output as one number a row: the positive class's probability, or the value.

    A table gives its `score` (or `probability`, `value`, or the positive class's) column, or its
    only column; an array its only column, or for classification of two, the second; labels
    (classification) become 1.0 for the positive class and 0.0 for the others.
    """
    if isinstance(output, pd.DataFrame):
        wanted = ("score", "probability", "value", str(positive_class))
        found = [c for c in output.columns if str(c) in wanted]
        if found:
            output = output[found[0]]
        elif output.shape[1] == 1:
            output = output.iloc[:, 0]
        else:
            raise UsageError(
                f"candidate {name!r} answers with the columns {', '.join(map(str, output.columns))}; "
                "charter reads a `score` (or `probability`, `value`) column, or a single one."
            )
    values = np.asarray(output)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    elif values.ndim == 2 and values.shape[1] == 2 and task == "classification":
        values = values[:, 1]
    if values.ndim != 1:
        raise UsageError(
            f"candidate {name!r} answers with an array of shape {values.shape}; charter reads "
            "one number a row."
        )
    if task == "classification" and not np.issubdtype(values.dtype, np.number):
        return np.array([1.0 if same_class(positive_class, v) else 0.0 for v in values])
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"candidate {name!r} answers with values that are not numbers.") from exc
    if task == "classification" and ((numbers < 0) | (numbers > 1)).any():
        raise CharterError(
            f"candidate {name!r} answers with scores outside [0, 1]; charter reads a "
            "classifier's answer as the probability of the positive class."
        )
    return numbers
