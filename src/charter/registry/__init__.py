"""Phase 4, governance: versions with lineage, promotion gates, aliases, rollback, the audit trail."""

from charter.registry._files import ArtifactStore
from charter.registry._gates import Gate
from charter.registry._promote import Promotion, Rollback, promote, rollback
from charter.registry._register import new_versions
from charter.registry._registry import PRODUCTION, LoadedVersion, NewVersion, Registry, Stint
from charter.registry._store import MetadataStore
from charter.registry._trail import Entry, TrailCheck
from charter.registry._versions import ModelVersion
from charter.registry._workspace import Workspace

__all__ = [
    "PRODUCTION",
    "ArtifactStore",
    "Entry",
    "Gate",
    "LoadedVersion",
    "MetadataStore",
    "ModelVersion",
    "NewVersion",
    "Promotion",
    "Registry",
    "Rollback",
    "Stint",
    "TrailCheck",
    "Workspace",
    "new_versions",
    "promote",
    "rollback",
]
