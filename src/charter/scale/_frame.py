"""The modeling frame on a cluster: the rows the single-machine path trains on, partition by partition.

Every decision the single-machine path takes from all the rows is taken here from statistics
merged across partitions: the task, how each column is read (a text column with nearly one value
per row is an identifier; distinct values are counted by 64-bit hash), the target's classes and
whether an entity repeats. Each partition is then encoded by the modeling code itself
(`read_rows`, `frame_from_rows`) with those decisions fixed, so every row gets the row id,
features and target it gets on one machine.

Cuts (the holdout, the folds) fall on seeded 64-bit keys: the time, or the key of a row's entity
or identity that the single-machine path sorts. Where a cut falls is found from merged histograms
of the keys, narrowed until the few keys around it are counted one by one; only counts leave the
workers, and the cut lands exactly where the single-machine rule puts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from charter.data import Dataset, check_columns
from charter.data._types import kind_of
from charter.modeling._frame import (
    ROW_ID,
    ModelingFrame,
    Task,
    check_target,
    feature_type,
    frame_from_rows,
    read_rows,
    target_classes,
)
from charter.modeling._splits import check_holdout_rows, unit_keys
from charter.scale._sources import ClusterData, as_arrow
from charter.scale._tasks import merged, tree_reduce
from charter.spec import Charter
from charter.spec._classes import class_label

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = [
    "ENTITY",
    "FOLD",
    "KEY",
    "PICK",
    "ROW",
    "TEST",
    "TIME",
    "Y",
    "Cut",
    "Decisions",
    "Keys",
    "Query",
    "collect",
    "cuts",
    "decide",
    "keyed",
    "modeling_frame",
    "prepare",
    "time_of",
]

ROW, Y, KEY, PICK = "__charter_row_id", "__charter_y", "__charter_key", "__charter_pick"
TIME, ENTITY, BASELINE = "__charter_time", "__charter_entity", "__charter_baseline"
TEST, FOLD = "__charter_test", "__charter_fold"

_BINS_BITS = 12  # histograms of 4,096 bins: each round narrows a cut's range 4,096-fold
_FETCH_ROWS = 50_000  # a range holding at most this many rows is counted key by key
_GUESS_DISTINCT = 10  # a numeric target with more distinct values is a regression target
_PICK_SALT = 0x5EED_C0DE_5A3F_1E5D  # samples drawn in another order than the holdout's
_SIGN = np.uint64(1 << 63)
_TEXT = pd.StringDtype("pyarrow")
_HASHES = pd.DataFrame({"column": pd.Series(dtype=np.int64), "hash": pd.Series(dtype=np.uint64)})


@dataclass(frozen=True)
class Decisions:
    """What the single-machine path decides from all the rows, decided from merged statistics."""

    task: Task
    types: dict[str, str]  # data column -> its DuckDB type
    reading: dict[str, str]  # column -> number | category | date | drop:why (no special column)
    classes: tuple[str, ...]
    positive: str | None
    rows: int  # rows with a known target
    entity_float: bool  # an integer entity with missing values, read as floats on one machine
    repeats: bool  # an entity appears in more than one row

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c for c, how in self.reading.items() if not how.startswith("drop:"))

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(c for c in self.features if self.reading[c] == "category")


@dataclass
class _Stats:
    """What one partition (or several, merged) says about the rows with a known target."""

    rows: int = 0
    targets: set[Any] | None = field(default_factory=set)  # distinct, up to 11; None: not asked
    labels: dict[str, tuple[int, int]] | None = field(default_factory=dict)  # rows, least row id
    present: dict[str, int] = field(default_factory=dict)
    numeric: dict[str, int] = field(default_factory=dict)
    entity_rows: int = 0
    entity_missing: int = 0


def decide(charter: Charter, data: ClusterData) -> Decisions:
    """The task, the reading of each column and the classes, from statistics merged on the cluster.

    Raises:
        DataSourceError: the target, entity, time or a sensitive column is not in the data.
        UsageError: too few rows have a target, or it has a single class.
    """
    types = Dataset.from_arrow(data.schema.empty_table()).columns
    check_columns(charter, types)  # as opening the data on one machine does
    check_target(charter.target, types)
    numeric_target = kind_of(types[charter.target]) == "numeric"
    texts = [
        c
        for c, t in types.items()
        if kind_of(t) == "categorical" and c not in charter.special_columns
    ]
    entity = charter.data.entity
    integer_entity = entity is not None and _is_integer(types[entity])
    total, distinct = _statistics(
        data, charter, types, (charter.task, numeric_target, texts, integer_entity)
    )
    check_holdout_rows(total.rows)
    task: Task = charter.task or (
        "regression"
        if numeric_target and (total.targets is None or len(total.targets) > _GUESS_DISTINCT)
        else "classification"
    )
    classes, positive = _classes(total, charter) if task == "classification" else ((), None)
    reading = {
        c: feature_type(
            kind_of(t),
            rows=total.rows,
            present=total.present.get(c, 0),
            numeric=total.numeric.get(c, 0),
            distinct=distinct.get(texts.index(c), 0) if c in texts else 0,
        )
        for c, t in types.items()
        if c not in charter.special_columns
    }
    return Decisions(
        task=task,
        types=dict(types),
        reading=reading,
        classes=classes,
        positive=positive,
        rows=total.rows,
        entity_float=integer_entity and total.entity_missing > 0,
        repeats=distinct.get(-1, 0) < total.entity_rows,
    )


def _statistics(
    data: ClusterData, charter: Charter, types: dict[str, str], ask: tuple[Any, ...]
) -> tuple[_Stats, dict[int, int]]:
    """The merged statistics, and the distinct values of each text column (-1: the entity)."""
    import dask.dataframe as dd
    from dask.base import compute, persist
    from dask.delayed import delayed

    # Persisted, so that the statistics and the distinct values come from one read of the data.
    made = persist(
        *[
            delayed(_partition_stats, nout=2)(p, charter, types, ask)
            for p in data.frame.to_delayed()
        ]
    )
    total = compute(tree_reduce([m[0] for m in made], _merge_stats))[0]
    hashes = dd.from_delayed([m[1] for m in made], meta=_HASHES, verify_meta=False)
    distinct = hashes.drop_duplicates(split_out=True).groupby("column").size().compute()
    return total, {int(column): int(count) for column, count in distinct.items()}


def _classes(total: _Stats, charter: Charter) -> tuple[tuple[str, ...], str]:
    """target_classes on the merged label counts, ties ordered by first row as on one machine."""
    labels = total.labels or {}
    ordered = sorted(labels.items(), key=lambda item: (-item[1][0], item[1][1]))
    counts = pd.Series([n for _, (n, _) in ordered], index=[label for label, _ in ordered])
    return target_classes(counts, charter.positive_class)


def prepare(
    charter: Charter, data: ClusterData, decisions: Decisions, *, seed: int
) -> dd.DataFrame:
    """Every partition as the modeling frame's rows: features, target, row id, unit key and roles.

    Categories are kept as text (their codes are set once the training rows are known). The
    result is persisted: the cuts and every boosted fit read it from the workers' memory.
    """
    meta = _prepared(data.frame._meta, charter, decisions, seed)
    prepared: dd.DataFrame = data.frame.map_partitions(
        _prepared, charter, decisions, seed, meta=meta
    ).persist()
    return prepared


def modeling_frame(rows: pd.DataFrame, charter: Charter, decisions: Decisions) -> ModelingFrame:
    """Prepared rows brought to this machine as a ModelingFrame (in the order given)."""
    X = pd.DataFrame(
        {
            c: rows[c].astype(object).astype("category")
            if c in decisions.categorical
            else rows[c].astype(np.float64)
            for c in decisions.features
        }
    )
    return ModelingFrame(
        task=decisions.task,
        X=X,
        y=rows[Y].to_numpy(dtype=np.int8 if decisions.task == "classification" else np.float64),
        row_id=rows[ROW].to_numpy(dtype=np.uint64),
        groups=rows[ENTITY].to_numpy(dtype=object) if charter.data.entity else None,
        time=rows[TIME].to_numpy(dtype="datetime64[ns]") if charter.data.time else None,
        baseline=rows[BASELINE].to_numpy(dtype=np.float64) if charter.baseline.rule else None,
        positive_class=decisions.positive,
        classes=decisions.classes,
        dropped={
            c: how.removeprefix("drop:")
            for c, how in decisions.reading.items()
            if how.startswith("drop:")
        },
        feature_types={c: decisions.reading[c] for c in decisions.features},
    )


def collect(frame: dd.DataFrame, *, test: bool, rows: int, available: int) -> pd.DataFrame:
    """The training (or test) rows, or a reproducible sample of whole units of at most `rows`.

    The sample takes the units (entities, or rows) whose seeded pick key falls below the share
    `rows / available` of the key space, then drops the highest keys until at most `rows` remain.
    """
    share = min(1.0, rows / max(available, 1))
    limit = np.uint64(min(int(share * 2.0**64), (1 << 64) - 1))
    chosen = frame.map_partitions(_chosen, test, limit, meta=frame._meta).compute()
    if len(chosen) > rows:
        chosen = chosen.sort_values([PICK, KEY], kind="stable")
        units = chosen[PICK].to_numpy()
        ends = np.flatnonzero(np.append(units[1:] != units[:-1], True))  # last row of each unit
        fits = ends[ends < rows]
        chosen = chosen.iloc[: int(fits[-1]) + 1 if len(fits) else 0]
    return chosen


# --- cuts on keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """Which key orders the rows for a cut, which rows take part, and how they are grouped.

    `order`: "unit" (the seeded unit key), "latest" (time, latest first) or "earliest".
    `rows`: all rows, or the training rows only. `by_class`: one stratum per class (else one).
    Rows without a time take no part in a cut by time.
    """

    order: Literal["unit", "latest", "earliest"]
    rows: Literal["all", "train"] = "all"
    by_class: bool = False


@dataclass(frozen=True)
class Query:
    """Where to cut one stratum: after the prefix of units holding closest to `target` rows.

    At least one unit is taken and at least one left; of two prefixes as close, the shorter one
    is taken, or the longer one when `longer` is set.
    """

    stratum: int
    target: float
    longer: bool = False


@dataclass(frozen=True)
class Cut:
    """A cut: the stratum's rows with key at most `key` are the `rows` rows before it."""

    key: int
    rows: int


