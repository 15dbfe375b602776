"""The registry commands as a user runs them: train registers, models, show, promote, history, log.

One demo project is trained once through `charter train`; tests that change its state work on a
copy of the folder (the store and the artifacts live in `.charter/` inside it).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.api import Project
from charter.cli import app
from charter.registry import ArtifactStore, MetadataStore, Registry

runner = CliRunner()


def run(charter: Path, *args: str):
    """`charter ARGS --charter CHARTER`, on a terminal wide enough that nothing wraps."""
    return runner.invoke(app, [*args, "--charter", str(charter)], env={"COLUMNS": "250"})


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch):
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    monkeypatch.setenv("CHARTER_USER", "tester")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, loose_demo) -> tuple[Path, str]:
    """A demo project audited and trained with `charter train`, and what train printed."""
    charter = loose_demo(tmp_path_factory.mktemp("churn"))
    Project(charter).audit()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        patch.setenv("CHARTER_USER", "tester")
        result = run(charter, "train", "--budget", "2")
    assert result.exit_code == 0, result.output
    return charter, result.stdout


@pytest.fixture
def charter(trained, tmp_path) -> Path:
    """A copy of the trained project, free to change."""
    return Path(shutil.copytree(trained[0].parent, tmp_path / "churn")) / "charter.yaml"


def models(charter: Path) -> list[dict]:
    result = run(charter, "models", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def table_rows(printed: str) -> list[list[str]]:
    """The cells of each row of the Rich tables in `printed` (lines drawn with box characters)."""
    return [
        [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        for line in printed.splitlines()
        if line.startswith(("│", "┃"))
    ]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_prints_the_versions_it_registered(trained):
    _, printed = trained
    line = next(line for line in printed.splitlines() if line.startswith("Registered:"))
    assert re.fullmatch(
        r"Registered: v1 baseline, v2 simple( \(chosen\))?, v3 boosted( \(chosen\))?\.", line
    )
    assert line.count("(chosen)") == 1
    assert re.search(r"Next: `charter promote` puts v[23] through the gates", printed)


def test_models_lists_every_version_with_its_lineage(trained):
    charter, _ = trained
    versions = models(charter)
    assert [(v["version"], v["candidate"], v["kind"]) for v in versions] == [
        (1, "baseline", "baseline"),
        (2, "simple", "simple"),
        (3, "boosted", "boosted"),
    ]
    assert sum(v["selected"] for v in versions) == 1
    assert len({v["run"] for v in versions}) == 1
    charter_sha = sha256_of(charter)
    contract_sha = sha256_of(charter.parent / "contract.yaml")
    for version in versions:
        assert version["aliases"] == [] and version["created_by"] == "tester"
        lineage = version["lineage"]
        assert {"charter_sha256", "contract_sha256", "data", "holdout", "git", "python"} <= set(
            lineage
        )
        assert {"packages", "seed", "folds", "budget_seconds"} <= set(lineage)
        assert lineage["charter_sha256"] == charter_sha
        assert lineage["contract_sha256"] == contract_sha
        assert re.fullmatch(r"[0-9a-f]{64}", lineage["data"]["sha256"])
        assert lineage["data"]["rows"] > 2000
        assert re.fullmatch(r"[0-9a-f]{64}", lineage["holdout"]["test_sha256"])
        assert lineage["holdout"]["test_rows"] > 0
        assert lineage["git"] is None  # the project folder is not a git repository
        assert re.fullmatch(r"3\.\d+\.\d+", lineage["python"])
        assert lineage["packages"]["numpy"] and lineage["packages"]["lightgbm"]
        assert (lineage["seed"], lineage["folds"], lineage["budget_seconds"]) == (0, 5, 2.0)
        assert {"manifest.json", "contract.yaml", "model_card.html"} <= set(version["artifacts"])
    # One run: every version shares the lineage of its inputs.
    assert len({json.dumps(v["lineage"], sort_keys=True) for v in versions}) == 1


def test_models_as_a_table(trained):
    result = run(trained[0], "models")
    assert result.exit_code == 0
    for label in ("v1", "v2", "v3", "baseline", "simple", "boosted", "gain over baseline"):
        assert label in result.stdout


def test_show_writes_the_model_card_and_prints_the_lineage(charter):
    result = run(charter, "show", "v2")
    assert result.exit_code == 0, result.output
    card = charter.parent / ".charter" / "cards" / "v2.html"
    assert card.is_file()
    assert "<dt>This card's candidate</dt><dd>simple," in card.read_text(encoding="utf-8")
    assert f"Model card: {card}" in result.stdout
    assert "churn v2: simple (simple)" in result.stdout
    contract_sha = sha256_of(charter.parent / "contract.yaml")
    rows = dict(row for row in table_rows(result.stdout) if len(row) == 2)
    assert rows["charter"] == sha256_of(charter)[:12]
    assert rows["contract"] == contract_sha[:12]
    assert re.fullmatch(r"[0-9a-f]{12} \([\d,]+ rows, \d+ features\)", rows["data"])
    assert "test rows" in rows["holdout"]
    assert rows["code"] == "not a git repository"
    assert rows["settings"] == "seed 0, 5 folds, budget 2.0 s"
    assert "numpy " in rows["packages"] and "lightgbm " in rows["packages"]

    document = json.loads(run(charter, "show", "2", "--json").stdout)
    assert document["version"] == 2 and document["model_card"] == str(card)


def test_show_of_an_unknown_version_names_the_versions_there_are(trained):
    result = run(trained[0], "show", "v99")
    assert result.exit_code == 2
    assert "churn has no version v99; versions are v1–v3" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    unknown = run(trained[0], "show", "canary")
    assert unknown.exit_code == 2
    assert "neither a version (3 or v3) nor an alias" in unknown.stderr


def test_promote_history_and_a_log_that_catches_an_edited_entry(charter):
    chosen = next(v["version"] for v in models(charter) if v["selected"])
    result = run(charter, "promote")
    assert result.exit_code == 0, result.output
    assert f"v{chosen} is production." in result.stdout
    for name in ("beats the baseline", "no worse than production", "latency", "approval"):
        assert name in result.stdout

    history = run(charter, "history")
    assert history.exit_code == 0
    header, *stints = table_rows(history.stdout)
    assert header == ["version", "from", "until", "how", "by", "reason"]
    assert [(row[0], row[2], row[3], row[4]) for row in stints] == [
        (f"v{chosen}", "now", "promoted", "tester")
    ]

    log = run(charter, "log")
    assert log.exit_code == 0
    assert "registered" in log.stdout and "promoted → production" in log.stdout

    verified = run(charter, "log", "--verify")
    assert verified.exit_code == 0, verified.output
    assert "Trail intact: 4 entries" in verified.stdout

    database = charter.parent / ".charter" / "registry.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("UPDATE charter_events SET reason='x' WHERE seq=1").rowcount == 1
    connection.close()

    tampered = run(charter, "log", "--verify")
    assert tampered.exit_code == 1
    assert "Trail tampered with" in tampered.stdout
    assert "entry #1 (registered at" in tampered.stdout and "was edited" in tampered.stdout
    document = json.loads(run(charter, "log", "--verify", "--json").stdout)
    assert document["verified"]["ok"] is False
    assert len(document["verified"]["problems"]) == 1
    assert document["verified"]["problems"][0].startswith("entry #1 ")


def test_rollback_without_a_reason_is_a_usage_error(charter):
    result = run(charter, "rollback")
    assert result.exit_code == 2
    assert "--reason" in result.output


@pytest.mark.slow  # trains again
def test_the_charter_store_section_chooses_the_store(tmp_path, loose_demo):
    charter = loose_demo(tmp_path / "churn", customers=1500)
    with charter.open("a", encoding="utf-8") as handle:
        handle.write("store: {url: sqlite:///team/registry.db, artifacts: team/files}\n")
    result = run(charter, "train", "--only", "baseline,simple", "--budget", "1")
    assert result.exit_code == 0, result.output
    folder = charter.parent
    assert not (folder / ".charter" / "registry.db").exists()
    assert not (folder / ".charter" / "artifacts").exists()
    store = MetadataStore(f"sqlite:///{folder / 'team' / 'registry.db'}")
    try:
        versions = Registry(store, ArtifactStore(str(folder / "team" / "files"))).versions("churn")
    finally:
        store.dispose()
    assert [v.candidate for v in versions] == ["baseline", "simple"]
    for version in versions:
        assert (folder / "team" / "files" / version.location / "manifest.json").is_file()
    assert [v["version"] for v in models(charter)] == [1, 2]


@pytest.mark.slow  # trains again
def test_charter_store_in_the_environment_wins_over_the_charter(tmp_path, monkeypatch, loose_demo):
    charter = loose_demo(tmp_path / "churn", customers=1500)
    with charter.open("a", encoding="utf-8") as handle:
        handle.write("store: {url: sqlite:///team/registry.db}\n")
    elsewhere = tmp_path / "shared" / "metadata.db"
    monkeypatch.setenv("CHARTER_STORE", f"sqlite:///{elsewhere}")
    monkeypatch.setenv("CHARTER_ARTIFACTS", str(tmp_path / "shared" / "files"))
    result = run(charter, "train", "--only", "baseline,simple", "--budget", "1")
    assert result.exit_code == 0, result.output
    assert elsewhere.is_file()
    assert not (charter.parent / "team").exists()
    assert not (charter.parent / ".charter" / "registry.db").exists()
    store = MetadataStore(f"sqlite:///{elsewhere}")
    try:
        registry = Registry(store, ArtifactStore(str(tmp_path / "shared" / "files")))
        assert [v.number for v in registry.versions("churn")] == [1, 2]
        assert [e.action for e in registry.trail("churn")] == ["registered", "registered"]
    finally:
        store.dispose()
    assert [v["candidate"] for v in models(charter)] == ["baseline", "simple"]
    monkeypatch.delenv("CHARTER_STORE")
    monkeypatch.delenv("CHARTER_ARTIFACTS")
    # Without the variable the charter's own store is used, and it holds nothing yet.
    assert models(charter) == []
