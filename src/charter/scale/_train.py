"""Phase 3 on a Dask cluster: the candidates `charter train` compares, judged the same way.

What runs where:

- The data is read and encoded on the workers, every reading decision taken from statistics
  merged across partitions (`charter.scale._frame`).
- The holdout is carved on the cluster by the single-machine rule (the latest share by time,
  whole entities, else a seeded share of each class or of the rows), so it holds the very rows
  `charter train` without a cluster holds out, and is recorded in the same file: the two paths
  share a project's test set.
- Folds are cut on the cluster by the same kind of scheme: time-ordered expanding windows when
  `data.time` is set, whole entities when one repeats, each class cut alike for classification,
  plain k-fold otherwise; each fold is a range of the seeded keys (or a period).
- The boosted candidate's settings are searched as on one machine, on the training sample below;
  LightGBM's own Dask estimator then trains those settings on *all* the training rows of each
  fold, and of the whole training set, with the number of trees the search found (LightGBM's
  Dask interface cannot stop early). The model comes back as a local booster in the usual
  candidate class, so saving, serving, explanations and monitoring are unchanged.
- The baseline, simple and any extra candidates are fitted on a reproducible sample of at most
  `sample_rows` training rows (whole entities, drawn by a seeded key), cross-validated on the
  sample's rows in the same folds.
- Every candidate's out-of-fold predictions are those for the sample's rows, so all are
  compared on the same rows: threshold, fold values, the choice, then the test set, which comes
  to this machine whole, or as a seeded sample of at most `holdout_rows` rows above that.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from charter.errors import UsageError
from charter.modeling._boosted import BoostedCandidate, base_params, booster_input
from charter.modeling._candidates import Candidate, default_candidates
from charter.modeling._frame import ModelingFrame
from charter.modeling._result import CandidateResult
from charter.modeling._splits import (
    CV_REASONS,
    HOLDOUT_REASONS,
    MIN_FOLD_ROWS,
    CVScheme,
    Fold,
    Holdout,
    check_class_sides,
    load_holdout,
    save_holdout,
    single_time_error,
    single_unit_error,
    stratified_quotas,
)
from charter.modeling._train import (
    Trained,
    conclude,
    tune_boosted,
    validate_candidate,
    validation_result,
)
from charter.scale._frame import (
    FOLD,
    ROW,
    TEST,
    Decisions,
    Keys,
    Query,
    Y,
    collect,
    cuts,
    decide,
    keyed,
    modeling_frame,
    prepare,
    time_of,
)
from charter.scale._sources import ClusterData
from charter.scale._tasks import each, merged
from charter.spec import Charter

if TYPE_CHECKING:
    import dask.dataframe as dd
    import lightgbm as lgb

__all__ = ["HOLDOUT_ROWS", "SAMPLE_ROWS", "train_on_cluster"]

SAMPLE_ROWS = 200_000
"""Training rows (at most) the baseline, simple and extra candidates are fitted on."""
HOLDOUT_ROWS = 500_000
"""Test rows (at most) brought to this machine to judge the candidates; a seeded sample above."""

_SHARE = 0.2  # the share of rows held out, as carve_holdout's default
_NO_FOLD = -1

Step = Callable[[str], None]
FoldKind = Literal["stratified", "kfold", "grouped", "time"]


@dataclass(frozen=True)
class _Plan:
    """The folds on the cluster: their kind and count, and rows per partition, fold and class."""

    kind: FoldKind
    reason: str
    count: int
    table: np.ndarray  # partitions x (fold value) x (class): training rows

    def sides(self, fold: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the rows fold `fold` trains and validates on, from their fold values."""
        if self.kind == "time":  # blocks: train on every earlier block, validate on the next
            return (values >= 0) & (values <= fold), values == fold + 1
        return (values >= 0) & (values != fold), values == fold

    def partitions(self, fold: int | None) -> list[int]:
        """Partitions holding training rows of `fold` (None: of the whole training set)."""
        values = np.arange(self.table.shape[1])
        train = np.ones_like(values, dtype=bool) if fold is None else self.sides(fold, values)[0]
        return [int(p) for p in np.flatnonzero(self.table[:, train, :].sum(axis=(1, 2)))]


