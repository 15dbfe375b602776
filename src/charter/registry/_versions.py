"""A model version: one trained candidate, immutable, with its metrics, lineage and files."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from charter.modeling._artifacts import json_bytes, serialise_candidate
from charter.modeling._diagnostics import calibration_map
from charter.modeling._frame import ModelingFrame
from charter.modeling._result import CandidateResult, TrainResult
from charter.modeling._train import Trained
from charter.monitoring import reference_statistics
from charter.spec import Charter

__all__ = [
    "CARD",
    "CHARTER",
    "CONTRACT",
    "EXAMPLES",
    "MANIFEST",
    "REFERENCE",
    "SCORING",
    "ModelVersion",
    "version_files",
    "version_record",
]

MANIFEST = "manifest.json"
SCORING = "scoring.json"
CHARTER = "charter.yaml"
CONTRACT = "contract.yaml"
CARD = "model_card.html"
RESULT = "result.json"
EXAMPLES = "examples.parquet"
REFERENCE = "reference.json"
BASELINE_COLUMN = "__charter_baseline"
_EXAMPLE_ROWS = 200


@dataclass(frozen=True)
class ModelVersion:
    """One registered version. `record` holds its metrics, lineage and artifact digests."""

    project: str
    number: int
    candidate: str
    kind: str
    run: str
    selected: bool
    created: str
    created_by: str
    location: str
    record: dict[str, Any]
    aliases: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return f"v{self.number}"

    @property
    def artifacts(self) -> dict[str, str]:
        """File name -> SHA-256 of every file stored with the version."""
        return dict(self.record.get("artifacts", {}))

    @property
    def lineage(self) -> dict[str, Any]:
        return dict(self.record.get("lineage", {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.number,
            "candidate": self.candidate,
            "kind": self.kind,
            "run": self.run,
            "selected": self.selected,
            "created": self.created,
            "created_by": self.created_by,
            "aliases": list(self.aliases),
            "location": self.location,
            **self.record,
        }


def version_files(
    trained: Trained,
    name: str,
    *,
    charter_text: str,
    contract_text: str | None,
    card_html: str | None,
) -> dict[str, bytes]:
    """Every file a version keeps: the model in safe formats and what scoring and gates need."""
    result = trained.result
    candidate = result.candidate(name)
    model_files, manifest = serialise_candidate(trained.models[name])
    calibration = result.diagnostics.get("calibration", {}) if candidate.selected else {}
    kept = {k: v for k, v in calibration.items() if k in {"method", "params"}}
    scoring = {
        "task": result.task,
        "target": result.target,
        "positive_class": result.positive_class,
        "classes": list(trained.frame.classes),
        "features": list(result.features),
        "feature_types": trained.frame.feature_types,
        "threshold": candidate.threshold,
        # Applied to the scores users see when it improved out-of-fold log loss; never to decisions.
        "calibration": kept,
    }
    files = {
        **model_files,
        MANIFEST: json_bytes(manifest),
        SCORING: json_bytes(scoring),
        CHARTER: charter_text.encode("utf-8"),
        RESULT: json.dumps(result.to_dict(), indent=2, default=str).encode("utf-8"),
        EXAMPLES: _examples(trained.frame.subset(trained.test)),
        REFERENCE: json_bytes(_reference(trained, name, kept)),
    }
    if contract_text is not None:
        files[CONTRACT] = contract_text.encode("utf-8")
    if card_html is not None:
        files[CARD] = card_html.encode("utf-8")
    return files


def version_record(
    result: TrainResult, candidate: CandidateResult, charter: Charter, lineage: dict[str, Any]
) -> dict[str, Any]:
    """What a version states about itself: its validated value, its gates' evidence, its lineage."""
    return {
        "schema_version": 1,
        "task": result.task,
        "target": result.target,
        "metric": result.metric,
        "positive_class": result.positive_class,
        "threshold": candidate.threshold,
        "params": candidate.params,
        **_figures(candidate, result.target_gain),
        "baseline": result.baseline,
        "fairness": candidate.fairness,
        "headline": result.headline if candidate.selected else None,
        "warnings": list(result.warnings) if candidate.selected else [],
        "lineage": lineage,
    }


def _reference(trained: Trained, name: str, calibration: dict[str, Any]) -> dict[str, Any]:
    """Reference statistics of the training rows' features and of the model's test scores.

    The scores are the ones people see (calibrated when the version is), as the prediction log
    keeps them, so that monitoring compares like with like.
    """
    frame = trained.frame
    training = np.setdiff1d(np.arange(frame.rows), trained.test)
    scores = trained.models[name].predict(frame.subset(trained.test))
    if calibration.get("method") not in (None, "none") and trained.result.task == "classification":
        scores = calibration_map(calibration["method"], calibration.get("params", {}))(scores)
    return reference_statistics(frame.X.iloc[training], frame.feature_types, scores)


def _figures(candidate: CandidateResult, target: float | None) -> dict[str, Any]:
    figures = candidate.figures()
    gain = figures.pop("gain_over_baseline")
    return {**figures, "gain": None if gain is None else {**gain, "target": target}}


def _examples(test: ModelingFrame) -> bytes:
    """Up to 200 test rows (features, and the baseline rule's flag) for timing single predictions."""
    rows = np.arange(min(test.rows, _EXAMPLE_ROWS))
    sample = test.subset(rows)
    table = pa.Table.from_pandas(sample.X, preserve_index=False)
    if sample.baseline is not None:
        table = table.append_column(BASELINE_COLUMN, pa.array(sample.baseline, type=pa.float64()))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def examples_frame(data: bytes, scoring: dict[str, Any]) -> ModelingFrame:
    """The stored example rows as a ModelingFrame the version's model can predict on."""
    frame = pq.read_table(io.BytesIO(data)).to_pandas()
    baseline = None
    if BASELINE_COLUMN in frame.columns:
        baseline = frame.pop(BASELINE_COLUMN).to_numpy(dtype=np.float64)
    rows = len(frame)
    return ModelingFrame(
        task=scoring["task"],
        X=frame,
        y=np.zeros(rows),
        row_id=np.arange(rows, dtype=np.uint64),
        groups=None,
        time=None,
        baseline=baseline,
        positive_class=scoring.get("positive_class"),
        classes=tuple(scoring.get("classes", ())),
        dropped={},
        feature_types=dict(scoring.get("feature_types", {})),
    )
