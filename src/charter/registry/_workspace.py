"""A workspace: which metadata store and artifact store a project uses, and opening them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from charter.registry._files import ArtifactStore
from charter.registry._registry import Registry
from charter.registry._store import MetadataStore
from charter.spec import Charter

__all__ = ["Workspace"]


@dataclass(frozen=True)
class Workspace:
    """The project's folder for local files, its metadata store URL and its artifact store URL.

    Embedded default: `.charter/registry.db` (SQLite) and `.charter/artifacts/` beside the charter.
    `CHARTER_STORE` and `CHARTER_ARTIFACTS` (or the charter's `store:` section) name team stores.
    """

    folder: Path
    store_url: str
    artifacts_url: str

    @classmethod
    def for_project(
        cls, project_folder: Path, charter: Charter, environ: Mapping[str, str] | None = None
    ) -> Workspace:
        env = os.environ if environ is None else environ
        folder = project_folder / ".charter"
        store = env.get("CHARTER_STORE") or charter.store.url
        artifacts = env.get("CHARTER_ARTIFACTS") or charter.store.artifacts
        return cls(
            folder=folder,
            store_url=_store_url(store, project_folder)
            if store
            else f"sqlite:///{folder / 'registry.db'}",
            artifacts_url=_artifacts_url(artifacts, project_folder)
            if artifacts
            else str(folder / "artifacts"),
        )

    def registry(self) -> Registry:
        """Open (and if needed create or upgrade) the stores."""
        return Registry(MetadataStore(self.store_url), ArtifactStore(self.artifacts_url))


def _store_url(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the project, not to wherever the command runs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # MetadataStore reports it
    database = parsed.database
    relative = bool(database) and database != ":memory:" and not Path(str(database)).is_absolute()
    if parsed.get_backend_name() == "sqlite" and relative:
        return parsed.set(database=str(base / str(database))).render_as_string(hide_password=False)
    return url


def _artifacts_url(url: str, base: Path) -> str:
    if "://" in url or Path(url).is_absolute():
        return url
    return str(base / url)