def cuts(frame: dd.DataFrame, keys: Keys, queries: Sequence[Query]) -> list[Cut | None]:
    """Each query's cut (None when its stratum has fewer than two units), from merged histograms."""
    found: list[Cut | None] = [None] * len(queries)
    ranges = {i: (0, (1 << 64) - 1, 0) for i in range(len(queries))}  # lo, hi, rows below lo
    totals: dict[int, int] = {}
    while ranges:
        order = sorted(ranges)
        spans = [(queries[i].stratum, ranges[i][0], ranges[i][1], _shift(ranges[i])) for i in order]
        counts = merged(frame, _histograms, keys, spans, combine=_sum)
        fetch: dict[int, tuple[int, int, int]] = {}
        for row, i in enumerate(order):
            lo, hi, before = ranges.pop(i)
            totals.setdefault(i, int(counts[row].sum()))
            if totals[i] == 0:
                continue
            shift = spans[row][3]
            cumulative = before + np.cumsum(counts[row])
            reached = np.flatnonzero(cumulative >= queries[i].target)
            j = int(reached[0]) if len(reached) else int(np.flatnonzero(counts[row])[-1])
            below = int(cumulative[j] - counts[row][j])
            low = lo + (j << shift)
            high = min(hi, low + (1 << shift) - 1)
            if low == high:
                found[i] = _closest(queries[i], [(low, int(counts[row][j]))], low, below, totals[i])
            elif counts[row][j] <= _FETCH_ROWS:
                fetch[i] = (low, high, below)
            else:
                ranges[i] = (low, high, below)
        if fetch:
            order = sorted(fetch)
            spans = [(queries[i].stratum, fetch[i][0], fetch[i][1], 0) for i in order]
            units = merged(frame, _key_counts, keys, spans, combine=_join_counts)
            for row, i in enumerate(order):
                low, _, below = fetch[i]
                listed = list(zip(units[row][0].tolist(), units[row][1].tolist(), strict=True))
                found[i] = _closest(queries[i], listed, low, below, totals[i])
    # A cut found as "every unit below some key" is moved onto the last of those units' key.
    spans = [(q.stratum, 0, c.key, 0) for q, c in zip(queries, found, strict=True) if c]
    lasts = iter(merged(frame, _last_keys, keys, spans, combine=_largest) if spans else [])
    return [replace(c, key=int(next(lasts))) if c else None for c in found]


