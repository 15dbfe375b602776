"""Small wordings shared by the views: times, versions, figures with their intervals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from charter.reports._format import number, percent, signed

__all__ = ["action_words", "interval", "moment", "parse_moment", "percent", "signed"]

_ACTIONS = {
    "registered": "registered",
    "promoted": "promoted",
    "rejected": "promotion refused",
    "overridden": "promoted by override",
    "rolled_back": "rolled back",
    "alias_moved": "alias moved",
    "approved": "approved",
    "threshold_changed": "threshold changed",
    "charter_changed": "charter changed",
    "contract_changed": "contract changed",
}


def moment(text: Any) -> str:
    """An ISO time as people read it: "2026-11-24 05:40 UTC" (— when unknown)."""
    parsed = parse_moment(text)
    if parsed is None:
        return str(text) if text else "—"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def parse_moment(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def interval(ci: Any) -> str:
    """A 95% interval as "from 10.2 to 28.5" (— when not recorded)."""
    if not isinstance(ci, list | tuple) or len(ci) < 2:
        return "—"
    return f"{number(ci[0])} to {number(ci[1])}"


def action_words(action: str) -> str:
    return _ACTIONS.get(action, action.replace("_", " "))
