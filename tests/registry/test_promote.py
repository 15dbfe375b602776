"""Promotion through the gates, overrides, approval, other aliases and rollback, on a trained project.

The project is trained once per module (two runs of baseline + simple: v1 baseline, v2 simple,
v3 baseline, v4 simple, v2 and v4 with the same figures on the same test rows); each test that
changes state works on its own copy of the folder, store included.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.api import Project
from charter.cli import app
from charter.errors import CharterError, UsageError
from charter.registry._versions import MANIFEST

runner = CliRunner()

APPROVAL = "promotion: {approval: required, approvers: [Dana]}\n"


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch):
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    monkeypatch.setenv("CHARTER_USER", "tester")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, loose_demo) -> Path:
    """The folder of a demo project trained twice; not to be changed (copy it). Its constraints
    are loose enough for the simple candidate to pass every gate on any machine; tests tighten
    them."""
    charter = loose_demo(tmp_path_factory.mktemp("trained"))
    project = Project(charter)
    project.audit()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        patch.setenv("CHARTER_USER", "tester")
        for _ in range(2):
            project.train(budget_seconds=2, only=["baseline", "simple"])
    project.registry().store.dispose()
    return charter.parent


class Projects:
    """Opens projects on a copy of the trained folder, and closes their stores afterwards."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.charter = folder / "charter.yaml"
        self._opened: list[Project] = []

    def open(self) -> Project:
        project = Project(self.charter)
        self._opened.append(project)
        return project

    def edit_charter(self, old: str, new: str) -> Project:
        text = self.charter.read_text(encoding="utf-8")
        assert old in text
        self.charter.write_text(text.replace(old, new), encoding="utf-8")
        return self.open()

    def cli(self, *args: str):
        return runner.invoke(app, [*args, "--charter", str(self.charter)], env={"COLUMNS": "200"})

    def close(self) -> None:
        for project in self._opened:
            if project._registry is not None:
                project._registry.store.dispose()


def _copied(source: Path, target: Path) -> Iterator[Projects]:
    projects = Projects(Path(shutil.copytree(source, target)))
    yield projects
    projects.close()


@pytest.fixture
def copy(trained, tmp_path) -> Iterator[Projects]:
    """The trained project, nothing in production yet."""
    yield from _copied(trained, tmp_path / "project")


