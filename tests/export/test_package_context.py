"""`charter package`: the build context's files, its checks, and its install and entrypoint
commands run as the Dockerfile runs them, in a clean virtual environment."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from charter.api import Project
from charter.errors import UsageError
from charter.export import package_version
from charter.export._layout import APP_DIR, VENV
from charter.registry import PRODUCTION
from charter.serving._local import free_port

needs_sha256sum = pytest.mark.skipif(
    shutil.which("sha256sum") is None, reason="sha256sum (coreutils) is not installed here"
)


def _copied_sources(instructions):
    """Every context path a COPY without --from names (its last word is the destination)."""
    sources = []
    for step in instructions:
        if step.keyword != "COPY" or "--from=" in step.text:
            continue
        words = [w for w in shlex.split(step.text) if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_every_file_the_dockerfile_copies_is_in_the_context(export_package, dockerfile):
    context = export_package.out
    sources = _copied_sources(dockerfile(context / "Dockerfile"))
    assert {"requirements.lock", "wheels/", "SHA256SUMS", "project/"} <= set(sources)
    for source in sources:
        path = context / source
        assert path.exists(), f"the Dockerfile copies {source}, which is not in the context"
        if source.endswith("/"):
            assert path.is_dir() and any(path.iterdir()), f"{source} is empty"


def test_the_service_stage_copies_the_environment_and_the_project_only(export_package, dockerfile):
    steps = dockerfile(export_package.dockerfile)
    froms = [s for s in steps if s.keyword == "FROM"]
    assert [f.text for f in froms] == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]
    arg = next(s for s in steps if s.keyword == "ARG")
    assert arg.stage == -1 and arg.text.startswith("PYTHON_IMAGE=python:3.")
    assert arg.text.endswith("-slim")
    final = [s for s in steps if s.stage == 1]
    copies = [s.text for s in final if s.keyword == "COPY"]
    assert copies == [
        f"--from=builder {VENV} {VENV}",
        f"--from=builder --chown=10001:10001 /build/project {APP_DIR}/project",
    ]
    text = " ".join(s.text for s in final).lower()
    for compiler in ("gcc", "g++", "build-essential", "apt-get install", "curl"):
        assert compiler not in text


def test_the_service_runs_as_a_user_with_a_python_health_check(export_package, dockerfile):
    final = [s for s in dockerfile(export_package.dockerfile) if s.stage == 1]
    user = next(s for s in final if s.keyword == "USER").text
    assert user == "10001:10001"
    health = next(s for s in final if s.keyword == "HEALTHCHECK").text
    command = json.loads(health.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"] and "urllib.request" in command[2]
    assert "/v1/health" in command[2]
    assert json.loads(next(s for s in final if s.keyword == "ENTRYPOINT").text) == [
        "charter",
        "serve",
    ]
    assert next(s for s in final if s.keyword == "WORKDIR").text == f"{APP_DIR}/project"


def test_the_artifacts_are_copied_with_the_sha256_of_their_record(
    export_package, export_project, sha256sums
):
    context = export_package.out
    listed = sha256sums(context)
    version = Project(export_project).version(PRODUCTION)
    assert version.number == export_package.version.number
    folder = f"project/.charter/artifacts/{version.location}"
    for name, digest in version.artifacts.items():
        copy = context / folder / name
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest, name
        assert listed[f"{folder}/{name}"] == digest
        assert export_package.files[f"{folder}/{name}"] == digest


def test_sha256sums_lists_every_file_copied_into_the_image(export_package, sha256sums):
    context = export_package.out
    listed = sha256sums(context)
    on_disk = {
        p.relative_to(context).as_posix()
        for root in ("wheels", "project")
        for p in (context / root).rglob("*")
        if p.is_file()
    } | {"requirements.lock"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((context / name).read_bytes()).hexdigest() == digest, name


@needs_sha256sum
def test_the_builds_checksum_step_passes_and_refuses_a_changed_model(
    export_package, dockerfile, tmp_path
):
    context = tmp_path / "context"
    shutil.copytree(export_package.out, context)
    check = next(
        s.text for s in dockerfile(context / "Dockerfile") if s.text.startswith("sha256sum")
    )
    subprocess.run(shlex.split(check), cwd=context, check=True, capture_output=True)
    model = next((context / "project/.charter/artifacts").rglob("model.txt"))
    model.write_text(model.read_text() + "\n", encoding="utf-8")
    changed = subprocess.run(shlex.split(check), cwd=context, capture_output=True, text=True)
    assert changed.returncode != 0
    assert "model.txt" in changed.stdout + changed.stderr


def test_the_lock_pins_the_packages_of_the_versions_lineage(export_package, export_project):
    version = Project(export_project).version(PRODUCTION)
    recorded = version.lineage["packages"]
    lines = (export_package.out / "requirements.lock").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert pins == {k: v for k, v in recorded.items() if v and k != "charter"}
    assert export_package.lock_source == "lineage"
    assert export_package.python == version.lineage["python"]
    minor = ".".join(export_package.python.split(".")[:2])
    assert f"ARG PYTHON_IMAGE=python:{minor}-slim" in export_package.dockerfile.read_text()


def test_the_summary_names_the_version_and_every_checked_file(
    export_package, package_summary, sha256sums
):
    summary = package_summary(export_package.out)
    assert (summary["project"], summary["version"]) == ("churn", export_package.version.number)
    assert summary["files"] == sha256sums(export_package.out)
    assert summary["install_command"] == list(export_package.install_command)
    assert summary["sizing"] == export_package.sizing.to_dict()
    assert sorted(summary["manifests"]) == [
        f"kubernetes/{name}"
        for name in ("configmap.yaml", "deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml")
    ]


def test_the_wheel_is_charter_built_from_the_installed_source(export_package):
    wheel = export_package.wheel
    assert wheel is not None and wheel.parent == export_package.out / "wheels"
    assert wheel.name == f"charter-{metadata.version('charter')}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "charter/export/templates/Dockerfile.j2" in names
    assert "charter/serving/_key_file.py" in names
    assert export_package.install_command[-1] == f"wheels/{wheel.name}"


def test_the_project_folder_holds_the_version_alone_in_production(
    export_package, export_project, dockerfile, tmp_path, monkeypatch
):
    served = tmp_path / "project"
    shutil.copytree(export_package.out / "project", served)
    environment = _environment(dockerfile(export_package.dockerfile))
    monkeypatch.setenv("CHARTER_STORE", environment["CHARTER_STORE"])
    monkeypatch.setenv("CHARTER_ARTIFACTS", environment["CHARTER_ARTIFACTS"])
    packaged = Project(served / "charter.yaml")
    assert packaged.stores.store_url == f"sqlite:///{served / '.charter' / 'registry.db'}"
    source = Project(export_project).version(PRODUCTION)
    [only] = packaged.models()
    assert (only.number, only.aliases, only.record) == (
        source.number,
        (PRODUCTION,),
        source.record,
    )
    assert packaged.verify_trail().problems == ()
    loaded = packaged.registry().load(only)  # every file checked against its SHA-256
    assert loaded.scoring["features"]
    assert (served / "charter.yaml").read_text() == export_project.read_text()
    assert (served / "contract.yaml").read_bytes() == Project(export_project).registry().read(
        source, "contract.yaml"
    )


def test_the_threshold_in_force_travels_with_the_version(export_copy, tmp_path, monkeypatch):
    project = export_copy()
    version = project.version(PRODUCTION)
    project.set_threshold(version.number, 0.37, reason="fewer offers this quarter")
    result = package_version(project, version.number, tmp_path / "out")
    monkeypatch.setenv("CHARTER_STORE", "sqlite:///.charter/registry.db")
    packaged = Project(result.out / "project" / "charter.yaml")
    assert packaged.registry().threshold(packaged.version(version.number)) == 0.37
    assert result.sizing is None and result.manifests == ()
    assert not (result.out / "kubernetes").exists()


def test_charter_variables_are_set_empty_in_the_image(export_copy, tmp_path, monkeypatch):
    project = export_copy()
    text = project.path.read_text().replace("owner: Retention team", "owner: ${EXPORT_OWNER}")
    project.path.write_text(text)
    monkeypatch.setenv("EXPORT_OWNER", "Retention team")
    result = package_version(Project(project.path), None, tmp_path / "out")
    assert 'ENV EXPORT_OWNER=""' in result.dockerfile.read_text()
    assert "EXPORT_OWNER" in (result.out / "README.md").read_text()
    assert result.warnings == ()


def test_an_unknown_version_is_refused(export_copy, tmp_path):
    with pytest.raises(UsageError, match=r"has no version v99; versions are v1–v3"):
        package_version(export_copy(), "v99", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(export_copy, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="is not empty"):
        package_version(export_copy(), None, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_a_file_as_out_is_refused(export_copy, tmp_path):
    out = tmp_path / "out"
    out.write_text("a file")
    with pytest.raises(UsageError, match="is a file"):
        package_version(export_copy(), None, out)


def test_an_empty_folder_is_used(export_copy, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = package_version(export_copy(), 2, out)
    assert result.out == out and result.version.number == 2
    assert result.dockerfile.is_file()


def test_without_production_a_version_must_be_named(export_copy, tmp_path):
    project = export_copy()
    project.registry().remove_alias(
        project.charter.project, PRODUCTION, actor="test", reason="taken out of service"
    )
    with pytest.raises(UsageError, match="no version in production; promote one, or name"):
        package_version(project, None, tmp_path / "out")


def _environment(instructions):
    """The final stage's ENV as a dict (values unquoted as Docker does)."""
    found = {}
    for step in instructions:
        if step.keyword == "ENV" and step.stage == 1:
            name, _, value = step.text.partition("=")
            found[name] = shlex.split(value)[0] if value.strip('"') else ""
    return found


