"""What `charter train` found: every candidate's validated value, the choice, and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["SCHEMA_VERSION", "CandidateResult", "TrainResult"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CandidateResult:
    """One candidate, validated: cross-validated value per fold, then the untouched test set."""

    name: str
    kind: str
    complexity: int
    cv_values: tuple[float, ...]
    cv_mean: float
    cv_se: float
    cv_metrics: dict[str, float]
    threshold: float | None
    test_metrics: dict[str, float]
    test_value: float
    test_value_ci: tuple[float, float]
    train_value: float
    params: dict[str, Any]
    seconds: float
    selected: bool = False
    # Against the baseline on the same test rows (None for the baseline itself or without one).
    gain: float | None = None
    gain_ci: tuple[float, float] | None = None
    beats_baseline: bool | None = None
    # The largest gap between sensitive groups: {"column", "metric", "gap"}; None without any.
    fairness: dict[str, Any] | None = None

    def figures(self) -> dict[str, Any]:
        """The validated figures as documented: `cv`, `test` and `gain_over_baseline`."""
        return {
            "cv": {
                "value": self.cv_mean,
                "se": self.cv_se,
                "folds": list(self.cv_values),
                **self.cv_metrics,
            },
            "test": {
                **self.test_metrics,
                "value": self.test_value,
                "value_ci": list(self.test_value_ci),
            },
            "gain_over_baseline": None
            if self.gain is None
            else {
                "value": self.gain,
                "ci": list(self.gain_ci or (self.gain, self.gain)),
                "beats_baseline": self.beats_baseline,
            },
        }


@dataclass(frozen=True)
class TrainResult:
    """Everything a training run established, in the shape of the documented JSON."""

    project: str
    target: str
    task: str
    metric: str
    positive_class: str | None
    started: datetime
    seconds: float
    rows_train: int
    rows_test: int
    holdout: dict[str, Any]
    validation: dict[str, Any]
    candidates: tuple[CandidateResult, ...]
    selected: str
    selection_rule: str
    baseline: str
    gain: float
    gain_ci: tuple[float, float]
    target_gain: float | None
    beats_baseline: bool
    headline: str
    features: tuple[str, ...]
    dropped: dict[str, str]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    run: str | None = None
    versions: dict[str, int] = field(default_factory=dict)  # candidate -> registered version

    def candidate(self, name: str) -> CandidateResult:
        return next(c for c in self.candidates if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON document (README, "Training JSON")."""
        return {
            "schema_version": SCHEMA_VERSION,
            "project": self.project,
            "target": self.target,
            "task": self.task,
            "metric": self.metric,
            "positive_class": self.positive_class,
            "beats_baseline": self.beats_baseline,
            "headline": self.headline,
            "selected": self.selected,
            "selection_rule": self.selection_rule,
            "gain_over_baseline": {
                "value": self.gain,
                "ci": list(self.gain_ci),
                "target": self.target_gain,
            },
            "leaderboard": [
                {
                    "candidate": c.name,
                    "kind": c.kind,
                    "selected": c.selected,
                    **c.figures(),
                    "threshold": c.threshold,
                    "fairness": c.fairness,
                    "train_value": c.train_value,
                    "params": c.params,
                    "seconds": round(c.seconds, 3),
                }
                for c in self.candidates
            ],
            "rows": {"train": self.rows_train, "test": self.rows_test},
            "holdout": self.holdout,
            "validation": self.validation,
            "features": list(self.features),
            "dropped": self.dropped,
            "diagnostics": self.diagnostics,
            "warnings": list(self.warnings),
            "run": self.run,
            "versions": self.versions,
            "started": self.started.isoformat(),
            "seconds": round(self.seconds, 3),
        }
