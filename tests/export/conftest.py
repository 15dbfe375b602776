"""Fixtures for the export tests: a trained demo project with a version in production, and its
build context (with Kubernetes manifests) written once per session.

The context is never changed by a test: a test that needs to alter or run it works on a copy.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from charter.api import Project
from charter.export import PackageResult, package_version

TARGET = "churned"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its stage (0 = first FROM), keyword and text after it."""

    stage: int
    keyword: str
    text: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, text = whole.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword.upper(), text.strip()))
    return instructions


@pytest.fixture(scope="session")
def export_project(
    tmp_path_factory: pytest.TempPathFactory, loose_demo: Callable[..., Path]
) -> Path:
    """The demo churn project, audited and trained; its boosted version in production. Its charter."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        charter = loose_demo(tmp_path_factory.mktemp("export") / "churn")
        project = Project(charter)
        project.audit()
        trained = project.train(budget_seconds=3)
        promotion = project.promote(trained.versions["boosted"])
        assert promotion.moved, promotion.failed
        project.registry().store.dispose()  # checkpoints the WAL, so a copy of the folder is complete
    return charter


@pytest.fixture
def export_copy(
    export_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], Project]:
    """export_copy(): a private copy of the trained project, free to change, opened."""
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)

    def copy() -> Project:
        folder = tmp_path / f"project-{len(list(tmp_path.glob('project-*')))}"
        shutil.copytree(export_project.parent, folder)
        return Project(folder / export_project.name)

    return copy


@pytest.fixture(scope="session")
def export_package(export_project: Path, tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    """The production version's build context with Kubernetes manifests. Never change it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        project = Project(export_project)
        try:
            return package_version(
                project, None, tmp_path_factory.mktemp("context") / "churn", kubernetes=True
            )
        finally:
            project.registry().store.dispose()


@pytest.fixture(scope="session")
def export_records(export_project: Path) -> list[dict[str, Any]]:
    """Five rows of the project's data as a client sends them (no target, dates as ISO text)."""
    rows = Project(export_project).dataset().to_arrow(max_rows=5).to_pylist()
    return [
        {
            k: v.isoformat() if isinstance(v, dt.date | dt.datetime) else v
            for k, v in row.items()
            if k != TARGET
        }
        for row in rows
    ]


@pytest.fixture(scope="session")
def dockerfile() -> Callable[[Path], list[Instruction]]:
    """dockerfile(path): the parsed instructions (see `parse_dockerfile`)."""
    return parse_dockerfile


@pytest.fixture(scope="session")
def sha256sums() -> Callable[[Path], dict[str, str]]:
    """sha256sums(context): SHA256SUMS as path -> digest."""

    def read(context: Path) -> dict[str, str]:
        lines = (context / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
        return {line[66:]: line[:64] for line in lines}

    return read


@pytest.fixture(scope="session")
def package_summary() -> Callable[[Path], dict[str, Any]]:
    """package_summary(context): charter-package.json."""
    return lambda context: json.loads((context / "charter-package.json").read_text())
