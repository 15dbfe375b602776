"""`--cluster` as a user runs it: audit, train, score and monitor on a local cluster from the CLI,
the same answers as this machine's, and nothing of Dask imported without it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from charter.api import Project
from charter.cli import app
from charter.demo import apply_audit_fixes, demo_stream, write_demo_project
from charter.errors import UsageError
from charter.scale import ClusterSpec, _cluster, connect

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def one_source(tmp_path_factory) -> Path:
    """The fixed demo data joined once into a folder of Parquet files, named as the only source."""
    folder = tmp_path_factory.mktemp("cluster-cli")
    demo = write_demo_project(folder / "demo", customers=3000)
    apply_audit_fixes(demo)
    table = Project(demo).dataset().to_arrow()
    (folder / "data").mkdir()
    step = table.num_rows // 3 + 1
    for index in range(3):
        pq.write_table(table.slice(index * step, step), folder / "data" / f"part-{index}.parquet")
    text = re.sub(
        r"  sources:\n(    .*\n)+  query: .*\n",
        "  sources:\n    customers: data\n",
        demo.read_text(encoding="utf-8"),
    )
    (folder / "charter.yaml").write_text(text, encoding="utf-8")
    return folder


def test_the_four_commands_run_on_a_cluster_as_on_this_machine(one_source, tmp_path):
    charter = str(one_source / "charter.yaml")
    single = tmp_path / "single"
    single.mkdir()
    (single / "charter.yaml").write_text(
        (one_source / "charter.yaml")
        .read_text()
        .replace("customers: data", f"customers: {one_source / 'data'}")
    )

    audited = run("audit", "-c", charter, "--json", "--cluster", "local:2")
    here = run("audit", "-c", str(single / "charter.yaml"), "--json")
    assert audited.exit_code == here.exit_code
    on_cluster, on_one = json.loads(audited.stdout), json.loads(here.stdout)
    assert on_cluster["verdict"] == on_one["verdict"]

    def found(document: dict) -> set[tuple[str, str]]:
        return {(f["check"], f["severity"]) for f in document["findings"]} - {
            ("access.cluster", "info")
        }

    assert found(on_cluster) == found(on_one)
    assert any(f["check"] == "access.cluster" for f in on_cluster["findings"])
    cluster_contract = (one_source / "contract.yaml").read_text().split("columns:", 1)[1]
    assert cluster_contract == (single / "contract.yaml").read_text().split("columns:", 1)[1]

    trained = run("train", "-c", charter, "--budget", "3", "--json", "--cluster", "local:2")
    assert trained.exit_code == 0, trained.stdout
    document = json.loads(trained.stdout)
    assert [row["candidate"] for row in document["leaderboard"]] == [
        "baseline",
        "simple",
        "boosted",
    ]
    assert document["versions"]
    again = run("reproduce", str(document["versions"]["boosted"]), "-c", charter)
    assert again.exit_code == 2 and "trained on a Dask cluster" in _words(again.output)
    promoted = run("promote", "-c", charter, "--force", "--reason", "cluster test")
    assert promoted.exit_code == 0, promoted.stdout

    batch = one_source / "batch"
    batch.mkdir()
    new = demo_stream(900, shifted=True, seed=3, first_id=900_000)
    pq.write_table(new, batch / "a.parquet", row_group_size=300)
    scored = run(
        "score",
        str(batch),
        str(tmp_path / "scored"),
        "-c",
        charter,
        "--json",
        "--cluster",
        "local:2",
    )
    assert scored.exit_code == 0, scored.stdout
    result = json.loads(scored.stdout)
    written = ds.dataset(tmp_path / "scored", format="parquet").to_table()
    assert written.num_rows == result["scored"] and result["scored"] + result["quarantined"] == 900

    monitored = run(
        "monitor", "--current", str(batch), "-c", charter, "--json", "--cluster", "local:2"
    )
    assert monitored.exit_code == 0, monitored.stdout
    here = run("monitor", "--current", str(batch / "a.parquet"), "-c", charter, "--json")
    drift = json.loads(monitored.stdout)["windows"][-1]["drift"]
    assert drift == json.loads(here.stdout)["windows"][-1]["drift"]


def test_monitoring_the_log_on_a_cluster_is_refused_with_the_way_out(one_source):
    done = run("monitor", "-c", str(one_source / "charter.yaml"), "--cluster", "local:1")
    assert done.exit_code == 2
    assert "--current" in done.output and "Traceback" not in done.output


def test_a_bad_cluster_name_is_a_message_not_a_traceback(one_source):
    done = run("audit", "-c", str(one_source / "charter.yaml"), "--cluster", "lokal:2")
    assert done.exit_code == 2
    assert "expected a scheduler address such as tcp://scheduler:8786" in _words(done.output)


def test_the_environment_names_the_cluster(one_source, monkeypatch):
    monkeypatch.setenv("CHARTER_DASK", "nonsense")
    done = run("audit", "-c", str(one_source / "charter.yaml"))
    assert done.exit_code == 2
    assert "CHARTER_DASK: 'nonsense' is not a cluster" in _words(done.output)


def test_an_unreachable_scheduler_is_named(monkeypatch):
    monkeypatch.setattr(_cluster, "_CONNECT_TIMEOUT", "1s")
    unreachable = ClusterSpec(address="tcp://127.0.0.1:9")
    with (
        pytest.raises(UsageError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
        connect(unreachable),
    ):
        pass


def test_without_a_cluster_nothing_of_dask_is_imported(one_source, monkeypatch):
    monkeypatch.delenv("CHARTER_DASK", raising=False)
    code = (
        "import sys\n"
        "from charter.cli import main\n"
        f"sys.argv = ['charter', 'audit', '-c', {str(one_source / 'charter.yaml')!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed'})\n"
        "print('DASK', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert "DASK []" in done.stdout, done.stdout[-500:] + done.stderr[-2000:]