def keyed(part: pd.DataFrame, keys: Keys) -> tuple[np.ndarray, np.ndarray]:
    """The partition's keys in `keys.order` and each row's stratum (-1: takes no part)."""
    stratum = (
        part[Y].to_numpy().astype(np.int64) if keys.by_class else np.zeros(len(part), np.int64)
    )
    if keys.order == "unit":
        key = part[KEY].to_numpy(dtype=np.uint64)
    else:
        ns = part[TIME].to_numpy(dtype="datetime64[ns]").view(np.int64)
        key = ns.view(np.uint64) ^ _SIGN  # ordered as the times are
        key = ~key if keys.order == "latest" else key
        stratum = np.where(ns == np.iinfo(np.int64).min, -1, stratum)  # no time
    if keys.rows == "train":
        stratum = np.where(part[TEST].to_numpy(dtype=bool), -1, stratum)
    return key, stratum


def time_of(key: int, keys: Keys) -> pd.Timestamp:
    """The time a key of a cut by time stands for."""
    ordered = np.uint64(key)
    ordered = ~ordered if keys.order == "latest" else ordered
    return pd.Timestamp(int(np.array([ordered ^ _SIGN], dtype=np.uint64).view(np.int64)[0]))


def _shift(span: tuple[int, int, int]) -> int:
    lo, hi, _ = span
    return max(0, (hi - lo).bit_length() - _BINS_BITS)


