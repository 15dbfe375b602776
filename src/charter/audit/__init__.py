"""Phase 2: is the data ready? Readiness checks that add up to a verdict."""

from charter.audit._context import AuditContext, guess_task
from charter.audit._findings import Finding, Severity, Verdict, verdict_of
from charter.audit._profile import ColumnProfile, DatasetProfile, profile_dataset
from charter.audit._result import AuditResult

__all__ = [
    "AuditContext",
    "AuditResult",
    "ColumnProfile",
    "DatasetProfile",
    "Finding",
    "Severity",
    "Verdict",
    "guess_task",
    "profile_dataset",
    "verdict_of",
]
