"""The exceptions charter raises for problems a user can fix.

    CharterError                  base: every user-facing problem
    ├── SpecError                 the charter file is missing, unreadable or invalid
    ├── DataSourceError           a data source cannot be found, read, queried or joined
    ├── ContractError             the data contract is invalid or a batch breaks it
    └── UsageError                a command was called with options that do not fit

Every message says what is wrong, where, and what to do. The CLI prints it without a traceback
and exits with status 2 (status 1 is kept for "ran fine, the answer is no").
"""

from __future__ import annotations

__all__ = ["CharterError", "ContractError", "DataSourceError", "SpecError", "UsageError"]


class CharterError(Exception):
    """A problem the user can fix; the message says what, where and how."""


class SpecError(CharterError):
    """The charter file is missing, unreadable or does not validate."""


class DataSourceError(CharterError):
    """A data source cannot be found, read, queried or joined."""


class ContractError(CharterError):
    """The data contract is invalid, or a batch cannot be checked against it."""


class UsageError(CharterError):
    """A command or function was called with arguments that do not fit together."""
