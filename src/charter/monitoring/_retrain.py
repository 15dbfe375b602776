"""Retraining with champion and challenger, and rolling back a new version that pays off less.

`retrain` trains a challenger on a fresh window of labelled data: the predictions whose outcomes
came back (their logged inputs, the outcome as target), plus the charter's own data when the
window expands. The challenger gets its own holdout carved from that window (the latest period
when the charter names a time column), so the champion and the challenger are compared on the
same recent labelled rows, with a paired interval on the gain. It then faces the promotion gates,
with that comparison as the regression gate; it goes live automatically only when the charter
says `monitoring.auto_promote: true`, else it waits for approval. Everything goes on the trail.

One run is idempotent: a challenger trained for the same champion on the same labelled rows is
not trained again, so a scheduler may run `charter monitor --act` as often as it likes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from charter.data import Dataset
from charter.errors import CharterError
from charter.modeling._frame import Task, build_frame
from charter.modeling._metrics import bootstrap_interval, regression_value
from charter.modeling._splits import MIN_ROWS, Holdout, save_holdout
from charter.modeling._train import charter_value
from charter.monitoring._windows import Outcomes, features_table, join_outcomes
from charter.registry import PRODUCTION, ModelVersion
from charter.registry._lineage import actor
from charter.registry._promote import promote, rollback

if TYPE_CHECKING:
    from charter.api import Project
    from charter.modeling._result import TrainResult
    from charter.modeling._train import Trained
    from charter.monitoring._monitor import MonitorReport

__all__ = ["RetrainOutcome", "check_rollback", "retrain", "triggers"]

_KEY_FIELD = "retrain_key"
_RECENT_SHARE = 0.3  # of the labelled predictions: the challenger's test set


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retraining run did: why, on what, the comparison, and where the challenger went."""

    champion: int
    triggers: tuple[str, ...]
    skipped: str | None = None  # why nothing was trained
    challenger: int | None = None
    rows: int = 0  # rows the challenger learnt and was tested on
    labelled: int = 0  # labelled predictions among them
    comparison: dict[str, Any] | None = None
    promotion: str | None = None  # promoted / waiting for approval / refused: ...
    gates: list[dict[str, str]] = field(default_factory=list)
    tried: list[dict[str, Any]] = field(default_factory=list)  # every candidate put forward

    def to_dict(self) -> dict[str, Any]:
        return {
            "champion": self.champion,
            "triggers": list(self.triggers),
            "skipped": self.skipped,
            "challenger": self.challenger,
            "rows": self.rows,
            "labelled": self.labelled,
            "comparison": self.comparison,
            "promotion": self.promotion,
            "gates": self.gates,
            "tried": self.tried,
        }


def triggers(project: Project, report: MonitorReport | None, *, now: datetime) -> list[str]:
    """The charter's retraining triggers that fire: drift, decay (live or estimated), schedule."""
    settings = project.charter.monitoring
    fired = []
    kinds = {a.kind for a in report.alerts} if report is not None else set()
    if "drift" in settings.retrain_when and "drift" in kinds:
        fired.append("drift")
    if "decay" in settings.retrain_when and kinds & {"decay", "estimated_decay"}:
        fired.append("decay")
    if "schedule" in settings.retrain_when and settings.retrain_every is not None:
        stints = project.history()
        if stints:
            since = datetime.fromisoformat(stints[-1].since)
            if now - since >= timedelta(seconds=settings.retrain_every):
                fired.append("schedule")
    return fired


