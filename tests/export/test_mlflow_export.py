"""`charter export VERSION --format mlflow`: an MLflow pyfunc model that scores as charter does.

MLflow warns about its own code under pandas 3 and while importing `mlflow.pyfunc`; those two
warnings (and only those) are filtered here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from charter.api import Project
from charter.errors import CharterError, ContractError, UsageError
from charter.export import export_mlflow

pytestmark = [
    # mlflow.models.utils compares a column index with a range (pandas 3's Pandas4Warning, a
    # DeprecationWarning; named by its base so the filter also loads under pandas 2).
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:DeprecationWarning"),
    # mlflow.types.type_hints, on importing mlflow.pyfunc: about MLflow's own type hints.
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

TARGET = "churned"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def mlflow_pyfunc():
    pytest.importorskip("mlflow")
    import mlflow.pyfunc

    return mlflow.pyfunc


@pytest.fixture(scope="module")
def exported(export_project: Path, tmp_path_factory, mlflow_pyfunc):
    """The production (boosted) version exported with charter's wheel, once for the module."""
    project = Project(export_project)
    try:
        return export_mlflow(project, None, tmp_path_factory.mktemp("mlflow") / "churn")
    finally:
        project.registry().store.dispose()


@pytest.fixture(scope="module")
def real_rows(export_project: Path, tmp_path_factory) -> Path:
    """Every row of the project's data as a client would send it (no target), as Parquet."""
    table = Project(export_project).dataset().to_arrow()
    path = tmp_path_factory.mktemp("rows") / "rows.parquet"
    pq.write_table(table.drop_columns([TARGET]), path)
    return path


def _charter_scores(project: Project, rows: Path, version: int, out: Path) -> pd.DataFrame:
    """What `charter score` gives for the rows (without logging), rows breaking the contract aside."""
    result = project.score(rows, out, version=version, log=False)
    assert result.scored > 100
    return pq.read_table(out).to_pandas()


def _client_frame(scored: pd.DataFrame, inputs: dict) -> pd.DataFrame:
    """The input columns of scored rows, dates as pandas datetimes as a client hands them over."""
    frame = scored[[c for c in inputs if c in scored.columns]].copy()
    for name, (kind, _) in inputs.items():
        if kind == "datetime" and name in frame:
            frame[name] = pd.to_datetime(frame[name])
    return frame


def test_the_mlflow_model_scores_real_rows_exactly_as_charter(
    exported, export_project, real_rows, tmp_path, mlflow_pyfunc
):
    project = Project(export_project)
    ours = _charter_scores(project, real_rows, exported.version.number, tmp_path / "scored.parquet")
    model = mlflow_pyfunc.load_model(str(exported.out))
    theirs = model.predict(_client_frame(ours, exported.inputs))
    assert list(theirs.columns) == ["version", "score", "decision", "fallback", "flags"]
    assert np.array_equal(theirs["score"].to_numpy(), ours["score"].to_numpy())
    assert (theirs["decision"].to_numpy() == ours["decision"].to_numpy()).all()
    assert (theirs["version"] == exported.version.number).all()
    assert [list(f) for f in theirs["flags"]] == [list(f) for f in ours["flags"]]
    assert exported.checked_rows > 0 and exported.max_difference == 0.0


def test_a_calibrated_linear_version_scores_exactly_as_charter(
    export_project, real_rows, tmp_path, mlflow_pyfunc
):
    project = Project(export_project)
    simple = next(v for v in project.models() if v.kind == "simple")
    result = export_mlflow(project, simple.number, tmp_path / "simple", wheel=False)
    ours = _charter_scores(project, real_rows, simple.number, tmp_path / "scored.parquet")
    theirs = mlflow_pyfunc.load_model(str(result.out)).predict(_client_frame(ours, result.inputs))
    assert np.array_equal(theirs["score"].to_numpy(), ours["score"].to_numpy())
    assert (theirs["decision"].to_numpy() == ours["decision"].to_numpy()).all()
    assert result.requirements[-1].startswith("charter==") and result.wheel is None


def test_real_data_scores_exactly_as_charter(tmp_path, mlflow_pyfunc, monkeypatch):
    if not DATA.is_dir():
        pytest.skip(f"real datasets not found at {DATA}")
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    path = tmp_path / "credit" / "charter.yaml"
    path.parent.mkdir()
    path.write_text(
        "project: credit\ntask: classification\ntarget: class\npositive_class: bad\n"
        f"data: {{sources: {{applicants: {DATA / 'german_credit.csv'}}}}}\n"
        "success: {value: {true_positive: 0, false_positive: -1, false_negative: -5, "
        "true_negative: 0}}\n",
        encoding="utf-8",
    )
    project = Project(path)
    project.audit()
    trained = project.train(budget_seconds=2, only=["baseline", "boosted"])
    version = project.version(trained.versions["boosted"])
    result = export_mlflow(project, version.number, tmp_path / "model", wheel=False)
    rows = tmp_path / "rows.parquet"
    pq.write_table(project.dataset().to_arrow().drop_columns(["class"]), rows)
    ours = _charter_scores(project, rows, version.number, tmp_path / "scored.parquet")
    theirs = mlflow_pyfunc.load_model(str(result.out)).predict(_client_frame(ours, result.inputs))
    assert len(ours) == 1000
    assert np.array_equal(theirs["score"].to_numpy(), ours["score"].to_numpy())
    assert (theirs["decision"].to_numpy() == ours["decision"].to_numpy()).all()


