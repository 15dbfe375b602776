"""The data contract: which data a project accepts, inferred once from data, then the user's file.

`infer_contract` writes down what the audited data looked like (types, empties, ranges widened by a
tolerance, the categories seen, whether the entity is unique); `write_contract` saves it as
commented YAML; `load_contract` reads it back, with errors that name the key and the line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from charter._atomic import write_text_atomic
from charter.data._dataset import DATASET, Dataset, quote_identifier
from charter.data._types import FLOAT_TYPES, INTEGER_TYPES
from charter.errors import ContractError
from charter.spec._load import yaml_lines

if TYPE_CHECKING:
    from charter.audit._profile import ColumnProfile, DatasetProfile
    from charter.spec._model import Charter

__all__ = [
    "COLUMN_TYPES",
    "DEFAULT_TOLERANCE",
    "MAX_CATEGORIES",
    "ColumnRule",
    "ColumnType",
    "DataContract",
    "EntityRule",
    "column_type_of",
    "contract_yaml",
    "infer_contract",
    "load_contract",
    "parse_contract",
    "widen_range",
    "write_contract",
]

ColumnType = Literal["integer", "number", "string", "boolean", "date", "timestamp"]
COLUMN_TYPES: tuple[ColumnType, ...] = (
    "integer",
    "number",
    "string",
    "boolean",
    "date",
    "timestamp",
)

DEFAULT_TOLERANCE = 0.1
"""Observed ranges are widened by this share of their width on each side."""

MAX_CATEGORIES = 50
"""Text columns with at most this many distinct values get a list of allowed categories."""


def column_type_of(dtype: str) -> ColumnType:
    """The contract type of a DuckDB column type; anything unusual (lists, UUIDs, times) is text."""
    upper = dtype.upper()
    if upper in INTEGER_TYPES:
        return "integer"
    if upper in FLOAT_TYPES or upper.startswith("DECIMAL"):
        return "number"
    if upper == "BOOLEAN":
        return "boolean"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    return "string"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _category_text(value: object) -> object:
    """YAML reads `1` as a number; a category is text, so numbers become their text."""
    if isinstance(value, bool):
        raise ValueError(f'category {value!r} reads as true/false; write it in quotes, e.g. "yes"')
    if isinstance(value, int | float):
        return str(value)
    return value


Category = Annotated[str, BeforeValidator(_category_text)]


def _number(value: object) -> object:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise ValueError("expected a number such as 0 or 12.5")


Number = Annotated[int | float, BeforeValidator(_number)]


class ColumnRule(_Strict):
    """What one column must look like in every batch."""

    type: ColumnType
    required: bool = True
    nullable: bool = True
    missing_share: float | None = Field(default=None, ge=0, le=1)
    min: Number | None = None
    max: Number | None = None
    categories: tuple[Category, ...] | None = None

    @field_validator("categories")
    @classmethod
    def _distinct_categories(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if values is not None and not values:
            raise ValueError(
                "an empty category list would refuse every value; remove the key to accept any text"
            )
        return None if values is None else tuple(dict.fromkeys(values))

    @model_validator(mode="after")
    def _rules_fit_the_type(self) -> ColumnRule:
        numeric = self.type in {"integer", "number"}
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(
                f"min/max apply to integer and number columns, not {self.type}; remove them"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max}); swap them")
        if self.categories is not None and self.type != "string":
            raise ValueError(f"categories apply to string columns, not {self.type}; remove them")
        return self


class EntityRule(_Strict):
    """The column that identifies an entity (a customer, an order) and whether it must be unique."""

    column: str
    unique: bool = True


class DataContract(_Strict):
    """Which data a project accepts: written by `charter audit`, then owned by the user."""

    contract_version: Literal[1] = 1
    project: str = Field(min_length=1)
    created: datetime
    target: str | None = None
    entity: EntityRule | None = None
    range_tolerance: float = Field(default=DEFAULT_TOLERANCE, ge=0)
    columns: dict[str, ColumnRule] = Field(min_length=1)

    @field_validator("created", mode="after")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _special_columns_exist(self) -> DataContract:
        if self.entity is not None and self.entity.column not in self.columns:
            raise ValueError(
                f"entity column {self.entity.column!r} is not listed under columns; add it there"
            )
        if self.target is not None and self.target not in self.columns:
            raise ValueError(
                f"target column {self.target!r} is not listed under columns; add it there"
            )
        return self


def widen_range(
    low: float, high: float, tolerance: float, *, integer: bool = False
) -> tuple[int | float, int | float]:
    """Widen [low, high] by `tolerance` × its width on each side, rounded outwards to tidy numbers.

    A range that never went below zero stays at or above zero (counts, prices, ages).

    Example:
        >>> widen_range(18, 90, 0.1, integer=True)
        (10, 98)
    """
    span = high - low
    if not math.isfinite(span * (1 + tolerance)):
        return low, high
    lower, upper = low - tolerance * span, high + tolerance * span
    if low >= 0:
        lower = max(lower, 0.0)
    if integer:
        return min(math.floor(lower), math.floor(low)), max(math.ceil(upper), math.ceil(high))
    digits = 3 - math.floor(math.log10(span)) if span > 0 else 0
    step = 10.0**-digits
    if span > 0 and step > 4 * math.ulp(max(abs(lower), abs(upper))):
        # Round to about four significant digits of the width, never inwards past the data.
        lower = round(math.floor(lower / step) * step, max(digits, 0))
        upper = round(math.ceil(upper / step) * step, max(digits, 0))
    return min(float(lower), float(low)), max(float(upper), float(high))


def infer_contract(
    charter: Charter,
    dataset: Dataset,
    profile: DatasetProfile,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: datetime | None = None,
    entity_unique: bool | None = None,
) -> DataContract:
    """Write down what the audited data looks like, as a contract every later batch must keep.

    Uses the profile's statistics; one DuckDB query lists the exact categories of text columns
    with few values (when the profile's top values do not already hold them all) and checks
    whether the entity is unique (unless `entity_unique` says, as a cluster counts it).

    Example:
        >>> contract = infer_contract(charter, dataset, profile_dataset(dataset))  # doctest: +SKIP
        >>> contract.columns["tenure"].max
        79
    """
    entity = charter.data.entity
    time = charter.data.time
    exact = _exact_facts(
        dataset, profile, entity if entity_unique is None else None, skip={entity, time}
    )
    if entity_unique is not None:
        exact = exact._replace(entity_unique=entity_unique)
    columns: dict[str, ColumnRule] = {}
    for name, dtype in dataset.columns.items():
        column = profile.columns[name]
        kind = column_type_of(dtype)
        bounds = None
        if kind in {"integer", "number"} and name not in {entity, time}:
            bounds = _observed_bounds(column, tolerance, integer=kind == "integer")
        columns[name] = ColumnRule(
            type=kind,
            required=name != charter.target,
            nullable=column.missing > 0,
            missing_share=round(column.missing_share, 4),
            min=bounds[0] if bounds else None,
            max=bounds[1] if bounds else None,
            categories=exact.categories.get(name),
        )
    return DataContract(
        project=charter.project,
        created=(now or datetime.now(UTC)).replace(microsecond=0),
        target=charter.target if charter.target in dataset.columns else None,
        entity=EntityRule(column=entity, unique=exact.entity_unique)
        if entity in dataset.columns
        else None,
        range_tolerance=tolerance,
        columns=columns,
    )


def _observed_bounds(
    column: ColumnProfile, tolerance: float, *, integer: bool
) -> tuple[int | float, int | float] | None:
    if column.minimum is None or column.maximum is None:
        return None
    low, high = float(column.minimum), float(column.maximum)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return widen_range(low, high, tolerance, integer=integer)


class _ExactFacts(NamedTuple):
    categories: dict[str, tuple[str, ...]]
    entity_unique: bool


def _exact_facts(
    dataset: Dataset, profile: DatasetProfile, entity: str | None, *, skip: set[str | None]
) -> _ExactFacts:
    categories: dict[str, tuple[str, ...]] = {}
    to_query: list[str] = []
    for name, dtype in dataset.columns.items():
        column = profile.columns[name]
        if column_type_of(dtype) != "string" or name in skip or column.present == 0:
            continue
        counted = all(count >= 0 for _, count in column.top_values)
        if column.value_counts is not None:  # every value, counted: no query needed
            if len(column.value_counts) <= MAX_CATEGORIES:
                categories[name] = tuple(sorted(str(value) for value, _ in column.value_counts))
        elif counted and sum(count for _, count in column.top_values) == column.present:
            values = sorted(str(value) for value, _ in column.top_values)
            if len(values) <= MAX_CATEGORIES:
                categories[name] = tuple(values)
        elif column.distinct <= 2 * MAX_CATEGORIES:  # approximate count: leave room for its error
            to_query.append(name)
    expressions = [
        f"list(DISTINCT {q}::VARCHAR) FILTER (WHERE {q} IS NOT NULL)"
        for q in map(quote_identifier, to_query)
    ]
    if entity is not None and entity in dataset.columns:
        q = quote_identifier(entity)
        expressions.append(f"count(DISTINCT {q}) = count({q})")
    if not expressions:
        return _ExactFacts(categories, entity_unique=True)
    row = dataset.sql(f"SELECT {', '.join(expressions)} FROM {DATASET}")[0]
    for name, values in zip(to_query, row, strict=False):
        if values is not None and 0 < len(values) <= MAX_CATEGORIES:
            categories[name] = tuple(sorted(values))
    unique = bool(row[-1]) if entity is not None and entity in dataset.columns else True
    return _ExactFacts(categories, entity_unique=unique)


_HEADER = """\
# Data contract for project {project}.
# Generated by `charter audit` on {date}. From now on this is your file: edit it to say which
# data you accept, and keep it under version control with the model it was written for.
#
# Every batch checked by `charter validate FILE` must keep these rules, column by column:
#   type          integer | number | string | boolean | date | timestamp (values must convert)
#   required      the column must be present (false for the target: new data has no answer yet)
#   nullable      empty values are allowed; missing_share is the share seen at audit time
#   min, max      accepted range of numbers: the observed range widened by range_tolerance
#                 ({tolerance:.0%} of its width) on each side; widen or narrow them as you see fit
#   categories    the only text values accepted; add a value here to accept it, or delete the
#                 list to accept any text
# entity.unique: true means each entity id may appear only once in a batch.
"""


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as people write YAML by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def contract_yaml(contract: DataContract) -> str:
    """The contract as commented YAML text (what `write_contract` saves)."""
    data = contract.model_dump(mode="json", exclude_none=True)
    data["created"] = contract.created.isoformat().replace("+00:00", "Z")
    columns = data.pop("columns")
    head = yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=100)
    parts = [
        _HEADER.format(
            project=contract.project,
            date=contract.created.date().isoformat(),
            tolerance=contract.range_tolerance,
        ),
        head,
        "columns:\n",
    ]
    for name, rule in columns.items():
        block = yaml.dump(
            {name: rule}, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=100
        )
        parts.append("".join("  " + line + "\n" for line in block.splitlines()))
    return "".join(parts)


def write_contract(contract: DataContract, path: str | os.PathLike[str]) -> Path:
    """Save the contract as commented, hand-editable YAML; returns the path written."""
    file = Path(path)
    try:
        write_text_atomic(file, contract_yaml(contract))
    except OSError as exc:
        raise ContractError(f"{file}: cannot write the data contract: {exc}") from exc
    return file


def load_contract(path: str | os.PathLike[str]) -> DataContract:
    """Read and validate a contract file.

    Example:
        >>> contract = load_contract("contract.yaml")  # doctest: +SKIP
        >>> contract.columns["plan"].categories
        ('basic', 'premium')
    """
    file = Path(path)
    if not file.is_file():
        raise ContractError(
            f"{file}: no data contract here. Run `charter audit` once: it writes one from the data."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{file}: cannot read the data contract: {exc}") from exc
    return parse_contract(text, source=str(file))


def parse_contract(text: str, *, source: str = "contract.yaml") -> DataContract:
    """Validate contract YAML text; `source` names it in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ContractError(
            f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
        ) from exc
    if not isinstance(raw, dict):
        raise ContractError(
            f"{source}: a data contract is a YAML mapping with keys project, created and columns; "
            f"got {type(raw).__name__}. Run `charter audit` on a copy to see one."
        )
    try:
        return DataContract.model_validate(raw)
    except ValidationError as exc:
        raise ContractError(_describe(exc, source, yaml_lines(text))) from None


_EXAMPLES = {
    "type": "type: integer   # integer | number | string | boolean | date | timestamp",
    "min": "min: 0",
    "max": "max: 120",
    "categories": "categories: [basic, premium]",
    "nullable": "nullable: false",
    "required": "required: true",
    "missing_share": "missing_share: 0.02",
    "entity": "entity: {column: customer_id, unique: true}",
    "created": "created: '2026-01-31T09:00:00Z'",
    "range_tolerance": "range_tolerance: 0.1",
    "columns": "columns: {age: {type: integer, nullable: false, min: 0, max: 120}}",
}


def _describe(exc: ValidationError, source: str, lines: Mapping[tuple[str, ...], int]) -> str:
    problems: list[str] = []
    for error in exc.errors():
        path = tuple(str(part) for part in error["loc"])
        key = ".".join(path) or "(top level)"
        where = source
        for cut in range(len(path), -1, -1):
            if path[:cut] in lines:
                where = f"{source}:{lines[path[:cut]]}"
                break
        text = f"{where}: {key}: {_plain(error)}"
        example = next((_EXAMPLES[p] for p in reversed(path) if p in _EXAMPLES), None)
        if example:
            text += f"\n    example: {example}"
        problems.append(text)
    unique = list(dict.fromkeys(problems))
    plural = "s" if len(unique) != 1 else ""
    return f"{source}: the data contract has {len(unique)} problem{plural}:\n  " + "\n  ".join(
        unique
    )


def _plain(error: Any) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a contract key (check the spelling; the header of the file lists the keys)"
    if kind == "literal_error":
        return f"expected one of {error.get('ctx', {}).get('expected', '')}, got {given!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if given is None or isinstance(given, dict):
        return message
    return f"{message} (got {given!r})"