def retrain(
    project: Project,
    *,
    fired: list[str],
    seed: int = 0,
    folds: int = 5,
    budget_seconds: float = 60.0,
    now: datetime | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    """Train, compare and (when allowed) promote a challenger; `fired` says why (or "by hand")."""
    charter = project.charter
    registry = project.registry()
    champion = project.version(PRODUCTION)
    if not fired:
        return RetrainOutcome(champion.number, (), skipped="no retraining trigger fired")
    step = on_step or (lambda _: None)
    step("gathering the labelled predictions")
    fresh, labelled, key, first_outcome = _fresh_table(
        project, champion, now=now or datetime.now(UTC)
    )
    done = _already(project, key)
    if done is not None:
        return RetrainOutcome(
            champion.number,
            tuple(fired),
            skipped=f"a challenger (v{done}) was already trained on these labelled predictions",
        )
    if labelled == 0:
        return RetrainOutcome(
            champion.number,
            tuple(fired),
            skipped="no prediction has an outcome yet: send feedback first (`charter feedback`)",
        )
    folder = project.workspace / "retrain" / key[:16]
    dataset = Dataset.from_arrow(fresh, name="fresh")
    holdout = _recent_holdout(project, dataset, since=first_outcome, now=now or datetime.now(UTC))
    if holdout is not None:
        save_holdout(holdout, folder / "holdout.parquet")
    trained, result = project._train_and_register(
        dataset,
        folder,
        seed=seed,
        folds=folds,
        budget_seconds=budget_seconds,
        now=now,
        on_step=on_step,
    )
    # The run's choice first, then its other candidates by test value: the first that beats the
    # champion on the recent rows and passes the gates goes live (when the charter allows).
    names = sorted(
        (n for n, kind in _kinds(result).items() if kind != "baseline"),
        key=lambda n: (n != result.selected, -_test_value(result, n)),
    )
    tried: list[dict[str, Any]] = []
    for name in names:
        candidate = project.version(result.versions[name])
        compared = _compare(project, trained, name, champion)
        promotion, gates = _decide(project, candidate, champion, compared)
        tried.append({"version": candidate.number, "candidate": name, "promotion": promotion})
        if not tried[1:] or promotion.startswith("promoted"):
            challenger, comparison, chosen, chosen_gates = candidate, compared, promotion, gates
        if promotion.startswith(("promoted", "waiting")):
            break
    outcome = RetrainOutcome(
        champion=champion.number,
        triggers=tuple(fired),
        challenger=challenger.number,
        rows=fresh.num_rows,
        labelled=labelled,
        comparison=comparison,
        promotion=chosen,
        gates=chosen_gates,
        tried=tried,
    )
    registry.record(
        charter.project,
        "retrained",
        actor=actor(),
        version=challenger.number,
        reason=f"triggered by {', '.join(fired)}",
        details={_KEY_FIELD: key, **outcome.to_dict()},
    )
    return outcome


def _kinds(result: TrainResult) -> dict[str, str]:
    return {c.name: c.kind for c in result.candidates if c.name in result.versions}


def _test_value(result: TrainResult, name: str) -> float:
    value = result.candidate(name).test_value
    return float(value) if value is not None and math.isfinite(value) else -math.inf


def _fresh_table(
    project: Project, champion: ModelVersion, *, now: datetime
) -> tuple[pa.Table, int, str, datetime | None]:
    """The training rows of a challenger, how many are labelled predictions, their key, and the
    time of the first labelled prediction."""

    charter = project.charter
    settings = charter.monitoring.training_window
    since = now - timedelta(seconds=settings.length) if settings.length is not None else None
    scoring = project.registry().load(champion).scoring
    log, outcomes = _served_with_outcomes(project, scoring, since=since)
    rows = log.filter(pa.array(outcomes.has_outcome))
    truth = outcomes.truth[outcomes.has_outcome]
    table = _as_read(features_table(rows), scoring.get("feature_types", {}))
    table = table.append_column(charter.target, _target(truth, scoring))
    if charter.data.entity:
        table = table.append_column(charter.data.entity, rows.column("entity"))
    first = None
    if charter.data.time:
        table = table.append_column(charter.data.time, rows.column("time"))
        earliest = pc.min(rows.column("time")).as_py()
        first = earliest if isinstance(earliest, datetime) else None
    ids = sorted(rows.column("prediction_id").to_pylist())
    digest = hashlib.sha256(f"{settings.kind}|{settings.length}|".encode())
    for pid in ids:
        digest.update(pid.encode())
    labelled = table.num_rows
    if settings.kind == "expanding" or charter.data.time:
        base = project.dataset().to_arrow()
        if settings.kind == "sliding" and charter.data.time and since is not None:
            moments = pc.cast(base.column(charter.data.time), pa.timestamp("us", tz="UTC"))
            base = base.filter(pc.fill_null(pc.greater_equal(moments, pa.scalar(since)), False))
        table = _united(base, table, time=charter.data.time)
    return table, labelled, digest.hexdigest(), first


def _served_with_outcomes(
    project: Project, scoring: dict[str, Any], *, since: datetime | None = None
) -> tuple[pa.Table, Outcomes]:
    """The project's answered predictions (refused records left out) and their outcomes."""
    from charter.serving._feedback import read_feedback
    from charter.serving._log import read_log

    name = project.charter.project
    log = read_log(project.workspace / "predictions", since=since)
    log = log.filter(
        pc.and_(
            pc.equal(log.column("project"), name),
            pc.fill_null(pc.is_null(log.column("problems")), True),
        )
    )
    outcomes = join_outcomes(
        log,
        read_feedback(project.registry().store, name),
        task=scoring["task"],
        positive_class=scoring.get("positive_class"),
    )
    return log, outcomes


def _as_read(table: pa.Table, feature_types: dict[str, str]) -> pa.Table:
    """Logged inputs as the data holds them: the log keeps dates as days since 1970."""
    for name, kind in feature_types.items():
        if kind == "date" and name in table.column_names:
            column = table.column(name)
            if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
                days = pc.cast(pc.floor(pc.cast(column, pa.float64())), pa.int32())
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, pc.cast(days, pa.date32()))
    return table


