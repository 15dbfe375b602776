"""charter: from business problem to monitored production, with a gate at every phase."""

from charter.errors import CharterError, ContractError, DataSourceError, SpecError, UsageError

__version__ = "0.1.0"

__all__ = ["CharterError", "ContractError", "DataSourceError", "SpecError", "UsageError", "__version__"]
