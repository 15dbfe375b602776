"""Monitoring and retraining a regression project: live error and value, no label-free estimate."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from charter.api import Project

pytestmark = pytest.mark.slow


def test_a_regression_project_is_monitored_and_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter._demo_operate import serve_rows
    from charter.demo import apply_audit_fixes, demo_stream, write_demo_project
    from charter.serving._feedback import record_feedback
    from charter.serving._service import Service

    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    charter = write_demo_project(tmp_path / "p", customers=3000)
    apply_audit_fixes(charter)
    text = charter.read_text()
    text = text.replace("task: classification", "task: regression")
    text = text.replace("target: churned", "target: monthly_charges").replace(
        'positive_class: "yes"\n', ""
    )
    text = re.sub(r"success:\n(  .*\n)+", "success:\n  error_cost_per_unit: 2\n", text)
    text = re.sub(r"baseline:\n(  .*\n)+", "", text)
    charter.write_text(text)
    project = Project(charter)
    project.audit()
    trained = project.train(budget_seconds=2)
    project.promote(trained.versions["boosted"], force=True, reason="test: regression monitoring")
    service = Service(project, watch=False)
    rows = demo_stream(400, shifted=True, seed=3, first_id=500_000).to_pylist()
    answered, _ = serve_rows(service, rows, "monthly_charges")
    service.close()
    record_feedback(
        project.registry().store,
        "churn",
        [
            {"prediction_id": a["prediction_id"], "outcome": r["monthly_charges"]}
            for r, a in answered
        ],
        source="test",
        numeric=True,
    )
    report = project.monitor(window="1000", send=False)
    (window,) = report.windows
    assert window.estimate is None and window.adoption is None  # classification only
    performance = window.performance
    assert performance is not None and performance.labelled == len(answered)
    errors = np.abs(
        np.array([r["monthly_charges"] for r, _ in answered])
        - np.array([a["value"] for _, a in answered])
    )
    assert performance.metrics["mae"] == pytest.approx(errors.mean())
    assert performance.value.value == pytest.approx(-2 * errors.mean())
    outcome = project.retrain(budget_seconds=2)
    assert outcome.comparison is not None and outcome.comparison["rows"] > 0
