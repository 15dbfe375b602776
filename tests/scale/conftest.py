"""A LocalCluster of worker processes shared by the distributed tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the Dask back end needs charter[dask]")

from distributed import Client  # noqa: E402

from charter.api import Project  # noqa: E402
from charter.scale import ClusterSpec, _sources, connect  # noqa: E402

ROWS_PER_PART = 250
"""Partition size in the tests that copy the trained project: several partitions of small data."""
ALERTS = "alerts.json"


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Client]:
    """A client on a local cluster of three single-threaded worker processes."""
    with connect(ClusterSpec(workers=3)) as client:
        yield client


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, loose_demo: Callable[..., Path]
) -> Iterator[Path]:
    """A demo project's folder with its boosted version in production; alerts go to a file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        charter = loose_demo(tmp_path_factory.mktemp("scale") / "churn", customers=1500)
        text = charter.read_text(encoding="utf-8")
        text = text.replace("monitoring:\n", f"monitoring:\n  alerts: {{json_file: {ALERTS}}}\n")
        charter.write_text(text, encoding="utf-8")
        project = Project(charter)
        project.audit()
        versions = project.train(budget_seconds=2).versions
        assert project.promote(versions["boosted"]).moved
        project.registry().store.dispose()
        yield charter.parent


@pytest.fixture
def project(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A private copy of the trained project (its prediction log starts empty), read in
    partitions of `ROWS_PER_PART` rows."""
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    monkeypatch.setattr(_sources, "PARTITION_ROWS", ROWS_PER_PART)
    shutil.copytree(trained, tmp_path / "churn")
    return Project(tmp_path / "churn" / "charter.yaml")
