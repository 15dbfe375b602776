"""The Python API: a `Project` is a charter file and the folder it lives in."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.data import DATASET, Dataset, open_dataset, quote_identifier, read_file
from charter.errors import CharterError, UsageError
from charter.modeling._candidates import Candidate
from charter.modeling._evidence import with_evidence
from charter.modeling._result import TrainResult
from charter.modeling._save import save_run
from charter.modeling._train import Trained, train
from charter.registry import (
    PRODUCTION,
    Entry,
    Gate,
    ModelVersion,
    Promotion,
    Registry,
    Rollback,
    Stint,
    TrailCheck,
    Workspace,
    new_versions,
    promote,
    rollback,
)
from charter.registry._files import sha256
from charter.registry._lineage import actor
from charter.registry._retest import Reproduction, reproduce, reproduction_gate, retest
from charter.serving._feedback import FeedbackResult, record_feedback
from charter.spec import Charter, Question, load_charter, unanswered
from charter.spec._contract import DataContract, infer_contract, load_contract, write_contract
from charter.spec._draft import ColumnSummary, Draft, propose_targets

if TYPE_CHECKING:
    from charter.audit import AuditResult
    from charter.monitoring._monitor import MonitorReport
    from charter.monitoring._retrain import RetrainOutcome
    from charter.scale import ClusterSpec
    from charter.serving._batch import BatchResult

__all__ = ["Project", "draft_from_data"]

_SENSITIVE_HINTS = re.compile(
    r"(^|_)(gender|sex|race|ethnicity|age_band|age_group|religion|nationality|marital|disability)($|_)",
    re.I,
)
_ENTITY_HINTS = re.compile(r"(^id$|_id$|^id_|identifier|uuid|key$)", re.I)


class Project:
    """A charter project: the charter file, its data, its contract and its workspace folder.

    Example:
        >>> project = Project("charter.yaml")  # doctest: +SKIP
        >>> result = project.audit()
        >>> result.verdict
        <Verdict.READY_WITH_WARNINGS: 'READY WITH WARNINGS'>
    """

    def __init__(self, path: str | os.PathLike[str] = "charter.yaml") -> None:
        self.path = Path(path)
        self.charter: Charter = load_charter(self.path)
        self.folder = self.path.resolve().parent
        self._registry: Registry | None = None

    @property
    def workspace(self) -> Path:
        """The embedded workspace, `.charter/` beside the charter."""
        return self.folder / ".charter"

    @property
    def contract_path(self) -> Path:
        return self.folder / "contract.yaml"

    def dataset(self) -> Dataset:
        """Open the charter's sources (scanned in place where possible)."""
        return open_dataset(self.charter, base_dir=self.folder)

    def questions(self) -> tuple[list[Question], str | None]:
        """Open phase-1 questions, and why the data could not be checked (None when it was)."""
        try:
            columns: list[str] | None = list(self.dataset().columns)
            problem = None
        except CharterError as exc:
            columns, problem = None, str(exc)
        return unanswered(self.charter, columns), problem

    def audit(
        self,
        *,
        write_contract_file: bool = True,
        now: datetime | None = None,
        on_step: Callable[[str], None] | None = None,
        cluster: ClusterSpec | None = None,
    ) -> AuditResult:
        """Run the readiness audit; the first time, also write `contract.yaml` beside the charter.

        With `cluster`, the statistics are computed on a Dask cluster (see `charter.scale`)."""
        if cluster is not None:
            return self._audit_on_cluster(
                cluster, write_contract_file=write_contract_file, now=now, on_step=on_step
            )
        dataset = self.dataset()
        from charter.audit._run import run_audit  # scipy.stats: imported only when auditing

        result = run_audit(self.charter, dataset, now=now, on_step=on_step)
        if write_contract_file and not self.contract_path.exists():
            write_contract(
                infer_contract(self.charter, dataset, result.profile), self.contract_path
            )
        return result

    def _audit_on_cluster(
        self,
        cluster: ClusterSpec,
        *,
        write_contract_file: bool,
        now: datetime | None,
        on_step: Callable[[str], None] | None,
    ) -> AuditResult:
        from charter.scale import connect, read_charter_data
        from charter.scale._audit import audit_on_cluster
        from charter.scale._contract import contract_on_cluster

        with connect(cluster):
            data = read_charter_data(self.charter, base_dir=self.path.parent)
            result = audit_on_cluster(self.charter, data, now=now, on_step=on_step)
            if write_contract_file and not self.contract_path.exists():
                contract = contract_on_cluster(self.charter, data, result.profile)
                write_contract(contract, self.contract_path)
        return result

    def train(
        self,
        *,
        seed: int = 0,
        folds: int = 5,
        budget_seconds: float = 60.0,
        only: Sequence[str] | None = None,
        extra: Sequence[Candidate] = (),
        now: datetime | None = None,
        on_step: Callable[[str], None] | None = None,
        cluster: ClusterSpec | None = None,
    ) -> TrainResult:
        """Train and validate the candidates; save them with the result under `.charter/runs/`.

        `extra` takes your own candidates, e.g. `CustomCandidate(RandomForestClassifier(), name="forest")`:
        they face the same holdout, folds and business metric as charter's own. With `cluster`,
        the data stays on a Dask cluster and the boosted candidate trains there (`charter.scale`).
        """
        if cluster is not None:
            from charter.scale import connect, read_charter_data
            from charter.scale._train import train_on_cluster

            with connect(cluster):
                trained = train_on_cluster(
                    self.charter,
                    read_charter_data(self.charter, base_dir=self.path.parent),
                    workspace=self.workspace,
                    seed=seed,
                    folds=folds,
                    budget_seconds=budget_seconds,
                    only=only,
                    extra=extra,
                    now=now,
                    on_step=on_step,
                )
            settings = {
                "seed": seed,
                "folds": folds,
                "budget_seconds": budget_seconds,
                "cluster": cluster.describe(),
            }
            return self._register(trained, self.workspace, settings=settings, on_step=on_step)[1]
        return self._train_and_register(
            self.dataset(),
            self.workspace,
            seed=seed,
            folds=folds,
            budget_seconds=budget_seconds,
            only=only,
            extra=extra,
            now=now,
            on_step=on_step,
        )[1]

    def _train_and_register(
        self,
        dataset: Dataset,
        folder: Path,
        *,
        seed: int,
        folds: int,
        budget_seconds: float,
        only: Sequence[str] | None = None,
        extra: Sequence[Candidate] = (),
        now: datetime | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> tuple[Trained, TrainResult]:
        """Train on `dataset` with its holdout and runs kept under `folder`, then register."""
        trained = train(
            self.charter,
            dataset,
            workspace=folder,
            seed=seed,
            folds=folds,
            budget_seconds=budget_seconds,
            only=only,
            extra=extra,
            now=now,
            on_step=on_step,
        )
        settings = {"seed": seed, "folds": folds, "budget_seconds": budget_seconds}
        return self._register(trained, folder, settings=settings, on_step=on_step)

    def _register(
        self,
        trained: Trained,
        folder: Path,
        *,
        settings: dict[str, Any],
        on_step: Callable[[str], None] | None,
    ) -> tuple[Trained, TrainResult]:
        """Add the evidence, save the run under `folder`, and register its candidates."""
        from charter.reports import render_model_card, render_version_cards  # matplotlib: 0.4 s

        trained = with_evidence(trained, self.charter, seed=int(settings["seed"]))
        card = render_model_card(trained.result, self.charter)
        saved = save_run(trained, folder / "runs", documents={"model_card.html": card})
        if on_step:
            on_step("registering the versions")
        registered = self.registry().register(
            self.charter.project,
            new_versions(
                trained,
                self.charter,
                charter_text=self.path.read_text(encoding="utf-8"),
                contract_text=self._contract_text(),
                cards=render_version_cards(trained.result, self.charter),
                project_folder=self.folder,
                holdout_path=folder / "holdout.parquet",
                settings=settings,
            ),
            actor=actor(),
            documents=self._documents(),
        )
        return trained, replace(saved, versions={v.candidate: v.number for v in registered})

    # --- phase 4: the registry -------------------------------------------------------------------

    @property
    def stores(self) -> Workspace:
        """Where versions and the audit trail live (CHARTER_STORE / CHARTER_ARTIFACTS or `.charter/`)."""
        return Workspace.for_project(self.folder, self.charter)

    def registry(self) -> Registry:
        """The project's registry, opened (and created or upgraded) on first use."""
        if self._registry is None:
            self._registry = self.stores.registry()
        return self._registry

    def models(self) -> list[ModelVersion]:
        """Every registered version of this project, oldest first."""
        return self.registry().versions(self.charter.project)

    def version(self, ref: str | int) -> ModelVersion:
        """A version by number (3, "v3") or alias ("production")."""
        return self.registry().version(self.charter.project, ref)

    def promote(
        self,
        ref: str | int | None = None,
        *,
        alias: str = PRODUCTION,
        verify: bool = False,
        approved_by: str | None = None,
        force: bool = False,
        reason: str | None = None,
        on_step: Callable[[str], None] | None = None,
        by: str | None = None,
    ) -> Promotion:
        """Move `alias` to a version (default: the latest run's choice); production passes the gates first.

        `by` names who acts on the audit trail (default: CHARTER_USER or the login name)."""
        who = by or actor()
        registry = self.registry()
        version = (
            registry.latest_selected(self.charter.project) if ref is None else self.version(ref)
        )
        registry.note_documents(self.charter.project, actor=who, documents=self._documents())

        def check_reproducible(candidate: ModelVersion) -> Gate:
            try:
                return reproduction_gate(self.reproduce(candidate, on_step=on_step))
            except CharterError as exc:
                return Gate("reproducible", "fail", f"it could not be retrained: {exc}")

        def compare(new: ModelVersion, production: ModelVersion) -> tuple[float, float, int]:
            values = retest(
                registry,
                self.charter,
                [new, production],
                project_folder=self.folder,
                workspace_folder=self.workspace,
            )
            return values[new.number][0], values[production.number][0], values[new.number][1]

        return promote(
            registry,
            self.charter,
            version,
            actor=who,
            alias=alias,
            approved_by=approved_by,
            force=force,
            reason=reason,
            contract_text=self._contract_text(),
            compare=compare,
            reproduce=check_reproducible if verify else None,
        )

    def approve(
        self, ref: str | int, *, by: str, reason: str | None = None, recorded_by: str | None = None
    ) -> ModelVersion:
        """Record `by`'s approval of a version for production (checked against promotion.approvers);
        `recorded_by` names who entered it on the trail (default: CHARTER_USER or the login name)."""
        version = self.version(ref)
        allowed = self.charter.promotion.approvers
        if not by.strip():
            raise UsageError("--by must name the person approving.")
        if allowed and by not in allowed:
            raise UsageError(
                f"{by} is not among the charter's approvers ({', '.join(allowed)}); see promotion.approvers."
            )
        self.registry().record(
            self.charter.project,
            "approved",
            actor=recorded_by or actor(),
            version=version.number,
            reason=reason,
            details={"approved_by": by},
        )
        return version

    def set_threshold(self, ref: str | int, value: float, *, reason: str) -> ModelVersion:
        """Change the threshold a version decides at (versions stay immutable; the trail keeps it)."""
        version = self.version(ref)
        self.registry().set_threshold(version, value, actor=actor(), reason=reason)
        return version

    def score(
        self,
        source: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        query: str | None = None,
        quarantine: str | os.PathLike[str] | None = None,
        version: str | int | None = None,
        explain: bool = False,
        log: bool = True,
        on_start: Callable[[int | None], None] | None = None,
        on_rows: Callable[[int], None] | None = None,
        cluster: ClusterSpec | None = None,
        on_partition: Callable[[int, int], None] | None = None,
    ) -> BatchResult:
        """Score a file (or, with `query`, a database URL's query) with the production version
        (or `version`); scores to `output`, rows breaking the contract to `quarantine`.

        With `cluster`, `source` may be a file, folder, glob or fsspec URL: the workers score
        its partitions and `output` becomes a folder of Parquet parts (`charter.scale`);
        `on_partition(done, total)` follows them."""
        if cluster is not None:
            return self._score_on_cluster(
                cluster,
                source,
                output,
                query=query,
                quarantine=quarantine,
                version=version,
                explain=explain,
                log=log,
                on_partition=on_partition,
            )
        from charter.serving._batch import batches_of_file, batches_of_query, score_batch
        from charter.serving._log import PredictionLog
        from charter.serving._service import deploy

        registry = self.registry()
        ref = PRODUCTION if version is None else version
        if version is None and PRODUCTION not in registry.aliases(self.charter.project):
            raise UsageError(
                f"{self.charter.project} has no version in production; promote one, or pass --version."
            )
        deployed = deploy(self, self.version(ref))
        if query is not None:
            total, batches = batches_of_query(str(source), query)
        else:
            total, batches = batches_of_file(Path(source))
        if on_start is not None:
            on_start(total)
        predictions = (
            PredictionLog(
                self.workspace / "predictions", flush_seconds=self.charter.serving.flush_seconds
            )
            if log
            else None
        )
        try:
            return score_batch(
                deployed,
                batches,
                Path(output),
                log=predictions,
                project=self.charter.project,
                quarantine=None if quarantine is None else Path(quarantine),
                explain=explain,
                fallback=self.charter.serving.fallback == "baseline",
                on_rows=on_rows,
            )
        finally:
            if predictions is not None:
                predictions.close()

    def _score_on_cluster(
        self,
        cluster: ClusterSpec,
        source: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        query: str | None,
        quarantine: str | os.PathLike[str] | None,
        version: str | int | None,
        explain: bool,
        log: bool,
        on_partition: Callable[[int, int], None] | None,
    ) -> BatchResult:
        from charter.scale import connect, read_location
        from charter.scale._score import score_on_cluster

        if query is not None:
            raise UsageError(
                "--query is read on this machine; on a cluster, score files, a folder, a glob or "
                "an fsspec URL (export the query's rows to Parquet first), or drop --cluster."
            )
        with connect(cluster):
            data = read_location(str(source), base_dir=Path.cwd())
            return score_on_cluster(
                self,
                data,
                Path(output),
                quarantine=None if quarantine is None else Path(quarantine),
                version=version,
                explain=explain,
                log=log,
                on_partition=on_partition,
            )

    def detach_shadow(self, *, reason: str | None = None) -> None:
        """Stop scoring production's traffic with the shadow version."""
        self.registry().remove_alias(self.charter.project, "shadow", actor=actor(), reason=reason)

    def record_feedback_file(self, path: str | os.PathLike[str]) -> FeedbackResult:
        """Record the outcomes in a file (columns: prediction_id or entity and time, outcome, action_taken)."""
        table = read_file(Path(path)).to_arrow()
        items = [
            {k: _plain(v) for k, v in row.items() if v is not None} for row in table.to_pylist()
        ]
        registry = self.registry()
        production = registry.aliases(self.charter.project).get(PRODUCTION)
        scoring = (
            registry.load(registry.version(self.charter.project, production)).scoring
            if production is not None
            else {}
        )
        task = scoring.get("task", self.charter.task)
        return record_feedback(
            registry.store,
            self.charter.project,
            items,
            source="file",
            classes=scoring.get("classes") if task == "classification" else None,
            numeric=task == "regression",
        )

    def rollback(
        self, *, reason: str, to: str | int | None = None, by: str | None = None
    ) -> Rollback:
        """Make the previous production version (or `to`) production again; `by` names who acts
        on the audit trail (default: CHARTER_USER or the login name)."""
        target = None if to is None else self.version(to)
        return rollback(
            self.registry(), self.charter.project, actor=by or actor(), reason=reason, to=target
        )

    def reproduce(
        self, ref: str | int | ModelVersion, *, on_step: Callable[[str], None] | None = None
    ) -> Reproduction:
        """Retrain a version from its recorded inputs and compare its figures with the record."""
        version = ref if isinstance(ref, ModelVersion) else self.version(ref)
        return reproduce(
            self.registry(),
            version,
            charter_path=self.path,
            workspace_folder=self.workspace,
            on_step=on_step,
        )

    # --- phase 5: operate ------------------------------------------------------------------------

    def monitor(
        self,
        *,
        window: str | None = None,
        windows: int = 14,
        current: str | os.PathLike[str] | None = None,
        send: bool = True,
        cluster: ClusterSpec | None = None,
    ) -> MonitorReport:
        """Measure production per window of the prediction log (or of the dataset `current`)
        and send the alerts; `window` is a duration ("1d") or a number of predictions ("5000").

        With `cluster`, the dataset `current` (a file, folder, glob or fsspec URL) is measured
        on a Dask cluster, its statistics merged from the partitions (`charter.scale`)."""
        if cluster is not None:
            if current is None:
                raise UsageError("monitoring on a cluster measures a dataset: name it (current=)")
            from charter.scale import connect, read_location
            from charter.scale._monitor import monitor_on_cluster

            with connect(cluster):
                data = read_location(str(current), base_dir=Path.cwd())
                return monitor_on_cluster(self, data, source=str(current), send=send)
        from charter.monitoring._monitor import monitor
        from charter.monitoring._windows import parse_window

        return monitor(
            self,
            size=parse_window(window) if window is not None else None,
            count=windows,
            current=Path(current) if current is not None else None,
            send=send,
        )

    def retrain(
        self,
        *,
        reason: str = "by hand",
        report: MonitorReport | None = None,
        budget_seconds: float = 60.0,
        on_step: Callable[[str], None] | None = None,
    ) -> RetrainOutcome:
        """Train a challenger on the labelled predictions and compare it with production. With
        `report`, only when one of the charter's triggers fires in it; without, by hand."""
        from charter.monitoring._retrain import retrain, triggers

        fired = triggers(self, report, now=report.generated) if report is not None else [reason]
        return retrain(self, fired=fired, budget_seconds=budget_seconds, on_step=on_step)

    def history(self, alias: str = PRODUCTION) -> list[Stint]:
        """Which version held `alias` (default production) when."""
        return self.registry().history(self.charter.project, alias)

    def trail(self) -> list[Entry]:
        """The project's audit trail, oldest first."""
        return self.registry().trail(self.charter.project)

    def verify_trail(self) -> TrailCheck:
        """Check every entry of the audit trail for edits, removals and reordering."""
        return self.registry().verify(self.charter.project)

    def _contract_text(self) -> str | None:
        return (
            self.contract_path.read_text(encoding="utf-8") if self.contract_path.exists() else None
        )

    def _documents(self) -> dict[str, str | None]:
        contract = self._contract_text()
        return {
            "charter_sha256": sha256(self.path.read_bytes()),
            "contract_sha256": None if contract is None else sha256(contract.encode("utf-8")),
        }

    def contract(self) -> DataContract:
        """The project's data contract (written by the first audit)."""
        if not self.contract_path.exists():
            raise CharterError(
                f"{self.contract_path}: no data contract yet. Run `charter audit` first: it writes one from the data."
            )
        return load_contract(self.contract_path)


def draft_from_data(
    path: Path, *, project: str | None = None, target: str | None = None, task: str | None = None
) -> Draft:
    """Read a data file and fill a charter draft with what the data suggests."""
    dataset = read_file(path)
    from charter.audit import profile_dataset
    from charter.audit._context import guess_task

    profile = profile_dataset(dataset)
    columns = [
        ColumnSummary(
            name=c.name,
            dtype=c.dtype,
            kind=c.kind,
            distinct=c.distinct,
            missing_share=c.missing_share,
            unique=c.rows > 0
            and c.missing == 0
            and c.distinct >= 0.98 * c.rows
            and _exact_unique(dataset, c.name),
        )
        for c in profile.columns.values()
    ]
    candidates = propose_targets(columns)
    chosen = target or (candidates[0] if candidates else None)
    if chosen is not None and chosen not in profile.columns:
        raise CharterError(
            f"--target {chosen!r} is not a column of {path}; columns are: {', '.join(profile.columns)}"
        )
    guessed_task = task or (guess_task(profile, chosen) if chosen else None)
    entity = next(
        (c.name for c in columns if c.unique and _ENTITY_HINTS.search(c.name) and c.name != chosen),
        None,
    )
    temporal = [c.name for c in columns if c.kind == "temporal" and c.name != chosen]
    positive = None
    if chosen and guessed_task == "classification":
        values = profile.columns[chosen].top_values
        if len(values) == 2:
            positive = str(min(values, key=lambda v: v[1])[0])
    return Draft(
        project=project or _project_name(path),
        data_path=str(path),
        target=chosen,
        task=guessed_task,
        positive_class=positive,
        entity=entity,
        time=temporal[0] if len(temporal) == 1 else None,
        sensitive=[c.name for c in columns if _SENSITIVE_HINTS.search(c.name)],
        columns=columns,
        rows=profile.rows,
        target_candidates=candidates,
    )


def _plain(value: object) -> object:
    """A value as JSON would carry it: times as ISO 8601 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _exact_unique(dataset: Dataset, column: str) -> bool:
    q = quote_identifier(column)
    row = dataset.sql(f"SELECT count(DISTINCT {q}) = count(*) FROM {DATASET}")
    return bool(row[0][0])


def _project_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_.-")
    return name or "project"
