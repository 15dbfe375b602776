"""The quick model shared by the volume and leakage checks: the sample as arrays, a small LightGBM.

`model_frame` encodes the context's sample once per audit (features as floats, categoricals as
codes of their most frequent levels); `fit_quick_model` fits `QUICK_TREES` trees on chosen rows;
`quick_score` scores predictions with ROC AUC (one-vs-rest macro for several classes) or R².
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import rankdata
from sklearn.metrics import r2_score

from charter.audit._bias import target_classes
from charter.audit._context import AuditContext
from charter.spec._classes import class_label

__all__ = [
    "QUICK_TREES",
    "ModelFrame",
    "ModelKind",
    "fit_quick_model",
    "model_frame",
    "quick_score",
    "roc_auc",
    "threads",
]

QUICK_TREES = 50
_MAX_CLASSES = 20  # more classes than this: no quick model (a mislabelled regression, usually)
_THREADED_ROWS = 20_000  # below this LightGBM runs on one thread
_MAX_LEVELS = 255  # categorical levels kept by frequency; the rest share one code
_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}

ModelKind = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class ModelFrame:
    """The sample as arrays for quick models: features as floats (categoricals as codes).

    `y` holds 0/1 for binary targets (1 = the positive class), class indices for multiclass
    targets and the value for regression. Rows with an unknown target are left out.
    """

    features: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    kind: ModelKind
    classes: tuple[str, ...] = ()
    categorical: tuple[int, ...] = ()
    levels: dict[int, list[Any]] = field(default_factory=dict)  # categorical index -> level values

    @property
    def rows(self) -> int:
        """Rows in the frame (sampled rows with a known target)."""
        return int(self.y.shape[0])


def model_frame(ctx: AuditContext) -> ModelFrame | None:
    """The context's sample encoded for LightGBM; None when the target cannot be modelled."""
    return ctx.shared("charter.audit.model_frame", lambda: _model_frame(ctx))


def _model_frame(ctx: AuditContext) -> ModelFrame | None:
    target = ctx.charter.target
    if target not in ctx.dataset.columns:
        return None
    sample = ctx.sample
    known = pc.invert(pc.is_null(sample[target], nan_is_null=True))
    sample = sample.filter(known)
    encoded = _encode_target(ctx, sample[target])
    if encoded is None:
        return None
    y, kind, classes, keep = encoded
    columns: list[np.ndarray] = []
    names: list[str] = []
    categorical: list[int] = []
    levels: dict[int, list[Any]] = {}
    for name in ctx.features:
        if name not in sample.column_names:
            continue
        result = _encode_feature(sample[name])
        if result is None:
            continue
        values, level_values = result
        if level_values is not None:
            categorical.append(len(names))
            levels[len(names)] = level_values
        columns.append(values[keep])
        names.append(name)
    x = np.column_stack(columns) if columns else np.empty((int(keep.sum()), 0))
    return ModelFrame(tuple(names), x, y, kind, classes, tuple(categorical), levels)


def _encode_target(
    ctx: AuditContext, column: pa.ChunkedArray
) -> tuple[np.ndarray, ModelKind, tuple[str, ...], np.ndarray] | None:
    if ctx.task == "regression":
        try:
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        keep = np.isfinite(values)
        y = values[keep]
        if y.size < 2 or np.ptp(y) == 0:
            return None
        return y, "regression", (), keep
    classes = target_classes(ctx)
    if classes is None:
        return None
    labels = np.array([class_label(v) for v in column.to_pylist()], dtype=object)
    present = [lbl for _, lbl, _ in classes.counts if (labels == lbl).any()]
    if not 2 <= len(present) <= _MAX_CLASSES or len(set(labels)) != len(present):
        return None
    keep = np.ones(labels.shape[0], dtype=bool)
    positive = {class_label(v) for v in classes.positive}
    if len(present) == 2 and positive & set(present):
        y = np.isin(labels, list(positive)).astype(np.float64)
        negative = next(lbl for lbl in present if lbl not in positive)
        return y, "binary", (negative, classes.positive_label), keep
    index = {lbl: i for i, lbl in enumerate(present)}
    y = np.array([index[lbl] for lbl in labels], dtype=np.float64)
    return y, "multiclass", tuple(present), keep