def train_on_cluster(
    charter: Charter,
    data: ClusterData,
    *,
    workspace: Path,
    seed: int = 0,
    folds: int = 5,
    budget_seconds: float = 60.0,
    only: Sequence[str] | None = None,
    extra: Sequence[Candidate] = (),
    sample_rows: int = SAMPLE_ROWS,
    holdout_rows: int = HOLDOUT_ROWS,
    now: datetime | None = None,
    on_step: Step | None = None,
) -> Trained:
    """`charter train` on a Dask cluster: a `Trained` that saves and registers like any other.

    Runs on the current Dask client (the one `charter.scale.connect` opened). The holdout is
    `workspace/holdout.parquet`, carved on the cluster when missing. See the module's
    description for what runs where; `result.validation["cluster"]` records the rows used.

    Example:
        >>> with connect(parse_cluster("local:4")) as client:  # doctest: +SKIP
        ...     trained = train_on_cluster(charter, read_charter_data(charter, base_dir=here),
        ...                                workspace=here / ".charter")
    """
    if sample_rows < 1 or holdout_rows < 1:
        raise UsageError(
            f"sample_rows={sample_rows!r} and holdout_rows={holdout_rows!r} must be at least 1, "
            f"e.g. {SAMPLE_ROWS} and {HOLDOUT_ROWS}."
        )
    started = now or datetime.now(UTC)
    clock = time.perf_counter()
    step = on_step or (lambda _: None)
    step(f"reading the data on the cluster ({data.description})")
    decisions = decide(charter, data)
    prepared = prepare(charter, data, decisions, seed=seed)
    step("setting the test set aside on the cluster")
    prepared, holdout, coverage = _holdout(
        prepared, charter, decisions, workspace / "holdout.parquet", now=started
    )
    step("cutting the cross-validation folds on the cluster")
    prepared, plan = _folds(prepared, charter, decisions, folds=folds)
    step("bringing the training sample and the test set to this machine")
    local = _bring(prepared, plan, charter, decisions, rows=(sample_rows, holdout_rows))
    candidates: list[Candidate] = [
        *default_candidates(
            decisions.task,
            has_rule=local.frame.baseline is not None,
            seed=seed,
            budget_seconds=budget_seconds,
            only=only,
        ),
        *extra,
    ]
    results: list[CandidateResult] = []
    models: dict[str, Candidate] = {}
    oofs: dict[str, np.ndarray] = {}
    predictions: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for candidate in candidates:
        validated: CandidateResult
        model: Candidate
        if isinstance(candidate, BoostedCandidate):
            validated, model, oof, predicted, note = _boosted(
                candidate, charter, prepared, plan, decisions, local, seed=seed, step=step
            )
            notes += [note] if note else []
        else:
            step(f"validating {candidate.name} on the training sample")
            validated, model, oof, predicted = validate_candidate(
                candidate, charter, local.sample, local.test_frame, local.scheme, seed=seed
            )
        results.append(validated)
        models[candidate.name], oofs[candidate.name] = model, oof
        predictions[candidate.name] = predicted
    result = conclude(
        charter,
        local.frame,
        local.test_frame,
        results,
        predictions,
        rows=(local.train_rows, local.test_rows),
        holdout=holdout.summary(present=coverage[0], recorded=coverage[1]),
        validation=_validation_summary(plan, local, data),
        warnings=notes + local.notes(),
        started=started,
        clock=clock,
        seed=seed,
    )
    return Trained(result=result, models=models, frame=local.frame, test=local.test, oof=oofs)


@dataclass(frozen=True)
class _Local:
    """The rows brought to this machine: the training sample and the test rows (or a sample)."""

    frame: ModelingFrame  # both, in row id order
    test: np.ndarray  # positions of the test rows in `frame`
    sample: ModelingFrame
    test_frame: ModelingFrame
    scheme: CVScheme  # the cluster's folds, on the sample's rows
    train_rows: int  # on the cluster
    test_rows: int  # on the cluster

    def notes(self) -> list[str]:
        """What a reader must know about the samples the figures come from."""
        found = []
        if self.sample.rows < self.train_rows:
            found.append(
                f"The baseline and simple candidates were fitted on a sample of "
                f"{self.sample.rows:,} of the {self.train_rows:,} training rows; the boosted "
                "candidate on all of them."
            )
        if self.test_frame.rows < self.test_rows:
            found.append(
                f"Test figures are measured on a seeded sample of {self.test_frame.rows:,} of "
                f"the {self.test_rows:,} test rows."
            )
        return found