def _closest(
    query: Query, units: list[tuple[int, int]], low: int, below: int, total: int
) -> Cut | None:
    """The best prefix among those ending at a listed unit or just before `low`."""
    candidates = [(below, low - 1)] if below >= 1 else []  # its last key is found afterwards
    running = below
    for key, count in units:
        running += count
        candidates.append((running, key))
    candidates = [(rows, key) for rows, key in candidates if rows < total]  # leave one unit
    if not candidates:
        return None
    distances = [abs(rows - query.target) for rows, _ in candidates]
    nearest = [i for i, d in enumerate(distances) if d == min(distances)]
    rows, key = candidates[nearest[-1] if query.longer else nearest[0]]
    return Cut(key=int(key), rows=int(rows))


def _histograms(
    part: pd.DataFrame, keys: Keys, spans: list[tuple[int, int, int, int]]
) -> np.ndarray:
    key, stratum = keyed(part, keys)
    out = np.zeros((len(spans), 1 << _BINS_BITS), dtype=np.int64)
    for row, (s, lo, hi, shift) in enumerate(spans):
        inside = key[(stratum == s) & (key >= np.uint64(lo)) & (key <= np.uint64(hi))]
        bins = ((inside - np.uint64(lo)) >> np.uint64(shift)).astype(np.int64)
        out[row] = np.bincount(bins, minlength=1 << _BINS_BITS)
    return out