def _target(truth: np.ndarray, scoring: dict[str, Any]) -> pa.Array:
    """Outcomes in the target's own labels (the positive class, or the first other class)."""
    if scoring["task"] != "classification":
        return pa.array(truth, type=pa.float64())
    positive = scoring.get("positive_class")
    others = [c for c in scoring.get("classes", []) if str(c) != str(positive)]
    negative = others[0] if others else f"not {positive}"
    return pa.array([positive if v == 1 else negative for v in truth], type=pa.string())


def _united(base: pa.Table, labelled: pa.Table, *, time: str | None) -> pa.Table:
    """The charter's rows and the labelled predictions, each column in the charter data's type
    (the time column as UTC timestamps, so the predictions keep their order within a day)."""
    columns = {}
    for name in base.column_names:
        kind = base.schema.field(name).type
        if name == time:
            kind = pa.timestamp("us", tz="UTC")
            base = base.set_column(
                base.schema.get_field_index(name), name, _as_utc(base.column(name))
            )
        if name in labelled.column_names:
            try:
                extra = pc.cast(labelled.column(name), kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                extra = pc.cast(labelled.column(name), pa.string())
                base_column = pc.cast(base.column(name), pa.string())
                columns[name] = pa.chunked_array(base_column.chunks + extra.chunks)
                continue
        else:
            extra = pa.nulls(labelled.num_rows, type=kind)
        columns[name] = pa.chunked_array(base.column(name).chunks + _chunks(extra), type=kind)
    return pa.table(columns)


def _as_utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            column = pc.assume_timezone(column, "UTC")
        return pc.cast(column, pa.timestamp("us", tz="UTC"))
    if pa.types.is_date(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("us")), pa.timestamp("us", tz="UTC"))
    return column


def _recent_holdout(
    project: Project, dataset: Dataset, *, since: datetime | None, now: datetime
) -> Holdout | None:
    """The test set of a challenger: the latest share of the predictions whose outcomes came back,
    so it learns from the rest of them and is compared with the champion on recent cases.

    None (the usual holdout is carved) without a time column or with too few such rows."""
    charter = project.charter
    if since is None or not charter.data.time:
        return None
    frame = build_frame(charter, dataset, task=charter.task or "classification")
    if frame.time is None:
        return None
    stamps = pd.DatetimeIndex(pd.to_datetime(frame.time, utc=True))
    recent = np.flatnonzero(np.asarray(stamps >= pd.Timestamp(since)))
    if recent.size < 2 * MIN_ROWS:
        return None
    order = recent[np.argsort(stamps[recent].asi8, kind="stable")]
    chosen = order[int(order.size * (1 - _RECENT_SHARE)) :]
    return Holdout(
        row_ids=np.unique(np.asarray(frame.row_id, dtype=np.uint64)[chosen]),
        scheme="time",
        reason=(
            f"the latest {_RECENT_SHARE:.0%} of the predictions whose outcomes came back, so that "
            "champion and challenger are compared on the same recent cases"
        ),
        share=chosen.size / frame.rows,
        created=now,
        rows=frame.rows,
        cutoff=stamps[chosen[0]].isoformat(),
    )


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


def _already(project: Project, key: str) -> int | None:
    for entry in reversed(project.trail()):
        if entry.action == "retrained" and entry.details.get(_KEY_FIELD) == key:
            return entry.version
    return None