def _bring(
    prepared: dd.DataFrame,
    plan: _Plan,
    charter: Charter,
    decisions: Decisions,
    *,
    rows: tuple[int, int],
) -> _Local:
    """The training sample and the test rows, as one ModelingFrame and its two parts."""
    train_rows = int(plan.table.sum())
    test_rows = int(merged(prepared, _test_rows, combine=_add))
    brought = pd.concat(
        [
            collect(prepared, test=False, rows=rows[0], available=train_rows),
            collect(prepared, test=True, rows=rows[1], available=test_rows),
        ]
    )
    brought = brought.sort_values(ROW, kind="stable").reset_index(drop=True)
    frame = modeling_frame(brought, charter, decisions)
    is_test = brought[TEST].to_numpy(dtype=bool)
    test = np.flatnonzero(is_test)
    sample = frame.subset(np.flatnonzero(~is_test))
    return _Local(
        frame=frame,
        test=test,
        sample=sample,
        test_frame=frame.subset(test),
        scheme=_sample_scheme(plan, brought[FOLD].to_numpy()[~is_test], sample, rows[0]),
        train_rows=train_rows,
        test_rows=test_rows,
    )


def _validation_summary(plan: _Plan, local: _Local, data: ClusterData) -> dict[str, Any]:
    from distributed import default_client

    return {
        "scheme": plan.kind,
        "reason": plan.reason,
        "folds": plan.count,
        "cluster": {
            "partitions": data.partitions,
            "workers": len(default_client().scheduler_info().get("workers", {})),
            "training_rows": local.train_rows,
            "sample_rows": local.sample.rows,
            "test_rows": local.test_rows,
            "test_rows_judged": local.test_frame.rows,
        },
    }


# --- the holdout ---------------------------------------------------------------------------------


def _holdout(
    prepared: dd.DataFrame,
    charter: Charter,
    decisions: Decisions,
    path: Path,
    *,
    now: datetime,
) -> tuple[dd.DataFrame, Holdout, tuple[int, int]]:
    """The prepared rows marked test or not, the holdout, and (present, recorded) test row ids."""
    from distributed import default_client

    if path.exists():
        holdout = load_holdout(path)
        ids = default_client().scatter(holdout.row_ids, broadcast=True)
        meta = _recorded(prepared._meta, np.zeros(0, dtype=np.uint64))
        marked = prepared.map_partitions(_recorded, ids, meta=meta).persist()
        present = len(merged(marked, _test_ids, combine=_union))
        return marked, holdout, (present, len(holdout.row_ids))
    keys, rule, scheme, cutoff = _carve(prepared, charter, decisions)
    meta = _carved(prepared._meta, keys, rule)
    marked = prepared.map_partitions(_carved, keys, rule, meta=meta).persist()
    if decisions.task == "classification":
        sides = merged(marked, _class_sides, combine=_add)  # [class][test, training]
        counts = {value: (int(sides[value][0]), int(sides[value][1])) for value in (1, 0)}
        check_class_sides(counts, positive_class=decisions.positive, classes=decisions.classes)
    ids = merged(marked, _test_ids, combine=_union)
    held = int(merged(marked, _test_rows, combine=_add))
    created = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    holdout = Holdout(
        row_ids=np.asarray(ids, dtype=np.uint64),
        scheme=scheme,
        reason=HOLDOUT_REASONS[scheme].format(cutoff=cutoff),
        share=held / decisions.rows,
        created=created,
        rows=held,
        cutoff=cutoff,
    )
    save_holdout(holdout, path)
    return marked, holdout, (len(ids), len(ids))


