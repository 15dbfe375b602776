"""The audit's answer: verdict, findings and the profile, as objects and as stable JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from charter.audit._findings import Finding, Verdict
from charter.audit._profile import DatasetProfile
from charter.data import SourceInfo

__all__ = ["SCHEMA_VERSION", "AuditResult"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AuditResult:
    """Everything `charter audit` found. Findings are ordered errors first, then warnings, then info."""

    project: str
    target: str
    task: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    profile: DatasetProfile
    sources: tuple[SourceInfo, ...]
    started: datetime
    seconds: float

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON document (see README, "Audit JSON")."""
        return {
            "schema_version": SCHEMA_VERSION,
            "project": self.project,
            "target": self.target,
            "task": self.task,
            "verdict": self.verdict.value,
            "rows": self.profile.rows,
            "columns": len(self.profile.columns),
            "counts": {
                s: sum(1 for f in self.findings if f.severity == s)
                for s in ("error", "warning", "info")
            },
            "findings": [f.to_dict() for f in self.findings],
            "sources": [
                {"name": s.name, "kind": s.kind, "location": s.location, "rows": s.rows}
                for s in self.sources
            ],
            "started": self.started.isoformat(),
            "seconds": round(self.seconds, 3),
        }
