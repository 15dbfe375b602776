"""`charter monitor`: the production model watched against what the charter promised.

One run reads the prediction log (or a given dataset), cuts it into windows, and for each window
measures data quality, drift against the reference kept at training, live performance once
outcomes are back (and an estimate from the calibrated scores before), adoption and realised
value. The newest window is judged by the charter's rules; what needs a person becomes an alert.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from charter._atomic import write_text_atomic
from charter.errors import CharterError
from charter.modeling._boosted import BoostedCandidate
from charter.monitoring._alerts import Alert, Delivery, deliver
from charter.monitoring._drift import Counts, DriftResult, drift, drift_from_counts
from charter.monitoring._outcomes import (
    Adoption,
    Estimate,
    Performance,
    adoption_and_value,
    estimated_performance,
    live_performance,
)
from charter.monitoring._windows import (
    Outcomes,
    Window,
    WindowSize,
    cut_windows,
    features_table,
    join_outcomes,
    outcome_value,
)
from charter.registry import PRODUCTION, ModelVersion
from charter.registry._versions import RESULT

if TYPE_CHECKING:
    from charter.api import Project
    from charter.serving._service import Deployed

__all__ = [
    "DATASET_WINDOW",
    "MonitorContext",
    "MonitorReport",
    "QualityCounts",
    "WindowReport",
    "dataset_rows",
    "dataset_window",
    "judged_report",
    "latest_report_path",
    "monitor",
    "production_context",
]

SCHEMA_VERSION = 1
DATASET_WINDOW = "the whole dataset"
"""The `window` of a report on a dataset given with --current."""
_LOG_COLUMNS = (
    "prediction_id",
    "time",
    "project",
    "version",
    "score",
    "decision",
    "fallback",
    "flags",
    "entity",
    "problems",
)


@dataclass(frozen=True)
class WindowReport:
    """Everything measured on one window (see `MonitorReport` for the JSON layout)."""

    label: str
    start: datetime | None
    end: datetime | None
    predictions: int
    refused: int
    versions: dict[int, int]
    quality: dict[str, Any]
    drift: DriftResult | None
    performance: Performance | None
    estimate: Estimate | None
    adoption: Adoption | None
    alerts: tuple[Alert, ...] = ()  # what the rules said when this window was the newest

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "predictions": self.predictions,
            "refused": self.refused,
            "versions": {str(k): v for k, v in self.versions.items()},
            "quality": self.quality,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "estimate": None if self.estimate is None else self.estimate.to_dict(),
            "adoption": None if self.adoption is None else self.adoption.to_dict(),
            "alerts": [a.to_dict() for a in self.alerts],
        }


@dataclass(frozen=True)
class MonitorReport:
    """One monitoring run. `to_dict()` is the `--json` document:

    - `schema_version` (1), `project`, `generated` (ISO time), `version` (production version),
      `source` ("prediction log" or the dataset's path), `window` ("1d", "5,000 predictions"),
      `promised` ({metric, value, low, high}: the production version's validated test figure);
    - `windows`: oldest first, each {label, start, end, predictions, refused, versions
      {version: rows}, quality {refused_share, refused_fields, flag_share, flags {flag: share},
      fallback_share}, drift (see `DriftResult.to_dict`), alerts (as judged when the window was
      the newest), performance {labelled, metric, value
      {value, low, high}, metrics, promised, judged, decayed}, estimate {rows, value, positive_rate,
      precision, recall, accuracy, promised, decayed}, adoption {labelled, answered, followed,
      realised, total, baseline, gain_share, target, met}} (null where it cannot be measured);
    - `alerts`: [{kind, severity, window, message, evidence}] for the newest window;
    - `deliveries`: [{sink, delivered, attempts, error}]; `status`: ok, warning or critical.
    """

    project: str
    generated: datetime
    version: int
    source: str
    window: str
    promised: dict[str, Any]
    windows: list[WindowReport]
    alerts: list[Alert]
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def latest(self) -> WindowReport | None:
        return self.windows[-1] if self.windows else None

    @property
    def status(self) -> str:
        if any(a.severity == "critical" for a in self.alerts):
            return "critical"
        return "warning" if self.alerts else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "project": self.project,
            "generated": self.generated.isoformat(),
            "version": self.version,
            "source": self.source,
            "window": self.window,
            "promised": self.promised,
            "status": self.status,
            "windows": [w.to_dict() for w in self.windows],
            "alerts": [a.to_dict() for a in self.alerts],
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


def monitor(
    project: Project,
    *,
    size: WindowSize | None = None,
    count: int = 14,
    current: Path | None = None,
    send: bool = True,
    now: datetime | None = None,
) -> MonitorReport:
    """Measure the newest `count` windows of the prediction log (or the dataset `current`)."""
    from charter.serving._feedback import read_feedback
    from charter.serving._log import FEATURE_PREFIX, read_log

    charter = project.charter
    context = production_context(project)
    deployed = context.deployed
    size = size or WindowSize(seconds=charter.monitoring.window)
    if current is not None:
        windows = [_file_window(context, current)]
        source = str(current)
    else:
        # Only what monitoring uses: the base columns it reads and the production model's inputs.
        wanted = [*_LOG_COLUMNS, *(f"{FEATURE_PREFIX}{f}" for f in deployed.scorer.features)]
        log = read_log(project.workspace / "predictions", columns=wanted)
        log = log.filter(pc.equal(log.column("project"), charter.project))
        outcomes_all = join_outcomes(
            log,
            read_feedback(project.registry().store, charter.project),
            task=deployed.scorer.task,
            positive_class=deployed.scorer.positive_class,
        )
        log = log.append_column("_row", pa.array(np.arange(log.num_rows)))
        windows = [
            context.measure(window, outcomes_all) for window in cut_windows(log, size, count=count)
        ]
        source = "prediction log"
    return judged_report(
        context,
        windows,
        source=source,
        window=size.describe() if current is None else DATASET_WINDOW,
        send=send,
        now=now,
        # the dashboard shows the newest run of the log without measuring again
        latest=current is None,
    )


def production_context(project: Project) -> MonitorContext:
    """What measuring a window needs, for the version in production (CharterError: none)."""
    from charter.serving._service import deploy

    try:
        production = project.version(PRODUCTION)
    except CharterError:
        raise CharterError(
            f"{project.charter.project} has no version in production to monitor; promote one "
            "first (`charter promote`)."
        ) from None
    deployed = deploy(project, production)
    return MonitorContext(project, deployed, _training_result(project, production))


def judged_report(
    context: MonitorContext,
    windows: list[WindowReport],
    *,
    source: str,
    window: str,
    send: bool = True,
    now: datetime | None = None,
    latest: bool = False,
) -> MonitorReport:
    """The report on measured windows (oldest first): each judged as if it were the newest, the
    newest's alerts sent when `send`, and, with `latest`, kept as the newest run."""
    project = context.project
    settings = context.settings
    production = context.deployed.number
    # Each window judged as if it were the newest, so alerts can be marked on the timeline.
    windows = [
        replace(found, alerts=tuple(judge(context, windows[: index + 1])))
        for index, found in enumerate(windows)
    ]
    alerts = list(windows[-1].alerts) if windows else []
    report = MonitorReport(
        project=context.charter.project,
        generated=now or datetime.now(UTC),
        version=production,
        source=source,
        window=window,
        promised=context.promised_of(production),
        windows=windows,
        alerts=alerts,
    )
    if not send:
        return report
    if latest:
        write_text_atomic(
            latest_report_path(project), json.dumps(report.to_dict(), indent=2, default=str)
        )
    sinks = settings.alerts
    json_file = None if sinks.json_file is None else project.folder / sinks.json_file
    deliveries = deliver(
        alerts,
        report.to_dict(),
        json_file=json_file,
        webhook=sinks.webhook,
        retries=sinks.webhook_retries,
    )
    return MonitorReport(**{**report.__dict__, "deliveries": deliveries})


def latest_report_path(project: Project) -> Path:
    """Where the newest monitoring run of the prediction log is kept (JSON, as `--json` prints)."""
    return project.workspace / "monitoring" / "latest.json"


def _training_result(project: Project, version: ModelVersion) -> dict[str, Any]:
    """The training run's result stored with the version (its importance shares)."""
    if RESULT not in version.artifacts:
        return {}
    loaded: dict[str, Any] = json.loads(project.registry().read(version, RESULT))
    return loaded


class MonitorContext:
    """What measuring a window needs: the production version loaded, and the charter."""

    def __init__(self, project: Project, deployed: Deployed, result: dict[str, Any]) -> None:
        self.project = project
        self.charter = project.charter
        self.settings = project.charter.monitoring
        self.deployed = deployed
        self.reference: Mapping[str, Any] = deployed.reference
        self.importance = _importance(deployed, result)
        self._promised: dict[int, dict[str, Any]] = {}

    @property
    def task(self) -> str:
        return self.deployed.scorer.task

    def promised_of(self, number: int) -> dict[str, Any]:
        """The validated test figure of a version: {metric, value, low, high}."""
        if number not in self._promised:
            try:
                record = self.project.version(number).record
            except CharterError:
                record = {}
            test = record.get("test") or {}
            low, high = (test.get("value_ci") or [None, None])[:2]
            self._promised[number] = {
                "metric": record.get("metric"),
                "value": test.get("value"),
                "low": low,
                "high": high,
            }
        return self._promised[number]

    def measure(self, window: Window, outcomes: Outcomes) -> WindowReport:
        rows = window.rows
        refused_mask = pc.fill_null(pc.is_valid(rows.column("problems")), False)
        refused = rows.filter(refused_mask)
        served = rows.filter(pc.invert(refused_mask))
        versions = Counter(served.column("version").to_pylist())
        index = served.column("_row").to_numpy()
        truth = outcomes.truth[index]
        labelled = outcomes.has_outcome[index]
        followed = outcomes.followed[index]
        answered = outcomes.has_feedback[index]
        scores = served.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        act = pc.fill_null(pc.equal(served.column("decision"), "act"), False).to_numpy(
            zero_copy_only=False
        )
        main_version = versions.most_common(1)[0][0] if versions else self.deployed.number
        promised = self.promised_of(main_version).get("value")
        features = features_table(served)
        return WindowReport(
            label=window.label,
            start=window.start,
            end=window.end,
            predictions=served.num_rows,
            refused=refused.num_rows,
            versions=dict(sorted(versions.items())),
            quality=_quality(served, refused),
            drift=self._drift(features, scores, served),
            performance=self._performance(
                truth[labelled], scores[labelled], act[labelled], promised
            ),
            estimate=self._estimate(scores, act, promised),
            adoption=self._adoption(
                act[answered],
                followed[answered],
                truth[answered],
                features.filter(pa.array(answered)),
            ),
        )

    def _drift(
        self, features: pa.Table, scores: np.ndarray, served: pa.Table
    ) -> DriftResult | None:
        if served.num_rows == 0 or not self.reference:
            return None
        columns = self.deployed.scorer.columns(features)
        own = pc.equal(served.column("version"), self.deployed.number).to_numpy(
            zero_copy_only=False
        )
        return drift(
            self.reference,
            columns,
            scores=scores[own] if own.any() else None,
            **self._drift_options(),
        )

    def drift_of_counts(
        self, counts: Mapping[str, Counts], score: Counts | None, *, rows: int
    ) -> DriftResult | None:
        """Drift of a window of `rows` served rows of this version from its counts (merged from
        its parts), judged as `_drift` judges the rows themselves; None when the window has no
        served row or there is no reference."""
        if rows == 0 or not self.reference:
            return None
        return drift_from_counts(self.reference, counts, score=score, **self._drift_options())

    def _drift_options(self) -> dict[str, Any]:
        spec = self.settings.drift
        return {
            "importance": self.importance,
            "psi_threshold": spec.psi,
            "alpha": spec.alpha,
            "importance_share": spec.importance_share,
            "min_rows": spec.min_rows,
        }

    def _performance(
        self, truth: np.ndarray, scores: np.ndarray, act: np.ndarray, promised: float | None
    ) -> Performance | None:
        if truth.size == 0:
            return None
        success = self.charter.success
        return live_performance(
            task=self.task,
            metric=self.promised_of(self.deployed.number).get("metric") or "value",
            truth=truth,
            scores=scores,
            act=act if self.task == "classification" else None,
            values=success.value,
            cost_per_unit=success.error_cost_per_unit,
            promised=promised,
            margin=self.settings.decay_margin,
            min_labels=self.settings.min_labels,
        )

    def _estimate(
        self, scores: np.ndarray, act: np.ndarray, promised: float | None
    ) -> Estimate | None:
        present = ~np.isnan(scores)
        if self.task != "classification" or not present.any():
            return None
        metric = self.promised_of(self.deployed.number).get("metric")
        return estimated_performance(
            scores[present],
            act[present],
            self.charter.success.value,
            promised=promised if metric == "net_value" else None,
            margin=self.settings.decay_margin,
            min_rows=self.settings.min_labels,
        )

    def _adoption(
        self, act: np.ndarray, followed: np.ndarray, truth: np.ndarray, features: pa.Table
    ) -> Adoption | None:
        if act.size == 0 or self.task != "classification":
            return None
        return adoption_and_value(
            act,
            followed,
            truth,
            self.charter.success.value,
            baseline_act=self._baseline_decisions(features),
            target=self.charter.success.beat_baseline_by,
        )

    def _baseline_decisions(self, features: pa.Table) -> np.ndarray | None:
        """Today's rule on the logged inputs (None when the charter has no rule or it fails)."""
        scorer = self.deployed.scorer
        if not scorer.rule or features.num_rows == 0:
            return None
        try:
            flags = scorer.rule_on_table(features)
        except CharterError:
            return None
        return np.asarray(np.nan_to_num(flags, nan=0.0), dtype=bool)


def dataset_rows(
    deployed: Deployed, table: pa.Table
) -> tuple[pa.Table, pa.Table, pa.Table, np.ndarray | None]:
    """Rows of a dataset as the service would take them: (served rows, refused rows, the served
    rows' inputs, outcomes when the target column is there). Row by row: the parts of a dataset
    give the parts of the whole's answer."""
    from charter.serving._humility import flag_column

    check = deployed.checker.check_table(table)
    good = pa.array(check.good)
    refused_fields = check.fields_at_fault()
    kept = table.filter(good)
    columns = deployed.scorer.columns(kept)
    scored = deployed.scorer.score_columns(columns, kept)
    decisions = scored.decisions
    classification = decisions is not None
    codes = deployed.humility.codes(columns, scored.raw if classification else None)
    act = decisions if decisions is not None else np.zeros(kept.num_rows, dtype=bool)
    served = pa.table(
        {
            "version": pa.array(np.full(kept.num_rows, deployed.number, dtype=np.int32)),
            "score": pa.array(scored.shown, type=pa.float64()),
            "decision": pa.array(np.where(act, "act", "no action")),
            "flags": flag_column(codes),
            "fallback": pa.array(np.zeros(kept.num_rows, dtype=bool)),
        }
    )
    refused = pa.table({"problems": pa.array(refused_fields, type=pa.list_(pa.string()))})
    truth = None
    target = deployed.scorer.target
    if target in kept.column_names:
        task, positive = deployed.scorer.task, deployed.scorer.positive_class
        truth = np.array(
            [
                outcome_value(v, task=task, positive_class=positive)
                for v in kept.column(target).to_pylist()
            ]
        )
    return served, refused, kept, truth


def _file_window(context: MonitorContext, path: Path) -> WindowReport:
    """A dataset given with --current: one window, checked and scored as the service would; its
    target column, when present, gives the outcomes."""
    from charter.data import read_file

    served, refused, features, truth = dataset_rows(context.deployed, read_file(path).to_arrow())
    scores = served.column("score").to_numpy().astype(np.float64)
    act = pc.equal(served.column("decision"), "act").to_numpy(zero_copy_only=False)
    return dataset_window(
        context,
        path.name,
        refused=refused.num_rows,
        quality=_quality(served, refused),
        drift=context._drift(features, scores, served),
        scores=scores,
        act=act,
        truth=truth,
    )


def dataset_window(
    context: MonitorContext,
    label: str,
    *,
    refused: int,
    quality: dict[str, Any],
    drift: DriftResult | None,
    scores: np.ndarray,
    act: np.ndarray,
    truth: np.ndarray | None,
) -> WindowReport:
    """The one window of a dataset from what was measured on it: `scores` and `act` of the
    served rows, `truth` their outcomes (NaN: none; None: no target column)."""
    promised = context.promised_of(context.deployed.number).get("value")
    labelled = ~np.isnan(truth) if truth is not None else np.zeros(scores.size, dtype=bool)
    return WindowReport(
        label=label,
        start=None,
        end=None,
        predictions=int(scores.size),
        refused=refused,
        versions={context.deployed.number: int(scores.size)},
        quality=quality,
        drift=drift,
        performance=context._performance(
            truth[labelled] if truth is not None else np.empty(0),
            scores[labelled],
            act[labelled],
            promised,
        ),
        estimate=context._estimate(scores, act, promised),
        adoption=None,
    )


def _quality(served: pa.Table, refused: pa.Table) -> dict[str, Any]:
    """Refused records (and the fields at fault), humility flags and fallbacks, as shares."""
    return QualityCounts.of(served, refused).shares()


@dataclass(frozen=True)
class QualityCounts:
    """What the quality shares are made of, counted on a window or a part of one; `merge` adds
    the parts' counts exactly (values keep the order they were first seen in, as on the whole)."""

    served: int = 0
    refused: int = 0
    refused_fields: dict[str, int] = field(default_factory=dict)
    flagged: int = 0  # served rows with at least one flag
    flags: dict[str, int] = field(default_factory=dict)
    fallback: int = 0

    @classmethod
    def of(cls, served: pa.Table, refused: pa.Table) -> QualityCounts:
        """Count served rows (columns flags, fallback) and refused ones (column problems)."""
        fields: Counter[str] = Counter()
        if refused.num_rows and "problems" in refused.column_names:
            fields.update(pc.list_flatten(refused.column("problems")).to_pylist())
        flags: Counter[str] = Counter()
        flagged = fallback = 0
        if served.num_rows:
            column = served.column("flags")
            flags.update(pc.list_flatten(column).to_pylist())
            lengths = pc.fill_null(pc.list_value_length(column), 0)
            flagged = int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)
            fallback = int(pc.sum(pc.fill_null(served.column("fallback"), False)).as_py() or 0)
        return cls(served.num_rows, refused.num_rows, dict(fields), flagged, dict(flags), fallback)

    def merge(self, other: QualityCounts) -> QualityCounts:
        """The counts of both parts together."""
        fields, flags = Counter(self.refused_fields), Counter(self.flags)
        fields.update(other.refused_fields)
        flags.update(other.flags)
        return QualityCounts(
            served=self.served + other.served,
            refused=self.refused + other.refused,
            refused_fields=dict(fields),
            flagged=self.flagged + other.flagged,
            flags=dict(flags),
            fallback=self.fallback + other.fallback,
        )

    def shares(self) -> dict[str, Any]:
        """The window's `quality` in the report (see `MonitorReport`)."""
        total, n = self.served + self.refused, self.served
        flags = Counter(self.flags)
        return {
            "refused_share": self.refused / total if total else None,
            "refused_fields": dict(Counter(self.refused_fields).most_common()),
            "flag_share": self.flagged / n if n else None,
            "flags": {flag: count / n for flag, count in flags.most_common()} if n else {},
            "fallback_share": self.fallback / n if n else None,
        }


def _importance(deployed: Deployed, result: Mapping[str, Any]) -> dict[str, float] | None:
    """Each feature's share of the model's importance: the trees' gain for boosted models, else
    the mean absolute contributions measured at training (None: every feature weighs the same)."""
    model = deployed.scorer.model
    if isinstance(model, BoostedCandidate) and model.booster_ is not None:
        gains = model.booster_.feature_importance(importance_type="gain")
        total = float(np.sum(gains))
        if total > 0:
            return {name: float(g) / total for name, g in zip(model.features_, gains, strict=True)}
    if result.get("selected") == deployed.version.candidate:
        shares = (result.get("diagnostics", {}).get("importance") or {}).get("contributions")
        if shares:
            total = sum(max(float(v), 0.0) for v in shares.values())
            if total > 0:
                return {k: max(float(v), 0.0) / total for k, v in shares.items()}
    return None


def judge(context: MonitorContext, windows: list[WindowReport]) -> list[Alert]:
    """The charter's alert rules on the newest window."""
    if not windows:
        return []
    latest = windows[-1]
    settings = context.settings
    alerts: list[Alert] = []
    quality = latest.quality
    refused_share = quality.get("refused_share") or 0.0
    if refused_share > settings.max_violation_share:
        fields = ", ".join(list(quality.get("refused_fields", {}))[:3])
        alerts.append(
            Alert(
                "quality",
                "warning",
                latest.label,
                f"{refused_share:.1%} of records broke the data contract "
                f"(limit {settings.max_violation_share:.0%}); most often: {fields}.",
                {"refused_share": refused_share, "refused_fields": quality.get("refused_fields")},
            )
        )
    flag_share = quality.get("flag_share") or 0.0
    if flag_share > settings.max_flag_share:
        alerts.append(
            Alert(
                "quality",
                "warning",
                latest.label,
                f"{flag_share:.1%} of predictions were flagged as outside what the model has seen "
                f"(limit {settings.max_flag_share:.0%}).",
                {"flag_share": flag_share, "flags": quality.get("flags")},
            )
        )
    found = latest.drift
    if found is not None and found.drifted:
        moved = [f for f in found.features if f.drifted]
        named = "; ".join(f"{f.name}: {f.change}" for f in moved[:3])
        alerts.append(
            Alert(
                "drift",
                "warning",
                latest.label,
                f"The data drifted from training: {found.reason.rstrip('.')}. {named}.",
                {
                    "drifted": [f.name for f in moved],
                    "drifted_importance": found.drifted_importance,
                },
            )
        )
    alerts.extend(_decay_alerts(windows))
    adoption = latest.adoption
    if adoption is not None:
        share = adoption.followed.value
        if (
            settings.min_adoption is not None
            and adoption.answered >= 30
            and not math.isnan(share)
            and share < settings.min_adoption
        ):
            alerts.append(
                Alert(
                    "adoption",
                    "warning",
                    latest.label,
                    f"Only {share:.0%} of decisions were followed (the charter expects at least "
                    f"{settings.min_adoption:.0%}): the model cannot pay off if it is not used.",
                    {"followed": adoption.followed.to_dict(), "answered": adoption.answered},
                )
            )
        if adoption.met is False and adoption.labelled >= settings.min_labels:
            alerts.append(
                Alert(
                    "value",
                    "warning",
                    latest.label,
                    f"Realised value beats today's rule by {adoption.gain_share:+.0%}, short of the "
                    f"charter's target of {adoption.target:+.0%}.",
                    adoption.to_dict(),
                )
            )
    return alerts


def _decay_alerts(windows: list[WindowReport]) -> list[Alert]:
    """Decay from the newest window with enough outcomes, else the estimate on the newest one."""
    judged = [w for w in windows if w.performance is not None and w.performance.judged]
    latest = windows[-1]
    if judged and judged[-1].performance is not None and judged[-1].performance.decayed:
        window = judged[-1]
        performance = window.performance
        assert performance is not None
        return [
            Alert(
                "decay",
                "critical",
                window.label,
                f"Live {performance.metric} is {performance.value.value:.4g} per row "
                f"(95% interval {performance.value.low:.4g} to {performance.value.high:.4g}) "
                f"against {performance.promised:.4g} promised at validation.",
                performance.to_dict(),
            )
        ]
    estimate = latest.estimate
    if (not judged or judged[-1] is not latest) and estimate is not None and estimate.decayed:
        assert estimate.value is not None
        return [
            Alert(
                "estimated_decay",
                "warning",
                latest.label,
                f"Before outcomes arrive, the scores imply {estimate.value.value:.4g} per row "
                f"(95% interval {estimate.value.low:.4g} to {estimate.value.high:.4g}) against "
                f"{estimate.promised:.4g} promised: an estimate, to confirm with outcomes.",
                estimate.to_dict(),
            )
        ]
    return []
