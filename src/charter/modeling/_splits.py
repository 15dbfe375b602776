"""Honest validation: a holdout test set recorded by row identity, and cross-validation folds.

The scheme follows the data: time-ordered when `data.time` is set (the test set is the latest
period), grouped when an entity repeats (no entity on both sides), stratified for classification
and random for regression otherwise. Rows are chosen by a seeded hash of their identity (or of
their entity), not by their position, so the same data in another order gives the same split.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from charter.errors import CharterError, UsageError
from charter.modeling._frame import ModelingFrame

__all__ = [
    "CV_REASONS",
    "HOLDOUT_REASONS",
    "CVScheme",
    "Fold",
    "Holdout",
    "carve_holdout",
    "check_class_sides",
    "check_holdout_rows",
    "cv_scheme",
    "holdout_coverage",
    "holdout_mask",
    "load_holdout",
    "save_holdout",
    "single_time_error",
    "single_unit_error",
    "stratified_quotas",
    "unit_keys",
]

HoldoutScheme = Literal["random", "stratified", "grouped", "time"]
CVKind = Literal["stratified", "kfold", "grouped", "time"]

MIN_ROWS = 20  # fewer rows than this cannot give both a test set and folds worth reading
MIN_CLASS_ROWS = 2  # rows of each class needed on each side of the holdout cut
MIN_FOLD_ROWS = 5  # validation rows per fold, at the least
_METADATA_KEY = b"charter.holdout"
_FORMAT = 1
_MASK64 = (1 << 64) - 1

HOLDOUT_REASONS = {
    "time": "time-ordered: data.time is set, so the test set is the latest period (from {cutoff} on), the way the model will meet new data",
    "grouped": "grouped: an entity (data.entity) appears in several rows, so each entity's rows are all in the test set or all in training",
    "stratified": "stratified: the test set keeps the data's share of each class",
    "random": "random: the target is a number and the rows are independent (no time, no repeated entity), so test rows are drawn at random",
}
CV_REASONS = {
    "time": "time-ordered: data.time is set, so each fold validates on a later period than it trains on",
    "grouped": "grouped: an entity (data.entity) appears in several rows, so all of an entity's rows stay in one fold",
    "stratified": "stratified: each fold keeps the data's share of each class",
    "kfold": "k-fold: the target is a number and the rows are independent (no time, no repeated entity), so folds are drawn at random",
}


@dataclass(frozen=True, eq=False)
class Holdout:
    """The test set, recorded once per project by row identity.

    `row_ids` are the distinct row ids held out (sorted), `rows` the rows they covered when
    carved, `share` the share of the data's rows that was, `cutoff` the first test time when the
    split is time-ordered.
    """

    row_ids: np.ndarray
    scheme: HoldoutScheme
    reason: str
    share: float
    created: datetime
    rows: int
    cutoff: str | None

    def __eq__(self, other: object) -> bool:
        return _same_fields(self, other)

    def summary(self, *, present: int, recorded: int) -> dict[str, Any]:
        """What a training result says of its test set: how it was carved, and how many of the
        `recorded` rows are `present` in today's data."""
        return {
            "scheme": self.scheme,
            "reason": self.reason,
            "share": self.share,
            "recorded_rows": recorded,
            "present_rows": present,
            "created": self.created.isoformat(),
        }


@dataclass(frozen=True, eq=False)
class Fold:
    """One cross-validation fold: integer positions of the rows to train on and to validate on."""

    train: np.ndarray
    valid: np.ndarray

    def __eq__(self, other: object) -> bool:
        return _same_fields(self, other)


def _same_fields(first: Holdout | Fold, second: object) -> bool:
    # dataclass equality would compare arrays elementwise, which has no truth value
    if type(second) is not type(first):
        return False
    return all(
        np.array_equal(getattr(first, f.name), getattr(second, f.name)) for f in fields(first)
    )


@dataclass(frozen=True)
class CVScheme:
    """How the training rows are cross-validated, and the sentence that says why."""

    kind: CVKind
    reason: str
    folds: tuple[Fold, ...]


# --- the holdout -------------------------------------------------------------------------------


