"""How the charter's positive_class matches the values a target column holds."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

__all__ = ["class_label", "same_class"]

_TRUE = {"true", "yes", "y", "t", "1"}
_FALSE = {"false", "no", "n", "f", "0"}


def class_label(value: Any) -> str:
    """The text a class value is shown and matched as: booleans lower-case, 1.0 as "1"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _canonical(value: Any) -> str:
    text = class_label(value).strip().lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    return text


def same_class(declared: Any, value: Any) -> bool:
    """Whether the charter's positive_class names this value (as text, any case; yes = True = 1)."""
    return _canonical(declared) == _canonical(value)