def _carve(
    prepared: dd.DataFrame, charter: Charter, decisions: Decisions
) -> tuple[Keys, list[tuple[int, int]], Any, str | None]:
    """carve_holdout's rule from merged statistics: the keys, each stratum's cut, the scheme."""
    target = _SHARE * decisions.rows
    if charter.data.time:
        keys = Keys("latest")
        (cut,) = cuts(prepared, keys, [Query(0, target, longer=True)])
        if cut is None:
            raise single_time_error()
        return keys, [(0, cut.key)], "time", time_of(cut.key, keys).isoformat()
    if decisions.repeats or decisions.task != "classification":
        (cut,) = cuts(prepared, Keys("unit"), [Query(0, target)])
        if cut is None:
            raise single_unit_error()
        return Keys("unit"), [(0, cut.key)], "grouped" if decisions.repeats else "random", None
    sizes = merged(prepared, _class_rows, combine=_add)
    quotas = stratified_quotas(sizes, _SHARE, target)
    keys = Keys("unit", by_class=True)
    found = cuts(prepared, keys, [Query(c, float(quotas[c])) for c in (0, 1)])
    return (
        keys,
        [(c, cut.key) for c, cut in enumerate(found) if cut is not None],
        "stratified",
        None,
    )


# --- the folds -----------------------------------------------------------------------------------


def _folds(
    prepared: dd.DataFrame, charter: Charter, decisions: Decisions, *, folds: int
) -> tuple[dd.DataFrame, _Plan]:
    """The training rows labelled with their fold (or period), with the fewest folds given up."""
    if folds < 2:
        raise UsageError(f"folds={folds!r} must be at least 2, e.g. 5.")
    kind: FoldKind
    if charter.data.time:
        kind, keys = "time", Keys("earliest", rows="train")
    elif decisions.repeats:
        kind, keys = "grouped", Keys("unit", rows="train")
    elif decisions.task == "classification":
        kind, keys = "stratified", Keys("unit", rows="train", by_class=True)
    else:
        kind, keys = "kfold", Keys("unit", rows="train")
    sizes = merged(prepared, _stratum_rows, keys, combine=_add)
    strata = (0, 1) if keys.by_class else (0,)
    training = decisions.rows - int(merged(prepared, _test_rows, combine=_add))
    most = training // MIN_FOLD_ROWS - (1 if kind == "time" else 0)  # as cv_scheme allows
    for count in range(min(folds, most), 1, -1):
        parts = count + 1 if kind == "time" else count
        queries = [Query(s, sizes[s] * i / parts) for s in strata for i in range(1, parts)]
        found = cuts(prepared, keys, queries)
        bounds = [
            sorted({c.key for c in found[n * (parts - 1) : (n + 1) * (parts - 1)] if c})
            for n in range(len(strata))
        ]
        if any(len(b) < parts - 1 for b in bounds):
            continue  # too few distinct times or units for this many folds
        labelled = prepared.map_partitions(
            _labelled, keys, bounds, meta=_labelled(prepared._meta, keys, bounds)
        ).persist()
        classify = decisions.task == "classification"
        table = np.stack(each(labelled, _fold_table, parts, classify))
        plan = _Plan(kind, CV_REASONS[kind], count, table)
        if _usable(plan, decisions):
            if count < folds:
                why = (
                    f"the data has only {training} training rows"
                    if count == most
                    else "with more folds some fold would lack a class, a period or rows"
                )
                plan = replace(
                    plan, reason=f"{plan.reason}; {count} folds instead of {folds} because {why}"
                )
            return labelled, plan
    raise UsageError(
        f"cannot make even 2 cross-validation folds from the {training:,} training rows: "
        "every way of cutting them left a fold without a class or a period. Collect more "
        "labelled rows."
    )


def _usable(plan: _Plan, decisions: Decisions) -> bool:
    totals = plan.table.sum(axis=0)  # fold value x class
    values = np.arange(totals.shape[0])
    for fold in range(plan.count):
        for side in plan.sides(fold, values):
            by_class = totals[side].sum(axis=0)
            needed = (0, 1) if decisions.task == "classification" else ()
            if by_class.sum() == 0 or any(by_class[c] == 0 for c in needed):
                return False
    return True


