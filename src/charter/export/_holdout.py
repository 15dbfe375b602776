"""A version's holdout rows, as clients send them and as its model reads them: what exports are
checked on.

The rows are the project's test set (`.charter/holdout.parquet`) read from its data now, the
way `charter promote` re-tests versions. When the data cannot be read on this machine, the up
to 200 test rows stored with the version stand in (as the model reads them only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charter.errors import CharterError
from charter.modeling._frame import ROW_ID, ModelingFrame, frame_from_rows, read_rows
from charter.modeling._splits import holdout_mask, load_holdout
from charter.registry import ModelVersion
from charter.registry._versions import EXAMPLES, examples_frame

if TYPE_CHECKING:
    from charter.api import Project

__all__ = ["HoldoutRows", "holdout_rows"]

_BASELINE = "__charter_baseline"  # the rule's value `read_rows` adds (modeling._frame)


@dataclass(frozen=True)
class HoldoutRows:
    """Test rows of a version: `frame` as its model reads them; `raw` as read from the data
    (every column but the target; None when only the stored examples were available)."""

    frame: ModelingFrame
    raw: pd.DataFrame | None
    source: str  # what the rows are, for messages

    @property
    def rows(self) -> int:
        return self.frame.rows


def holdout_rows(project: Project, version: ModelVersion, scoring: dict[str, Any]) -> HoldoutRows:
    """The version's holdout rows from the project's data, else the examples stored with it."""
    charter = project.charter
    try:
        dataset = project.dataset()
        rows = read_rows(charter, dataset)
        holdout = load_holdout(project.workspace / "holdout.parquet")
        frame = frame_from_rows(
            charter,
            rows,
            dataset.columns,
            task=scoring["task"],
            feature_types=scoring.get("feature_types"),
        )
    except CharterError as exc:
        stored = examples_frame(project.registry().read(version, EXAMPLES), scoring)
        return HoldoutRows(
            stored,
            None,
            f"the {stored.rows} test rows stored with {version.label} (the project's data "
            f"could not be read: {exc})",
        )
    test = np.flatnonzero(holdout_mask(frame, holdout))
    raw = rows.iloc[test].drop(columns=[ROW_ID, _BASELINE, charter.target], errors="ignore")
    return HoldoutRows(
        frame.subset(test),
        raw.reset_index(drop=True),
        f"the {test.size} holdout rows of {charter.project}",
    )
