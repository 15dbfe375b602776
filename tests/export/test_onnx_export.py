"""`charter export VERSION --format onnx`: boosted and linear versions, preprocessing included, as
one ONNX graph that onnxruntime runs and that scores the holdout as the native model does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from charter.api import Project
from charter.errors import UsageError
from charter.export import export_onnx
from charter.export._holdout import holdout_rows
from charter.export._onnx import TOLERANCE, onnx_graph, onnx_inputs, parity

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def onnxruntime():
    pytest.importorskip("onnx")
    pytest.importorskip("skl2onnx")
    return pytest.importorskip("onnxruntime")


def _version(project: Project, kind: str):
    return next(v for v in project.models() if v.kind == kind)


def _session(onnxruntime, path: Path):
    return onnxruntime.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])


def _exports_within_tolerance(project: Project, kind: str, out: Path, onnxruntime) -> None:
    """Export the project's `kind` version, then score its holdout again with the written file."""
    version = _version(project, kind)
    result = export_onnx(project, version.number, out)
    assert result.max_difference <= TOLERANCE and result.checked_rows > 100
    assert result.different_decisions == 0
    loaded = project.registry().load(version)
    rows = holdout_rows(project, version, loaded.scoring)
    session = _session(onnxruntime, out)
    inputs = [i.name for i in session.get_inputs()]
    assert inputs == list(loaded.model.features_)
    feed = onnx_inputs(rows.frame, loaded.scoring["feature_types"], inputs)
    scores = session.run(["score"], feed)[0]
    assert np.max(np.abs(scores - loaded.model.predict(rows.frame))) <= TOLERANCE


@pytest.mark.parametrize("kind", ["boosted", "simple"])
def test_demo_versions_export_within_the_tolerance(export_project, tmp_path, onnxruntime, kind):
    _exports_within_tolerance(Project(export_project), kind, tmp_path / f"{kind}.onnx", onnxruntime)


def test_the_graph_decides_at_the_threshold_in_force_and_describes_itself(
    export_project, tmp_path, onnxruntime
):
    project = Project(export_project)
    version = _version(project, "boosted")
    result = export_onnx(project, version.number, tmp_path / "churn.onnx")
    threshold = project.registry().threshold(version)
    assert result.threshold == threshold and result.outputs == ("score", "decision")
    session = _session(onnxruntime, result.out)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["charter_project"] == "churn" and meta["charter_version"] == str(version.number)
    assert json.loads(meta["charter_threshold"]) == threshold
    assert {k: v for k, v in result.inputs.items() if v == "string"}  # categories come as text
    rows = holdout_rows(project, version, project.registry().load(version).scoring)
    types = json.loads(meta["charter_feature_types"])
    score, decision = session.run(None, onnx_inputs(rows.frame, types, list(result.inputs)))
    assert np.array_equal(decision, score >= threshold)


@pytest.mark.parametrize("kind", ["boosted", "simple"])
def test_missing_values_and_unseen_categories_score_as_the_native_model(
    export_project, onnxruntime, kind
):
    project = Project(export_project)
    version = _version(project, kind)
    loaded = project.registry().load(version)
    rows = holdout_rows(project, version, loaded.scoring).frame
    X = rows.X.copy()
    types = loaded.scoring["feature_types"]
    for position, (name, reading) in enumerate(types.items()):
        if reading == "category":
            values = X[name].astype(object).to_numpy().copy()
            values[position::5] = None  # missing
            values[position + 1 :: 7] = "never seen in training"
            X[name] = pd.Categorical(values)
        else:
            values = X[name].to_numpy(dtype=np.float64).copy()
            values[position::4] = np.nan
            X[name] = values
    frame = type(rows)(**{**rows.__dict__, "X": X})
    threshold = loaded.scoring["threshold"]
    graph = onnx_graph(loaded.model, loaded.scoring, threshold=threshold)
    difference, decisions = parity(
        graph, loaded.model, frame, tolerance=TOLERANCE, threshold=threshold, where="altered rows"
    )
    assert difference <= TOLERANCE and decisions == 0


