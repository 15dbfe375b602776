"""Phase 1: the charter (what success means) and the data contract (what data is acceptable)."""

from charter.spec._load import load_charter, parse_charter
from charter.spec._model import (
    BaselineSpec,
    Charter,
    ConstraintsSpec,
    DatabaseSource,
    DataSpec,
    FileSource,
    MonitoringSpec,
    OutcomeValues,
    SuccessSpec,
)

__all__ = [
    "BaselineSpec",
    "Charter",
    "ConstraintsSpec",
    "DataSpec",
    "DatabaseSource",
    "FileSource",
    "MonitoringSpec",
    "OutcomeValues",
    "SuccessSpec",
    "load_charter",
    "parse_charter",
]
