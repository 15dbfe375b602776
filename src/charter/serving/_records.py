"""Input checks for scoring: one JSON record at a time (the service) or a whole table (batch).

Both are compiled once from the data contract and the model's feature list, so the per-request
work is a dictionary lookup and a type test per field (about 5 µs for 30 features), and a batch
is checked column by column with pyarrow.compute, never row by row in Python (about 0.1 s per
million rows of 30 typed columns on 2 cores; a column of numbers arriving as text adds 30 ms
per million rows, 120 ms when some of its text is not a number).

Which fields are checked: every model feature the contract names (features it does not name
cannot be checked and are listed in `unchecked`), plus the entity column, which is checked when
sent but never required (the model does not read it; it is logged for feedback joins). The
target is never required. Fields the contract does not name are ignored.

The rules, per field, in this order; the first one broken is the field's only problem:

    problem                              when
    ───────────────────────────────────  ──────────────────────────────────────────────────────
    required                             a null where the contract says nullable: false; in a
                                         record, also a field left out that is required and
                                         not nullable; in a table, a required column left out
    expected an integer / a number / …   the value is not of the column's type. JSON is read
                                         strictly: true is not 1, "3" is not 3, 3.0 is an
                                         integer and 3.5 is not; dates and timestamps are ISO
                                         8601 text (a date column also takes a timestamp at
                                         midnight UTC). A text column the model reads as a
                                         number takes numbers and numeric text.
    not a finite number                  NaN or ±infinity (JSON's NaN/Infinity, or their text)
    below the minimum X / above …        a number outside the contract's [min, max]
    not one of the accepted categories   text outside the contract's categories (a number sent
                                         for a text column read as numbers matches by value)

Tables add one leniency for files: a column that arrives as text (CSV) for a number feature is
read by its numeric text (" 12 ", "1e3"), as `charter validate` reads it. The same value in a JSON
record is refused, because a JSON client can send the number itself. Other columns must arrive as
their type: read CSV files with DuckDB (`charter.data.read_file`) or give the reader the
contract's text columns, or a code like 02139 arrives as the number 2139 and is refused.

One deliberate difference between the two: a record may leave out a required field that is
nullable (clients drop nulls; it is read as empty), but a table without a required column makes
every row bad, as `charter validate` says: a file without the column is the wrong file.

A Problem never holds the value the client sent: only the field's name, a short reason and what
the contract expects, all fixed when the checker is built (the service must not echo client data).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from charter.errors import ContractError, UsageError
from charter.spec._classes import class_label
from charter.spec._contract import ColumnRule, ColumnType, DataContract

__all__ = ["Problem", "RecordChecker", "TableCheck"]

_FEATURE_TYPES = ("number", "category", "date")

_READS: dict[ColumnType, tuple[str, ...]] = {
    "integer": ("number",),
    "number": ("number",),
    "string": ("category", "number"),
    "boolean": ("category",),
    "date": ("date",),
    "timestamp": ("date",),
}
"""How a model may read each contract type (the first is what training does by default)."""

_SHOWN_CATEGORIES = 10
_MAX_FLOAT = 1.7976931348623157e308
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])  # month 1 at [0]
_SPACE = " \t\n\v\f\r"

# Numeric text: exactly the grammar of pyarrow's text-to-double cast (tested against it), so a
# record and a table read the same text the same way. ASCII digits only; no "1_000".
_NUMBER_PATTERN = (
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    r"|[nN][aA][nN])"
)
_TIME_PATTERN = (
    r"(?P<y>[0-9]{4})-(?P<m>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12][0-9]|3[01])"
    r"(?:[Tt ](?P<H>[01][0-9]|2[0-3]):(?P<M>[0-5][0-9])"
    r"(?::(?P<S>[0-5][0-9])(?:\.(?P<f>[0-9]{1,9}))?)?"
    r"(?P<z>[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)?"
)
"""ISO 8601 dates and timestamps: 2024-01-31, 2024-01-31T09:30, …T09:30:00.123Z, …+02:00.

