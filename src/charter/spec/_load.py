"""Reading a charter file: YAML with ${VAR} interpolation and errors that point at the line."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from charter.errors import SpecError
from charter.spec._model import Charter, DatabaseSource, FileSource

__all__ = ["EXAMPLES", "load_charter", "parse_charter", "yaml_lines"]


def _submodels(model: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += [annotation, *_submodels(annotation)]
    return found


_MODELS: list[type[BaseModel]] = [Charter, DatabaseSource, FileSource, *_submodels(Charter)]
_KNOWN_KEYS = sorted({name for model in _MODELS for name in model.model_fields})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

EXAMPLES: dict[str, str] = {
    "project": "project: churn",
    "owner": "owner: Retention team",
    "problem": "problem: Which customers will cancel next month?",
    "decision": "decision: Offer a retention discount to customers flagged as likely to cancel",
    "task": "task: classification   # or regression",
    "target": "target: churned",
    "positive_class": 'positive_class: "yes"',
    "data": "data: {sources: {customers: data/customers.csv}, entity: customer_id}",
    "data.sources": "sources: {customers: data/customers.parquet}",
    "data.query": "query: select * from customers join usage using (customer_id)",
    "data.entity": "entity: customer_id",
    "data.time": "time: snapshot_date",
    "data.sensitive": "sensitive: [gender, age_band]",
    "success": "success: {metric: net_value, beat_baseline_by: 10%}",
    "success.metric": "metric: net_value",
    "success.value": (
        "value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}"
    ),
    "success.error_cost_per_unit": "error_cost_per_unit: 1.5",
    "success.beat_baseline_by": "beat_baseline_by: 10%",
    "baseline": "baseline: {rule: \"contract = 'monthly' and tenure < 12\"}",
    "baseline.rule": "rule: \"contract = 'monthly' and tenure < 12\"",
    "constraints": "constraints: {latency_ms_p99: 50, explanations: required, max_fairness_gap: 0.1}",
    "monitoring": "monitoring: {drift: {psi: 0.2}, retrain_when: [drift, decay]}",
    "monitoring.window": "window: 1d",
    "monitoring.drift": "drift: {psi: 0.2, alpha: 0.05}",
    "monitoring.retrain_when": "retrain_when: [drift, decay, schedule]",
    "monitoring.retrain_every": "retrain_every: 30d",
    "monitoring.training_window": "training_window: {kind: sliding, length: 90d}",
    "monitoring.alerts": "alerts: {webhook: https://hooks.example.com/charter, json_file: alerts.json}",
}


def load_charter(path: str | os.PathLike[str]) -> Charter:
    """Read and validate a charter file.

    Example:
        >>> charter = load_charter("charter.yaml")  # doctest: +SKIP
        >>> charter.target
        'churned'
    """
    file = Path(path)
    if not file.is_file():
        raise SpecError(
            f"{file}: no charter file here. Create one with `charter init` "
            "(or `charter init --data FILE` to start from your data)."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{file}: cannot read the charter: {exc}") from exc
    return parse_charter(text, source=str(file))


def parse_charter(
    text: str, *, source: str = "charter.yaml", environ: Mapping[str, str] | None = None
) -> Charter:
    """Validate charter YAML text; `source` names it in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None:
            problem += f" ({context} that starts on line {start.line + 1})"
        raise SpecError(f"{where}: not valid YAML: {problem}") from exc
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: a charter is a YAML mapping of keys such as project, target, data; got {type(raw).__name__}."
        )
    lines = yaml_lines(text)
    data = _interpolate(raw, (), environ if environ is not None else os.environ, source, lines)
    try:
        return Charter.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, source, lines)) from None


def yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in a YAML mapping to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, str(index)))

    if root is not None:
        walk(root, ())
    return lines


def _interpolate(
    value: Any,
    path: tuple[str, ...],
    environ: Mapping[str, str],
    source: str,
    lines: dict[tuple[str, ...], int],
) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, (*path, str(k)), environ, source, lines) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, (*path, str(i)), environ, source, lines) for i, v in enumerate(value)
        ]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise SpecError(
            f"{_where(source, lines, path)}: {'.'.join(path)} uses ${{{name}}}, but the environment "
            f"variable {name} is not set. Set it (export {name}=...) or write ${{{name}:-default}}."
        )

    return _VAR.sub(substitute, value)


def _line(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int:
    """The line of the deepest part of `path` present in the file (0 when none is)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return 0


def _where(source: str, lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> str:
    line = _line(lines, path)
    return f"{source}:{line}" if line else source


def _describe(exc: ValidationError, source: str, lines: dict[tuple[str, ...], int]) -> str:
    problems: dict[str, int] = {}
    for error in exc.errors():
        path = tuple(str(p) for p in error["loc"] if not _is_union_tag(p))
        key = ".".join(path) or "(top level)"
        message = _plain(error)
        example = _example(path)
        text = f"{_where(source, lines, path)}: {key}: {message}"
        if example:
            text += f"\n    example: {example}"
        problems.setdefault(text, _line(lines, path))
    ordered = sorted(problems, key=problems.__getitem__)
    head = f"{source}: the charter has {len(ordered)} problem{'s' if len(ordered) != 1 else ''}:"
    return head + "\n  " + "\n  ".join(ordered)


def _is_union_tag(part: object) -> bool:
    return part in {"file", "database", "str", "int", "bool"}


def _plain(error: Any) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "the keys are listed in the README"
        return f"is not a charter key ({hint})"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}, got {given!r}"
    if kind.endswith(("_parsing", "_type")):
        return f"expected {_expected_name(kind)}, got {given!r}"
    return (
        f"{error['msg'].removeprefix('Value error, ')} (got {given!r})"
        if given is not None and not isinstance(given, dict)
        else error["msg"].removeprefix("Value error, ")
    )


def _expected_name(kind: str) -> str:
    base = kind.removesuffix("_parsing").removesuffix("_type")
    return {
        "float": "a number",
        "int": "a whole number",
        "bool": "true or false",
        "string": "text",
        "dict": "a mapping of keys to values",
        "list": "a list",
        "model": "a mapping of keys to values",
    }.get(base, base)


def _example(path: tuple[str, ...]) -> str | None:
    named = [p for p in path if not p.isdigit()]
    if len(named) >= 2 and named[0] == "data" and named[1] == "sources":
        return (
            EXAMPLES["data.sources"]
            + '   or   {usage: {url: "postgresql://${PGUSER}@localhost/crm", query: "select * from usage"}}'
        )
    for cut in range(len(named), 0, -1):
        key = ".".join(named[:cut])
        if key in EXAMPLES:
            return EXAMPLES[key]
    return None
