"""`charter monitor` and `charter monitor --act` end to end on a real store and prediction log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from charter.api import Project
from charter.cli import app
from charter.monitoring._monitor import monitor
from charter.monitoring._outcomes import decision_values
from charter.monitoring._retrain import check_rollback, retrain, triggers
from charter.monitoring._windows import WindowSize

pytestmark = pytest.mark.slow

WINDOW = 600


def _stream_and_outcomes(project: Project, stream: Any, feedback: Any) -> list[dict[str, Any]]:
    steady = stream(project, shifted=False, rows=WINDOW, seed=31, first_id=800_001)
    shifted = stream(project, shifted=True, rows=WINDOW, seed=32, first_id=850_001)
    feedback(project, steady + shifted)
    return steady + shifted


def test_drift_decay_and_value_are_measured_per_window(
    monitored: Any, stream: Any, feedback: Any
) -> None:
    project = Project(monitored.charter)
    sent = _stream_and_outcomes(project, stream, feedback)
    report = monitor(project, size=WindowSize(rows=WINDOW), count=5, send=False)
    assert [w.predictions + w.refused for w in report.windows] == [WINDOW, WINDOW]
    assert sum(w.predictions for w in report.windows) == len(sent)
    before, after = report.windows
    assert before.drift is not None and after.drift is not None
    assert not before.drift.drifted
    assert after.drift.drifted
    moved = {f.name for f in after.drift.features if f.drifted}
    assert "contract" in moved or "support_calls" in moved
    assert any(a.kind == "drift" for a in report.alerts)
    # Over one window holding everything, the figures recomputed here from what was sent.
    (whole,) = monitor(project, size=WindowSize(rows=10 * WINDOW), count=1, send=False).windows
    values = project.charter.success.value
    assert values is not None
    late = sent
    act = np.array([item["_decision"] == "act" for item in late])
    followed = np.array([item["action_taken"] for item in late])
    truth = np.array([item["outcome"] == "yes" for item in late])
    done = np.where(followed, act, ~act)
    adoption = whole.adoption
    assert adoption is not None and adoption.realised is not None
    assert adoption.realised.value == pytest.approx(decision_values(done, truth, values).mean())
    assert adoption.followed.value == pytest.approx(followed.mean())
    # Live value: the decisions as answered against the real outcomes.
    assert whole.performance is not None and whole.performance.labelled == len(sent)
    assert whole.performance.value.value == pytest.approx(
        decision_values(act, truth, values).mean()
    )
    assert after.estimate is not None and after.estimate.value is not None
    json.dumps(report.to_dict())  # plain JSON all the way down


def test_retrain_promotes_a_better_challenger_once(
    monitored: Any, stream: Any, feedback: Any
) -> None:
    project = Project(monitored.charter)
    sent = _stream_and_outcomes(project, stream, feedback)
    report = monitor(project, size=WindowSize(rows=WINDOW), count=2, send=False)
    fired = triggers(project, report, now=report.generated)
    assert "drift" in fired
    first = retrain(project, fired=fired, budget_seconds=3)
    assert first.challenger is not None and first.comparison is not None
    assert first.labelled == len(sent)
    assert first.comparison["rows"] > 0
    entry = [e for e in project.trail() if e.action == "retrained"][-1]
    assert entry.version == first.challenger and entry.details["triggers"] == fired
    if first.promotion and first.promotion.startswith("promoted"):
        assert project.version("production").number == first.challenger
    again = retrain(project, fired=fired, budget_seconds=3)
    assert again.skipped is not None and "already" in again.skipped
    assert [e.action for e in project.trail()].count("retrained") == 1


def test_a_worse_new_version_is_rolled_back(monitored: Any, stream: Any, feedback: Any) -> None:
    project = Project(monitored.charter)
    items = stream(project, shifted=False, rows=400, seed=41, first_id=700_001)
    feedback(project, items)
    # A bad release: the simple version acting on almost everybody (threshold 0.001) loses money on false alarms.
    project.set_threshold(monitored.simple, 0.001, reason="test: a careless threshold")
    project.promote(monitored.simple, force=True, reason="test: a bad release")
    items = stream(project, shifted=False, rows=400, seed=42, first_id=750_001)
    feedback(project, items)
    looked = check_rollback(project, act=False)
    assert (
        not looked.rolled_back and looked.value is not None and looked.predecessor_value is not None
    )
    assert looked.value < looked.predecessor_value
    done = check_rollback(project, act=True)
    assert done.rolled_back and done.predecessor == monitored.boosted
    assert project.version("production").number == monitored.boosted
    last = project.trail()[-1]
    assert last.action == "rolled_back" and "automatic rollback" in (last.reason or "")
    assert check_rollback(project, act=True).rolled_back is False  # idempotent: nothing more to do


def test_the_cli_writes_json_html_and_alerts(
    monitored: Any, stream: Any, feedback: Any, tmp_path: Path
) -> None:
    project = Project(monitored.charter)
    _stream_and_outcomes(project, stream, feedback)
    text = monitored.charter.read_text()
    monitored.charter.write_text(
        text.replace(
            "  auto_promote: true\n", "  auto_promote: true\n  alerts: {json_file: alerts.json}\n"
        )
    )
    runner = CliRunner()
    html = tmp_path / "monitor.html"
    result = runner.invoke(
        app,
        [
            "monitor",
            "--window",
            str(WINDOW),
            "--json",
            "--html",
            str(html),
            "-c",
            str(monitored.charter),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["schema_version"] == 1 and len(document["windows"]) == 2
    assert document["status"] in {"warning", "critical"}
    written = json.loads((monitored.charter.parent / "alerts.json").read_text())
    assert written["alerts"] == document["alerts"]
    latest = monitored.charter.parent / ".charter" / "monitoring" / "latest.json"
    assert json.loads(latest.read_text())["windows"] == document["windows"]
    assert "<html" in html.read_text().lower()
    plain = runner.invoke(app, ["monitor", "--window", str(WINDOW), "-c", str(monitored.charter)])
    assert plain.exit_code == 0 and "Drift:" in plain.output and "Alerts" in plain.output
    bad = runner.invoke(app, ["monitor", "--window", "yesterday", "-c", str(monitored.charter)])
    assert bad.exit_code == 2 and "--window" in bad.output and "Traceback" not in bad.output


def test_monitor_without_production_says_what_to_do(tmp_path: Path) -> None:
    from charter.demo import write_demo_project

    charter = write_demo_project(tmp_path / "p", customers=300)
    result = CliRunner().invoke(app, ["monitor", "-c", str(charter)])
    assert result.exit_code == 2 and "promote" in result.output


def test_a_dataset_is_checked_scored_and_judged_like_served_traffic(
    monitored: Any, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from charter.demo import demo_stream

    table = demo_stream(1_000, shifted=True, seed=51, first_id=600_001)
    charges = table.column("monthly_charges").to_pylist()
    charges[0] = 99_999.0  # breaks the contract's range
    table = table.set_column(
        table.schema.get_field_index("monthly_charges"), "monthly_charges", pa.array(charges)
    )
    path = tmp_path / "current.parquet"
    pq.write_table(table, path)
    result = CliRunner().invoke(
        app, ["monitor", "--current", str(path), "--json", "-c", str(monitored.charter)]
    )
    assert result.exit_code == 0, result.output
    (window,) = json.loads(result.output)["windows"]
    assert window["refused"] >= 1 and window["predictions"] + window["refused"] == 1_000
    assert window["quality"]["refused_fields"].get("monthly_charges", 0) >= 1
    assert window["drift"]["drifted"] is True
    # the target column gives the outcomes of every scored row
    assert window["performance"]["labelled"] == window["predictions"]
    truth = np.array([v == "yes" for v in table.column("churned").to_pylist()])
    assert abs(window["estimate"]["positive_rate"] - truth.mean()) < 0.1


def test_retrain_by_hand_needs_outcomes(monitored: Any) -> None:
    result = CliRunner().invoke(app, ["retrain", "-c", str(monitored.charter)])
    assert result.exit_code == 0, result.output
    assert "no prediction has an outcome yet" in result.output


def test_without_auto_promote_the_challenger_waits_and_a_schedule_fires(
    monitored: Any, stream: Any, feedback: Any
) -> None:
    from datetime import timedelta

    text = monitored.charter.read_text()
    assert "auto_promote: true" in text and "retrain_when: [drift, decay]" in text
    monitored.charter.write_text(
        text.replace("auto_promote: true", "auto_promote: false").replace(
            "retrain_when: [drift, decay]", "retrain_when: [schedule]\n  retrain_every: 1h"
        )
    )
    project = Project(monitored.charter)
    _stream_and_outcomes(project, stream, feedback)
    since = project.history()[-1].since
    from datetime import datetime

    promoted_at = datetime.fromisoformat(since)
    assert triggers(project, None, now=promoted_at + timedelta(minutes=59)) == []
    fired = triggers(project, None, now=promoted_at + timedelta(hours=1))
    assert fired == ["schedule"]
    outcome = retrain(project, fired=fired, budget_seconds=3)
    assert outcome.promotion is not None and outcome.promotion.startswith("waiting for approval")
    assert project.version("production").number == monitored.boosted
