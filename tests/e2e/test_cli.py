"""The CLI as a user runs it: commands, exit codes, files written, and errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.demo import write_demo_project

runner = CliRunner()


def run(*args: str, cwd: Path | None = None):
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory) -> Path:
    return write_demo_project(tmp_path_factory.mktemp("demo"), customers=3000)


def test_no_arguments_shows_the_commands():
    result = run()
    for command in ("init", "check", "audit", "validate", "demo"):
        assert command in result.output


def test_init_without_data_writes_a_charter_that_check_questions(tmp_path):
    result = run("init", "--project", "churn", "--target", "churned", "--no-input", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "charter.yaml").exists()
    checked = run("check", cwd=tmp_path)
    assert checked.exit_code == 1
    for key in ("owner", "decision", "success.value", "baseline.rule", "success.beat_baseline_by"):
        assert key in checked.output
    assert "why:" in checked.output


def test_init_refuses_to_overwrite(tmp_path):
    (tmp_path / "charter.yaml").write_text("keep me")
    result = run("init", "--no-input", cwd=tmp_path)
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert (tmp_path / "charter.yaml").read_text() == "keep me"


def test_init_from_data_proposes_target_task_and_entity(tmp_path):
    table = pa.table(
        {
            "customer_id": list(range(1, 201)),
            "tenure": [i % 40 for i in range(200)],
            "gender": ["f", "m"] * 100,
            "churned": ["yes" if i % 5 == 0 else "no" for i in range(200)],
        }
    )
    pacsv.write_csv(table, tmp_path / "customers.csv")
    result = run(
        "init", "--data", "customers.csv", "--owner", "Retention team", "--no-input", cwd=tmp_path
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "charter.yaml").read_text()
    assert 'target: "churned"' in text
    assert "task: classification" in text
    assert 'entity: "customer_id"' in text
    assert 'positive_class: "yes"' in text
    assert 'sensitive: ["gender"]' in text
    assert 'owner: "Retention team"' in text
    assert "decision:   # QUESTION" in text
    checked = run("check", cwd=tmp_path)
    assert (
        checked.exit_code == 1
        and "decision" in checked.output
        and "owner" not in checked.output.split("open")[1].split("why")[0]
    )


def test_init_with_an_unknown_target_names_the_columns(tmp_path):
    pacsv.write_csv(pa.table({"a": [1, 2], "b": [3, 4]}), tmp_path / "d.csv")
    result = run("init", "--data", "d.csv", "--target", "nope", "--no-input", cwd=tmp_path)
    assert result.exit_code == 2
    assert "'nope' is not a column" in result.output and "a, b" in result.output


def test_check_passes_on_a_complete_charter(demo_project):
    result = run("check", "--charter", str(demo_project))
    assert result.exit_code == 0, result.output
    assert "Phase 1 complete" in result.output


def test_missing_charter_is_a_clear_error(tmp_path):
    result = run("check", cwd=tmp_path)
    assert result.exit_code == 2
    assert "no charter file here" in result.output and "charter init" in result.output
    assert "Traceback" not in result.output


def test_invalid_charter_points_at_the_line(tmp_path):
    (tmp_path / "charter.yaml").write_text(
        "project: p\ntarget: y\ndata: {sources: {a: a.csv}}\ntask: forecast\n"
    )
    result = run("audit", cwd=tmp_path)
    assert result.exit_code == 2
    assert "charter.yaml:4: task: expected one of" in result.output


def test_audit_of_a_missing_file_names_the_source(tmp_path):
    (tmp_path / "charter.yaml").write_text(
        "project: p\ntarget: y\ndata: {sources: {sales: data/sales.csv}}\n"
    )
    result = run("audit", cwd=tmp_path)
    assert result.exit_code == 2
    assert "sales" in result.output and "sales.csv" in result.output
    assert "Traceback" not in result.output


def test_audit_json_follows_the_documented_schema(demo_project):
    result = run("audit", "--charter", str(demo_project), "--json")
    document = json.loads(result.stdout)
    assert result.exit_code == (1 if document["verdict"] == "NOT READY" else 0)
    assert set(document) >= {
        "verdict",
        "findings",
        "rows",
        "columns",
        "counts",
        "sources",
        "schema_version",
    }
    assert document["verdict"] in {"READY", "READY WITH WARNINGS", "NOT READY"}
    for finding in document["findings"]:
        assert set(finding) == {
            "check",
            "severity",
            "columns",
            "message",
            "recommendation",
            "evidence",
        }
        assert finding["severity"] in {"error", "warning", "info"}
    checks = {f["check"] for f in document["findings"]}
    # the demo data's deliberate flaws are all found
    for expected in (
        "quality.duplicate_rows",
        "quality.sentinel",
        "quality.type_as_text",
        "quality.spelling",
        "quality.reencoding",
        "leakage.future_timestamp",
        "bias.small_group",
    ):
        assert expected in checks, f"{expected} not found in {sorted(checks)}"
    assert (demo_project.parent / "contract.yaml").exists()
    assert (demo_project.parent / ".charter" / "reports" / "audit-latest.json").exists()


def test_audit_writes_the_html_report_where_asked(demo_project, tmp_path):
    report = tmp_path / "report.html"
    result = run("audit", "--charter", str(demo_project), "--html", str(report))
    assert (
        f"Report: {report}" in re.sub(r"\s+", " ", result.output).replace(" ", " ")
        or report.exists()
    )
    assert report.exists() and "<html" in report.read_text()


def test_validate_quarantines_bad_rows_and_loses_none(demo_project, tmp_path):
    folder = demo_project.parent
    run("audit", "--charter", str(demo_project), "--json")  # writes the contract on first run
    bad, good = tmp_path / "bad.csv", tmp_path / "good.parquet"
    batch = folder / "data" / "new_batch.csv"
    result = run(
        "validate",
        str(batch),
        "--charter",
        str(demo_project),
        "--quarantine",
        str(bad),
        "--passed",
        str(good),
        "--json",
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    import duckdb

    bad_rows = duckdb.sql(f"select count(*) from read_csv('{bad}')").fetchone()[0]
    good_rows = duckdb.sql(f"select count(*) from '{good}'").fetchone()[0]
    total = duckdb.sql(f"select count(*) from read_csv('{batch}')").fetchone()[0]
    assert bad_rows + good_rows == total
    assert bad_rows >= 12  # the demo spoils 12 rows
    assert report["bad_rows"] == bad_rows


def test_validate_without_a_contract_says_how_to_get_one(tmp_path):
    (tmp_path / "charter.yaml").write_text("project: p\ntarget: y\ndata: {sources: {a: a.csv}}\n")
    pacsv.write_csv(pa.table({"y": [1]}), tmp_path / "b.csv")
    result = run("validate", "b.csv", cwd=tmp_path)
    assert result.exit_code == 2 and "charter audit" in result.output


def test_demo_runs_end_to_end(tmp_path):
    result = run("demo", "--dir", str(tmp_path / "d"), "--budget", "3")
    assert result.exit_code == 0, result.output
    assert "Readiness report:" in result.output
    assert (tmp_path / "d" / ".charter" / "reports" / "audit.html").exists()
    assert (tmp_path / "d" / "contract.yaml").exists()
    cards = list((tmp_path / "d" / ".charter" / "runs").glob("*/model_card.html"))
    assert len(cards) == 1 and "<html" in cards[0].read_text()
    assert "Model card:" in result.output
    # phase 4: registered, promoted through the gates, served, fed back, batch-scored
    from charter.api import Project
    from charter.serving import read_feedback, read_log

    project = Project(tmp_path / "d" / "charter.yaml")
    production = project.registry().aliases(project.charter.project).get("production")
    assert production is not None and f"In production: v{production}" in result.output
    assert project.verify_trail().ok
    logged = read_log(project.workspace / "predictions")
    assert set(logged.column("source").to_pylist()) == {"api", "batch"}
    counts = re.search(r"(\d+) requests:\s+(\d+) answered", result.output)
    assert counts is not None, result.output
    answered = int(counts.group(2))
    assert (tmp_path / "d" / "data" / "new_batch.scores.parquet").exists()
    # phase 5: a shifting stream, late outcomes, drift and decay found, a challenger retrained
    text = re.sub(r"\s+", " ", result.output)
    served = re.search(r"Served ([\d,]+) customers", text)
    outcomes = re.search(r"([\d,]+) recorded \(`charter feedback`\)", text)
    assert served is not None and outcomes is not None, text
    phase5 = int(outcomes.group(1).replace(",", ""))
    assert (
        len(read_feedback(project.registry().store, project.charter.project)) >= answered + phase5
    )
    assert logged.filter(pc.equal(logged.column("source"), "api")).num_rows >= answered + phase5
    assert "warning drift:" in text and "critical decay:" in text
    assert "share of 'monthly' rose" in text
    retrained = [e for e in project.trail() if e.action == "retrained"]
    assert len(retrained) == 1 and retrained[0].details["comparison"]["rows"] > 0
    if "promoted: v" in text:  # the challenger went live, then the rollback is shown
        assert "Rollback check:" in text and "Rolled back:" in text
    else:  # the gates refused it (a search cut short by the budget on a slow machine)
        assert "refused by the gates" in text or "kept out" in text


def test_version_is_printed():
    from charter import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"charter {__version__}"
