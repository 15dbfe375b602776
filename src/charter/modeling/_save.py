"""Saving a training run: every candidate in a safe format, the result, and how to score new data."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from charter.modeling._artifacts import save_candidate
from charter.modeling._result import TrainResult
from charter.modeling._train import Trained

__all__ = ["save_run"]


def save_run(
    trained: Trained, runs: Path, *, documents: Mapping[str, str] | None = None
) -> TrainResult:
    """Write the run to `runs/<time>/` (all or nothing) and return the result naming it.

    `documents` are further text files to keep with the run, by file name (the model card).
    """
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
            # Applied to the selected model's scores when it improved out-of-fold log loss.
            "calibration": {
                k: v
                for k, v in result.diagnostics.get("calibration", {}).items()
                if k in {"method", "params"}
            },
            "models": manifests,
        }
        (staging / "scoring.json").write_text(json.dumps(scoring, indent=2), encoding="utf-8")
        final = replace(result, run=str(runs / name))
        (staging / "result.json").write_text(
            json.dumps(final.to_dict(), indent=2, default=str), encoding="utf-8"
        )
        for file_name, text in (documents or {}).items():
            (staging / file_name).write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a run is as readable as its project
        target = runs / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