def _run_line(instructions, needle):
    return next(s.text for s in instructions if s.keyword == "RUN" and needle in s.text)


@pytest.mark.slow
def test_the_contexts_install_and_entrypoint_serve_in_a_clean_venv(
    export_package, export_records, dockerfile, tmp_path
):
    """The Dockerfile's own commands, with /opt/venv and /app moved under tmp_path."""
    context = export_package.out
    steps = dockerfile(context / "Dockerfile")
    venv = tmp_path / "venv"
    app = tmp_path / "app"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = _run_line(steps, f"{VENV}/bin/pip install").replace(VENV, str(venv))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        shlex.split(install), cwd=context, env=clean, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import charter; print(charter.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{venv}/bin:/usr/bin:/bin"},
        cwd=tmp_path,
    ).stdout
    assert where.startswith(str(venv)), where  # the wheel's charter, not the source tree

    shutil.copytree(context / "project", app / "project")  # the image's COPY
    environment = _environment(steps)
    port = free_port()
    key = "feedback-key-" + "x" * 24
    (tmp_path / "api-keys").write_text(f"# keys for the test\nfeedback {key}\n")
    environment.update(
        PATH=f"{venv}/bin:/usr/bin:/bin",
        HOME=str(tmp_path),
        CHARTER_SERVE_HOST="127.0.0.1",  # the image listens on 0.0.0.0; tests stay on loopback
        CHARTER_SERVE_PORT=str(port),
        CHARTER_SERVE_LOG=str(tmp_path / "predictions"),
        CHARTER_SERVE_KEYS_FILE=str(tmp_path / "api-keys"),
    )
    workdir = next(s.text for s in steps if s.keyword == "WORKDIR" and s.stage == 1)
    entrypoint = json.loads(next(s.text for s in steps if s.keyword == "ENTRYPOINT"))
    output = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        entrypoint,
        cwd=workdir.replace(APP_DIR, str(app)),
        env=environment,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, server, tmp_path / "serve.log")
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/v1/health").json() == {"status": "ok"}
            ready = client.get("/v1/ready").json()
            assert ready == {"ready": True, "version": export_package.version.number}
            answer = client.post("/v1/predict", json=export_records[0])
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == export_package.version.number
            assert 0.0 <= answer.json()["score"] <= 1.0
            outcome = {"prediction_id": answer.json()["prediction_id"], "outcome": "yes"}
            assert client.post("/v1/feedback", json=outcome).status_code == 401
            fed = client.post("/v1/feedback", json=outcome, headers={"X-API-Key": key})
            assert fed.status_code == 200, fed.text
        health = next(s.text for s in steps if s.keyword == "HEALTHCHECK").split(" CMD ", 1)[1]
        checked = subprocess.run(json.loads(health), env=environment, timeout=30)
        assert checked.returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=60)
        output.close()
    assert any((tmp_path / "predictions").rglob("*.parquet")), "no prediction was logged"


def _wait_for(url: str, server: subprocess.Popen, log: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"charter serve stopped (status {server.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"charter serve did not answer within {seconds:.0f} s:\n{log.read_text()}")
