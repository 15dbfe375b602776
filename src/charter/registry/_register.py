"""Turning a training run into versions ready to register, with their lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from charter.modeling._splits import load_holdout
from charter.modeling._train import Trained
from charter.registry._files import sha256
from charter.registry._lineage import data_fingerprint, environment, git_state, holdout_identity
from charter.registry._registry import NewVersion
from charter.registry._versions import version_files, version_record
from charter.spec import Charter

__all__ = ["new_versions"]


def new_versions(
    trained: Trained,
    charter: Charter,
    *,
    charter_text: str,
    contract_text: str | None,
    cards: dict[str, str],
    project_folder: Path,
    holdout_path: Path,
    settings: dict[str, Any],
) -> list[NewVersion]:
    """One NewVersion per trained candidate, simplest first, sharing the run's lineage.

    `cards` holds each candidate's model card by name. `settings` are the training inputs `charter reproduce` needs (seed, folds, budget_seconds).
    """
    result = trained.result
    test_ids = np.asarray(trained.frame.row_id)[trained.test]
    lineage = {
        "charter_sha256": sha256(charter_text.encode("utf-8")),
        "contract_sha256": None if contract_text is None else sha256(contract_text.encode("utf-8")),
        "data": data_fingerprint(trained.frame),
        "holdout": holdout_identity(load_holdout(holdout_path), test_ids),
        "git": git_state(project_folder),
        **environment(),
        **settings,
        "run_started": result.started.isoformat(),
    }
    run = f"{result.started:%Y%m%dT%H%M%S}"
    return [
        NewVersion(
            candidate=candidate.name,
            kind=candidate.kind,
            run=run,
            selected=candidate.selected,
            files=version_files(
                trained,
                candidate.name,
                charter_text=charter_text,
                contract_text=contract_text,
                card_html=cards.get(candidate.name),
            ),
            record=version_record(result, candidate, charter, lineage),
        )
        for candidate in result.candidates
    ]
