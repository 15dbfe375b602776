"""What the audit reports: findings with evidence, and the verdict they add up to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Finding", "Severity", "Verdict", "verdict_of"]


class Severity(StrEnum):
    """How much a finding matters: errors block modelling, warnings need a look, info informs."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


class Verdict(StrEnum):
    READY = "READY"
    READY_WITH_WARNINGS = "READY WITH WARNINGS"
    NOT_READY = "NOT READY"


@dataclass(frozen=True)
class Finding:
    """One thing the audit noticed.

    `check` is a dotted name such as "quality.missing"; `evidence` holds JSON-ready numbers
    (and, for some info findings, the series a report draws, e.g. the learning curve);
    `message` states what was found and `recommendation` what to do, in plain words.
    """

    check: str
    severity: Severity
    columns: tuple[str, ...]
    message: str
    recommendation: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "columns": list(self.columns),
            "message": self.message,
            "recommendation": self.recommendation,
            "evidence": dict(self.evidence),
        }


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    """Any error means NOT READY; any warning READY WITH WARNINGS; otherwise READY."""
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return Verdict.NOT_READY
    if Severity.WARNING in severities:
        return Verdict.READY_WITH_WARNINGS
    return Verdict.READY
