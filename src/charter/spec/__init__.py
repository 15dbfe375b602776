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
from charter.spec._questions import Question, unanswered

# isort: split
# The contract modules use charter.data, whose modules import the names above: keep them last.
from charter.spec._contract import (
    ColumnRule,
    DataContract,
    EntityRule,
    infer_contract,
    load_contract,
    parse_contract,
    write_contract,
)
from charter.spec._validate import (
    QuarantineResult,
    ValidationReport,
    Violation,
    ViolationExample,
    split_batch,
    validate_batch,
)

__all__ = [
    "BaselineSpec",
    "Charter",
    "ColumnRule",
    "ConstraintsSpec",
    "DataContract",
    "DataSpec",
    "DatabaseSource",
    "EntityRule",
    "FileSource",
    "MonitoringSpec",
    "OutcomeValues",
    "QuarantineResult",
    "Question",
    "SuccessSpec",
    "ValidationReport",
    "Violation",
    "ViolationExample",
    "infer_contract",
    "load_charter",
    "load_contract",
    "parse_charter",
    "parse_contract",
    "split_batch",
    "unanswered",
    "validate_batch",
    "write_contract",
]