Every field's range is in the pattern; what is left is the calendar (no 2023-02-29, no year 0).
"""
_NUMBER = re.compile(_NUMBER_PATTERN)
_TIME = re.compile(_TIME_PATTERN)

# Problem codes, in the order the rules are tried; 0 is "no problem".
_OK, _REQUIRED, _TYPE, _NONFINITE, _BELOW, _ABOVE, _CATEGORY = range(7)


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule in one field: its name, a short reason and what the contract expects.

    Never holds the value sent: every Problem is made from the contract when the checker is built.
    """

    field: str
    problem: str
    expected: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


@dataclass(frozen=True)
class TableCheck:
    """Which rows of a table keep the contract, why the others do not, and how often each rule broke.

    `reasons` holds "" for a good row and "field: problem; field: problem" for a bad one (the same
    text as the record check's problems, in the same order). `counts` maps "field: problem" to its
    number of rows, for every problem that occurred.
    """

    good: np.ndarray
    reasons: pa.Array
    counts: dict[str, int]

    @property
    def rows(self) -> int:
        return len(self.good)

    @property
    def bad_rows(self) -> int:
        return int(self.rows - np.count_nonzero(self.good))

    def fields_at_fault(self) -> list[list[str]]:
        """For each bad row, in order, the fields that broke the contract (sorted, once each)."""
        bad = self.reasons.filter(pa.array(~self.good)).to_pylist()
        return [
            sorted({part.split(":", 1)[0] for part in reason.split("; ") if part}) for reason in bad
        ]


_Test = Callable[[Any], Problem | None]
_Convert = Callable[[Any], float | str | None]


@dataclass(frozen=True)
class _Field:
    """Everything about one checked field, worked out once."""

    name: str
    rule: ColumnRule
    reads: str  # number | category | date
    entity: bool
    problems: dict[int, Problem]  # code -> the Problem it reports
    low: float | int | None
    high: float | int | None

    @property
    def absent(self) -> Problem | None:
        """The problem of a record without this field."""
        if self.entity or not self.rule.required or self.rule.nullable:
            return None
        return self.problems[_REQUIRED]

    @property
    def null(self) -> Problem | None:
        """The problem of an empty (null) value."""
        return None if self.entity or self.rule.nullable else self.problems[_REQUIRED]

    @property
    def column_required(self) -> bool:
        """Whether a table without this column is bad in every row."""
        return self.rule.required and not self.entity


