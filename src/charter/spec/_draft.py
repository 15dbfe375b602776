"""Drafting a charter.yaml for `charter init`: what the data suggests, and the questions left open."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from charter.spec._questions import BASELINE, DECISION, OWNER, PROBLEM, TARGET, VALUE

__all__ = ["ColumnSummary", "Draft", "propose_targets", "render_draft"]

_TARGET_HINTS = re.compile(
    r"(^|_)(target|label|class|outcome|churn(ed)?|default(ed)?|fraud|converted|response|y|cnt|price|sales|"
    r"revenue|weekly_sales|median_house_value|survived|attrition|cancel(led)?)($|_)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ColumnSummary:
    """What `init` shows of a column: its name, type, kind and a few numbers."""

    name: str
    dtype: str
    kind: str
    distinct: int
    missing_share: float
    unique: bool = False


@dataclass
class Draft:
    """Answers gathered so far; None means a person still has to answer."""

    project: str
    data_path: str | None = None
    target: str | None = None
    task: str | None = None
    positive_class: str | None = None
    owner: str | None = None
    problem: str | None = None
    decision: str | None = None
    entity: str | None = None
    time: str | None = None
    sensitive: list[str] = field(default_factory=list)
    baseline_rule: str | None = None
    beat_baseline_by: str | None = None
    columns: Sequence[ColumnSummary] = ()
    rows: int | None = None
    target_candidates: Sequence[str] = ()


def propose_targets(columns: Sequence[ColumnSummary]) -> list[str]:
    """Columns most likely to be the outcome: named like one, or binary; best first."""

    def score(index_column: tuple[int, ColumnSummary]) -> tuple[int, int]:
        index, column = index_column
        points = 0
        if _TARGET_HINTS.search(column.name):
            points += 4
        if column.distinct == 2:
            points += 2
        if column.unique or column.kind in {"temporal", "other"} or column.missing_share > 0.5:
            points -= 10
        if index == len(columns) - 1:
            points += 1
        return (-points, index)

    ranked = sorted(enumerate(columns), key=score)
    return [c.name for i, c in ranked if score((i, c))[0] < 0][:5]


def _scalar(value: str | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def _question(text: str) -> str:
    return f"  # QUESTION: {text}"


def render_draft(draft: Draft, *, today: date | None = None) -> str:
    """The charter as commented YAML; open questions are marked `# QUESTION:` on their line."""
    stamp = (today or date.today()).isoformat()
    origin = f" from {draft.data_path}" if draft.data_path else ""
    lines = [
        f"# charter.yaml, drafted by `charter init` on {stamp}{origin}.",
        "# Lines marked QUESTION need a person's answer; `charter check` lists what is still open.",
        f"project: {_scalar(draft.project)}",
        f"owner: {_scalar(draft.owner)}" + ("" if draft.owner else _question(OWNER.ask)),
        f"problem: {_scalar(draft.problem)}" + ("" if draft.problem else _question(PROBLEM.ask)),
        f"decision: {_scalar(draft.decision)}"
        + ("" if draft.decision else _question(DECISION.ask)),
    ]
    task_note = (
        "" if draft.task else _question("classification (a category) or regression (a number)?")
    )
    lines.append(f"task: {draft.task or ''}{task_note}")
    candidates = [c for c in draft.target_candidates if c != draft.target]
    hint = f"  # other candidates: {', '.join(candidates)}" if candidates else ""
    if draft.target is None:
        lines.append(
            'target: ""'
            + _question(
                "Which column holds the outcome to predict?"
                + (f" Candidates: {', '.join(candidates)}" if candidates else "")
            )
        )
    else:
        lines.append(f"target: {_scalar(draft.target)}{hint}")
    if draft.task != "regression":
        lines.append(
            f"positive_class: {_scalar(draft.positive_class)}"
            + (
                ""
                if draft.positive_class
                else "  # the outcome the decision acts on; default: the rarer class"
            )
        )
    source_name = _source_name(draft.data_path)
    lines += [
        "data:",
        "  sources:",
        f"    {source_name}: {_scalar(draft.data_path or 'data.csv')}"
        + ("" if draft.data_path else _question("Where is the data? A file path or {url, query}.")),
        f"  entity: {_scalar(draft.entity)}"
        + ("" if draft.entity else "  # the id of the customer, order, ... (never a feature)"),
        f"  time: {_scalar(draft.time)}"
        + ("" if draft.time else "  # when each row was observed, if the data has such a column"),
        f"  sensitive: {json.dumps(draft.sensitive)}"
        + (
            ""
            if draft.sensitive
            else _question(
                "Which columns describe people (gender, age band) and must be audited for bias?"
            )
        ),
        "success:",
    ]
    if draft.task == "regression":
        lines.append("  metric: mae")
        lines.append("  error_cost_per_unit:" + _question("What does one unit of error cost?"))
    else:
        lines.append("  metric: net_value")
        lines.append(
            "  value:"
            + _question(
                VALUE.ask
                + " e.g. {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}"
            )
        )
    lines.append(
        f"  beat_baseline_by: {draft.beat_baseline_by or ''}"
        + ("" if draft.beat_baseline_by else _question(TARGET.ask + " e.g. 10%"))
    )
    lines += [
        "baseline:",
        f"  rule: {_scalar(draft.baseline_rule)}"
        + (
            ""
            if draft.baseline_rule
            else _question(BASELINE.ask + ' An SQL condition, e.g. "tenure < 12"')
        ),
    ]
    if draft.columns:
        rows = f"{draft.rows:,} rows, " if draft.rows is not None else ""
        lines += [
            "",
            f"# The data: {rows}{len(draft.columns)} columns (name: type, distinct values, missing).",
        ]
        lines += [
            f"#   {c.name}: {c.dtype}, {c.distinct:,} distinct, {c.missing_share:.1%} missing"
            + (" (unique per row)" if c.unique else "")
            for c in draft.columns
        ]
    return "\n".join(lines) + "\n"


def _source_name(path: str | None) -> str:
    if not path:
        return "main"
    stem = (
        re.sub(r"\W+", "_", path.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0])
        .strip("_")
        .lower()
    )
    return stem if stem and not stem[0].isdigit() else f"data_{stem}"
