"""`charter export VERSION --format onnx`: a boosted or simple version as one ONNX graph.

The graph takes one input per feature, named as the column ([N, 1]: categories as text, the
empty text when missing; numbers and dates, as days since 1970-01-01, as float64, NaN when
missing), does the version's preprocessing inside (category codes, imputation, one-hot
encoding, scaling), and gives `score` [N] (the probability of the positive class, or the value)
and, for classification, `decision` [N] (score >= the threshold in force). Before anything is
written, onnxruntime runs the graph on the version's holdout rows beside the native model; the
largest absolute score difference is reported, and above the tolerance (1e-5) the export is
refused with it. Baseline rules and custom candidates are not converted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charter._atomic import write_bytes_atomic
from charter.errors import UsageError
from charter.export._container import _chosen
from charter.export._extras import require
from charter.export._holdout import holdout_rows
from charter.modeling._frame import ModelingFrame
from charter.registry import ModelVersion

if TYPE_CHECKING:
    import onnx

    from charter.api import Project
    from charter.modeling._candidates import Candidate

__all__ = ["TOLERANCE", "OnnxResult", "export_onnx", "onnx_graph", "onnx_inputs", "parity"]

TOLERANCE = 1e-5
"""The largest absolute score difference from the native model an export may show."""


@dataclass(frozen=True)
class OnnxResult:
    """What `export_onnx` wrote, and how it compared with the native model."""

    out: Path
    version: ModelVersion
    inputs: dict[str, str]  # feature -> "string" | "double", in the graph's order
    outputs: tuple[str, ...]
    threshold: float | None
    checked_rows: int
    checked_on: str
    max_difference: float  # largest absolute score difference, graph against native model
    tolerance: float
    different_decisions: int
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the path as text."""
        return {
            "format": "onnx",
            "out": str(self.out),
            "project": self.version.project,
            "version": self.version.number,
            "candidate": self.version.candidate,
            "kind": self.version.kind,
            "inputs": dict(self.inputs),
            "outputs": list(self.outputs),
            "threshold": self.threshold,
            "checked_rows": self.checked_rows,
            "checked_on": self.checked_on,
            "max_difference": self.max_difference,
            "tolerance": self.tolerance,
            "different_decisions": self.different_decisions,
            "warnings": list(self.warnings),
        }


def export_onnx(
    project: Project, version: str | int | None, out: Path, *, tolerance: float = TOLERANCE
) -> OnnxResult:
    """Write `version` (default: production) as an ONNX file at `out` (a new file), after
    checking it against the native model on the version's holdout rows.

    Raises a UsageError when the candidate kind cannot be converted, when the largest absolute
    score difference is above `tolerance` (naming it), and, naming `pip install
    'charter[onnx]'`, when the ONNX packages are not installed.

    Example:
        >>> result = export_onnx(Project("charter.yaml"), "v3", Path("churn-v3.onnx"))  # doctest: +SKIP
        >>> result.max_difference  # doctest: +SKIP
        1.1e-16
    """
    _require_onnx()
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise UsageError(f"tolerance={tolerance!r} must be a number at or above 0, e.g. 1e-5.")
    out = Path(out)
    if out.exists():
        raise UsageError(f"{out} exists; name a new file for the ONNX model (e.g. churn-v3.onnx).")
    chosen = _chosen(project, version)
    registry = project.registry()
    loaded = registry.load(chosen)
    scoring = loaded.scoring
    threshold = registry.threshold(chosen) if scoring["task"] == "classification" else None
    graph = onnx_graph(loaded.model, scoring, threshold=threshold, version=chosen)
    rows = holdout_rows(project, chosen, scoring)
    difference, decisions = parity(
        graph, loaded.model, rows.frame, tolerance=tolerance, threshold=threshold, where=rows.source
    )
    write_bytes_atomic(out, graph.SerializeToString())
    warnings = []
    if (scoring.get("calibration") or {}).get("method") not in (None, "none"):
        warnings.append(
            f"{chosen.label}'s service shows calibrated probabilities; the graph's score is the "
            "model's own (the one decisions compare with the threshold)."
        )
    return OnnxResult(
        out=out,
        version=chosen,
        inputs={i.name: _kind(i) for i in graph.graph.input},
        outputs=tuple(o.name for o in graph.graph.output),
        threshold=threshold,
        checked_rows=rows.rows,
        checked_on=rows.source,
        max_difference=difference,
        tolerance=float(tolerance),
        different_decisions=decisions,
        warnings=tuple(warnings),
    )


