"""The baseline: today's business rule, or the majority-class rate / the mean when there is none."""

from __future__ import annotations

import copy
from typing import Any, Self

import numpy as np

from charter.errors import UsageError
from charter.modeling._candidates import (
    COMPLEXITY,
    CandidateKind,
    check_frame,
    check_task,
    log_odds,
    not_fitted,
)
from charter.modeling._frame import ModelingFrame, Task

__all__ = ["BaselineCandidate"]


class BaselineCandidate:
    """The model to beat, scored exactly like a model.

    With a rule (`has_rule=True`) the prediction is the charter's `baseline.rule` evaluated on each
    row (`frame.baseline`): a condition gives 1/0, a numeric rule its number as is. Rows where the
    rule gives no number get the fallback below. Without a rule the prediction is constant: the
    share of positive rows in the training rows (classification) or their mean (regression).

    Example:
        >>> fitted = BaselineCandidate("regression", has_rule=False).fit(frame)  # doctest: +SKIP
        >>> fitted.predict(new_frame)  # the training mean on every row  # doctest: +SKIP
    """

    def __init__(self, task: Task, *, has_rule: bool) -> None:
        self.task: Task = check_task(task)
        self.has_rule = bool(has_rule)
        self.name = "baseline"
        self.kind: CandidateKind = "baseline"
        self.complexity = COMPLEXITY["baseline"]
        self.fallback_: float | None = None  # positive share or mean of the training rows

    @property
    def fitted(self) -> bool:
        """Whether this copy has been fitted."""
        return self.fallback_ is not None

    def fit(self, frame: ModelingFrame) -> Self:
        """A fitted copy: learns the positive share (or the mean) of `frame`'s rows."""
        check_frame(frame, task=self.task, name=self.name)
        if self.has_rule:
            self._rule_values(frame)
        fitted = copy.copy(self)
        fitted.fallback_ = float(np.mean(frame.y, dtype=np.float64))
        return fitted

    def predict(self, frame: ModelingFrame) -> np.ndarray:
        """The rule's value per row, or the constant fallback."""
        if self.fallback_ is None:
            raise not_fitted(self.name)
        if not self.has_rule:
            return np.full(frame.rows, self.fallback_, dtype=np.float64)
        values = self._rule_values(frame)
        return np.where(np.isnan(values), self.fallback_, values)

    def raw_output(self, frame: ModelingFrame) -> np.ndarray:
        """Log-odds of the prediction when it is a probability (kept finite), else the prediction."""
        predicted = self.predict(frame)
        if self.task == "classification" and bool(np.all((predicted >= 0) & (predicted <= 1))):
            return log_odds(predicted)
        return predicted

    def params(self) -> dict[str, Any]:
        """What the baseline is: the rule, or the constant it predicts."""
        constant = "majority" if self.task == "classification" else "mean"
        return {
            "kind": self.kind,
            "task": self.task,
            "source": "rule" if self.has_rule else constant,
            "fallback": self.fallback_,
        }

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this candidate (JSON-ready); see `from_state`."""
        return {"task": self.task, "has_rule": self.has_rule, "fallback": self.fallback_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BaselineCandidate:
        """The candidate `state()` describes."""
        candidate = cls(state["task"], has_rule=bool(state["has_rule"]))
        fallback = state.get("fallback")
        candidate.fallback_ = None if fallback is None else float(fallback)
        return candidate

    def _rule_values(self, frame: ModelingFrame) -> np.ndarray:
        if frame.baseline is None:
            raise UsageError(
                "the baseline candidate uses the charter's baseline.rule, but the data has no rule "
                "values; build the frame from a charter with baseline.rule, or use has_rule=False."
            )
        return np.asarray(frame.baseline, dtype=np.float64)
