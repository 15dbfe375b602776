"""charter: from business problem to monitored production, with a gate at every phase.

>>> import charter
>>> result = charter.Project("charter.yaml").audit()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from charter.errors import CharterError, ContractError, DataSourceError, SpecError, UsageError

if TYPE_CHECKING:
    from charter.api import Project

__version__ = "0.1.0"

__all__ = [
    "CharterError",
    "ContractError",
    "DataSourceError",
    "Project",
    "SpecError",
    "UsageError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Project pulls in DuckDB, scikit-learn and LightGBM: load it on first use, not on `import charter`.
    if name == "Project":
        from charter.api import Project

        return Project
    raise AttributeError(f"module 'charter' has no attribute {name!r}")