def onnx_graph(
    model: Candidate,
    scoring: dict[str, Any],
    *,
    threshold: float | None,
    version: ModelVersion | None = None,
) -> onnx.ModelProto:
    """The ONNX model of a fitted boosted or simple candidate, with `decision` for classification
    and the version described in the model's metadata; a UsageError for other kinds."""
    _require_onnx()
    import onnx

    from charter.export._onnx_boosted import boosted_graph
    from charter.export._onnx_linear import linear_graph
    from charter.modeling._boosted import BoostedCandidate
    from charter.modeling._simple import SimpleCandidate

    if isinstance(model, BoostedCandidate):
        graph = boosted_graph(model)
    elif isinstance(model, SimpleCandidate):
        graph = linear_graph(model, dict(scoring.get("feature_types", {})))
    else:
        which = f"{version.label} is" if version is not None else "this is"
        raise UsageError(
            f"{which} a {model.kind} candidate ({model.name}); charter converts boosted "
            "(LightGBM) and simple (linear) candidates to ONNX. A baseline rule is SQL over the "
            "columns and needs no model; a custom estimator can be converted with skl2onnx by "
            "its author. Export another version (`charter models` lists them)."
        )
    if scoring["task"] == "classification":
        _add_decision(graph, 0.5 if threshold is None else threshold)
    described = {
        "charter_task": scoring["task"],
        "charter_positive_class": scoring.get("positive_class"),
        "charter_threshold": threshold,
        "charter_feature_types": scoring.get("feature_types", {}),
        "charter_candidate": model.name,
        "charter_kind": model.kind,
    }
    if version is not None:
        described.update(charter_project=version.project, charter_version=version.number)
    onnx.helper.set_model_props(
        graph, {k: v if isinstance(v, str) else json.dumps(v) for k, v in described.items()}
    )
    graph.doc_string = (
        f"charter {model.kind} candidate {model.name}"
        + (f", {version.project} {version.label}" if version is not None else "")
        + ". Inputs: one [N, 1] tensor per feature (text; float64, dates as days since 1970)."
    )
    onnx.checker.check_model(graph)
    return graph


def onnx_inputs(
    frame: ModelingFrame | pd.DataFrame, feature_types: dict[str, str], features: list[str]
) -> dict[str, np.ndarray]:
    """The graph's inputs for rows as charter reads them (a ModelingFrame or its `X`):
    categories as text ("" when missing), numbers and dates as float64, each [N, 1]."""
    X = frame.X if isinstance(frame, ModelingFrame) else frame
    feed: dict[str, np.ndarray] = {}
    for feature in features:
        values = X[feature]
        if feature_types.get(feature) == "category":
            text = ["" if _missing(v) else str(v) for v in values.astype(object)]
            feed[feature] = np.asarray(text, dtype=object).reshape(-1, 1)
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            feed[feature] = np.asarray(numbers, dtype=np.float64).reshape(-1, 1)
    return feed


def parity(
    graph: onnx.ModelProto,
    model: Candidate,
    frame: ModelingFrame,
    *,
    tolerance: float,
    threshold: float | None,
    where: str,
) -> tuple[float, int]:
    """Run `graph` with onnxruntime on `frame` beside `model.predict`: (largest absolute score
    difference, decisions that differ). Above `tolerance`, a UsageError naming the difference."""
    _require_onnx()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: shape notes are not the user's business
    session = onnxruntime.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    features = [i.name for i in session.get_inputs()]
    types = {
        i.name: "category" if i.type == "tensor(string)" else "number" for i in session.get_inputs()
    }
    found = session.run(None, onnx_inputs(frame, types, features))
    outputs = dict(zip((o.name for o in session.get_outputs()), found, strict=True))
    scores = np.asarray(outputs["score"], dtype=np.float64)
    native = np.asarray(model.predict(frame), dtype=np.float64)
    both_missing = np.isnan(scores) & np.isnan(native)
    gaps = np.where(both_missing, 0.0, np.abs(scores - native))
    difference = float(np.max(np.nan_to_num(gaps, nan=np.inf))) if gaps.size else 0.0
    if difference > tolerance:
        raise UsageError(
            f"the ONNX graph's scores differ from the native model's by up to {difference:.3g} "
            f"on {where}, above the tolerance {tolerance:g}; nothing was written."
        )
    decisions = 0
    if "decision" in outputs:
        cut = 0.5 if threshold is None else threshold
        decisions = int(np.sum(np.asarray(outputs["decision"], dtype=bool) != (native >= cut)))
    return difference, decisions


def _require_onnx() -> None:
    for module in ("onnx", "onnxruntime", "skl2onnx"):
        require("onnx", module, purpose="Exporting a version to ONNX")


def _add_decision(graph: onnx.ModelProto, threshold: float) -> None:
    from onnx import TensorProto, helper, numpy_helper

    body = graph.graph
    body.initializer.append(numpy_helper.from_array(np.array(threshold, np.float64), "threshold"))
    body.node.append(
        helper.make_node("GreaterOrEqual", ["score", "threshold"], ["decision"], name="decision")
    )
    body.output.append(helper.make_tensor_value_info("decision", TensorProto.BOOL, [None]))


def _kind(value: Any) -> str:
    from onnx import TensorProto

    element = value.type.tensor_type.elem_type
    return "string" if element == TensorProto.STRING else "double"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
