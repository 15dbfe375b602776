"""The Python API: a `Project` is a charter file and the folder it lives in."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from charter.audit import AuditResult, profile_dataset
from charter.audit._context import guess_task
from charter.audit._run import run_audit
from charter.data import DATASET, Dataset, open_dataset, quote_identifier, read_file
from charter.errors import CharterError
from charter.modeling._candidates import Candidate
from charter.modeling._evidence import with_evidence
from charter.modeling._result import TrainResult
from charter.modeling._save import save_run
from charter.modeling._train import train
from charter.reports import render_model_card
from charter.spec import Charter, Question, load_charter, unanswered
from charter.spec._contract import DataContract, infer_contract, load_contract, write_contract
from charter.spec._draft import ColumnSummary, Draft, propose_targets

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
    ) -> AuditResult:
        """Run the readiness audit; the first time, also write `contract.yaml` beside the charter."""
        dataset = self.dataset()
        result = run_audit(self.charter, dataset, now=now, on_step=on_step)
        if write_contract_file and not self.contract_path.exists():
            write_contract(
                infer_contract(self.charter, dataset, result.profile), self.contract_path
            )
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
    ) -> TrainResult:
        """Train and validate the candidates; save them with the result under `.charter/runs/`.

        `extra` takes your own candidates, e.g. `CustomCandidate(RandomForestClassifier(), name="forest")`:
        they face the same holdout, folds and business metric as charter's own.
        """
        trained = train(
            self.charter,
            self.dataset(),
            workspace=self.workspace,
            seed=seed,
            folds=folds,
            budget_seconds=budget_seconds,
            only=only,
            extra=extra,
            now=now,
            on_step=on_step,
        )
        trained = with_evidence(trained, self.charter, seed=seed)
        card = render_model_card(trained.result, self.charter)
        return save_run(trained, self.workspace / "runs", documents={"model_card.html": card})

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


def _exact_unique(dataset: Dataset, column: str) -> bool:
    q = quote_identifier(column)
    row = dataset.sql(f"SELECT count(DISTINCT {q}) = count(*) FROM {DATASET}")
    return bool(row[0][0])


def _project_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_.-")
    return name or "project"