def _sample_scheme(plan: _Plan, values: np.ndarray, sample: ModelingFrame, asked: int) -> CVScheme:
    """The cluster's folds, restricted to the sample's rows."""
    made = []
    for fold in range(plan.count):
        train, valid = plan.sides(fold, values)
        if not train.any() or not valid.any():
            raise UsageError(
                f"the training sample of {sample.rows:,} rows has no rows on one side of fold "
                f"{fold + 1}; raise sample_rows above {asked:,}."
            )
        made.append(Fold(train=np.flatnonzero(train), valid=np.flatnonzero(valid)))
    return CVScheme(kind=plan.kind, reason=plan.reason, folds=tuple(made))


# --- the boosted candidate -----------------------------------------------------------------------


def _boosted(
    candidate: BoostedCandidate,
    charter: Charter,
    prepared: dd.DataFrame,
    plan: _Plan,
    decisions: Decisions,
    local: _Local,
    *,
    seed: int,
    step: Step,
) -> tuple[CandidateResult, BoostedCandidate, np.ndarray, np.ndarray, str | None]:
    """Settings searched on the sample; every fold and the final model trained on the cluster."""
    clock = time.perf_counter()
    _quiet_lightgbm()
    search: dict[str, Any] = {}
    warning = None
    fixed = candidate
    if candidate.config is None:
        step("searching boosted settings on the training sample")
        fixed, search, warning = tune_boosted(candidate, local.sample, seed=seed)
    on_sample = fixed.fit(local.sample)  # the settings' number of trees, by early stopping
    categories = merged(prepared, _training_values, decisions.categorical, combine=_join_values)
    state = {
        **on_sample.state(),
        "categories": {c: sorted(categories.get(c, ())) for c in decisions.categorical},
    }

    def on_cluster(fold: int | None) -> BoostedCandidate:
        model = BoostedCandidate.from_state(state, _fit(prepared, plan, fold, decisions, state))
        model.config = dict(on_sample.config_)  # a refit (learning curves) keeps these settings
        return model

    sample, folds = local.sample, local.scheme.folds
    oof = np.full(sample.rows, np.nan)
    for number, fold in enumerate(folds):
        step(f"training boosted on the cluster: fold {number + 1} of {len(folds)}")
        oof[fold.valid] = on_cluster(number).predict(sample.subset(fold.valid))
    step("training boosted on the cluster: all training rows")
    model = on_cluster(None)
    result, predicted = validation_result(
        candidate,
        model,
        oof,
        charter,
        sample,
        local.test_frame,
        local.scheme,
        seed=seed,
        clock=clock,
    )
    trained_on = {
        "rows": "all training rows, on the cluster (LightGBM data-parallel)",
        "trees": "the number the search found on the training sample, without early stopping",
        "partitions": len(plan.partitions(None)),
    }
    params = {**result.params, "search": search or result.params["search"], "cluster": trained_on}
    return replace(result, params=params), model, oof, predicted, warning


def _fit(
    prepared: dd.DataFrame,
    plan: _Plan,
    fold: int | None,
    decisions: Decisions,
    state: dict[str, Any],
) -> lgb.Booster:
    """LightGBM's Dask estimator on a fold's training rows (all of them when `fold` is None)."""
    from distributed import default_client
    from lightgbm import DaskLGBMClassifier, DaskLGBMRegressor

    features, categories = state["features"], state["categories"]
    chosen = prepared.partitions[plan.partitions(fold)]
    chosen = chosen.map_partitions(_fold_rows, plan, fold, meta=chosen._meta)
    X = chosen.map_partitions(
        _booster_rows, features, categories, meta=booster_input(chosen._meta, features, categories)
    )
    params = {
        **{
            k: v
            for k, v in base_params(decisions.task, seed=state["seed"], rows=0).items()
            if k != "num_threads"
        },
        **state["config"],
    }
    estimator = DaskLGBMClassifier if decisions.task == "classification" else DaskLGBMRegressor
    with warnings.catch_warnings():
        # Dask sets the threads from each worker's own; LightGBM says so for every fit.
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        fitted = estimator(client=default_client(), n_estimators=int(state["iterations"]), **params)
        fitted.fit(X, chosen[Y])
    booster: lgb.Booster = fitted.to_local().booster_
    return booster