def _encode_feature(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any] | None] | None:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _floats(pc.cast(column, pa.float64())), None
    if pa.types.is_boolean(kind):
        return _floats(pc.cast(column, pa.float64())), None
    if pa.types.is_date32(kind):
        return _floats(pc.cast(pc.cast(column, pa.int32()), pa.float64())), None
    if pa.types.is_date64(kind):
        return _floats(pc.cast(pc.cast(column, pa.int64()), pa.float64())) / _DAY["ms"], None
    if pa.types.is_timestamp(kind):
        days = _floats(pc.cast(pc.cast(column, pa.int64()), pa.float64()))
        return days / _DAY[kind.unit], None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _codes(column)
    return None


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    values = pc.fill_null(column, math.nan).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """Codes of the most frequent levels (ties by value); rarer levels share the last code."""
    counts = pc.value_counts(column.combine_chunks()).to_pylist()
    ranked = sorted(
        ((c["values"], c["counts"]) for c in counts if c["values"] is not None),
        key=lambda vc: (-vc[1], str(vc[0])),
    )
    kept = [value for value, _ in ranked[:_MAX_LEVELS]]
    index = pc.index_in(column, value_set=pa.array(kept, type=column.type))
    codes = _floats(pc.cast(index, pa.float64())).copy()
    other = np.isnan(codes) & ~np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False))
    codes[other] = len(kept)
    return codes, kept


def threads(rows: int) -> int:
    """Threads for LightGBM on `rows` rows: 2 from `_THREADED_ROWS` rows on, else 1."""
    # OpenMP threads cost more than they save on small data, and far more on a busy machine.
    return 2 if rows >= _THREADED_ROWS else 1


def _params(frame: ModelFrame, rows: int, seed: int) -> dict[str, Any]:
    objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
    params: dict[str, Any] = {
        "objective": objective[frame.kind],
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_data_in_leaf": 10,
        "min_data_per_group": 10,
        "max_bin": 63,
        "bagging_fraction": 0.7,
        "bagging_freq": 1,
        "feature_fraction": 0.7,
        "num_threads": threads(rows),
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }
    if frame.kind == "multiclass":
        params["num_class"] = len(frame.classes)
    return params


def fit_quick_model(frame: ModelFrame, rows: np.ndarray, *, seed: int) -> lgb.Booster:
    """A small LightGBM model (`QUICK_TREES` trees, at most 2 threads) on the frame's `rows`."""
    data = lgb.Dataset(
        frame.x[rows],
        label=frame.y[rows],
        categorical_feature=list(frame.categorical),
        feature_name=[f"f{i}" for i in range(len(frame.features))],
        free_raw_data=True,
    )
    return lgb.train(_params(frame, rows.size, seed), data, num_boost_round=QUICK_TREES)


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of `score` for boolean labels (ties count half); NaN when one label is absent."""
    positives = int(np.count_nonzero(positive))
    negatives = positive.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(score)
    return float(
        (ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def quick_score(kind: ModelKind, y: np.ndarray, predicted: np.ndarray) -> float:
    """ROC AUC (one-vs-rest macro for several classes) or R²; NaN when undefined."""
    if kind == "regression":
        return float(r2_score(y, predicted)) if y.size > 1 else math.nan
    if kind == "binary":
        return roc_auc(y == 1, predicted)
    scores = [roc_auc(y == k, predicted[:, k]) for k in range(predicted.shape[1])]
    defined = [s for s in scores if not math.isnan(s)]
    return float(np.mean(defined)) if defined else math.nan
