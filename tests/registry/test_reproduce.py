"""`reproduce`: retraining a version from its recorded inputs, and saying what changed when it differs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from charter.api import Project
from charter.cli import app
from charter.errors import UsageError
from charter.modeling import CustomCandidate

runner = CliRunner()

NEW_IDS = 1_000_000


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch):
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    monkeypatch.setenv("CHARTER_USER", "tester")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, loose_demo) -> Path:
    """A demo project trained once (v1 baseline, v2 simple, v3 boosted); not to be changed."""
    charter = loose_demo(tmp_path_factory.mktemp("trained"))
    project = Project(charter)
    project.audit()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        result = project.train(budget_seconds=2)
    project.registry().store.dispose()
    assert result.versions == {"baseline": 1, "simple": 2, "boosted": 3}
    return charter.parent


@pytest.fixture
def project(trained, tmp_path) -> Iterator[Project]:
    """The trained project, on a copy of its folder."""
    opened = Project(Path(shutil.copytree(trained, tmp_path / "project")) / "charter.yaml")
    yield opened
    if opened._registry is not None:
        opened._registry.store.dispose()


def cli(project: Project, *args: str):
    return runner.invoke(app, [*args, "--charter", str(project.path)], env={"COLUMNS": "200"})


@pytest.mark.parametrize(("number", "kind"), [(2, "simple"), (3, "boosted")])
def test_a_version_reproduces_with_every_figure_the_same(project, number, kind):
    version = project.version(number)
    assert version.kind == kind
    reproduction = project.reproduce(number)
    assert reproduction.matches
    assert reproduction.mismatched == ()
    assert reproduction.differences == ()
    names = [name for name, _, _ in reproduction.metrics]
    assert names[:2] == ["cv value", "test value"]
    assert {"test roc_auc", "test log_loss", "test precision", "test recall"} <= set(names)
    for _, then, now in reproduction.metrics:
        assert then == now
    assert (
        dict((n, t) for n, t, _ in reproduction.metrics)["test value"]
        == (version.record["test"]["value"])
    )


def test_reproduce_at_the_cli_reports_the_figures(project):
    result = cli(project, "reproduce", "v2", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["version"] == 2 and document["matches"] is True
    assert document["mismatched"] == [] and document["differences"] == []
    assert all(f["recorded"] == f["now"] for f in document["figures"])


def _append_rows(folder: Path, count: int) -> None:
    """Append `count` customers (copies of existing ones under new ids) to both sources."""
    customers = pq.read_table(folder / "data" / "customers.parquet")
    copied = customers.slice(0, count)
    ids = pc.add(copied["customer_id"], pa.scalar(NEW_IDS, copied["customer_id"].type))
    copied = copied.set_column(copied.schema.get_field_index("customer_id"), "customer_id", ids)
    pq.write_table(pa.concat_tables([customers, copied]), folder / "data" / "customers.parquet")
    usage = folder / "data" / "usage.csv"
    header, *lines = usage.read_text(encoding="utf-8").splitlines()
    wanted = {str(i) for i in customers["customer_id"].slice(0, count).to_pylist()}
    extra = [
        f"{int(first) + NEW_IDS},{rest}"
        for first, rest in (line.split(",", 1) for line in lines)
        if first in wanted
    ]
    assert len(extra) == count
    with usage.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(extra) + "\n")


@pytest.mark.slow  # trains again
def test_after_rows_are_appended_the_reproduction_names_the_data(project):
    recorded = project.version(2).lineage["data"]
    _append_rows(project.folder, 300)
    reproduction = project.reproduce(2)
    data = [d for d in reproduction.differences if d.startswith("data:")]
    assert len(data) == 1
    assert f"{recorded['rows']:,} rows then" in data[0]
    assert f"{recorded['rows'] + 300:,} now" in data[0]
    # Nothing else changed: same charter, contract, code and packages.
    assert all(d.startswith(("data:", "holdout:")) for d in reproduction.differences), (
        reproduction.differences
    )
    # With more rows to learn from, the figures move; the CLI says so with exit 1 and the cause.
    assert not reproduction.matches
    assert "cv value" in reproduction.mismatched
    result = cli(project, "reproduce", "v2")
    assert result.exit_code == 1
    assert "did not reproduce" in result.stdout
    assert "changed since: data:" in result.stdout


def test_a_changed_charter_is_named_and_the_recorded_one_is_used(project):
    text = project.path.read_text(encoding="utf-8")
    project.path.write_text(
        text.replace("beat_baseline_by: 10%", "beat_baseline_by: 50%"), encoding="utf-8"
    )
    reproduction = Project(project.path).reproduce(2)
    assert reproduction.matches
    assert len(reproduction.differences) == 1
    assert reproduction.differences[0].startswith("charter: charter.yaml has changed since")


@pytest.mark.slow  # trains again
def test_a_custom_candidate_is_refused_clearly(project):
    forest = CustomCandidate(LogisticRegression(max_iter=500), name="my_logit")
    result = project.train(budget_seconds=2, only=["baseline"], extra=[forest])
    number = result.versions["my_logit"]
    assert project.version(number).kind == "custom"
    with pytest.raises(UsageError, match="custom candidate \\(my_logit\\).*Python API"):
        project.reproduce(number)
    outcome = cli(project, "reproduce", f"v{number}")
    assert outcome.exit_code == 2
    assert "custom candidate" in outcome.stderr
    assert "Traceback" not in outcome.output
    promotion = project.promote(number, verify=True, force=True, reason="checking the gate")
    gate = next(g for g in promotion.gates if g.name == "reproducible")
    assert gate.failed and "could not be retrained" in gate.evidence


def test_promote_verify_adds_a_passing_reproducible_gate(project):
    promotion = project.promote(2, verify=True)
    gate = next(g for g in promotion.gates if g.name == "reproducible")
    assert gate.status == "pass"
    assert "retrained from its recorded inputs: all" in gate.evidence
    assert "figures match" in gate.evidence
    assert promotion.moved
    recorded = project.trail()[-1].details["gates"]["reproducible"]
    assert recorded["status"] == "pass"


@pytest.mark.slow  # trains again
def test_promote_verify_fails_when_the_data_changed_the_figures(project):
    _append_rows(project.folder, 300)
    promotion = project.promote(2, verify=True)
    gate = next(g for g in promotion.gates if g.name == "reproducible")
    assert gate.failed
    assert "What changed: data:" in gate.evidence
    assert not promotion.moved
    assert project.trail()[-1].action == "rejected"
