"""Checking a batch of data against the data contract, row by row, and quarantining the bad rows.

Every rule is one SQL condition per row, evaluated by DuckDB over the batch's `dataset` view: one
parallel pass counts the rows breaking each rule, and only when some rule is broken a second pass
numbers the rows (1-based, in the order they are read: file order for a file) to pick examples.

    rule               level    a row breaks it when ...
    ─────────────────  ───────  ──────────────────────────────────────────────────────────────────
    missing_column     error    a required column is absent from the batch (every row counts as bad)
    type               error    its value does not convert to the column's type (e.g. 'abc' or 1.5
                                for an integer)
    not_null           error    its value is empty (NULL) and the column is not nullable
    range              error    its number is below the column's min or above its max
    category           error    its text is not one of the column's categories
    duplicate_entity   error    its entity id appears more than once in the batch and the contract
                                says ids are unique (every copy is flagged: which one is right is
                                for a person to decide)
    extra_column       warning  the batch has a column the contract does not name (kept, unchecked)

A batch is `ok` when no error-level rule is broken. A value that fails the type rule is not also
checked for range or category; an empty value only breaks `not_null`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, computed_field

from charter.data._dataset import DATASET, Dataset, quote_identifier
from charter.errors import ContractError, UsageError
from charter.spec._contract import ColumnRule, ColumnType, DataContract, column_type_of

__all__ = [
    "RULE_LEVELS",
    "QuarantineResult",
    "Rule",
    "RuleLevel",
    "ValidationReport",
    "Violation",
    "ViolationExample",
    "split_batch",
    "validate_batch",
]

Rule = Literal[
    "missing_column", "extra_column", "type", "not_null", "range", "category", "duplicate_entity"
]
RuleLevel = Literal["error", "warning"]

RULE_LEVELS: dict[Rule, RuleLevel] = {
    "missing_column": "error",
    "type": "error",
    "not_null": "error",
    "range": "error",
    "category": "error",
    "duplicate_entity": "error",
    "extra_column": "warning",
}
"""Whether breaking each rule makes a batch fail (error) or is only reported (warning)."""

_ROW = "__charter_row"
_DUPLICATES = "__charter_duplicates"
_KEY = "__charter_key"
_BAD = "__charter_bad"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ViolationExample(_Strict):
    """One offending row: its 1-based number in the batch and its value as text (None if empty)."""

    row: int
    value: str | None


class Violation(_Strict):
    """All the rows of a batch that break one rule on one column."""

    column: str
    rule: Rule
    level: RuleLevel
    rows: int
    examples: tuple[ViolationExample, ...] = ()
    message: str


class ValidationReport(_Strict):
    """The result of checking a batch against a contract."""

    total_rows: int
    bad_rows: int
    good_rows: int
    violations: tuple[Violation, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when no error-level rule is broken (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.level == "error")

    @property
    def warnings(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.level == "warning")


class QuarantineResult(_Strict):
    """Where the rows of a batch went: good rows to one file, bad rows (with reasons) to another."""

    good_path: Path
    bad_path: Path
    good_rows: int
    bad_rows: int


@dataclass(frozen=True)
class _Check:
    column: str
    rule: Rule
    condition: str  # SQL, true when the row breaks the rule
    value: str  # SQL, the offending value as text


@dataclass(frozen=True)
class _Plan:
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    checks: tuple[_Check, ...]
    entity: str | None  # checked for duplicates

    def source_sql(self) -> str:
        """CTEs: the batch with row numbers in read order, and the duplicated entity ids."""
        # row_number() OVER () runs as a streaming window directly on the scan: read order.
        ctes = [f"{_ROW}_numbered AS (SELECT row_number() OVER () AS {_ROW}, * FROM {DATASET})"]
        if self.entity is not None:
            q = quote_identifier(self.entity)
            ctes.append(
                f"{_DUPLICATES} AS (SELECT {q} AS {_KEY} FROM {DATASET} WHERE {q} IS NOT NULL "
                f"GROUP BY {q} HAVING count(*) > 1)"
            )
        return "WITH " + ", ".join(ctes) + " "


def validate_batch(
    contract: DataContract, dataset: Dataset, *, max_examples: int = 5
) -> ValidationReport:
    """Check every row of a batch against the contract with DuckDB SQL over `dataset`.

    Returns, per column and broken rule, the number of rows and the first `max_examples` of them
    (row number and value). See the module docstring for the rules and their levels.

    Example:
        >>> contract = load_contract("contract.yaml")  # doctest: +SKIP
        >>> report = validate_batch(contract, read_file("new.csv"))
        >>> report.ok, report.bad_rows
        (False, 12)
    """
    if max_examples < 0:
        raise UsageError(f"max_examples={max_examples} must be 0 or more")
    plan = _plan(contract, dataset)
    flags = [f"coalesce({check.condition}, false) AS c{i}" for i, check in enumerate(plan.checks)]
    counts = ["count(*)", f"count_if({' OR '.join(f'c{i}' for i in range(len(flags))) or 'false'})"]
    counts += [f"count_if(c{i})" for i in range(len(flags))]
    row = _run(
        dataset,
        plan.source_sql() + f"SELECT {', '.join(counts)} FROM (SELECT {', '.join(flags) or '1'} "
        f"FROM {DATASET})",
    )
    total = int(row[0])
    bad = total if plan.missing else int(row[1] or 0)  # count_if of no rows is NULL
    broken = {i: int(n) for i, n in enumerate(row[2:]) if n}
    examples = _examples(plan, dataset, broken, max_examples) if max_examples and broken else {}
    violations = [
        _violation(column, "missing_column", total, (), contract) for column in plan.missing
    ]
    for i, count in broken.items():
        check = plan.checks[i]
        violations.append(
            _violation(check.column, check.rule, count, examples.get(i, ()), contract)
        )
    violations += [_violation(column, "extra_column", total, (), contract) for column in plan.extra]
    return ValidationReport(
        total_rows=total, bad_rows=bad, good_rows=total - bad, violations=tuple(violations)
    )


def _examples(
    plan: _Plan, dataset: Dataset, broken: dict[int, int], max_examples: int
) -> dict[int, tuple[ViolationExample, ...]]:
    """The first offending rows of each broken check: a second pass, only when something broke.

    Row numbers need the batch read in order, which DuckDB does on one thread; the first pass
    (counts) runs on all cores, so a clean batch never pays for this one.
    """
    columns = [_ROW]
    picks = []
    for i in broken:
        check = plan.checks[i]
        columns += [f"coalesce({check.condition}, false) AS c{i}", f"{check.value} AS v{i}"]
        example = f"{{'row': {_ROW}, 'value': v{i}}}"
        picks.append(f"min_by({example}, {_ROW}, {max_examples}) FILTER (WHERE c{i})")
    anything = " OR ".join(f"c{i}" for i in broken)
    row = _run(
        dataset,
        plan.source_sql() + f"SELECT {', '.join(picks)} FROM (SELECT {', '.join(columns)} "
        f"FROM {_ROW}_numbered) WHERE {anything}",
    )
    return {
        i: tuple(ViolationExample(row=int(e["row"]), value=e["value"]) for e in found or ())
        for i, found in zip(broken, row, strict=True)
    }


def split_batch(
    contract: DataContract,
    dataset: Dataset,
    report: ValidationReport,
    *,
    bad_path: str | os.PathLike[str],
    good_path: str | os.PathLike[str],
) -> QuarantineResult:
    """Write the good rows of a batch to `good_path` and the bad rows to `bad_path` (quarantine).

    The format follows each path's extension: .csv, .parquet or .jsonl (.ndjson, .json). Good rows
    keep the batch's columns; bad rows get `_row` (their 1-based number in the batch) first and
    `_violations` last, listing each broken rule as `column: rule`, separated by "; ". Every input
    row lands in exactly one file; the counts are checked against `report` (from `validate_batch`).
    """
    good, bad = Path(good_path), Path(bad_path)
    if good.resolve() == bad.resolve():
        raise UsageError(f"good and bad rows cannot both go to {good}; give two different paths")
    clash = {"_row", "_violations"} & set(dataset.columns)
    if clash:
        raise ContractError(
            f"the batch already has a column named {sorted(clash)[0]!r}, which quarantine adds "
            "to bad rows; rename that column before splitting the batch"
        )
    formats = {good: _copy_options(good), bad: _copy_options(bad)}
    plan = _plan(contract, dataset)
    labels = [_sql_text(f"{c}: missing_column") for c in plan.missing]
    labels += [
        f"CASE WHEN {check.condition} THEN {_sql_text(f'{check.column}: {check.rule}')} END"
        for check in plan.checks
    ]
    broken = " OR ".join(f"coalesce({check.condition}, false)" for check in plan.checks)
    flagged = "true" if plan.missing else broken or "false"
    rows = f"(SELECT *, {flagged} AS {_BAD} FROM {_ROW}_numbered)"
    # Sorting by row number is what keeps file order: the duplicate check's join reorders rows.
    kept = f"SELECT * EXCLUDE ({_ROW}, {_BAD}) FROM {rows} WHERE NOT {_BAD} ORDER BY {_ROW}"
    listed = f"concat_ws('; ', {', '.join(labels)})" if labels else "''"
    held = (
        f"SELECT {_ROW} AS _row, * EXCLUDE ({_ROW}, {_BAD}), {listed} AS _violations "
        f"FROM {rows} WHERE {_BAD} ORDER BY {_ROW}"
    )
    good_rows = _copy(dataset, plan.source_sql() + kept, good, formats[good])
    bad_rows = _copy(dataset, plan.source_sql() + held, bad, formats[bad])
    if (good_rows, bad_rows) != (report.good_rows, report.bad_rows):
        raise ContractError(
            f"the batch changed while it was checked: validation counted {report.good_rows} good "
            f"and {report.bad_rows} bad rows, the split wrote {good_rows} and {bad_rows}. Run it "
            "again on a batch that is not being written to."
        )
    return QuarantineResult(good_path=good, bad_path=bad, good_rows=good_rows, bad_rows=bad_rows)


def _plan(contract: DataContract, dataset: Dataset) -> _Plan:
    present = dataset.columns
    missing = tuple(c for c, rule in contract.columns.items() if rule.required and c not in present)
    extra = tuple(c for c in present if c not in contract.columns)
    checks: list[_Check] = []
    for name, rule in contract.columns.items():
        if name in present:
            checks += _column_checks(name, rule, column_type_of(present[name]))
    entity = contract.entity
    checked_entity = None
    if entity is not None and entity.unique and entity.column in present:
        checked_entity = entity.column
        q = quote_identifier(entity.column)
        checks.append(
            _Check(
                entity.column,
                "duplicate_entity",
                f"{q} IN (SELECT {_KEY} FROM {_DUPLICATES})",
                f"{q}::VARCHAR",
            )
        )
    return _Plan(missing=missing, extra=extra, checks=tuple(checks), entity=checked_entity)


def _column_checks(name: str, rule: ColumnRule, have: ColumnType) -> list[_Check]:
    q = quote_identifier(name)
    text = f"{q}::VARCHAR"
    value = _converted(q, have, rule.type)
    checks: list[_Check] = []
    if value != q and rule.type != "string":
        checks.append(_Check(name, "type", f"{q} IS NOT NULL AND {value} IS NULL", text))
    if not rule.nullable:
        checks.append(_Check(name, "not_null", f"{q} IS NULL", "NULL::VARCHAR"))
    bounds = []
    if rule.min is not None:
        bounds.append(f"{value} < {_sql_number(rule.min)}")
    if rule.max is not None:
        bounds.append(f"{value} > {_sql_number(rule.max)}")
    if bounds:
        checks.append(_Check(name, "range", " OR ".join(bounds), text))
    if rule.categories is not None:
        allowed = ", ".join(_sql_text(c) for c in rule.categories)
        checks.append(
            _Check(name, "category", f"{q} IS NOT NULL AND {text} NOT IN ({allowed})", text)
        )
    return checks


def _converted(q: str, have: ColumnType, want: ColumnType) -> str:
    """SQL for the value as type `want`: NULL where it does not convert; `q` when no conversion."""
    if have == want:
        return q
    text = f"TRY_CAST(trim({q}::VARCHAR) AS {{}})"
    if want == "string":
        return f"{q}::VARCHAR"
    if want in {"integer", "number"}:
        number = {
            "integer": f"{q}::DOUBLE",
            "number": f"{q}::DOUBLE",
            "string": text.format("DOUBLE"),
        }.get(have)
        if number is None:
            return "NULL"
        if want == "number":
            return number
        return f"(CASE WHEN isfinite({number}) AND {number} = trunc({number}) THEN {number} END)"
    if want == "boolean":
        if have in {"integer", "number"}:
            return f"(CASE WHEN {q} = 0 THEN false WHEN {q} = 1 THEN true END)"
        return text.format("BOOLEAN") if have == "string" else "NULL"
    if want == "date":
        if have == "timestamp":
            return f"(CASE WHEN {q}::TIMESTAMP::TIME = TIME '00:00:00' THEN {q}::DATE END)"
        return text.format("DATE") if have == "string" else "NULL"
    if have == "date":
        return f"{q}::TIMESTAMP"
    return text.format("TIMESTAMP") if have == "string" else "NULL"


def _violation(
    column: str,
    rule: Rule,
    rows: int,
    examples: tuple[ViolationExample, ...],
    contract: DataContract,
) -> Violation:
    spec = contract.columns.get(column)
    one = rows == 1
    of = f"{rows} {'row' if one else 'rows'} of {column!r}"
    messages: dict[Rule, str] = {
        "missing_column": f"required column {column!r} is missing from the batch",
        "extra_column": f"column {column!r} is not in the contract: it is kept but not checked "
        "(add it to the contract to check it)",
        "type": f"{of} {'holds a value' if one else 'hold values'} that "
        f"{'is' if one else 'are'} not {spec.type if spec else 'valid'}",
        "not_null": f"{of} {'is' if one else 'are'} empty, but the contract says it is never empty",
        "range": f"{of} {'is' if one else 'are'} outside the accepted range "
        f"[{_bound(spec.min if spec else None)}, {_bound(spec.max if spec else None)}]",
        "category": f"{of} {'holds a value' if one else 'hold values'} outside its "
        f"{len(spec.categories or ()) if spec else 0} accepted categories",
        "duplicate_entity": f"{rows} {'row shares' if one else 'rows share'} their {column!r} with "
        "another row; each id must appear once",
    }
    return Violation(
        column=column,
        rule=rule,
        level=RULE_LEVELS[rule],
        rows=rows,
        examples=examples,
        message=messages[rule],
    )


def _bound(value: float | None) -> str:
    if value is None:
        return "…"
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_number(value: float) -> str:
    return f"CAST({_sql_text(repr(float(value)))} AS DOUBLE)"


def _copy_options(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "FORMAT csv, HEADER true"
    if name.endswith((".parquet", ".pq")):
        return "FORMAT parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "FORMAT json"
    raise UsageError(
        f"{path}: cannot tell the format from the extension; "
        "end the name with .csv, .parquet or .jsonl"
    )


def _copy(dataset: Dataset, query: str, path: Path, options: str) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        row = dataset.connection.execute(
            f"COPY ({query}) TO {_sql_text(str(path))} ({options})"
        ).fetchone()
    except (OSError, duckdb.Error) as exc:
        raise ContractError(f"{path}: cannot write the rows there: {exc}") from exc
    return int(row[0]) if row else 0


def _run(dataset: Dataset, query: str) -> tuple[Any, ...]:
    try:
        row = dataset.connection.execute(query).fetchone()
    except duckdb.Error as exc:
        raise ContractError(f"cannot check the batch against the contract: {exc}") from exc
    assert row is not None
    return tuple(row)