def carve_holdout(
    frame: ModelingFrame, *, share: float = 0.2, seed: int = 0, now: datetime | None = None
) -> Holdout:
    """Choose the test set: the latest period, whole entities, or a stratified / random share.

    Example:
        >>> holdout = carve_holdout(frame, share=0.2, seed=0)
        >>> test = frame.subset(np.flatnonzero(holdout_mask(frame, holdout)))

    Raises:
        UsageError: the frame is too small, or a class would have fewer than 2 rows on a side.
    """
    if not 0.0 < share < 1.0:
        raise UsageError(
            f"share={share!r} must be between 0 and 1, e.g. 0.2 for a fifth of the rows."
        )
    check_holdout_rows(frame.rows)
    target = share * frame.rows
    cutoff: str | None = None
    scheme: HoldoutScheme
    if frame.time is not None:
        scheme, (mask, cutoff) = "time", _carve_time(frame.time, target)
    elif _entity_repeats(frame):
        scheme, mask = "grouped", _carve_units(_unit_keys(frame, seed), target)
    elif frame.task == "classification":
        scheme, mask = (
            "stratified",
            _carve_stratified(_unit_keys(frame, seed), frame.y, share, target),
        )
    else:
        scheme, mask = "random", _carve_units(_unit_keys(frame, seed), target)
    if frame.task == "classification":
        _check_classes(frame, mask)
    created = now or datetime.now(UTC)
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
    held = int(mask.sum())
    return Holdout(
        row_ids=np.unique(frame.row_id[mask]).astype(np.uint64),
        scheme=scheme,
        reason=HOLDOUT_REASONS[scheme].format(cutoff=cutoff),
        share=held / frame.rows,
        created=created,
        rows=held,
        cutoff=cutoff,
    )


def check_holdout_rows(rows: int) -> None:
    """A UsageError when `rows` rows with a known target are too few to set a test set aside."""
    if rows < MIN_ROWS:
        raise UsageError(
            f"the data has {rows} rows with a known target; at least {MIN_ROWS} are needed to "
            "set a test set aside and still train. Collect more labelled rows."
        )


def holdout_mask(frame: ModelingFrame, holdout: Holdout) -> np.ndarray:
    """True for the frame's rows that belong to the recorded test set (rows added since are not)."""
    ids = holdout.row_ids
    row_id = np.asarray(frame.row_id, dtype=np.uint64)
    if len(ids) == 0:
        return np.zeros(len(row_id), dtype=bool)
    where = np.minimum(np.searchsorted(ids, row_id), len(ids) - 1)
    return np.asarray(ids[where] == row_id)


def holdout_coverage(frame: ModelingFrame, holdout: Holdout) -> tuple[int, int]:
    """(present, recorded): how many of the recorded test row ids the frame still holds."""
    present = int(np.isin(holdout.row_ids, np.asarray(frame.row_id, dtype=np.uint64)).sum())
    return present, len(holdout.row_ids)


