from __future__ import annotations

from charter.spec import parse_charter, unanswered
from charter.spec._draft import ColumnSummary, Draft, propose_targets, render_draft

COMPLETE = """
project: churn
owner: Retention team
problem: Which customers will cancel?
decision: Offer a discount
task: classification
target: churned
data: {sources: {c: c.csv}}
success:
  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}
  beat_baseline_by: 10%
baseline: {rule: "tenure < 12"}
"""


def keys(text: str, columns=None) -> list[str]:
    return [q.key for q in unanswered(parse_charter(text), columns)]


def test_complete_charter_has_no_open_question():
    assert keys(COMPLETE, ["churned", "tenure"]) == []


def test_each_missing_answer_is_a_question_with_a_reason():
    bare = "project: churn\ntarget: churned\ndata: {sources: {c: c.csv}}\n"
    questions = unanswered(parse_charter(bare), ["tenure"])
    assert [q.key for q in questions] == [
        "owner",
        "problem",
        "decision",
        "success.value",
        "baseline.rule",
        "success.beat_baseline_by",
        "task",
        "target",
    ]
    assert all(q.why.endswith(".") and q.example for q in questions)


def test_net_value_metric_still_needs_outcome_values():
    text = COMPLETE.replace(
        "  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}\n",
        "  metric: net_value\n",
    )
    assert keys(text) == ["success.value"]
    assert keys(text.replace("net_value", "roc_auc")) == []


def test_regression_asks_for_the_cost_of_error():
    text = COMPLETE.replace("task: classification", "task: regression")
    text = text.replace(
        "  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}\n",
        "",
    )
    assert keys(text) == ["success.error_cost_per_unit"]
    assert keys(text.replace("success:\n", "success:\n  error_cost_per_unit: 2\n")) == []


def test_blank_answers_do_not_count():
    assert keys(COMPLETE.replace("owner: Retention team", "owner: '  '")) == ["owner"]


def test_target_missing_from_data_is_a_question():
    questions = unanswered(parse_charter(COMPLETE), ["tenure", "churn"])
    assert [q.key for q in questions] == ["target"]
    assert "churn" in questions[0].example


def column(name, kind="numeric", distinct=100, unique=False, missing=0.0):
    return ColumnSummary(name, "BIGINT", kind, distinct, missing, unique)


def test_target_candidates_prefer_outcome_names_and_binary_columns():
    columns = [
        column("customer_id", unique=True),
        column("age"),
        column("plan", "categorical", 2),
        column("churned", "categorical", 2),
    ]
    assert propose_targets(columns)[:2] == ["churned", "plan"]


def test_draft_round_trips_and_marks_open_questions():
    draft = Draft(
        project="churn",
        data_path="data/c.csv",
        target="churned",
        task="classification",
        owner="Retention",
    )
    text = render_draft(draft)
    charter = parse_charter(text)
    assert charter.owner == "Retention" and charter.target == "churned"
    assert 'owner: "Retention"\n' in text
    assert "decision:   # QUESTION:" in text
    assert [q.key for q in unanswered(charter)] == [
        "problem",
        "decision",
        "success.value",
        "baseline.rule",
        "success.beat_baseline_by",
    ]