@pytest.fixture(scope="module")
def _once(trained, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHARTER_USER", "tester")
        for name in ("CHARTER_STORE", "CHARTER_ARTIFACTS"):
            patch.delenv(name, raising=False)
        projects = Projects(Path(shutil.copytree(trained, tmp_path_factory.mktemp("once") / "p")))
        assert projects.open().promote(2, reason="first model").moved
        projects.close()
    return projects.folder


@pytest.fixture(scope="module")
def _twice(_once, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHARTER_USER", "tester")
        for name in ("CHARTER_STORE", "CHARTER_ARTIFACTS"):
            patch.delenv(name, raising=False)
        projects = Projects(Path(shutil.copytree(_once, tmp_path_factory.mktemp("twice") / "p")))
        assert projects.open().promote(4, reason="retrained").moved
        projects.close()
    return projects.folder


@pytest.fixture
def promoted_once(_once, tmp_path) -> Iterator[Projects]:
    """v2 in production, promoted with the reason "first model"."""
    yield from _copied(_once, tmp_path / "project")


@pytest.fixture
def promoted_twice(_twice, tmp_path) -> Iterator[Projects]:
    """v2 then v4 in production (reasons "first model", "retrained")."""
    yield from _copied(_twice, tmp_path / "project")


def actions(project: Project) -> list[str]:
    return [e.action for e in project.trail()]


def gate(promotion, name: str):
    return next(g for g in promotion.gates if g.name == name)


def test_the_trained_project_has_two_identical_runs(trained):
    project = Project(trained / "charter.yaml")
    versions = project.models()
    project.registry().store.dispose()
    assert [(v.number, v.kind, v.selected) for v in versions] == [
        (1, "baseline", False),
        (2, "simple", True),
        (3, "baseline", False),
        (4, "simple", True),
    ]
    assert versions[1].record["test"] == versions[3].record["test"]
    assert all(v.aliases == () for v in versions)


def test_promoting_the_selected_version_through_passing_gates(copy):
    project = copy.open()
    promotion = project.promote()
    assert promotion.moved and not promotion.forced
    assert promotion.version.number == 4  # the latest run's choice
    assert promotion.previous is None
    assert {g.name: g.status for g in promotion.gates} == {
        "beats the baseline": "pass",
        "no worse than production": "pass",
        "fairness": "pass",
        "latency": "pass",
        "contract and model card": "pass",
        "reproducible": "skip",
        "approval": "skip",
    }
    assert project.version("production").number == 4
    assert project.registry().aliases("churn") == {"production": 4}
    last = project.trail()[-1]
    assert (last.action, last.version, last.alias, last.actor) == (
        "promoted",
        4,
        "production",
        "tester",
    )
    assert last.details["gates"]["latency"]["status"] == "pass"
    assert project.verify_trail().ok


def test_a_version_failing_a_gate_is_refused_and_the_refusal_recorded(copy):
    project = copy.open()
    before = len(project.trail())
    result = copy.cli("promote", "v1")
    assert result.exit_code == 1, result.output
    assert "Refused: v1 does not pass: beats the baseline." in result.stdout
    assert "baseline itself" in result.stdout
    assert "production" not in project.registry().aliases("churn")
    trail = project.trail()
    assert len(trail) == before + 1
    rejected = trail[-1]
    assert (rejected.action, rejected.version, rejected.alias) == ("rejected", 1, "production")
    gates = rejected.details["gates"]
    assert gates["beats the baseline"]["status"] == "fail"
    assert gates["fairness"]["status"] == "pass"
    assert "baseline itself" in gates["beats the baseline"]["evidence"]


def test_a_latency_limit_the_model_cannot_meet_refuses_it(copy):
    copy.edit_charter("latency_ms_p99: 1000", "latency_ms_p99: 0.0001")
    result = copy.cli("promote", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["moved"] is False and document["version"] == 4
    failed = [g for g in document["gates"] if g["status"] == "fail"]
    assert [g["name"] for g in failed] == ["latency"]
    assert "limit 0.0001 ms" in failed[0]["evidence"]
    project = copy.open()
    assert "production" not in project.registry().aliases("churn")
    # The charter changed since training: that goes on the trail before the refusal.
    assert actions(project)[-2:] == ["charter_changed", "rejected"]
    assert project.trail()[-1].details["gates"]["latency"]["status"] == "fail"


def test_force_without_a_reason_is_a_usage_error(copy):
    project = copy.open()
    before = actions(project)
    with pytest.raises(UsageError, match="--force needs --reason"):
        project.promote(1, force=True)
    with pytest.raises(UsageError, match="--force needs --reason"):
        project.promote(1, force=True, reason="   ")
    result = copy.cli("promote", "v1", "--force")
    assert result.exit_code == 2
    assert "--force needs --reason" in result.stderr
    assert "Traceback" not in result.output
    assert actions(project) == before
    assert "production" not in project.registry().aliases("churn")


def test_force_with_a_reason_moves_it_and_records_the_override(copy):
    project = copy.open()
    promotion = project.promote(1, force=True, reason="pilot: the rule is all ops can run")
    assert promotion.moved and promotion.forced
    assert [g.name for g in promotion.failed] == ["beats the baseline"]
    assert project.version("production").number == 1
    last = project.trail()[-1]
    assert last.action == "overridden"
    assert last.reason == "pilot: the rule is all ops can run"
    assert last.details["overridden"] == ["beats the baseline"]
    assert last.details["gates"]["beats the baseline"]["status"] == "fail"
    # On the record of what served when, the override shows as such.
    (stint,) = project.history()
    assert (stint.version, stint.action, stint.reason) == (
        1,
        "overridden",
        "pilot: the rule is all ops can run",
    )


def test_a_new_version_is_compared_with_the_current_production(promoted_twice):
    project = promoted_twice.open()
    # v4 scored what v2 scored on the same test rows: within the 1% margin.
    promoted = project.trail()[-1]
    assert (promoted.action, promoted.version, promoted.details["previous"]) == ("promoted", 4, 2)
    passed = promoted.details["gates"]["no worse than production"]
    assert passed["status"] == "pass"
    assert "vs production v2" in passed["evidence"] and "on the same" in passed["evidence"]
    # The baseline is far worse than v4, the version in production now.
    refused = project.promote(1)
    assert not refused.moved
    regression = gate(refused, "no worse than production")
    assert regression.failed
    assert "vs production v4" in regression.evidence
    assert "allowed drop" in regression.evidence
    assert project.trail()[-1].details["gates"]["no worse than production"]["status"] == "fail"
    assert project.version("production").number == 4


def test_required_approval_refuses_without_and_passes_with_an_approver(copy):
    project = copy.edit_charter("monitoring:", APPROVAL + "monitoring:")
    refused = project.promote(4)
    assert not refused.moved
    assert [g.name for g in refused.failed] == ["approval"]
    assert "one of: Dana" in refused.failed[0].evidence
    assert "approved" not in actions(project)

    accepted = project.promote(4, approved_by="Dana")
    assert accepted.moved
    trail = project.trail()
    approved, promoted = trail[-2], trail[-1]
    assert (approved.action, approved.version, approved.details["approved_by"]) == (
        "approved",
        4,
        "Dana",
    )
    assert (promoted.action, promoted.version) == ("promoted", 4)
    assert promoted.details["gates"]["approval"]["evidence"] == "approved by Dana."


def test_an_approval_recorded_earlier_counts_at_promotion(copy):
    project = copy.edit_charter("monitoring:", APPROVAL + "monitoring:")
    result = copy.cli("approve", "v2", "--by", "Dana", "--reason", "reviewed the card")
    assert result.exit_code == 0, result.output
    assert "v2 approved by Dana" in result.stdout
    entry = project.trail()[-1]
    assert (entry.action, entry.version, entry.reason) == ("approved", 2, "reviewed the card")
    promotion = project.promote(2)
    assert promotion.moved
    assert gate(promotion, "approval").evidence == "approved by Dana."
    # The approval was of v2; it says nothing about v4.
    assert project.registry().approvals("churn", 4) == []


def test_approval_by_someone_not_among_the_approvers_is_refused(copy):
    project = copy.edit_charter("monitoring:", APPROVAL + "monitoring:")
    before = actions(project)
    result = copy.cli("approve", "v2", "--by", "Eve")
    assert result.exit_code == 2
    assert "Eve is not among the charter's approvers (Dana)" in result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(UsageError, match="not among the charter's approvers"):
        project.approve(2, by="Eve")
    assert actions(project) == before


def test_moving_another_alias_runs_no_gate(promoted_once):
    project = promoted_once.open()
    # The baseline could never pass the production gates; staging asks for none.
    moved = project.promote(1, alias="staging", reason="shadow the rule")
    assert moved.moved and moved.gates == () and moved.alias == "staging"
    assert project.registry().aliases("churn") == {"production": 2, "staging": 1}
    last = project.trail()[-1]
    assert (last.action, last.version, last.alias, last.reason) == (
        "alias_moved",
        1,
        "staging",
        "shadow the rule",
    )
    assert [s.version for s in project.history("staging")] == [1]
    assert [s.version for s in project.history()] == [2]


def test_moving_an_alias_at_the_cli(copy):
    result = copy.cli("promote", "v3", "--to", "staging")
    assert result.exit_code == 0, result.output
    assert "v3 is staging" in result.stdout
    assert copy.open().registry().aliases("churn") == {"staging": 3}


def test_an_alias_that_looks_like_a_version_is_refused(copy):
    with pytest.raises(UsageError, match="not a usable alias"):
        copy.open().promote(2, alias="v3")


def test_promoting_the_version_already_in_production_is_a_clear_error(promoted_once):
    project = promoted_once.open()
    before = actions(project)
    with pytest.raises(UsageError, match="v2 is already production of churn"):
        project.promote(2)
    result = promoted_once.cli("promote", "v2")
    assert result.exit_code == 2
    assert "already production" in result.stderr
    assert actions(project) == before


# --- rollback ------------------------------------------------------------------------------------


def test_rollback_makes_the_previous_version_production_again(promoted_twice):
    project = promoted_twice.open()
    done = project.rollback(reason="complaints from the call centre")
    assert (done.from_version, done.to_version) == (4, 2)
    assert project.version("production").number == 2
    last = project.trail()[-1]
    assert (last.seq, last.action, last.actor) == (done.seq, "rolled_back", "tester")
    assert last.details == {"previous": 4, "from": 4}
    history = project.history()
    assert [(s.version, s.action, s.reason) for s in history] == [
        (2, "promoted", "first model"),
        (4, "promoted", "retrained"),
        (2, "rolled_back", "complaints from the call centre"),
    ]
    assert [s.until is None for s in history] == [False, False, True]
    assert history[0].until == history[1].since and history[1].until == history[2].since
    assert project.verify_trail().ok


def test_rollback_and_history_at_the_cli(promoted_twice):
    result = promoted_twice.cli("rollback", "--reason", "complaints")
    assert result.exit_code == 0, result.output
    assert "v2 is production again (was v4)" in result.stdout
    result = promoted_twice.cli("history", "--json")
    assert result.exit_code == 0
    stints = json.loads(result.stdout)
    assert [(s["version"], s["action"]) for s in stints] == [
        (2, "rolled_back"),
        (4, "promoted"),
        (2, "promoted"),
    ]
    assert stints[0]["reason"] == "complaints" and stints[0]["until"] is None


def test_rollback_to_a_named_version(promoted_twice):
    project = promoted_twice.open()
    # Without --to it would go back to v2; --to goes where it is told, gates or not.
    result = promoted_twice.cli("rollback", "--to", "v3", "--reason", "back to the rule")
    assert result.exit_code == 0, result.output
    assert "v3 is production again (was v4)" in result.stdout
    assert project.version("production").number == 3
    assert [(s.version, s.action) for s in project.history()] == [
        (2, "promoted"),
        (4, "promoted"),
        (3, "rolled_back"),
    ]
    with pytest.raises(UsageError, match="v3 is already in production"):
        project.rollback(reason="again", to=3)


def test_rollback_with_nothing_in_production_is_a_clear_error(copy):
    project = copy.open()
    with pytest.raises(UsageError, match="no version in production"):
        project.rollback(reason="oops")
    result = copy.cli("rollback", "--reason", "oops")
    assert result.exit_code == 2
    assert "no version in production" in result.stderr
    assert "Traceback" not in result.output


def test_rollback_with_one_version_ever_in_production_asks_for_to(promoted_once):
    project = promoted_once.open()
    with pytest.raises(UsageError, match="only version churn has had in production.*--to"):
        project.rollback(reason="bad")
    assert project.version("production").number == 2


def test_rollback_needs_a_reason(promoted_twice):
    project = promoted_twice.open()
    with pytest.raises(UsageError, match="needs --reason"):
        project.rollback(reason="  ")
    assert project.version("production").number == 4


def test_rollback_refuses_a_target_whose_files_were_changed(promoted_twice):
    project = promoted_twice.open()
    target = project.version(2)
    folder = promoted_twice.folder / ".charter" / "artifacts" / target.location
    model_file = next(iter(json.loads((folder / MANIFEST).read_bytes())["files"]))
    with (folder / model_file).open("ab") as handle:
        handle.write(b"\n")
    before = actions(project)
    with pytest.raises(CharterError, match="does not match the SHA-256"):
        project.rollback(reason="complaints")
    assert project.version("production").number == 4
    assert actions(project) == before
    result = promoted_twice.cli("rollback", "--reason", "complaints")
    assert result.exit_code == 2
    assert model_file in result.stderr
    assert project.version("production").number == 4


def test_a_version_whose_model_file_was_changed_is_not_promoted(promoted_once):
    project = promoted_once.open()
    version = project.version(4)
    folder = promoted_once.folder / ".charter" / "artifacts" / version.location
    model_file = next(iter(json.loads((folder / MANIFEST).read_bytes())["files"]))
    (folder / model_file).write_bytes(b"import os  # not the model that was registered\n")
    with pytest.raises(CharterError, match="does not match the SHA-256"):
        project.promote(4)
    result = promoted_once.cli("promote", "v4")
    assert result.exit_code == 2
    assert model_file in result.stderr and "Traceback" not in result.output
    assert project.version("production").number == 2


@pytest.mark.slow  # trains again
def test_versions_tested_on_different_rows_are_retested_on_todays(promoted_once):
    # 100 customers of the latest month (the holdout's) leave the data; a new run is tested
    # on the rows left, so its recorded test rows are not production's.
    usage = promoted_once.folder / "data" / "usage.csv"
    header, *lines = usage.read_text(encoding="utf-8").splitlines()
    latest = max(line.split(",")[1] for line in lines)
    gone = [line for line in lines if line.split(",")[1] == latest][:100]
    assert len(gone) == 100
    usage.write_text("\n".join([header, *(x for x in lines if x not in gone)]) + "\n")
    project = promoted_once.open()
    result = project.train(budget_seconds=2, only=["baseline", "simple"])
    new = project.version(result.versions["simple"])
    production = project.version("production")
    assert new.lineage["holdout"]["test_sha256"] != production.lineage["holdout"]["test_sha256"]
    rows = new.lineage["holdout"]["test_rows"]
    promotion = project.promote(new.number)
    regression = gate(promotion, "no worse than production")
    assert regression.status == "pass"
    assert "vs production v2 " in regression.evidence
    assert f"re-tested on today's {rows:,} test rows" in regression.evidence
    assert promotion.moved and promotion.previous == 2