def test_the_signature_names_the_contract_columns_but_the_target(exported, export_project):
    contract = Project(export_project).contract()
    assert list(exported.inputs) == [c for c in contract.columns if c != TARGET]
    kinds = {name: kind for name, (kind, _) in exported.inputs.items()}
    assert kinds["signup_date"] == "datetime"
    assert kinds["tenure_months"] == "long" and kinds["monthly_charges"] == "double"
    assert kinds["contract"] == "string"
    required = {name for name, (_, needed) in exported.inputs.items() if needed}
    assert "tenure_months" in required
    assert "customer_id" not in required and "snapshot_date" not in required  # not features
    mlmodel = (exported.out / "MLmodel").read_text()
    assert "loader_module: mlflow.pyfunc.loaders.code_model" in mlmodel
    assert not list(exported.out.rglob("*.pkl"))  # saved from code: nothing to unpickle


def test_requirements_pin_the_lineage_and_carry_charters_wheel(exported):
    lineage = exported.version.lineage["packages"]
    lines = (exported.out / "requirements.txt").read_text().split()
    for name in ("numpy", "pandas", "scikit-learn", "lightgbm", "skops"):
        assert f"{name}=={lineage[name]}" in lines
    assert exported.wheel is not None and exported.wheel.is_file()
    assert f"wheels/{exported.wheel.name}" in lines
    assert exported.wheel.parent == exported.out / "wheels"


def _example(exported) -> pd.DataFrame:
    """The saved input example as a DataFrame, dates as datetimes."""
    example = json.loads((exported.out / "input_example.json").read_text())
    return _client_frame(pd.DataFrame(example["data"], columns=example["columns"]), exported.inputs)


def test_the_input_example_is_real_rows_the_model_accepts(exported, mlflow_pyfunc):
    frame = _example(exported)
    assert TARGET not in frame.columns and len(frame) == 5
    scored = mlflow_pyfunc.load_model(str(exported.out)).predict(frame)
    assert scored["score"].between(0, 1).all()


def test_rows_breaking_the_contract_are_refused_by_name(exported, mlflow_pyfunc):
    frame = _example(exported)
    frame.loc[1, "contract"] = "lifetime"
    model = mlflow_pyfunc.load_model(str(exported.out))
    with pytest.raises(ContractError, match=r"1 of 5 rows .*row 1: contract"):
        model.predict(frame)


def test_a_changed_packed_file_is_refused_on_loading(exported, tmp_path, mlflow_pyfunc):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported.out, copy)
    model_file = copy / "artifacts" / "charter" / "files" / "model.txt"
    model_file.write_text(model_file.read_text().replace("leaf_value", "leaf_value ", 1))
    with pytest.raises(CharterError, match="does not match its SHA-256"):
        mlflow_pyfunc.load_model(str(copy))


@pytest.mark.slow
def test_mlflow_scores_the_serving_example_as_its_server_does(exported):
    answer = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "--env-manager", "local"]
        + ["-m", str(exported.out), "-i", str(exported.out / "serving_input_example.json")]
        + ["--content-type", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    predictions = json.loads(answer.stdout.strip().splitlines()[-1])["predictions"]
    assert len(predictions) == 5
    assert {"version", "score", "decision", "fallback", "flags"} <= set(predictions[0])


@pytest.mark.slow
def test_mlflow_models_serve_answers_as_charter_scores(
    exported, export_project, real_rows, tmp_path, mlflow_pyfunc
):
    """`mlflow models serve` on 127.0.0.1, a real HTTP request of 200 real rows."""
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local"]
            + ["-m", str(exported.out), "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        ours = _charter_scores(
            Project(export_project), real_rows, exported.version.number, tmp_path / "s.parquet"
        ).head(200)
        frame = _client_frame(ours, exported.inputs)
        body = json.dumps(
            {
                "dataframe_split": json.loads(
                    frame.to_json(orient="split", date_format="iso", index=False)
                )
            }
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "mlflow models serve did not start in 120 s"
                time.sleep(0.5)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        answered = json.loads(urllib.request.urlopen(request, timeout=60).read())["predictions"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [row["score"] for row in answered] == ours["score"].tolist()
    assert [row["decision"] for row in answered] == ours["decision"].tolist()


def test_export_refuses_a_folder_that_is_not_empty(export_project, tmp_path, mlflow_pyfunc):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stray.txt").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        export_mlflow(Project(export_project), None, tmp_path / "out")


def test_without_mlflow_the_export_says_how_to_install_it(export_project, tmp_path, monkeypatch):
    for name in ("mlflow", "mlflow.pyfunc"):
        monkeypatch.setitem(sys.modules, name, None)  # how Python spells "not installed"
    with pytest.raises(UsageError, match=r"pip install 'charter\[mlflow\]'"):
        export_mlflow(Project(export_project), None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
