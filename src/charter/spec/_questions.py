"""Phase 1's gate: the questions only a person can answer, asked before any model exists."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from charter.spec._model import Charter

__all__ = ["Question", "unanswered"]


@dataclass(frozen=True)
class Question:
    """An unanswered question: the charter key, what to write, why it matters, an example."""

    key: str
    ask: str
    why: str
    example: str


OWNER = Question(
    "owner",
    "Who in the business owns the outcome?",
    "A model nobody owns is never adopted: someone must care whether its decisions pay off.",
    "owner: Retention team",
)
PROBLEM = Question(
    "problem",
    "What question should the model answer?",
    "Stating the problem in business words keeps the work aimed at something that matters.",
    "problem: Which customers will cancel next month?",
)
DECISION = Question(
    "decision",
    "What will be done differently with each prediction?",
    "A prediction that changes no decision has no value, however accurate it is.",
    "decision: Offer a retention discount to customers flagged as likely to cancel",
)
VALUE = Question(
    "success.value",
    "What is each outcome of the decision worth (or which metric measures success)?",
    "Without the value of right and wrong decisions, accuracy cannot be turned into money saved or earned.",
    "value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}",
)
COST = Question(
    "success.error_cost_per_unit",
    "What does one unit of prediction error cost (or which metric measures success)?",
    "Without the cost of errors, a better score cannot be turned into money saved or earned.",
    "error_cost_per_unit: 1.5    # or  metric: mae",
)
BASELINE = Question(
    "baseline.rule",
    "How is this decided today, without a model?",
    "A model is only worth deploying if it beats what the business already does.",
    "rule: \"contract = 'monthly' and tenure < 12\"    # or  description: everyone gets the offer",
)
TARGET = Question(
    "success.beat_baseline_by",
    "By how much must a model beat the baseline to be worth deploying?",
    "Deciding the bar before seeing results keeps everyone honest about what success means.",
    "beat_baseline_by: 10%",
)


def unanswered(charter: Charter, columns: Collection[str] | None = None) -> list[Question]:
    """The phase-1 questions the charter leaves open; `columns`, when given, are the data's columns."""
    open_questions = [
        question
        for question, answered in (
            (OWNER, charter.owner),
            (PROBLEM, charter.problem),
            (DECISION, charter.decision),
        )
        if not (answered and answered.strip())
    ]
    success = charter.success
    # net_value is computed from the outcome values (or the cost of error), so it needs them.
    other_metric = bool(success.metric) and success.metric != "net_value"
    if charter.task == "regression":
        if success.error_cost_per_unit is None and not other_metric:
            open_questions.append(COST)
    elif success.value is None and not other_metric:
        open_questions.append(VALUE)
    if not (charter.baseline.rule or charter.baseline.description):
        open_questions.append(BASELINE)
    if success.beat_baseline_by is None:
        open_questions.append(TARGET)
    if charter.task is None:
        open_questions.append(
            Question(
                "task",
                "Is this a classification (a category) or a regression (a number)?",
                "The task decides how models are validated and which business metric applies.",
                "task: classification",
            )
        )
    if columns is not None and charter.target not in columns:
        shown = ", ".join(sorted(columns)[:12]) + (" ..." if len(columns) > 12 else "")
        open_questions.append(
            Question(
                "target",
                f"Which column holds the outcome? '{charter.target}' is not in the data.",
                "Without the outcome in the data there is nothing to learn from or to check against.",
                f"target: one of {shown}",
            )
        )
    return open_questions