def _quiet_lightgbm() -> None:
    """Send the LightGBM package's messages to the `lightgbm` logger instead of printing them.

    Its Dask interface prints a line per fit on this machine; through `logging` such lines
    show only where logging is set up to show them. (The workers' native network set-up
    prints on their own output whatever is set here.)
    """
    import logging

    import lightgbm

    lightgbm.register_logger(logging.getLogger("lightgbm"))


# --- on the workers ------------------------------------------------------------------------------


def _recorded(part: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    return part.assign(**{TEST: np.isin(part[ROW].to_numpy(dtype=np.uint64), ids)})


def _carved(part: pd.DataFrame, keys: Keys, rule: list[tuple[int, int]]) -> pd.DataFrame:
    key, stratum = keyed(part, keys)
    test = np.zeros(len(part), dtype=bool)
    for s, cut in rule:
        test |= (stratum == s) & (key <= np.uint64(cut))
    return part.assign(**{TEST: test})


def _labelled(part: pd.DataFrame, keys: Keys, bounds: list[list[int]]) -> pd.DataFrame:
    key, stratum = keyed(part, keys)
    fold = np.full(len(part), _NO_FOLD, dtype=np.int64)
    for s, cut in enumerate(bounds):
        inside = stratum == s
        fold[inside] = np.searchsorted(np.asarray(cut, dtype=np.uint64), key[inside], side="left")
    if keys.order != "unit":  # training rows without a time stay in the first period
        fold[(stratum == -1) & ~part[TEST].to_numpy(dtype=bool)] = 0
    return part.assign(**{FOLD: fold})


def _fold_table(part: pd.DataFrame, values: int, classify: bool) -> np.ndarray:
    fold = part[FOLD].to_numpy(dtype=np.int64)
    positive = part[Y].to_numpy() == 1 if classify else np.zeros(len(part), dtype=bool)
    seen = fold >= 0
    table = np.zeros((values, 2), dtype=np.int64)
    np.add.at(table, (fold[seen], positive[seen].astype(np.int64)), 1)
    return table


def _fold_rows(part: pd.DataFrame, plan: _Plan, fold: int | None) -> pd.DataFrame:
    values = part[FOLD].to_numpy(dtype=np.int64)
    train = values >= 0 if fold is None else plan.sides(fold, values)[0]
    return part[train]


def _booster_rows(
    part: pd.DataFrame, features: list[str], categories: dict[str, list[Any]]
) -> pd.DataFrame:
    return booster_input(part, features, categories).set_axis(part.index)


def _training_values(part: pd.DataFrame, columns: Sequence[str]) -> dict[str, set[Any]]:
    training = part[~part[TEST].to_numpy(dtype=bool)]
    return {c: set(training[c].dropna().tolist()) for c in columns}


def _join_values(*parts: dict[str, set[Any]]) -> dict[str, set[Any]]:
    joined: dict[str, set[Any]] = {}
    for part in parts:
        for column, values in part.items():
            joined.setdefault(column, set()).update(values)
    return joined


def _class_sides(part: pd.DataFrame) -> np.ndarray:
    test = part[TEST].to_numpy(dtype=bool)
    y = part[Y].to_numpy()
    return np.array([[int(((y == c) & test).sum()), int(((y == c) & ~test).sum())] for c in (0, 1)])


def _class_rows(part: pd.DataFrame) -> np.ndarray:
    return np.bincount(part[Y].to_numpy().astype(np.int64), minlength=2)[:2]


def _stratum_rows(part: pd.DataFrame, keys: Keys) -> np.ndarray:
    _, stratum = keyed(part, keys)
    return np.bincount(stratum[stratum >= 0], minlength=2)[:2]


def _test_rows(part: pd.DataFrame) -> int:
    return int(part[TEST].to_numpy(dtype=bool).sum())


def _test_ids(part: pd.DataFrame) -> np.ndarray:
    return np.unique(part[ROW].to_numpy(dtype=np.uint64)[part[TEST].to_numpy(dtype=bool)])


def _union(*parts: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate(parts))


def _add(*parts: Any) -> Any:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total
