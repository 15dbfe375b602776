"""`charter train` as a user runs it: leaderboard, honest holdout, exit codes, saved runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.demo import apply_audit_fixes, write_demo_project

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def churn(tmp_path_factory) -> Path:
    charter = write_demo_project(tmp_path_factory.mktemp("churn"), customers=3000)
    apply_audit_fixes(charter)
    return charter


def train_json(charter: Path, *extra: str) -> tuple[int, dict]:
    result = run("train", "--charter", str(charter), "--budget", "3", "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


def test_train_reports_a_leaderboard_that_beats_the_baseline(churn):
    code, document = train_json(churn)
    assert code == 0, document["headline"]
    assert document["beats_baseline"] is True
    names = [row["candidate"] for row in document["leaderboard"]]
    assert names == ["baseline", "simple", "boosted"]
    selected = [row for row in document["leaderboard"] if row["selected"]]
    assert len(selected) == 1 and selected[0]["candidate"] == document["selected"]
    for row in document["leaderboard"]:
        assert set(row) >= {"candidate", "kind", "selected", "cv", "test", "threshold"}
        low, high = row["test"]["value_ci"]
        assert low <= row["test"]["value"] <= high
        assert {"roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall", "f1"} <= set(
            row["test"]
        )
    assert document["validation"]["scheme"] == "time"
    assert document["holdout"]["scheme"] == "time"
    low, high = document["gain_over_baseline"]["ci"]
    assert low > 0
    run_folder = Path(document["run"])
    assert (run_folder / "result.json").exists() and (run_folder / "scoring.json").exists()
    assert (run_folder / "models" / document["selected"] / "manifest.json").exists()
    assert {"value_curve", "roc", "calibration", "importance", "segments", "fit"} <= set(
        document["diagnostics"]
    )


def test_the_holdout_is_carved_once_and_results_are_reproducible(churn):
    _, first = train_json(churn, "--only", "baseline,simple")
    _, second = train_json(churn, "--only", "baseline,simple")
    assert first["holdout"]["created"] == second["holdout"]["created"]
    assert first["rows"] == second["rows"]
    for a, b in zip(first["leaderboard"], second["leaderboard"], strict=True):
        assert a["cv"] == b["cv"] and a["test"] == b["test"] and a["threshold"] == b["threshold"]


def test_only_rejects_an_unknown_candidate(churn):
    result = run("train", "--charter", str(churn), "--only", "baseline,forest")
    assert result.exit_code == 2
    assert "forest" in result.output and "baseline" in result.output


def test_no_signal_means_machine_learning_does_not_pay(tmp_path):
    rng = np.random.default_rng(3)
    n = 1500
    pq.write_table(
        pa.table(
            {
                "a": rng.normal(size=n),
                "b": rng.choice(["x", "y", "z"], n),
                "y": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
            }
        ),
        tmp_path / "noise.parquet",
    )
    (tmp_path / "charter.yaml").write_text(
        "project: noise\ntask: classification\ntarget: y\npositive_class: 'yes'\n"
        "data: {sources: {noise: noise.parquet}}\n"
        "success: {value: {true_positive: 100, false_positive: -60, false_negative: 0, true_negative: 0}, beat_baseline_by: 10%}\n"
    )
    code, document = train_json(tmp_path / "charter.yaml")
    assert code == 3
    assert document["beats_baseline"] is False
    assert "does not pay" in document["headline"]


def test_a_bad_baseline_rule_names_the_key(tmp_path):
    pq.write_table(pa.table({"a": list(range(100)), "y": [0, 1] * 50}), tmp_path / "d.parquet")
    (tmp_path / "charter.yaml").write_text(
        "project: p\ntask: classification\ntarget: y\ndata: {sources: {d: d.parquet}}\nbaseline: {rule: 'nosuch > 3'}\n"
    )
    result = run("train", "--charter", str(tmp_path / "charter.yaml"))
    assert result.exit_code == 2
    assert "baseline.rule" in result.output and "nosuch" in result.output


def test_a_users_own_estimator_faces_the_same_validation(churn):
    from sklearn.tree import DecisionTreeClassifier

    from charter.api import Project
    from charter.modeling import CustomCandidate

    old = Path.cwd()
    os.chdir(churn.parent)
    try:
        result = Project(churn).train(
            budget_seconds=2,
            only=["baseline", "simple"],
            extra=[
                CustomCandidate(DecisionTreeClassifier(max_depth=4, random_state=0), name="tree")
            ],
        )
    finally:
        os.chdir(old)
    tree = result.candidate("tree")
    assert tree.kind == "custom"
    assert len(tree.cv_values) == len(result.candidate("simple").cv_values)
    assert not np.isnan(tree.test_value)
