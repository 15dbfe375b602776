"""Numbers, shares and evidence written for people: thousands separated, few digits, no noise."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

__all__ = [
    "EvidenceItem",
    "compact",
    "display_value",
    "evidence_items",
    "number",
    "percent",
    "real_number",
    "shorten",
    "signed",
]

_TABLE_ROWS = 50
_LIST_ITEMS = 20
_JSON_CHARS = 5000


def number(value: Any) -> str:
    """A value as a person reads it: 12,345 · 0.1235 · 1,234.5 · 2024-01-31 08:00:00."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, numbers.Real):
        return _float(float(value))
    return str(value)


def _float(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1e6:
        return f"{x:,.0f}"
    if abs(x) >= 1000:
        return f"{x:,.1f}"
    if abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.4g}"


def percent(share: float | None) -> str:
    """A share in [0, 1] as a percentage; shares that round to zero but are not zero say so."""
    if share is None or not math.isfinite(share):
        return "—"
    if share == 0:
        return "0%"
    if 0 < share < 0.001:
        return "<0.1%"
    if 0.999 < share < 1:
        return ">99.9%"
    return f"{100 * share:.1f}%"


def signed(value: float | None) -> str:
    """A change as a person reads it, sign always shown: +12.5 · −0.031 · 0."""
    if value is None or not math.isfinite(value):
        return number(value)
    text = number(value)
    if text.lstrip("-").strip("0.,") == "":  # rounds to zero: no sign
        return "0"
    return "−" + text[1:] if text.startswith("-") else "+" + text


def compact(x: float) -> str:
    """A short axis label: 1.2k, 3.4M, 0.25."""
    magnitude = abs(x)
    for divisor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= divisor:
            return f"{x / divisor:.3g}{suffix}"
    if magnitude == 0:
        return "0"
    return f"{x:.3g}"


def display_value(value: Any) -> str:
    """A data value as shown in a chart or table; blanks and stray spaces are made visible.

    'Monthly ' and 'Monthly' are different values in the data; quoting the first shows why.
    """
    if value is None:
        return "(missing)"
    if isinstance(value, str):
        if not value:
            return "(empty text)"
        return repr(value) if value != value.strip() else value
    return number(value)


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class EvidenceItem:
    """One entry of a finding's evidence, shaped for display: a value, a table, or JSON."""

    key: str
    kind: Literal["value", "table", "json"]
    value: str = ""
    headers: tuple[str, ...] = ()  # empty for a table without a header row
    rows: tuple[tuple[str, ...], ...] = ()
    more_rows: int = 0


def evidence_items(evidence: Mapping[str, Any]) -> list[EvidenceItem]:
    """Evidence shaped for display: scalars as values, records as tables, the rest as JSON."""
    return [_item(str(key), value) for key, value in evidence.items()]


def _item(key: str, value: Any) -> EvidenceItem:
    if hasattr(value, "tolist") and not _is_scalar(value):  # numpy arrays
        value = value.tolist()
    if _is_scalar(value):
        return EvidenceItem(key, "value", value=_cell(value))
    if isinstance(value, Mapping) and value and all(_is_scalar(v) for v in value.values()):
        return _table(key, (), [(_cell(k), _cell(v)) for k, v in value.items()])
    if _is_sequence(value) and all(_is_scalar(v) for v in value):
        if not value:
            return EvidenceItem(key, "value", value="(none)")
        shown = ", ".join(_cell(v) for v in value[:_LIST_ITEMS])
        rest = len(value) - _LIST_ITEMS
        return EvidenceItem(
            key, "value", value=shown + (f", … ({rest:,} more)" if rest > 0 else "")
        )
    if _is_sequence(value) and all(_is_record(v) for v in value):
        headers: dict[str, None] = {}
        for record in value:
            headers.update(dict.fromkeys(str(k) for k in record))
        rows = [tuple(_cell(_get(record, h)) for h in headers) for record in value]
        return _table(key, tuple(headers), rows)
    if isinstance(value, Mapping) and value and all(_is_record(v) for v in value.values()):
        headers = {"": None}
        for record in value.values():
            headers.update(dict.fromkeys(str(k) for k in record))
        keys = list(headers)[1:]
        rows = [(_cell(name), *(_cell(_get(r, h)) for h in keys)) for name, r in value.items()]
        return _table(key, tuple(headers), rows)
    if _is_sequence(value) and all(_is_row(v) for v in value):
        return _table(key, (), [tuple(_cell(c) for c in row) for row in value])
    text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    if len(text) > _JSON_CHARS:
        text = text[:_JSON_CHARS] + f"\n… ({len(text) - _JSON_CHARS:,} more characters)"
    return EvidenceItem(key, "json", value=text)


def _table(key: str, headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> EvidenceItem:
    return EvidenceItem(
        key,
        "table",
        headers=headers,
        rows=tuple(rows[:_TABLE_ROWS]),
        more_rows=max(0, len(rows) - _TABLE_ROWS),
    )


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return display_value(value) if isinstance(value, str) else number(value)


def _get(record: Mapping[Any, Any], header: str) -> Any:
    for key, value in record.items():
        if str(key) == header:
            return value
    return None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | numbers.Number | date)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _is_row(value: Any) -> bool:
    return _is_sequence(value) and 0 < len(value) <= 10 and all(_is_scalar(v) for v in value)


def _is_record(value: Any) -> bool:
    return isinstance(value, Mapping) and all(_is_scalar(v) for v in value.values())


def real_number(value: Any) -> float | None:
    """`value` as a finite float, or None for booleans, text, None, NaN and infinities."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        return None
    return number_ if math.isfinite(number_) else None
