"""Saving a training run: every candidate in a safe format, the result, and how to score new data."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from charter.modeling._artifacts import save_candidate
from charter.modeling._result import TrainResult
from charter.modeling._train import Trained

__all__ = ["save_run"]


def save_run(trained: Trained, runs: Path) -> TrainResult:
    """Write the run to `runs/<time>/` (all or nothing) and return the result naming it."""
    result = trained.result
    name = f"{result.started:%Y%m%dT%H%M%S}"
    runs.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=runs))
    try:
        manifests = {
            model_name: save_candidate(model, staging / "models" / model_name)
            for model_name, model in trained.models.items()
        }
        scoring = {
            "task": result.task,
            "target": result.target,
            "positive_class": result.positive_class,
            "classes": list(trained.frame.classes),
            "feature_types": trained.frame.feature_types,
            "selected": result.selected,
            "thresholds": {c.name: c.threshold for c in result.candidates},
            "models": manifests,
        }
        (staging / "scoring.json").write_text(json.dumps(scoring, indent=2), encoding="utf-8")
        final = replace(result, run=str(runs / name))
        (staging / "result.json").write_text(
            json.dumps(final.to_dict(), indent=2, default=str), encoding="utf-8"
        )
        target = runs / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
