"""The data as models see it: features, an encoded target, row identities, groups and times."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from charter.data import DATASET, Dataset, quote_identifier
from charter.data._types import kind_of
from charter.errors import UsageError
from charter.spec import Charter
from charter.spec._classes import class_label, same_class

__all__ = [
    "ROW_ID",
    "ModelingFrame",
    "Task",
    "build_frame",
    "check_target",
    "feature_type",
    "frame_from_rows",
    "read_rows",
    "target_classes",
]

Task = Literal["classification", "regression"]

ROW_ID = "__charter_row_id"
"""The column `read_rows` gives each row's id in."""
_BASELINE = "__charter_baseline"
_IDENTIFIER_SHARE = 0.95  # text columns with more distinct values than this share of rows are ids
_NUMERIC_TEXT_SHARE = 0.9  # text columns whose values mostly parse as numbers are read as numbers


@dataclass(frozen=True)
class ModelingFrame:
    """Rows with a known target, ready for scikit-learn and LightGBM.

    `X` holds the features only (never the target, entity or time column): numbers as float64,
    text and booleans as pandas categoricals, dates as days since 1970. `y` is 0/1 for
    classification (1 = the positive class) and float for regression. `row_id` identifies a row
    by its content, so a holdout recorded by identity survives re-ordering and appended data.
    `baseline` holds the charter's `baseline.rule` evaluated on each row (None without a rule).
    """

    task: Task
    X: pd.DataFrame
    y: np.ndarray
    row_id: np.ndarray
    groups: np.ndarray | None
    time: np.ndarray | None
    baseline: np.ndarray | None
    positive_class: str | None
    classes: tuple[str, ...]
    dropped: dict[str, str]  # feature left out -> why
    feature_types: dict[str, str] = field(
        default_factory=dict
    )  # feature -> number | category | date

    @property
    def rows(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> ModelingFrame:
        """The rows at integer positions `index`."""
        return ModelingFrame(
            task=self.task,
            X=self.X.iloc[index].reset_index(drop=True),
            y=self.y[index],
            row_id=self.row_id[index],
            groups=None if self.groups is None else self.groups[index],
            time=None if self.time is None else self.time[index],
            baseline=None if self.baseline is None else self.baseline[index],
            positive_class=self.positive_class,
            classes=self.classes,
            dropped=self.dropped,
            feature_types=self.feature_types,
        )


def build_frame(
    charter: Charter, dataset: Dataset, *, task: Task, feature_types: dict[str, str] | None = None
) -> ModelingFrame:
    """Read every row with a known target into a ModelingFrame, in a stable order (by row id).

    `feature_types` (from an earlier frame) fixes how each feature is read, so new data is encoded
    exactly as the training data was; without it the types are decided from this data.
    """
    rows = read_rows(charter, dataset)
    return frame_from_rows(charter, rows, dataset.columns, task=task, feature_types=feature_types)


def check_target(target: str, columns: Iterable[str]) -> None:
    """A UsageError naming the data's columns when the charter's target is not one of them."""
    names = list(columns)
    if target not in names:
        raise UsageError(
            f"target {target!r} is not a column of the data; columns are: {', '.join(names)}"
        )


def read_rows(charter: Charter, dataset: Dataset) -> pd.DataFrame:
    """Every row with a known target, with its row id and baseline rule value, ordered by row id.

    The row id hashes every column's value, so a row keeps its id wherever it is read.
    """
    target = charter.target
    check_target(target, dataset.columns)
    columns = list(dataset.columns)
    row_hash = "hash(" + ", ".join(quote_identifier(c) for c in columns) + ")"
    rule = charter.baseline.rule
    baseline_sql = f", ({rule}) AS {_BASELINE}" if rule else ""
    query = (
        f"SELECT {row_hash} AS {ROW_ID}, *{baseline_sql} FROM {DATASET} "
        f"WHERE {quote_identifier(target)} IS NOT NULL ORDER BY {ROW_ID}"
    )
    try:
        table = dataset.connection.sql(query).to_arrow_table()
    except Exception as exc:  # DuckDB reports a bad rule as one of several error types
        if rule:
            raise UsageError(
                f"baseline.rule {rule!r} cannot be evaluated on the data: {exc}. "
                "Write it as an SQL condition or number over the data's columns, "
                "e.g. \"contract = 'monthly' and tenure < 12\"."
            ) from None
        raise
    return table.to_pandas()


def frame_from_rows(
    charter: Charter,
    frame: pd.DataFrame,
    types: dict[str, str],
    *,
    task: Task,
    feature_types: dict[str, str] | None = None,
    target_classes: tuple[tuple[str, ...], str] | None = None,
) -> ModelingFrame:
    """The ModelingFrame of rows from `read_rows`; `types` maps each data column to its type.

    `target_classes` (the classes and the positive one, as `target_classes` decided them on all
    the data) fixes the target's encoding, so a part of the data is encoded as the whole is.
    """
    target = charter.target
    special = charter.special_columns
    features, dropped, chosen = _features(frame, types, exclude=special, fixed=feature_types)
    y, classes, positive = _target(
        frame[target], task=task, declared=charter.positive_class, known=target_classes
    )
    return ModelingFrame(
        task=task,
        X=features,
        y=y,
        row_id=frame[ROW_ID].to_numpy(dtype=np.uint64),
        groups=frame[charter.data.entity].to_numpy() if charter.data.entity else None,
        time=pd.to_datetime(frame[charter.data.time]).to_numpy() if charter.data.time else None,
        baseline=_baseline(frame[_BASELINE]) if charter.baseline.rule else None,
        positive_class=positive,
        classes=classes,
        dropped=dropped,
        feature_types=chosen,
    )


def _features(
    frame: pd.DataFrame, types: dict[str, str], *, exclude: set[str], fixed: dict[str, str] | None
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    kept: dict[str, pd.Series] = {}
    dropped: dict[str, str] = {}
    chosen: dict[str, str] = {}
    rows = max(len(frame), 1)
    for name, dtype in types.items():
        if name in exclude or (fixed is not None and name not in fixed):
            continue
        column = frame[name]
        kind = fixed[name] if fixed is not None else _feature_type(column, kind_of(dtype), rows)
        if kind.startswith("drop:"):
            dropped[name] = kind.removeprefix("drop:")
            continue
        chosen[name] = kind
        if kind == "number":
            kept[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        elif kind == "date":
            stamps = pd.to_datetime(column, errors="coerce", utc=True)
            kept[name] = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds() / 86400.0
        else:
            text = column.map(lambda v: None if v is None or v is pd.NA else class_label(v))
            kept[name] = text.astype("category")
    if fixed is not None:
        missing = [
            name for name in fixed if name not in types and not fixed[name].startswith("drop:")
        ]
        if missing:
            raise UsageError(
                f"the data lacks feature column(s) the model was trained on: {', '.join(missing)}"
            )
    return pd.DataFrame(kept, index=frame.index).reset_index(drop=True), dropped, chosen


def _feature_type(column: pd.Series, kind: str, rows: int) -> str:
    if kind != "categorical":
        return feature_type(kind, rows=rows)
    present = column.dropna()
    numeric = int(pd.to_numeric(present, errors="coerce").notna().sum())
    distinct = int(present.nunique())
    return feature_type(kind, rows=rows, present=len(present), numeric=numeric, distinct=distinct)


def feature_type(
    kind: str, *, rows: int, present: int = 0, numeric: int = 0, distinct: int = 0
) -> str:
    """How a model reads a column: as a number, a category or a date, or not at all (drop:why).

    `kind` is the column's kind of type; for text (kind "categorical") the counts over the `rows`
    with a known target decide: `present` values, `numeric` of them parse as numbers, `distinct`.
    """
    if kind == "numeric":
        return "number"
    if kind == "temporal":
        return "date"
    if kind == "boolean":
        return "category"
    if kind != "categorical":
        return "drop:its type is not used by models"
    if present and numeric / present >= _NUMERIC_TEXT_SHARE:
        return (
            "number"  # numbers stored as text (the audit says so); blanks and typos become missing
        )
    if distinct > _IDENTIFIER_SHARE * max(rows, 1):
        return "drop:an identifier: nearly every row has its own value"
    return "category"


def _target(
    column: pd.Series,
    *,
    task: Task,
    declared: object,
    known: tuple[tuple[str, ...], str] | None = None,
) -> tuple[np.ndarray, tuple[str, ...], str | None]:
    if task == "regression":
        values = pd.to_numeric(column, errors="coerce")
        if values.isna().any():
            bad = column[values.isna()].iloc[0]
            raise UsageError(
                f"task is regression but the target holds {bad!r}, which is not a number."
            )
        return values.to_numpy(dtype=np.float64), (), None
    labels = column.map(class_label)
    classes, positive = (
        known if known is not None else target_classes(labels.value_counts(), declared)
    )
    y = (labels == positive).to_numpy(dtype=np.int8)
    return y, classes, positive


def target_classes(counts: pd.Series, declared: object) -> tuple[tuple[str, ...], str]:
    """The classes (the positive one last) and the positive class, from the labels' counts.

    `counts` holds each label's rows, most frequent first. The positive class is the charter's
    `positive_class`, else the rarer class.
    """
    if len(counts) < 2:
        raise UsageError(
            f"the target has a single class ({counts.index[0]!r}): there is nothing to predict."
        )
    if declared is not None:
        matches = [c for c in counts.index if same_class(declared, c)]
        if not matches:
            raise UsageError(
                f"positive_class {declared!r} is not a value of the target; its values are: "
                + ", ".join(repr(c) for c in counts.index[:10])
            )
        positive = str(matches[0])
    else:
        positive = str(counts.index[-1])  # the rarer class
    classes = tuple(str(c) for c in counts.index if c != positive) + (positive,)
    return classes, positive


def _baseline(column: pd.Series) -> np.ndarray:
    if column.dtype == bool or str(column.dtype) == "boolean":
        column = column.fillna(False)
    values: np.ndarray = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    return values
