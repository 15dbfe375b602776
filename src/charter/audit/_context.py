"""What every readiness check is given: the charter, the data, its profile and a sample."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Literal, TypeVar, cast

import pyarrow as pa

from charter.audit._profile import DatasetProfile
from charter.data import Dataset
from charter.spec import Charter

__all__ = ["SAMPLE_ROWS", "AuditContext", "guess_task"]

T = TypeVar("T")

SAMPLE_ROWS = 100_000
"""Rows drawn (reproducibly) for the checks that fit quick models."""


@dataclass
class AuditContext:
    """Inputs of one audit run. Checks read it and return findings; they never change it."""

    charter: Charter
    dataset: Dataset
    profile: DatasetProfile
    now: datetime
    seed: int = 0
    sample_rows: int = SAMPLE_ROWS
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        """What several checks need, computed once per audit run and kept under `key`."""
        if key not in self._cache:
            self._cache[key] = compute()
        return cast(T, self._cache[key])

    @cached_property
    def task(self) -> Literal["classification", "regression"]:
        return self.charter.task or guess_task(self.profile, self.charter.target)

    @cached_property
    def features(self) -> list[str]:
        """Columns a model may use: all but the target, the entity and the time column."""
        special = self.charter.special_columns
        return [c for c in self.dataset.columns if c not in special]

    @cached_property
    def sample(self) -> pa.Table:
        """A reproducible random sample of at most `sample_rows` rows with a known target."""
        return self.dataset.to_arrow(max_rows=self.sample_rows, seed=self.seed)


def guess_task(profile: DatasetProfile, target: str) -> Literal["classification", "regression"]:
    """Classification for text, booleans and numbers with few distinct values; else regression."""
    column = profile.columns.get(target)
    if column is None or column.kind in {"categorical", "boolean", "other"}:
        return "classification"
    if column.kind == "numeric" and column.distinct <= 10:
        whole = (
            all(float(v).is_integer() for v, _ in column.top_values) if column.top_values else True
        )
        return "classification" if whole else "regression"
    return "regression"
