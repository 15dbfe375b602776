"""`charter import-mlflow MODEL_URI`: a team's MLflow model faces charter's holdout and baseline,
lands on the leaderboard, and (scikit-learn flavour) is registered as a version charter serves.

MLflow warns about its own code under pandas 3 and while importing `mlflow.pyfunc`; those two
warnings (and only those) are filtered here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from charter.api import Project
from charter.errors import UsageError
from charter.export import export_mlflow, import_mlflow
from charter.export._mlflow_candidate import PREFITTED_NOTE
from charter.modeling import build_frame

pytestmark = [
    # mlflow.models.utils compares a column index with a range (pandas 3's Pandas4Warning, a
    # DeprecationWarning; named by its base so the filter also loads under pandas 2).
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:DeprecationWarning"),
    # mlflow.types.type_hints, on importing mlflow.pyfunc: about MLflow's own type hints.
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

TARGET = "churned"
NUMBERS = ["tenure_months", "monthly_charges"]
TEXTS = ["contract", "payment_method"]


@pytest.fixture(scope="module")
def mlflow_sklearn():
    pytest.importorskip("mlflow")
    import mlflow.sklearn

    return mlflow.sklearn


def _team_model(project_path: Path, folder: Path, mlflow_sklearn, *, extra=(), regressor=False):
    """A team's model of the demo data, fitted on its raw columns and "yes"/"no" labels, saved
    as an MLflow model (scikit-learn flavour). Returns (path, fitted pipeline, columns)."""
    raw = Project(project_path).dataset().to_arrow().to_pandas()
    columns = [*NUMBERS, *TEXTS, *extra]
    prepare = make_column_transformer(
        (StandardScaler(), [*NUMBERS, *extra]), (OneHotEncoder(handle_unknown="ignore"), TEXTS)
    )
    if regressor:
        pipeline = make_pipeline(prepare, LinearRegression())
        pipeline.fit(raw[columns], (raw[TARGET] == "yes").astype(float))
    else:
        pipeline = make_pipeline(prepare, LogisticRegression(max_iter=1000))
        pipeline.fit(raw[columns], raw[TARGET])
    path = folder / "team-model"
    mlflow_sklearn.save_model(pipeline, str(path))
    return path, pipeline, columns


@pytest.fixture(scope="module")
def team_model(export_project, tmp_path_factory, mlflow_sklearn):
    return _team_model(export_project, tmp_path_factory.mktemp("team"), mlflow_sklearn)


def test_a_scikit_learn_model_is_validated_beside_the_baseline_and_registered(
    export_copy, team_model
):
    path, pipeline, columns = team_model
    project = export_copy()
    before = len(project.models())
    imported = import_mlflow(project, str(path), name="team")
    board = imported.result.to_dict()["leaderboard"]
    assert [row["candidate"] for row in board] == ["baseline", "team"]
    team = imported.result.candidate("team")
    assert team.kind == "custom" and team.gain is not None and team.threshold is not None
    assert team.params["imported"]["uri"] == str(path)
    assert team.params["imported"]["note"] == PREFITTED_NOTE
    assert imported.not_registered is None and "sklearn" in imported.flavors
    version = imported.version
    assert version is not None and version.candidate == "team" and version.kind == "custom"
    assert len(project.models()) == before + 2  # the baseline of the run, and the team's model
    assert version.record["test"]["value"] == pytest.approx(team.test_value)
    assert imported.result.run is not None and Path(imported.result.run).is_dir()
    promotion = project.promote(version.number)  # the same gates as charter's own candidates
    assert {"beats the baseline", "fairness", "latency"} <= {g.name for g in promotion.gates}


def test_the_registered_version_predicts_as_the_teams_model(export_copy, team_model):
    path, pipeline, columns = team_model
    project = export_copy()
    version = import_mlflow(project, str(path), name="team").version
    loaded = project.registry().load(version)  # from the store: skops, nothing unpickled
    frame = build_frame(project.charter, project.dataset(), task="classification")
    positive = list(pipeline.classes_).index("yes")
    theirs = pipeline.predict_proba(frame.X[columns])[:, positive]
    assert np.array_equal(loaded.model.predict(frame), theirs)


def test_charter_serves_the_imported_version(export_copy, team_model, tmp_path):
    project = export_copy()
    version = import_mlflow(project, str(team_model[0]), name="team").version
    rows = tmp_path / "rows.parquet"
    pq.write_table(project.dataset().to_arrow(max_rows=300).drop_columns([TARGET]), rows)
    result = project.score(rows, tmp_path / "scored.parquet", version=version.number, log=False)
    scored = pq.read_table(tmp_path / "scored.parquet").to_pandas()
    assert result.scored > 250 and scored["score"].between(0, 1).all()
    assert set(scored["decision"]) <= {"act", "no action"}


def test_a_pyfunc_only_model_is_compared_but_not_registered(export_copy, tmp_path):
    pytest.importorskip("mlflow")
    project = export_copy()
    # charter's own export: an MLflow model without a scikit-learn flavour
    version = next(
        v for v in project.models() if v.kind in ("boosted", "simple") and not v.selected
    )
    exported = export_mlflow(project, version.number, tmp_path / "exported", wheel=False)
    before = len(project.models())
    imported = import_mlflow(project, str(exported.out), name="round_trip")
    assert imported.version is None and len(project.models()) == before
    assert "python_function" in imported.not_registered
    again = imported.result.candidate("round_trip")
    # the same scores on the same holdout: the same ranking quality
    assert again.test_metrics["roc_auc"] == pytest.approx(version.record["test"]["roc_auc"])
    assert [c.name for c in imported.result.candidates] == ["baseline", "round_trip"]


def test_a_model_charter_cannot_store_safely_is_compared_but_not_registered(
    export_copy, tmp_path, mlflow_sklearn
):
    from lightgbm import LGBMClassifier

    project = export_copy()
    raw = project.dataset().to_arrow().to_pandas()
    model = LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1).fit(
        raw[NUMBERS], (raw[TARGET] == "yes").astype(int)
    )
    mlflow_sklearn.save_model(model, str(tmp_path / "lgbm"), serialization_format="cloudpickle")
    before = len(project.models())
    imported = import_mlflow(project, str(tmp_path / "lgbm"), name="team_lgbm")
    assert imported.version is None and len(project.models()) == before
    assert "cannot be saved safely" in imported.not_registered
    assert imported.result.candidate("team_lgbm").test_metrics["roc_auc"] > 0.5


def test_a_model_reading_a_column_charter_never_gives_models_is_refused(
    export_project, tmp_path, mlflow_sklearn
):
    path, _, _ = _team_model(export_project, tmp_path, mlflow_sklearn, extra=["customer_id"])
    with pytest.raises(
        UsageError, match="reads column.* charter does not give models: customer_id"
    ):
        import_mlflow(Project(export_project), str(path))


def test_a_regressor_is_refused_for_a_classification_charter(
    export_project, tmp_path, mlflow_sklearn
):
    path, _, _ = _team_model(export_project, tmp_path, mlflow_sklearn, regressor=True)
    with pytest.raises(UsageError, match="is not a classifier"):
        import_mlflow(Project(export_project), str(path))


def test_a_built_in_name_and_a_missing_model_are_refused(export_project, team_model, tmp_path):
    project = Project(export_project)
    with pytest.raises(UsageError, match="taken by a built-in candidate"):
        import_mlflow(project, str(team_model[0]), name="boosted")
    with pytest.raises(UsageError, match="no MLflow model can be read"):
        import_mlflow(project, str(tmp_path / "nothing-here"))


def test_without_mlflow_the_import_says_how_to_install_it(export_project, monkeypatch):
    for name in ("mlflow", "mlflow.pyfunc"):
        monkeypatch.setitem(sys.modules, name, None)  # how Python spells "not installed"
    with pytest.raises(UsageError, match=r"pip install 'charter\[mlflow\]'"):
        import_mlflow(Project(export_project), "models:/churn/1")