def _key_counts(
    part: pd.DataFrame, keys: Keys, spans: list[tuple[int, int, int, int]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    key, stratum = keyed(part, keys)
    found = []
    for s, lo, hi, _ in spans:
        inside = key[(stratum == s) & (key >= np.uint64(lo)) & (key <= np.uint64(hi))]
        found.append(np.unique(inside, return_counts=True))
    return found


def _last_keys(
    part: pd.DataFrame, keys: Keys, spans: list[tuple[int, int, int, int]]
) -> np.ndarray:
    key, stratum = keyed(part, keys)
    last = np.zeros(len(spans), dtype=np.uint64)
    for row, (s, lo, hi, _) in enumerate(spans):
        inside = key[(stratum == s) & (key >= np.uint64(lo)) & (key <= np.uint64(hi))]
        last[row] = inside.max() if len(inside) else 0
    return last


def _largest(*parts: np.ndarray) -> np.ndarray:
    return np.asarray(np.max(parts, axis=0))


def _sum(*parts: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(parts, axis=0))


def _join_counts(
    *parts: list[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    joined = []
    for pieces in zip(*parts, strict=True):
        keys = np.concatenate([k for k, _ in pieces])
        counts = np.concatenate([c for _, c in pieces])
        unique, where = np.unique(keys, return_inverse=True)
        joined.append(
            (unique, np.bincount(where, weights=counts, minlength=len(unique)).astype(np.int64))
        )
    return joined


# --- on the workers ------------------------------------------------------------------------------


def _partition_stats(
    part: pd.DataFrame,
    charter: Charter,
    types: dict[str, str],
    ask: tuple[Any, bool, list[str], bool],
) -> tuple[_Stats, pd.DataFrame]:
    task, numeric_target, texts, integer_entity = ask
    rows = read_rows(charter, Dataset.from_arrow(as_arrow(part)))
    stats = _Stats(rows=len(rows), targets=None)
    target = rows[charter.target]
    if task is None and numeric_target:
        stats.targets = set(pd.unique(target.dropna())[: _GUESS_DISTINCT + 1].tolist())
    many = stats.targets is not None and len(stats.targets) > _GUESS_DISTINCT
    if task == "regression" or many:
        stats.labels = None
    else:
        grouped = rows[ROW_ID].groupby(target.map(class_label).to_numpy()).agg(["size", "min"])
        stats.labels = {str(k): (int(n), int(m)) for k, (n, m) in grouped.iterrows()}
    hashes = []
    for index, column in enumerate(texts):
        present = rows[column].dropna()
        stats.present[column] = len(present)
        stats.numeric[column] = int(pd.to_numeric(present, errors="coerce").notna().sum())
        hashes.append(_distinct(index, present))
    if charter.data.entity:
        known = rows[charter.data.entity].dropna()
        stats.entity_rows, stats.entity_missing = len(known), len(rows) - len(known)
        hashes.append(_distinct(-1, known.astype(np.int64) if integer_entity else known))
    return stats, pd.concat([_HASHES, *hashes], ignore_index=True)


def _distinct(index: int, values: pd.Series) -> pd.DataFrame:
    hashed = np.unique(pd.util.hash_array(values.to_numpy(dtype=object)))
    return pd.DataFrame({"column": np.full(len(hashed), index, dtype=np.int64), "hash": hashed})


def _merge_stats(*parts: _Stats) -> _Stats:
    total = _Stats(targets=set(), labels={})
    for part in parts:
        total.rows += part.rows
        if total.targets is not None and part.targets is not None:
            total.targets |= part.targets
            if len(total.targets) > _GUESS_DISTINCT:
                total.targets = set(list(total.targets)[: _GUESS_DISTINCT + 1])
        else:
            total.targets = None
        if total.labels is not None and part.labels is not None:
            for label, (n, least) in part.labels.items():
                had = total.labels.get(label, (0, least))
                total.labels[label] = (had[0] + n, min(had[1], least))
        else:
            total.labels = None
        for column, n in part.present.items():
            total.present[column] = total.present.get(column, 0) + n
            total.numeric[column] = total.numeric.get(column, 0) + part.numeric[column]
        total.entity_rows += part.entity_rows
        total.entity_missing += part.entity_missing
    return total


def _prepared(
    part: pd.DataFrame, charter: Charter, decisions: Decisions, seed: int
) -> pd.DataFrame:
    rows = read_rows(charter, Dataset.from_arrow(as_arrow(part)))
    entity = charter.data.entity
    if entity and decisions.entity_float:
        rows[entity] = rows[entity].astype(np.float64)  # as pandas reads it with missing values
    known = (
        (decisions.classes, decisions.positive or "")
        if decisions.task == "classification"
        else None
    )
    frame = frame_from_rows(
        charter,
        rows,
        decisions.types,
        task=decisions.task,
        feature_types=decisions.reading,
        target_classes=known,
    )
    out: dict[str, Any] = {
        # Arrow strings: a fraction of the memory Python strings take on the workers.
        c: pd.array(frame.X[c].to_numpy(dtype=object), dtype=_TEXT)
        if c in decisions.categorical
        else frame.X[c].to_numpy(dtype=np.float64)
        for c in decisions.features
    }
    out[ROW] = frame.row_id.astype(np.uint64)
    out[Y] = frame.y
    out[KEY] = unit_keys(frame.row_id, frame.groups, repeats=decisions.repeats, seed=seed)
    out[PICK] = unit_keys(out[KEY], None, repeats=False, seed=_PICK_SALT)
    if frame.time is not None:
        out[TIME] = np.asarray(frame.time).astype("datetime64[ns]")
    if frame.groups is not None:
        out[ENTITY] = np.asarray(frame.groups, dtype=object)
    if frame.baseline is not None:
        out[BASELINE] = np.asarray(frame.baseline, dtype=np.float64)
    return pd.DataFrame(out)


def _chosen(part: pd.DataFrame, test: bool, limit: np.uint64) -> pd.DataFrame:
    side = part[TEST].to_numpy(dtype=bool) == test
    return part[side & (part[PICK].to_numpy(dtype=np.uint64) <= limit)]


def _is_integer(duckdb_type: str) -> bool:
    return duckdb_type.upper() in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
        "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
    }  # fmt: skip