class RecordChecker:
    """Checks records (and tables) against the data contract, for the features a model reads.

    `feature_types` maps a feature to how the model reads it: "number", "category" or "date" (the
    version's `feature_types`); without it each feature is read as its contract type suggests.
    Raises ContractError when a feature's reading does not fit its contract type (the contract
    was edited after the model was trained).

    Example:
        >>> checker = RecordChecker(contract, ["tenure", "contract"])  # doctest: +SKIP
        >>> checker.check({"tenure": 130, "contract": "monthly"})
        [Problem(field='tenure', problem='above the maximum 120', expected='integer between 0 and 120')]
        >>> checker.convert({"tenure": 12, "contract": "monthly"})
        {'tenure': 12.0, 'contract': 'monthly'}
    """

    def __init__(
        self,
        contract: DataContract,
        features: Sequence[str],
        *,
        feature_types: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(features, str):
            raise UsageError(f"features must be a list of names, not the text {features!r}")
        self.contract = contract
        self.features: tuple[str, ...] = tuple(dict.fromkeys(features))
        reads = {f: _reading(f, contract.columns.get(f), feature_types) for f in self.features}
        self.feature_types: dict[str, str] = reads
        self.unchecked: tuple[str, ...] = tuple(
            f for f in self.features if f not in contract.columns
        )
        """Features the contract does not name: read as the model reads them, never refused."""
        entity = contract.entity.column if contract.entity is not None else None
        fields: list[_Field] = []
        for name, rule in contract.columns.items():
            if name in reads:
                if name == contract.target:
                    rule = rule.model_copy(update={"required": False})
                fields.append(_field(name, rule, reads[name], entity=False))
            elif name == entity:
                fields.append(_field(name, rule, _READS[rule.type][0], entity=True))
        self._fields: tuple[_Field, ...] = tuple(fields)
        self.fields: tuple[str, ...] = tuple(f.name for f in fields)
        """The fields checked, in contract order (problems and reasons come in this order)."""
        self._plan: tuple[tuple[str, _Test, Problem | None], ...] = tuple(
            (f.name, _record_test(f), f.absent) for f in fields
        )
        self._converters: tuple[tuple[str, _Convert], ...] = tuple(
            (name, _CONVERTERS[reads[name]]) for name in self.features
        )

    # --- one record ----------------------------------------------------------------------------

    def check(self, record: Mapping[str, Any]) -> list[Problem]:
        """The contract's problems with one JSON record (as json.loads gives it); [] when none."""
        problems: list[Problem] = []
        get = record.get
        for name, test, absent in self._plan:
            value = get(name, _ABSENT)
            if value is _ABSENT:
                if absent is not None:
                    problems.append(absent)
            else:
                problem = test(value)
                if problem is not None:
                    problems.append(problem)
        return problems

    def convert(self, record: Mapping[str, Any]) -> dict[str, float | str | None]:
        """The record's features as the model reads them; assumes `check` found no problem.

        Numbers (and numeric text of number features) become floats, categories their text
        (true -> "true", 1.0 -> "1", as in training), dates and timestamps days since 1970-01-01
        in UTC (fractional for timestamps; no zone means UTC), and absent or null values None.
        """
        get = record.get
        return {name: convert(get(name)) for name, convert in self._converters}

    # --- a table -------------------------------------------------------------------------------

    def check_table(self, table: pa.Table) -> TableCheck:
        """Check every row of a table by the same rules, column by column (no loop over rows).

        Text columns of number features are read by their numeric text (CSV), and a missing
        required column makes every row bad; see the module docstring.
        """
        rows = table.num_rows
        names = table.schema.names
        bad = np.zeros(rows, dtype=bool)
        broken: list[tuple[_Field, np.ndarray]] = []
        for field in self._fields:
            if field.name in names:
                codes = _column_codes(field, table.column(names.index(field.name)), rows)
            elif field.column_required:
                codes = np.full(rows, _REQUIRED, dtype=np.uint8)
            else:
                codes = None
            if codes is not None:
                bad |= codes != _OK
                broken.append((field, codes))
        counts: dict[str, int] = {}
        for field, codes in broken:
            for code, count in enumerate(np.bincount(codes, minlength=_CATEGORY + 1)):
                if code != _OK and count:
                    key = str(field.problems[code])
                    counts[key] = counts.get(key, 0) + int(count)
        return TableCheck(good=~bad, reasons=_reasons(broken, bad), counts=counts)


_ABSENT: Final = object()
_BLANK = " \t\n\r\f\v"  # the same characters in both checks: Python's and RE2's
_BLANK_PATTERN = "^[ \\t\\n\\r\\f\\v]*$"


# --- compiling the fields --------------------------------------------------------------------


def _reading(feature: str, rule: ColumnRule | None, feature_types: Mapping[str, str] | None) -> str:
    given = None if feature_types is None else feature_types.get(feature)
    if given is None:
        return "number" if rule is None else _READS[rule.type][0]
    if given not in _FEATURE_TYPES:
        raise UsageError(
            f"feature {feature!r} has feature type {given!r}; expected one of "
            f"{', '.join(_FEATURE_TYPES)}"
        )
    if rule is not None and given not in _READS[rule.type]:
        raise ContractError(
            f"the model reads feature {feature!r} as a {given}, but the data contract says the "
            f"column holds {rule.type} values; the contract was changed after the model was "
            f"trained. Set its type back in the contract, or train a new version."
        )
    return given


def _field(name: str, rule: ColumnRule, reads: str, *, entity: bool) -> _Field:
    numeric = rule.type in ("integer", "number")
    low = rule.min if numeric else None
    high = rule.max if numeric else None
    expected = _expected(rule, reads, low, high)
    wrong = {
        "integer": "expected an integer",
        "number": "expected a number",
        "string": "expected a number" if reads == "number" else "expected text",
        "boolean": "expected true or false",
        "date": "expected a date",
        "timestamp": "expected a timestamp",
    }[rule.type]
    reasons = {
        _REQUIRED: "required",
        _TYPE: wrong,
        _NONFINITE: "not a finite number",
        _BELOW: f"below the minimum {_number_text(low)}",
        _ABOVE: f"above the maximum {_number_text(high)}",
        _CATEGORY: "not one of the accepted categories",
    }
    problems = {code: Problem(name, reason, expected) for code, reason in reasons.items()}
    return _Field(name, rule, reads, entity, problems, low, high)


def _expected(rule: ColumnRule, reads: str, low: float | None, high: float | None) -> str:
    if rule.categories is not None:
        shown = ", ".join(rule.categories[:_SHOWN_CATEGORIES])
        more = len(rule.categories) - _SHOWN_CATEGORIES
        return f"one of: {shown}" + (f" and {more} more" if more > 0 else "")
    if rule.type in ("integer", "number"):
        kind = rule.type
        if low is not None and high is not None:
            return f"{kind} between {_number_text(low)} and {_number_text(high)}"
        if low is not None:
            return f"{kind} of at least {_number_text(low)}"
        if high is not None:
            return f"{kind} of at most {_number_text(high)}"
        return kind
    return {
        "string": "a number (or its text)" if reads == "number" else "text",
        "boolean": "true or false",
        "date": "date as YYYY-MM-DD",
        "timestamp": "ISO 8601 timestamp such as 2024-01-31T09:30:00Z (no zone: UTC)",
    }[rule.type]


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


# --- one record: a test per field --------------------------------------------------------------


def _record_test(field: _Field) -> _Test:
    kind = field.rule.type
    if kind in ("integer", "number"):
        return _number_test(field, integer=kind == "integer")
    if kind == "string":
        return _numeric_text_test(field) if field.reads == "number" else _text_test(field)
    if kind == "boolean":
        return _boolean_test(field)
    return _time_test(field, _is_date if kind == "date" else _is_timestamp)


def _number_test(field: _Field, *, integer: bool) -> _Test:
    null, wrong = field.null, field.problems[_TYPE]
    nonfinite, below, above = (field.problems[c] for c in (_NONFINITE, _BELOW, _ABOVE))
    # The fast path's bounds: inside them a number is finite and in range, nothing else to check.
    low = -_MAX_FLOAT if field.low is None else max(field.low, -_MAX_FLOAT)
    high = _MAX_FLOAT if field.high is None else min(field.high, _MAX_FLOAT)
    has_low, has_high = field.low is not None, field.high is not None

    def slow(value: float | int) -> Problem | None:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            return nonfinite
        if not math.isfinite(number):
            return nonfinite
        if integer and not number.is_integer():
            return wrong
        if has_low and value < low:
            return below
        if has_high and value > high:
            return above
        return None

    def test(value: Any) -> Problem | None:
        kind = type(value)
        if kind is int:
            return None if low <= value <= high else slow(value)
        if kind is float:
            if low <= value <= high and (not integer or value.is_integer()):
                return None
            return slow(value)
        if value is None:
            return null
        number = _as_number(value)
        return wrong if number is None else slow(number)

    return test


def _as_number(value: Any) -> float | int | None:
    """Numbers that are not plain int or float (numpy scalars, Decimal, int subclasses)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        return float(value)
    return None


def _text_test(field: _Field) -> _Test:
    null, wrong, outside = field.null, field.problems[_TYPE], field.problems[_CATEGORY]
    categories = None if field.rule.categories is None else frozenset(field.rule.categories)

    def test(value: Any) -> Problem | None:
        if isinstance(value, str):
            return None if categories is None or value in categories else outside
        return null if value is None else wrong

    return test


def _numeric_text_test(field: _Field) -> _Test:
    """A text column the model reads as numbers: numbers and numeric text both do."""
    null, wrong, outside = field.null, field.problems[_TYPE], field.problems[_CATEGORY]
    nonfinite = field.problems[_NONFINITE]
    categories = None if field.rule.categories is None else frozenset(field.rule.categories)
    numbers = None if categories is None else frozenset(_category_numbers(categories))

    def test(value: Any) -> Problem | None:
        if isinstance(value, str):
            if not value.strip(_BLANK):
                return None  # text to the contract, a missing number to the model (as in training)
            number = _parse_number(value)
            if number is None:
                return wrong
            if not math.isfinite(number):
                return nonfinite
            return None if categories is None or value in categories else outside
        if value is None:
            return null
        plain = _as_number(value)
        if plain is None:
            return wrong
        try:
            number = float(plain)
        except OverflowError:
            return nonfinite
        if not math.isfinite(number):
            return nonfinite
        return None if numbers is None or number in numbers else outside

    return test


def _category_numbers(categories: frozenset[str] | tuple[str, ...]) -> list[float]:
    """The categories that are numeric text, as numbers (how a number sent is matched to them)."""
    found = (_parse_number(c) for c in categories)
    return sorted(n for n in found if n is not None and math.isfinite(n))


def _parse_number(text: str) -> float | None:
    """Numeric text as a float (surrounding ASCII spaces allowed); None when it is not a number."""
    stripped = text.strip(_SPACE)
    return float(stripped) if _NUMBER.fullmatch(stripped) else None


def _boolean_test(field: _Field) -> _Test:
    null, wrong = field.null, field.problems[_TYPE]

    def test(value: Any) -> Problem | None:
        if type(value) is bool or isinstance(value, np.bool_):
            return None
        return null if value is None else wrong

    return test


def _time_test(field: _Field, accepts: Callable[[str], bool]) -> _Test:
    null, wrong = field.null, field.problems[_TYPE]

    def test(value: Any) -> Problem | None:
        if isinstance(value, str):
            return None if accepts(value) else wrong
        return null if value is None else wrong

    return test


def _time_parts(text: str) -> tuple[int, int, str] | None:
    """ISO 8601 text as (days since 1970-01-01, seconds from that midnight in UTC, the digits of
    the fraction of a second); None when it is not a valid date or timestamp."""
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if year < 1 or day > _days_in_month(year, month):
        return None
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    if match["H"] is None:
        return days, 0, ""
    seconds = int(match["H"]) * 3600 + int(match["M"]) * 60 + int(match["S"] or 0)
    return days, seconds - _offset_minutes(match["z"]) * 60, match["f"] or ""


def _is_timestamp(text: str) -> bool:
    return _time_parts(text) is not None


def _is_date(text: str) -> bool:
    """A date, or a timestamp at midnight UTC (what a date column holds when read as timestamp)."""
    parts = _time_parts(text)
    return parts is not None and parts[1] % 86400 == 0 and not parts[2].strip("0")


def _days(text: str) -> float | None:
    """Days since 1970-01-01 00:00 UTC, fractional for a time of day; no zone means UTC."""
    parts = _time_parts(text)
    if parts is None:
        return None
    days, seconds, fraction = parts
    return days + (seconds + (float("0." + fraction) if fraction else 0.0)) / 86400.0


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _offset_minutes(zone: str | None) -> int:
    """Minutes east of UTC for "Z", "+02", "+0230", "-02:30" (ranges checked by the pattern)."""
    if not zone or zone in "Zz":
        return 0
    digits = zone[1:].replace(":", "")
    total = int(digits[:2]) * 60 + int(digits[2:] or 0)
    return -total if zone[0] == "-" else total


# --- one record: converting for the model -----------------------------------------------------


def _to_number(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if value is None:
        return None
    if isinstance(value, str):
        return _parse_number(value)
    plain = _as_number(value)
    if plain is None:
        return None
    try:
        return float(plain)
    except OverflowError:
        return None


def _to_category(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        value = value.item()
    return None if value is None else class_label(value)


def _to_days(value: Any) -> float | None:
    return _days(value) if isinstance(value, str) else None


_CONVERTERS: dict[str, _Convert] = {
    "number": _to_number,
    "category": _to_category,
    "date": _to_days,
}


# --- a table: a code per row and column ----------------------------------------------------------


class _Codes:
    """Per-row problem codes of one column, allocated only when some row breaks a rule."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.codes: np.ndarray | None = None

    def mark(self, mask: Any, code: int) -> None:
        """Give `code` to the rows where `mask` is true and no earlier rule is broken."""
        if mask is None:
            return
        if isinstance(mask, np.ndarray):
            if not mask.any():
                return
            rows = mask
        else:
            if not pc.any(mask).as_py():
                return
            rows = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
        if self.codes is None:
            self.codes = np.zeros(self.rows, dtype=np.uint8)
        self.codes[rows & (self.codes == _OK)] = code


def _column_codes(field: _Field, column: pa.ChunkedArray, rows: int) -> np.ndarray | None:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    codes = _Codes(rows)
    if column.null_count and field.null is not None:
        codes.mark(pc.is_null(column), _REQUIRED)
    if (
        field.rule.type == "string"
        and field.reads == "number"
        and _arrow_kind(column.type) == "text"
    ):
        # Blank text is text to the contract and a missing number to the model (as in
        # training): it breaks no rule here, and is not read as a number below.
        whole = column.combine_chunks()  # one chunk: masks below must line up with it
        blank = pc.match_substring_regex(whole, _BLANK_PATTERN)
        column = pa.chunked_array([pc.if_else(blank, pa.scalar(None, whole.type), whole)])
    kind = field.rule.type
    arrow = _arrow_kind(column.type)
    if arrow == "null":
        return codes.codes
    if kind in ("integer", "number") or (kind == "string" and field.reads == "number"):
        _number_codes(field, column, arrow, codes)
    elif kind == "string":
        if arrow != "text":
            codes.mark(pc.is_valid(column), _TYPE)
        elif field.rule.categories is not None:
            codes.mark(_outside(column, field.rule.categories), _CATEGORY)
    elif kind == "boolean":
        if arrow != "boolean":
            codes.mark(pc.is_valid(column), _TYPE)
    else:
        codes.mark(_not_time(column, arrow, date_only=kind == "date"), _TYPE)
    return codes.codes


def _arrow_kind(kind: pa.DataType) -> str:
    if pa.types.is_null(kind):
        return "null"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "float"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "text"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    return "other"


def _number_codes(field: _Field, column: pa.ChunkedArray, arrow: str, codes: _Codes) -> None:
    text_column = field.rule.type == "string"
    if arrow == "text":
        values, not_numbers = _numbers_from_text(column)
        codes.mark(not_numbers, _TYPE)
    elif arrow in ("integer", "float"):
        values = column
    else:
        codes.mark(pc.is_valid(column), _TYPE)
        return
    if arrow != "integer":
        values = values.cast(pa.float64(), safe=False)
        codes.mark(pc.invert(pc.is_finite(values)), _NONFINITE)
        if field.rule.type == "integer":
            codes.mark(pc.not_equal(pc.trunc(values), values), _TYPE)
    if field.low is not None or field.high is not None:
        _range_codes(field, values, arrow, codes)
    categories = field.rule.categories
    if text_column and categories is not None:
        if arrow == "text":
            codes.mark(_outside(column, categories), _CATEGORY)
        else:
            numbers = pa.array(_category_numbers(categories), pa.float64())
            as_float = pc.add(values.cast(pa.float64(), safe=False), 0.0)  # -0.0 becomes 0.0
            codes.mark(_not_in(as_float, numbers), _CATEGORY)


def _range_codes(field: _Field, values: pa.ChunkedArray, arrow: str, codes: _Codes) -> None:
    if arrow == "integer":
        # Integers are compared exactly: min_max first (fast), as floats only when out of range.
        extremes = pc.min_max(values)
        smallest, largest = extremes["min"].as_py(), extremes["max"].as_py()
        inside = smallest is None or (
            (field.low is None or smallest >= field.low)
            and (field.high is None or largest <= field.high)
        )
        if inside:
            return
        values = values.cast(pa.float64(), safe=False)
    if field.low is not None:
        codes.mark(pc.less(values, float(field.low)), _BELOW)
    if field.high is not None:
        codes.mark(pc.greater(values, float(field.high)), _ABOVE)


def _numbers_from_text(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, Any]:
    """Numeric text as float64 (null where not a number), and where non-empty text is not one."""
    stripped = pc.ascii_trim_whitespace(column.cast(pa.string()))
    try:
        return stripped.cast(pa.float64()), None
    except pa.ArrowInvalid:  # some text is not a number: find it, read the rest
        pass
    numeric = pc.match_substring_regex(stripped, f"^(?:{_NUMBER_PATTERN})$")
    kept = pc.if_else(numeric, stripped, pa.scalar(None, pa.string()))
    return kept.cast(pa.float64()), pc.invert(numeric)


def _outside(column: pa.ChunkedArray, categories: tuple[str, ...]) -> Any:
    allowed = pa.array(categories, pa.string())
    return _not_in(column.cast(pa.string()), allowed)


def _not_in(values: pa.ChunkedArray, allowed: pa.Array) -> Any:
    """True where a value is not among `allowed`; null where it is empty (is_in says false)."""
    return pc.if_else(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)), None)


