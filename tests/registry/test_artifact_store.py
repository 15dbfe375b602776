"""The artifact store: round trips, SHA-256 checks on every read, safe names, safe formats.

(Named test_artifact_store.py: tests/data/test_files.py already owns the module name test_files.)
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from charter.api import Project
from charter.cli import app
from charter.errors import CharterError
from charter.registry import ArtifactStore, ModelVersion
from charter.registry._versions import CARD, MANIFEST

FILES = {"model.txt": b"tree\nversion=v4\n", "scoring.json": b'{"threshold": 0.5}', "empty": b""}
SAFE_SUFFIXES = {".json", ".txt", ".skops", ".yaml", ".html", ".parquet"}


@pytest.fixture(params=["local", "memory"])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield ArtifactStore(str(tmp_path / "artifacts"))
        return
    root = f"memory://charter-tests-{uuid.uuid4().hex}"
    yield ArtifactStore(root)
    memory, path = fsspec.filesystem("memory"), root.removeprefix("memory://")
    if memory.exists(path):
        memory.rm(path, recursive=True)


def test_files_round_trip_with_their_sha256(artifact_store: ArtifactStore) -> None:
    digests = artifact_store.put("churn/abc", FILES)
    assert digests == {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
    for name, data in FILES.items():
        assert artifact_store.exists("churn/abc", name)
        assert artifact_store.get("churn/abc", name, digests[name]) == data
    # Written under a temporary name and renamed: nothing else is left in the folder.
    listed = artifact_store.fs.ls(artifact_store.path("churn/abc"), detail=False)
    assert sorted(Path(p).name for p in listed) == sorted(FILES)


def test_a_changed_byte_is_refused(artifact_store: ArtifactStore) -> None:
    digests = artifact_store.put("churn/abc", FILES)
    target = artifact_store.path("churn/abc", "model.txt")
    data = bytearray(artifact_store.fs.cat_file(target))
    data[3] ^= 0x01
    artifact_store.fs.pipe_file(target, bytes(data))
    with pytest.raises(CharterError, match="does not match the SHA-256") as raised:
        artifact_store.get("churn/abc", "model.txt", digests["model.txt"])
    assert "churn/abc/model.txt" in str(raised.value)
    # The other files are still served.
    assert artifact_store.get("churn/abc", "scoring.json", digests["scoring.json"])


def test_a_missing_file_is_reported_missing(artifact_store: ArtifactStore) -> None:
    digests = artifact_store.put("churn/abc", FILES)
    artifact_store.fs.rm(artifact_store.path("churn/abc", "model.txt"))
    assert not artifact_store.exists("churn/abc", "model.txt")
    with pytest.raises(CharterError, match="is missing") as raised:
        artifact_store.get("churn/abc", "model.txt", digests["model.txt"])
    assert "churn/abc/model.txt" in str(raised.value)


@pytest.mark.parametrize("name", ["a/b.json", "../escape.json", "..", ".", "", "dir\\x.json"])
def test_names_that_are_not_plain_file_names_are_refused(
    artifact_store: ArtifactStore, name: str
) -> None:
    with pytest.raises(CharterError, match="not a plain artifact file name"):
        artifact_store.put("churn/abc", {"fine.json": b"{}", name: b"{}"})
    assert not artifact_store.exists("churn/abc", "fine.json")  # nothing written at all
    with pytest.raises(CharterError, match="not a plain artifact file name"):
        artifact_store.get("churn/abc", name, "0" * 64)


def test_an_unknown_artifact_url_is_a_clear_error() -> None:
    with pytest.raises(CharterError, match="cannot open the artifact store"):
        ArtifactStore("nosuchprotocol://bucket/charter")


# --- on a real trained project ---------------------------------------------------------------


def version_file(charter_path: Path, version: ModelVersion, name: str) -> Path:
    return charter_path.parent / ".charter" / "artifacts" / version.location / name


def model_file(project: Project, version: ModelVersion) -> str:
    """The model's own file (LightGBM text or skops), as its manifest names it."""
    manifest = json.loads(project.registry().read(version, MANIFEST))
    [name] = [str(n) for n in manifest["files"] if n.endswith((".skops", ".txt"))]
    return name


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_a_corrupted_model_is_never_loaded_nor_promoted(store_demo: Path) -> None:
    project = Project(store_demo)
    chosen = project.registry().latest_selected(project.charter.project)
    flip_a_byte(version_file(store_demo, chosen, model_file(project, chosen)))

    with pytest.raises(CharterError, match="SHA-256"):
        project.registry().load(chosen)
    with pytest.raises(CharterError, match="SHA-256"):
        project.promote()
    assert project.registry().aliases(project.charter.project) == {}
    assert not [e for e in project.trail() if e.action in ("promoted", "rejected", "overridden")]

    result = run_cli("promote", "--charter", str(store_demo))
    assert result.exit_code == 2, result.output
    assert "SHA-256" in result.output and "Traceback" not in result.output
    assert project.registry().aliases(project.charter.project) == {}


@pytest.mark.slow
def test_show_refuses_a_changed_model_card_without_a_traceback(store_demo: Path) -> None:
    project = Project(store_demo)
    chosen = project.registry().latest_selected(project.charter.project)
    shown = run_cli("show", chosen.label, "--charter", str(store_demo), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["version"] == chosen.number

    flip_a_byte(version_file(store_demo, chosen, CARD))
    result = run_cli("show", chosen.label, "--charter", str(store_demo))
    assert result.exit_code == 2, result.output
    assert "SHA-256" in result.output and CARD in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_deleted_model_file_is_reported_missing(store_demo: Path) -> None:
    project = Project(store_demo)
    chosen = project.registry().latest_selected(project.charter.project)
    version_file(store_demo, chosen, model_file(project, chosen)).unlink()
    with pytest.raises(CharterError, match="is missing"):
        project.promote()


@pytest.mark.slow
def test_versions_are_stored_in_safe_formats_only(store_demo: Path) -> None:
    project = Project(store_demo)
    versions = project.models()
    assert {v.kind for v in versions} >= {"baseline", "simple", "boosted"}
    for version in versions:
        folder = version_file(store_demo, version, "")
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(version.artifacts), "only the recorded files, no leftovers"
        for name in names:
            assert Path(name).suffix in SAFE_SUFFIXES, name
            data = (folder / name).read_bytes()
            assert not data.startswith(b"\x80"), f"{name} looks like a pickle"
            if name.endswith(".skops"):
                check_skops_holds_no_pickle(data)


def check_skops_holds_no_pickle(data: bytes) -> None:
    """A skops file is a zip of a JSON schema and numpy arrays; none may be an object array."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.namelist()
        assert "schema.json" in members
        for member in members:
            assert member.endswith((".json", ".npy")), member
            if member.endswith(".npy"):
                with archive.open(member) as handle:
                    array = np.load(io.BytesIO(handle.read()), allow_pickle=False)
                assert not array.dtype.hasobject, member
