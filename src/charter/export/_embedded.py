"""A project folder's own embedded store holding one version: what a package serves from.

The registry has no export of a single version, so this copies one: its files through the
registry (each checked against its SHA-256 on reading, and again after writing), its record
under the same number (logs, feedback and `charter rollback` keep speaking of the same `v3`),
the decision threshold in force, and `production` pointing at it, each step on the new store's
audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path

from charter.errors import CharterError
from charter.registry import PRODUCTION, ArtifactStore, MetadataStore, ModelVersion, Registry
from charter.registry._schema import VERSIONS
from charter.registry._trail import append

__all__ = ["STORE_FOLDER", "embed_version"]

STORE_FOLDER = ".charter"
"""The embedded workspace inside a project folder: `registry.db` and `artifacts/`."""


def embed_version(
    registry: Registry, version: ModelVersion, folder: Path, *, actor: str
) -> dict[str, Path]:
    """Write `folder/.charter/`: a SQLite store and an artifact folder holding `version` alone,
    with `production` pointing at it. Returns each artifact's name and the path of its copy.

    Example:
        >>> embed_version(project.registry(), project.version(3), Path("out/project"), actor="ana")  # doctest: +SKIP
        {'manifest.json': PosixPath('out/project/.charter/artifacts/churn/…/manifest.json'), …}
    """
    files = {name: registry.read(version, name) for name in sorted(version.artifacts)}
    workspace = folder / STORE_FOLDER
    target = Registry(
        MetadataStore(f"sqlite:///{workspace / 'registry.db'}"),
        ArtifactStore(str(workspace / "artifacts")),
    )
    try:
        written = target.files.put(version.location, files)
        copies = {name: Path(target.files.path(version.location, name)) for name in files}
        for name, digest in version.artifacts.items():
            if written.get(name) != digest:
                raise CharterError(
                    f"the copy of {version.project} {version.label}'s {name} does not match the "
                    "SHA-256 in its record; nothing was packaged. Check the disk under OUT."
                )
            target.files.get(version.location, name, digest)  # read back: raises on a mismatch
        _record(target, registry, version, actor=actor)
    finally:
        target.store.dispose()  # checkpoints SQLite's write-ahead log: the folder is complete
    return copies


def _record(target: Registry, source: Registry, version: ModelVersion, *, actor: str) -> None:
    """The version's row, its registration, its threshold and the production alias, on the trail."""
    project = version.project
    lineage = version.lineage
    where = source.store.where
    recorded = version.record.get("threshold")
    threshold = source.threshold(version)
    with target.store.locked(project) as connection:
        connection.execute(
            VERSIONS.insert().values(
                project=project,
                number=version.number,
                candidate=version.candidate,
                kind=version.kind,
                run=version.run,
                selected=version.selected,
                created=version.created,
                created_by=version.created_by,
                location=version.location,
                record=json.dumps(version.record, sort_keys=True, default=str),
            )
        )
        append(
            connection,
            project,
            actor=actor,
            action="registered",
            version=version.number,
            reason=f"packaged from {where}",
            details={
                "candidate": version.candidate,
                "kind": version.kind,
                "run": version.run,
                "selected": version.selected,
                "test_value": version.record.get("test", {}).get("value"),
                "charter_sha256": lineage.get("charter_sha256"),
                "contract_sha256": lineage.get("contract_sha256"),
                "packaged_from": where,
            },
        )
        if threshold is not None and threshold != recorded:
            append(
                connection,
                project,
                actor=actor,
                action="threshold_changed",
                version=version.number,
                reason=f"the threshold in force in {where} when packaged",
                details={"threshold": threshold, "previous": recorded},
            )
        held = ", ".join(version.aliases) or "no alias"
        target.move_alias(
            connection,
            project,
            PRODUCTION,
            version.number,
            actor=actor,
            action="alias_moved",
            reason=f"packaged to serve {version.label} ({held} in {where})",
            details={"packaged_from": where},
        )