def save_holdout(holdout: Holdout, path: Path) -> Path:
    """Write the holdout as a Parquet file of row ids, its other fields in the schema metadata."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    recorded = {
        "format": _FORMAT,
        "scheme": holdout.scheme,
        "reason": holdout.reason,
        "share": holdout.share,
        "created": holdout.created.isoformat(),
        "rows": holdout.rows,
        "cutoff": holdout.cutoff,
    }
    table = pa.table({"row_id": pa.array(holdout.row_ids, type=pa.uint64())})
    table = table.replace_schema_metadata({_METADATA_KEY: json.dumps(recorded).encode()})
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(descriptor)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def load_holdout(path: Path) -> Holdout:
    """Read a holdout written by `save_holdout`.

    Raises:
        CharterError: the file is missing, unreadable or not a charter holdout.
    """
    advice = (
        "Restore it from a backup or version control; deleting it makes the next training carve "
        "a new test set, and results are then no longer comparable with earlier ones."
    )
    try:
        table = pq.read_table(path)
        recorded: dict[str, Any] = json.loads((table.schema.metadata or {})[_METADATA_KEY])
        ids = table.column("row_id").to_numpy().astype(np.uint64)
        scheme = recorded["scheme"]
        if scheme not in ("random", "stratified", "grouped", "time"):
            raise ValueError(f"unknown scheme {scheme!r}")
        cutoff = recorded["cutoff"]
        holdout = Holdout(
            row_ids=np.unique(ids),
            scheme=scheme,
            reason=str(recorded["reason"]),
            share=float(recorded["share"]),
            created=datetime.fromisoformat(recorded["created"]),
            rows=int(recorded["rows"]),
            cutoff=None if cutoff is None else str(cutoff),
        )
    except FileNotFoundError:
        raise CharterError(f"the recorded holdout {path} does not exist. {advice}") from None
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise CharterError(
            f"the recorded holdout {path} cannot be read ({type(exc).__name__}: {exc}). {advice}"
        ) from None
    return holdout


def _carve_time(time: np.ndarray, target: float) -> tuple[np.ndarray, str]:
    stamps = pd.DatetimeIndex(time)
    ns, missing = stamps.asi8, np.asarray(stamps.isna())
    times, counts = np.unique(ns[~missing], return_counts=True)
    if len(times) < 2:
        raise single_time_error()
    at_or_after = np.cumsum(counts[::-1])[::-1]  # rows at or after each time
    first = 1 + int(np.argmin(np.abs(at_or_after[1:] - target)))  # keep one time for training
    mask = ~missing & (ns >= times[first])
    cutoff = stamps[int(np.argmax(ns == times[first]))]  # by position: asi8's unit varies
    return mask, cutoff.isoformat()


def single_time_error() -> UsageError:
    """The error for a time-ordered holdout when every row has the same time."""
    return UsageError(
        "every row has the same data.time, so no later period can be set aside as the test "
        "set. Check the time column, or remove data.time from the charter."
    )


def single_unit_error() -> UsageError:
    """The error for a holdout when every row belongs to one entity (or is one row's copy)."""
    return UsageError(
        "all rows belong to one entity (or are copies of one row), so nothing can be set "
        "aside as a test set. Check data.entity in the charter."
    )


def _carve_units(keys: np.ndarray, target: float) -> np.ndarray:
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if len(counts) < 2:
        raise single_unit_error()
    chosen = np.zeros(len(counts), dtype=bool)
    chosen[: _prefix_length(np.cumsum(counts), target)] = True
    return np.asarray(chosen[inverse])


def _carve_stratified(keys: np.ndarray, y: np.ndarray, share: float, target: float) -> np.ndarray:
    labels, sizes = np.unique(y, return_counts=True)
    quota = stratified_quotas(sizes, share, target)
    mask = np.zeros(len(y), dtype=bool)
    for label, rows in zip(labels, quota, strict=True):
        members = np.flatnonzero(y == label)
        _, inverse, counts = np.unique(keys[members], return_inverse=True, return_counts=True)
        chosen = np.zeros(len(counts), dtype=bool)
        if len(counts) >= 2:
            chosen[: _prefix_length(np.cumsum(counts), float(rows))] = True
        mask[members] = chosen[inverse]
    return mask


def stratified_quotas(sizes: np.ndarray, share: float, target: float) -> np.ndarray:
    """Test rows per class: `share` of each class's `sizes`, rounded to add up to `target`."""
    exact = share * np.asarray(sizes, dtype=np.float64)
    quota = np.floor(exact)
    extra = int(round(target) - quota.sum())  # largest remainders get one more row
    quota[np.argsort(-(exact - quota), kind="stable")[:extra]] += 1
    return quota


def _prefix_length(cumulative: np.ndarray, target: float) -> int:
    """How many units, taken in order, come closest to `target` rows (at least one, not all)."""
    return 1 + int(np.argmin(np.abs(cumulative[:-1] - target)))


def _check_classes(frame: ModelingFrame, mask: np.ndarray) -> None:
    counts = {
        value: (int((frame.y[mask] == value).sum()), int((frame.y[~mask] == value).sum()))
        for value in (1, 0)
    }
    check_class_sides(counts, positive_class=frame.positive_class, classes=frame.classes)


def check_class_sides(
    counts: dict[int, tuple[int, int]], *, positive_class: str | None, classes: tuple[str, ...]
) -> None:
    """A UsageError when a class has too few rows in the test set or the training rows.

    `counts` maps 1 (the positive class) and 0 to (test rows, training rows) of that class.
    """
    for value in (1, 0):
        name = _class_name(value, positive_class, classes)
        test, training = counts[value]
        for side, count in (("test set", test), ("training rows", training)):
            if count < MIN_CLASS_ROWS:
                raise UsageError(
                    f"the {side} would hold {count} row(s) of class {name}; at least "
                    f"{MIN_CLASS_ROWS} are needed on each side to measure a model. "
                    f"The data has {test + training} such rows: collect more."
                )


def _class_name(value: int, positive_class: str | None, classes: tuple[str, ...]) -> str:
    if value == 1:
        return repr(positive_class)
    others = [c for c in classes if c != positive_class]
    return repr(others[0]) if len(others) == 1 else f"other than {positive_class!r}"


# --- cross-validation --------------------------------------------------------------------------


def cv_scheme(frame: ModelingFrame, *, folds: int = 5, seed: int = 0) -> CVScheme:
    """Cross-validation folds over the frame's rows (pass the frame without the holdout).

    Time-ordered expanding window when `time` is set; grouped when an entity repeats;
    stratified k-fold for classification, k-fold for regression otherwise. Uses fewer folds
    when the data is small, and says so in the reason.

    Raises:
        UsageError: not even two folds can be made.
    """
    if folds < 2:
        raise UsageError(f"folds={folds!r} must be at least 2, e.g. 5.")
    if frame.rows < 2 * MIN_FOLD_ROWS:
        raise UsageError(
            f"the training data has {frame.rows} rows; cross-validation needs at least "
            f"{2 * MIN_FOLD_ROWS}. Collect more labelled rows."
        )
    limits = [(frame.rows // MIN_FOLD_ROWS, f"the data has only {frame.rows} rows")]
    detail = note = ""
    kind: CVKind
    make: Callable[[int], list[Fold]]
    if frame.time is not None:
        kind = "time"
        make, time_limits, untimed = _time_folds(frame.time)
        limits = [(rows - 1, why) for rows, why in limits] + time_limits  # k folds, k+1 blocks
        if untimed:
            note = f"; {untimed} rows without a time are only ever trained on"
    else:
        keys = _unit_keys(frame, seed)
        _, codes = np.unique(keys, return_inverse=True)  # units numbered in seeded hash order
        if _entity_repeats(frame):
            kind = "grouped"
            if frame.task == "classification":
                detail = ", with class shares kept as far as the entities allow"
        else:
            kind = "stratified" if frame.task == "classification" else "kfold"
        make, unit_limits = _unit_folds(codes, frame.y, grouped=kind == "grouped", task=frame.task)
        limits += unit_limits
    reason = CV_REASONS[kind] + detail
    limit, why = min(limits, key=lambda item: item[0])
    start = min(folds, limit)
    for count in range(start, 1, -1):
        made = make(count)
        if _usable(made, frame):
            if count < start:  # the limits allowed more, but those folds lacked a class or period
                why = "with more folds some fold would lack a class or a period"
            if count < folds:
                note = f"; {count} folds instead of {folds} because {why}" + note
            return CVScheme(kind=kind, reason=reason + note, folds=tuple(made))
    if start >= 2:
        why = "every way of cutting them left a fold without a class or a period"
    raise UsageError(
        f"cannot make even 2 cross-validation folds from {frame.rows} training rows ({why}). "
        "Collect more labelled rows."
    )


def _unit_folds(
    codes: np.ndarray, y: np.ndarray, *, grouped: bool, task: str
) -> tuple[Callable[[int], list[Fold]], list[tuple[int, str]]]:
    units = int(codes.max()) + 1
    limits: list[tuple[int, str]] = []
    classify = task == "classification"
    limits.append((units, f"there are only {units} {'entities' if grouped else 'distinct rows'}"))
    if classify:
        for value in (0, 1):
            holders = len(np.unique(codes[y == value]))
            where = "entities" if grouped else "rows"
            limits.append((holders, f"one class appears in only {holders} {where}"))
    rows = np.zeros((len(codes), 1))

    def make(count: int) -> list[Fold]:
        # Units arrive numbered in seeded hash order, so no splitter needs to shuffle: the
        # folds depend on the seed and the rows' identities, never on the rows' positions.
        if grouped:
            splitter = StratifiedGroupKFold(count) if classify else GroupKFold(count)
            return [_fold(train, valid) for train, valid in splitter.split(rows, y, groups=codes)]
        first = np.unique(codes, return_index=True)[1]
        unit_y = y[first]
        plain = StratifiedKFold(count) if classify else KFold(count)
        unit_of = np.zeros((units, 1))
        made = []
        for _, valid_units in plain.split(unit_of, unit_y):
            valid = np.isin(codes, valid_units)
            made.append(_fold(np.flatnonzero(~valid), np.flatnonzero(valid)))
        return made

    return make, limits


def _time_folds(time: np.ndarray) -> tuple[Callable[[int], list[Fold]], list[tuple[int, str]], int]:
    stamps = pd.DatetimeIndex(time)
    ns, missing = stamps.asi8, np.asarray(stamps.isna())
    times, inverse = np.unique(ns[~missing], return_inverse=True)
    counts = np.bincount(inverse, minlength=len(times))
    before = np.concatenate([[0], np.cumsum(counts)])  # rows before each time
    timed = int(before[-1])
    limits = [(len(times) - 1, f"there are only {len(times)} distinct times")]

    def make(count: int) -> list[Fold]:
        targets = timed * np.arange(1, count + 1) / (count + 1)
        nearest = 1 + np.argmin(np.abs(before[1:-1][None, :] - targets[:, None]), axis=1)
        starts = np.unique(nearest)  # index of the first time of blocks 1..count
        if len(starts) < count:
            return []
        block = np.zeros(len(ns), dtype=np.int64)  # rows without a time stay in block 0
        block[~missing] = np.searchsorted(starts, np.arange(len(times)), side="right")[inverse]
        return [
            _fold(np.flatnonzero(block <= i), np.flatnonzero(block == i + 1)) for i in range(count)
        ]

    return make, limits, int(missing.sum())


def _usable(folds: list[Fold], frame: ModelingFrame) -> bool:
    if not folds:
        return False
    for fold in folds:
        if len(fold.valid) == 0 or len(fold.train) == 0:
            return False
        if frame.task == "classification":
            for part in (fold.train, fold.valid):
                if len(np.unique(frame.y[part])) < 2:
                    return False
    return True


def _fold(train: np.ndarray, valid: np.ndarray) -> Fold:
    return Fold(
        train=np.sort(np.asarray(train, dtype=np.int64)),
        valid=np.sort(np.asarray(valid, dtype=np.int64)),
    )


# --- identities --------------------------------------------------------------------------------


def _entity_repeats(frame: ModelingFrame) -> bool:
    if frame.groups is None:
        return False
    groups = np.asarray(frame.groups)
    present = groups[~np.asarray(pd.isna(groups), dtype=bool)]
    return len(present) > 0 and len(pd.unique(present)) < len(present)


def _unit_keys(frame: ModelingFrame, seed: int) -> np.ndarray:
    """A seeded 64-bit key per row: equal for rows that must stay together (an entity, a copy)."""
    return unit_keys(frame.row_id, frame.groups, repeats=_entity_repeats(frame), seed=seed)


def unit_keys(
    row_id: np.ndarray, groups: np.ndarray | None, *, repeats: bool, seed: int
) -> np.ndarray:
    """Seeded 64-bit keys of rows: by entity when entities repeat (in all the data), else by row.

    Rows without an entity stand alone. The key of a row depends on nothing but the row, its
    entity and the seed, so parts of the data can be keyed apart.
    """
    base = np.asarray(row_id, dtype=np.uint64).copy()
    if repeats and groups is not None:
        values = np.asarray(groups)
        known = ~np.asarray(pd.isna(values), dtype=bool)
        base[known] = pd.util.hash_array(values[known].astype(object))
    return _mix(base, seed)


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of the values offset by the seed: a seeded, well-spread order of identities."""
    offset = np.uint64(_splitmix_int(seed & _MASK64))
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) ^ offset
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(z ^ (z >> np.uint64(31)))


def _splitmix_int(value: int) -> int:
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)