def _not_time(column: pa.ChunkedArray, arrow: str, *, date_only: bool) -> Any:
    """Where a value is not a date (or timestamp); false where it is empty."""
    if arrow == "date" or (arrow == "timestamp" and not date_only):
        return None
    if arrow == "timestamp":  # a date column takes timestamps at midnight UTC, as validate does
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
        ticks = pc.fill_null(column.cast(pa.int64()), 0).to_numpy()
        return np.asarray(ticks % per_day[column.type.unit] != 0)
    if arrow != "text":
        return pc.is_valid(column)
    return _not_time_text(column.cast(pa.string()), date_only=date_only)


def _not_time_text(column: pa.ChunkedArray, *, date_only: bool) -> np.ndarray:
    """Where text is not what `_is_date` (or `_is_timestamp`) accepts, for a whole column."""
    matched = pc.fill_null(pc.match_substring_regex(column, f"^(?:{_TIME_PATTERN})$"), False)
    valid = _flags(matched) & ~_flags(pc.starts_with(column, "0000"))
    # The pattern checks each field's range; left is the calendar, for days 29 to 31 only.
    dated = pc.if_else(matched, column, "2000-01-01")
    late = np.flatnonzero(valid & (_integers(pc.utf8_slice_codeunits(dated, 8, 10)) >= 29))
    if len(late):
        dates = dated.take(pa.array(late))
        year, month, day = (_integers(pc.utf8_slice_codeunits(dates, a, a + w)) for a, w in _YMD)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        valid[late] = day <= _MONTH_DAYS[month - 1] + ((month == 2) & leap)
    if date_only:  # a time of day is accepted at midnight UTC only
        timed = np.flatnonzero(valid & _flags(pc.greater(pc.utf8_length(column), 10)))
        if len(timed):
            valid[timed] = _at_midnight(column.take(pa.array(timed)))
    bad: np.ndarray = _flags(pc.is_valid(column)) & ~valid
    return bad


