"""DuckDB's type names, grouped the way charter reasons about columns."""

from __future__ import annotations

from typing import Literal

__all__ = ["FLOAT_TYPES", "INTEGER_TYPES", "Kind", "kind_of"]

Kind = Literal["numeric", "boolean", "temporal", "categorical", "other"]

_SIGNED = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"})
INTEGER_TYPES = _SIGNED | {"U" + name for name in _SIGNED}
FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE", "REAL"})


def kind_of(dtype: str) -> Kind:
    """Classify a DuckDB type name."""
    upper = dtype.upper()
    if upper == "BOOLEAN":
        return "boolean"
    if upper.startswith(("DATE", "TIMESTAMP", "TIME")):
        return "temporal"
    if upper in INTEGER_TYPES or upper in FLOAT_TYPES or upper.startswith("DECIMAL"):
        return "numeric"
    if upper == "VARCHAR" or upper.startswith("ENUM"):
        return "categorical"
    return "other"