def _compare(
    project: Project, trained: Trained, selected: str, champion: ModelVersion
) -> dict[str, Any]:
    """Champion and challenger on the challenger's holdout: the same recent labelled rows."""
    charter = project.charter
    registry = project.registry()
    test = trained.frame.subset(trained.test)
    challenger_scores = trained.models[selected].predict(test)
    champion_scores = registry.load(champion).model.predict(test)
    thresholds = (
        trained.result.candidate(selected).threshold,
        registry.threshold(champion),
    )

    task: Task = "classification" if trained.result.task == "classification" else "regression"

    def new_value(y: np.ndarray, scores: np.ndarray) -> float:
        return charter_value(charter, task, y, scores, thresholds[0])

    def old_value(y: np.ndarray, scores: np.ndarray) -> float:
        return charter_value(charter, task, y, scores, thresholds[1])

    def gain(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return new_value(y, a) - old_value(y, b)

    y = test.y
    low, high = bootstrap_interval(gain, y, challenger_scores, champion_scores, n=500, seed=0)
    challenger_value, champion_value = (
        new_value(y, challenger_scores),
        old_value(y, champion_scores),
    )
    return {
        "rows": int(y.size),
        "metric": trained.result.metric,
        "champion": champion_value,
        "challenger": challenger_value,
        "gain": challenger_value - champion_value,
        "gain_ci": [low, high],
        "better": bool(challenger_value > champion_value),
    }


def _decide(
    project: Project,
    challenger: ModelVersion,
    champion: ModelVersion,
    comparison: dict[str, Any],
) -> tuple[str, list[dict[str, str]]]:
    """Promote when the charter allows and the gates pass; otherwise say what it waits for."""
    charter = project.charter
    if not charter.monitoring.auto_promote:
        return (
            f"waiting for approval: `charter promote {challenger.number}` puts it live",
            [],
        )
    if not comparison["better"]:
        return (
            f"kept out: it does not beat v{champion.number} on the recent labelled rows",
            [],
        )

    def compare(new: ModelVersion, production: ModelVersion) -> tuple[float, float, int]:
        if production.number != champion.number or new.number != challenger.number:
            raise CharterError("production moved while the challenger was compared")
        return comparison["challenger"], comparison["champion"], comparison["rows"]

    done = promote(
        project.registry(),
        charter,
        challenger,
        actor=actor(),
        reason="challenger beat the champion on recent labelled data (monitoring.auto_promote)",
        contract_text=project._contract_text(),
        compare=compare,
    )
    gates = [{"name": g.name, "status": g.status, "evidence": g.evidence} for g in done.gates]
    if done.moved:
        return f"promoted: v{challenger.number} replaced v{champion.number}", gates
    failed = ", ".join(g.name for g in done.gates if g.failed)
    return f"refused by the gates ({failed})", gates


@dataclass(frozen=True)
class RollbackCheck:
    """Whether the newest production version pays off less than the one before it."""

    version: int
    predecessor: int | None
    value: float | None
    predecessor_value: float | None
    labelled: int
    predecessor_labelled: int
    rolled_back: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_rollback(project: Project, *, act: bool) -> RollbackCheck:
    """Compare the live value per row of production and of the version it replaced (each on its
    own labelled predictions); when production is worse by `monitoring.rollback_margin` and both
    have `monitoring.min_labels` outcomes, roll back (when `act`) with the evidence recorded."""

    charter = project.charter
    settings = charter.monitoring
    stints = project.history()
    current = project.version(PRODUCTION)
    previous = next((s.version for s in reversed(stints[:-1]) if s.version != current.number), None)
    if previous is None:
        return RollbackCheck(current.number, None, None, None, 0, 0, False, "no earlier version")
    log, outcomes = _served_with_outcomes(project, project.registry().load(current).scoring)
    versions = log.column("version").to_numpy(zero_copy_only=False)
    figures = {}
    for number in (current.number, previous):
        mine = (versions == number) & outcomes.has_outcome
        figures[number] = _live_value(project, log.filter(pa.array(mine)), outcomes.truth[mine])
    (value, count), (before, before_count) = figures[current.number], figures[previous]
    base = RollbackCheck(current.number, previous, value, before, count, before_count, False, "")
    if count < settings.min_labels or before_count < settings.min_labels:
        return _with(base, f"too few outcomes to compare (need {settings.min_labels} each)")
    if value is None or before is None:
        return _with(base, "the charter states no business value to compare versions on")
    floor = before - settings.rollback_margin * abs(before)
    if value >= floor:
        return _with(
            base,
            f"v{current.number} earns {value:.4g} per row on {count} outcomes against "
            f"v{previous}'s {before:.4g} on {before_count}: it stays",
        )
    reason = (
        f"v{current.number} earns {value:.4g} per row on {count} outcomes, below v{previous}'s "
        f"{before:.4g} on {before_count} by more than {settings.rollback_margin:.0%}"
    )
    if not act:
        return _with(base, reason + " (not rolled back: run with --act)")
    rollback(
        project.registry(),
        charter.project,
        actor=actor(),
        reason=f"automatic rollback: {reason}",
        to=project.version(previous),
    )
    return RollbackCheck(current.number, previous, value, before, count, before_count, True, reason)


def _with(check: RollbackCheck, reason: str) -> RollbackCheck:
    return RollbackCheck(**{**check.__dict__, "reason": reason})


def _live_value(project: Project, rows: pa.Table, truth: np.ndarray) -> tuple[float | None, int]:
    """Value per row of the logged decisions on their real outcomes (the business metric)."""
    from charter.monitoring._outcomes import decision_values

    success = project.charter.success
    if rows.num_rows == 0:
        return None, 0
    if success.value is not None:
        act = pc.fill_null(pc.equal(rows.column("decision"), "act"), False).to_numpy(
            zero_copy_only=False
        )
        return float(np.mean(decision_values(act, truth, success.value))), rows.num_rows
    if success.error_cost_per_unit is not None:
        scores = rows.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        return regression_value(truth, scores, success.error_cost_per_unit), rows.num_rows
    return None, rows.num_rows