_YMD = ((0, 4), (5, 2), (8, 2))


def _integers(text: Any) -> np.ndarray:
    """Digits (never empty, never null) as integers."""
    return np.asarray(text.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _flags(mask: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _at_midnight(stamps: pa.ChunkedArray) -> np.ndarray:
    """Whether valid timestamp text falls at midnight UTC (its zone taken into account)."""
    parts = pc.extract_regex(stamps, f"^(?:{_TIME_PATTERN})$")

    def part(name: str) -> Any:
        return pc.fill_null(pc.struct_field(parts, name), "")

    def number(text: Any) -> np.ndarray:
        return _integers(pc.if_else(pc.equal(text, ""), "0", text))

    hour, minute, second = (number(part(name)) for name in "HMS")
    zone = part("z")
    digits = pc.replace_substring(pc.utf8_slice_codeunits(zone, 1), ":", "")
    offset = number(pc.utf8_slice_codeunits(digits, 0, 2)) * 60
    offset += number(pc.utf8_slice_codeunits(digits, 2))
    offset *= np.where(_flags(pc.starts_with(zone, "-")), -1, 1)
    seconds = hour * 3600 + minute * 60 + second - offset * 60
    whole: np.ndarray = (seconds % 86400 == 0) & _flags(pc.match_substring_regex(part("f"), "^0*$"))
    return whole


def _reasons(broken: list[tuple[_Field, np.ndarray]], bad: np.ndarray) -> pa.Array:
    """Each row's reasons ("field: problem; field: problem", or "" when good).

    Rows share few combinations of problems, so each row's codes (one byte per broken field) are
    hashed into combinations by pyarrow, each combination's text is written once, and the rows
    take their text from that short list: no string work per row beyond the final copy.
    """
    rows = len(bad)
    if not bad.any():
        offsets = pa.py_buffer(np.zeros(rows + 1, dtype=np.int32))
        return pa.StringArray.from_buffers(rows, offsets, pa.py_buffer(b""))
    matrix = np.ascontiguousarray(np.column_stack([codes for _, codes in broken]), dtype=np.uint8)
    width = matrix.shape[1]
    keys = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), rows, [None, pa.py_buffer(matrix)]
    )
    combinations = pc.dictionary_encode(keys)
    texts = [
        "; ".join(
            str(field.problems[code]) for (field, _), code in zip(broken, key, strict=True) if code
        )
        for key in combinations.dictionary.to_pylist()
    ]
    return pa.array(texts, pa.string()).take(combinations.indices)
