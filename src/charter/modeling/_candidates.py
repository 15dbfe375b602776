"""What every candidate model is, and the default line-up: baseline, simple, boosted.

A candidate is fitted on a `ModelingFrame` and returns a fitted copy; the copy predicts the
probability of the positive class (classification) or the value (regression), gives the raw
output that explanations add up to (log-odds or value), and describes itself as JSON-ready
`params()`. `complexity` orders candidates for the "simplest within one standard error" rule.

The concrete candidates live in `_baseline.py`, `_simple.py` (with `CustomCandidate`) and
`_boosted.py`; this module holds the protocol, the helpers they share and `default_candidates`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from charter.errors import UsageError
from charter.modeling._frame import ModelingFrame, Task

__all__ = [
    "BUILT_IN_NAMES",
    "COMPLEXITY",
    "Candidate",
    "CandidateKind",
    "default_candidates",
]

CandidateKind = Literal["baseline", "simple", "boosted", "custom"]

COMPLEXITY: dict[CandidateKind, int] = {"baseline": 0, "simple": 1, "custom": 2, "boosted": 3}
"""Complexity by kind: the rule "simplest within one standard error of the best" prefers lower."""

BUILT_IN_NAMES: tuple[str, ...] = ("baseline", "simple", "boosted")
"""The names `--only` accepts, simplest first."""

_PROBABILITY_FLOOR = 1e-12  # keeps log-odds finite for probabilities of exactly 0 or 1


@runtime_checkable
class Candidate(Protocol):
    """A model `charter train` compares: fitted per fold by the caller, scored like any other."""

    @property
    def name(self) -> str:
        """Its name on the leaderboard ("baseline", "simple", "boosted" or the user's)."""
        ...

    @property
    def kind(self) -> CandidateKind:
        """Which family it belongs to."""
        ...

    @property
    def complexity(self) -> int:
        """Baseline 0 < simple 1 < custom 2 < boosted 3."""
        ...

    @property
    def fitted(self) -> bool:
        """Whether this copy has been fitted."""
        ...

    def fit(self, frame: ModelingFrame) -> Self:
        """A fitted copy, trained on `frame` only; `self` is left as it was."""
        ...

    def predict(self, frame: ModelingFrame) -> np.ndarray:
        """Probability of the positive class (classification) or the value (regression)."""
        ...

    def raw_output(self, frame: ModelingFrame) -> np.ndarray:
        """Log-odds (classification) or the value (regression): what contributions add up to."""
        ...

    def params(self) -> dict[str, Any]:
        """A JSON-ready description: settings, and what fitting chose (search results)."""
        ...


def default_candidates(
    task: Task,
    *,
    has_rule: bool,
    seed: int = 0,
    budget_seconds: float = 60.0,
    only: Collection[str] | None = None,
) -> list[Candidate]:
    """The built-in candidates, simplest first, or those named in `only` (`--only baseline,simple`).

    Example:
        >>> [c.name for c in default_candidates("classification", has_rule=False, only=["simple"])]
        ['simple']
    """
    # Imported here: the candidate modules import this module's helpers.
    from charter.modeling._baseline import BaselineCandidate
    from charter.modeling._boosted import BoostedCandidate
    from charter.modeling._simple import SimpleCandidate

    wanted = _check_only(only)
    candidates: list[Candidate] = []
    if "baseline" in wanted:
        candidates.append(BaselineCandidate(task, has_rule=has_rule))
    if "simple" in wanted:
        candidates.append(SimpleCandidate(task, seed=seed))
    if "boosted" in wanted:
        candidates.append(BoostedCandidate(task, seed=seed, budget_seconds=budget_seconds))
    return candidates


def _check_only(only: Collection[str] | None) -> set[str]:
    if only is None:
        return set(BUILT_IN_NAMES)
    names = {name.strip().lower() for name in only if name.strip()}
    unknown = sorted(names - set(BUILT_IN_NAMES))
    if unknown:
        raise UsageError(
            f"--only names unknown candidate(s) {', '.join(repr(n) for n in unknown)}; "
            f"the candidates are: {', '.join(BUILT_IN_NAMES)} (e.g. --only baseline,simple)."
        )
    if not names:
        raise UsageError(
            f"--only names no candidate; choose among: {', '.join(BUILT_IN_NAMES)} "
            "(e.g. --only baseline,simple)."
        )
    return names


# Helpers shared by the candidate modules.


def check_task(task: str) -> Task:
    """`task` if it is a known task, else a UsageError."""
    if task not in ("classification", "regression"):
        raise UsageError(
            f"task={task!r} is not a task charter trains for; use 'classification' or 'regression'."
        )
    return "classification" if task == "classification" else "regression"


def check_frame(frame: ModelingFrame, *, task: Task, name: str) -> None:
    """A UsageError when `frame` is for another task or has no rows."""
    if frame.task != task:
        raise UsageError(
            f"candidate {name!r} is for {task} but the frame is for {frame.task}; "
            "build the candidate with the frame's task."
        )
    if frame.rows == 0:
        raise UsageError(f"candidate {name!r} cannot be fitted on a frame with no rows.")


def not_fitted(name: str) -> UsageError:
    """The error for predicting with a candidate that was never fitted."""
    return UsageError(
        f"candidate {name!r} is not fitted; call fit(frame) and use the copy it returns."
    )


def select_features(frame: ModelingFrame, features: Sequence[str], *, name: str) -> pd.DataFrame:
    """The columns a fitted candidate was trained on, in training order; a UsageError if any is absent."""
    missing = [column for column in features if column not in frame.X.columns]
    if missing:
        raise UsageError(
            f"candidate {name!r} was trained on column(s) the data lacks: {', '.join(missing)}; "
            "score data with the same columns as the training data."
        )
    return frame.X.loc[:, list(features)]


def log_odds(probability: np.ndarray) -> np.ndarray:
    """The log-odds of probabilities, kept finite at 0 and 1."""
    p = np.clip(
        np.asarray(probability, dtype=np.float64), _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR
    )
    return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)