def test_an_altered_graph_is_refused_with_the_difference(export_project, onnxruntime):
    from onnx import numpy_helper

    project = Project(export_project)
    version = _version(project, "boosted")
    loaded = project.registry().load(version)
    rows = holdout_rows(project, version, loaded.scoring).frame
    graph = onnx_graph(loaded.model, loaded.scoring, threshold=0.5)
    trees = next(n for n in graph.graph.node if n.op_type == "TreeEnsemble")
    weights = next(a for a in trees.attribute if a.name == "leaf_weights")
    weights.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights.t) * 1.01))
    with pytest.raises(UsageError, match=r"differ .* by up to \d.*above the tolerance 1e-05"):
        parity(graph, loaded.model, rows, tolerance=TOLERANCE, threshold=0.5, where="the holdout")


def test_kinds_it_cannot_convert_are_refused_clearly(export_project, tmp_path, onnxruntime):
    from sklearn.linear_model import LogisticRegression

    from charter.modeling import CustomCandidate

    project = Project(export_project)
    baseline = _version(project, "baseline")
    with pytest.raises(UsageError, match="is a baseline candidate .* boosted .* and simple"):
        export_onnx(project, baseline.number, tmp_path / "baseline.onnx")
    assert not (tmp_path / "baseline.onnx").exists()
    loaded = project.registry().load(_version(project, "simple"))
    rows = holdout_rows(project, _version(project, "simple"), loaded.scoring).frame
    custom = CustomCandidate(LogisticRegression(), name="mine").fit(rows)
    with pytest.raises(UsageError, match="custom candidate \\(mine\\)"):
        onnx_graph(custom, loaded.scoring, threshold=0.5)


def test_export_refuses_an_existing_file_and_a_negative_tolerance(
    export_project, tmp_path, onnxruntime
):
    project = Project(export_project)
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"")
    with pytest.raises(UsageError, match="exists"):
        export_onnx(project, None, taken)
    with pytest.raises(UsageError, match="tolerance=-1"):
        export_onnx(project, None, tmp_path / "new.onnx", tolerance=-1)


def test_without_onnx_the_export_says_how_to_install_it(export_project, tmp_path, monkeypatch):
    for name in ("onnx", "onnxruntime", "skl2onnx"):
        monkeypatch.setitem(sys.modules, name, None)  # how Python spells "not installed"
    with pytest.raises(UsageError, match=r"pip install 'charter\[onnx\]'"):
        export_onnx(Project(export_project), None, tmp_path / "churn.onnx")


# --- real data (skipped where ../shared/data is absent) ------------------------------------------

CREDIT = """
project: credit
task: classification
target: class
positive_class: bad
data: {sources: {applicants: DATA/german_credit.csv}, sensitive: [personal_status]}
success:
  value: {true_positive: 0, false_positive: -1, false_negative: -5, true_negative: 0}
"""
BIKES = """
project: bikes
task: regression
target: cnt
data:
  sources: {days: DATA/bike_sharing_day.csv}
  query: select * exclude (casual, registered, instant) from days
success: {metric: mae}
"""


@pytest.fixture(scope="module", params=["credit", "bikes"])
def real_project(request, tmp_path_factory) -> Project:
    """German credit (classification, categories) and daily bike demand (regression, a date
    feature), trained on a small budget."""
    if not DATA.is_dir():
        pytest.skip(f"real datasets not found at {DATA}")
    folder = tmp_path_factory.mktemp(request.param)
    path = folder / "charter.yaml"
    text = CREDIT if request.param == "credit" else BIKES
    path.write_text(text.replace("DATA", str(DATA)), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        project = Project(path)
        project.train(budget_seconds=2)
    return project


@pytest.mark.parametrize("kind", ["boosted", "simple"])
def test_real_data_versions_export_within_the_tolerance(
    real_project, tmp_path, onnxruntime, kind, monkeypatch
):
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    out = tmp_path / f"{real_project.charter.project}-{kind}.onnx"
    version = _version(real_project, kind)
    result = export_onnx(real_project, version.number, out)
    assert result.max_difference <= TOLERANCE
    assert result.checked_rows == version.record["lineage"]["holdout"]["test_rows"]
    _session(onnxruntime, out)  # onnxruntime loads the file as written
