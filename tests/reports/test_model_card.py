"""The model card: self-contained, escaped, complete, and tolerant of missing diagnostics."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from markupsafe import escape

from charter.modeling._result import CandidateResult, TrainResult
from charter.reports import render_model_card, write_model_card
from charter.reports._charts import (
    Bar,
    bar_chart,
    interval_chart,
    pr_chart,
    roc_chart,
    value_curve_chart,
)
from charter.reports._format import signed
from charter.spec import Charter, parse_charter

MALICIOUS = "<script>alert(1)</script>"

CHARTER = """
project: churn
owner: Retention team
problem: Which customers will cancel next month?
decision: Offer a retention discount to customers flagged as likely to cancel
task: classification
target: churned
positive_class: "yes"
data:
  sources: {customers: customers.csv}
  entity: customer_id
  sensitive: [gender]
success:
  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}
  beat_baseline_by: 10%
baseline: {rule: "contract = 'monthly' and tenure < 12"}
constraints: {max_fairness_gap: 0.1, explanations: required}
"""

FEATURES = (
    "tenure",
    "contract",
    "monthly_fee",
    MALICIOUS,
    "support_calls",
    "payment_method",
    "gender",
    *(f"usage_{i:02d}" for i in range(13)),
)


def candidate(name: str, kind: str, complexity: int, value: float, **extra: Any) -> CandidateResult:
    folds = tuple(value + d for d in (-1.5, 0.5, 1.0, -0.5, 0.5))
    metrics = {
        "roc_auc": 0.5 + value / 100,
        "pr_auc": 0.3 + value / 120,
        "log_loss": 0.6 - value / 200,
        "brier": 0.2 - value / 500,
        "accuracy": 0.8,
        "precision": 0.55,
        "recall": 0.6 + value / 200,
        "f1": 0.57,
        "positive_rate": 0.3,
    }
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "complexity": complexity,
        "cv_values": folds,
        "cv_mean": sum(folds) / len(folds),
        "cv_se": 0.42,
        "cv_metrics": metrics,
        "threshold": 0.5 if kind == "baseline" else 0.31,
        "test_metrics": metrics,
        "test_value": value + 0.3,
        "test_value_ci": (value - 2.1, value + 2.6),
        "train_value": value + 2,
        "params": {"C": 1.0},
        "seconds": 1.5,
    }
    return CandidateResult(**{**fields, **extra})


def diagnostics() -> dict[str, Any]:
    """Every diagnostic the training run may write, in the shapes it writes them."""
    grid = [i / 100 for i in range(101)]
    fpr = [i / 200 for i in range(201)]
    return {
        "value_curve": {
            "thresholds": grid,
            "values": [30 * t * (1 - t) * 4 - 20 * t + 2 for t in grid],
            "threshold": 0.31,
        },
        "roc": {"fpr": fpr, "tpr": [x**0.35 for x in fpr], "auc": 0.81},
        "pr": {
            "recall": [1 - x for x in fpr],
            "precision": [0.27 + 0.7 * x**0.6 for x in fpr],
            "ap": 0.58,
        },
        "calibration": {
            "bins": [
                {
                    "score": (i + 0.5) / 10,
                    "rate": min(1.0, (i + 0.5) / 10 * 1.1),
                    "rows": 400 - 35 * i,
                }
                for i in range(10)
            ],
            "ece": 0.034,
            "method": "isotonic",
            "message": "The probabilities are roughly calibrated: they are off by 3.4 points.",
        },
        "importance": {
            "permutation": {f: [2.0 / (i + 1), 0.1 / (i + 1)] for i, f in enumerate(FEATURES)},
            "contributions": {f: 0.5 / (i + 1) for i, f in enumerate(FEATURES)},
        },
        "segments": [
            {
                "column": "gender",
                "sensitive": True,
                "groups": [
                    {"value": "F", "rows": 900, "decision_rate": 0.28, "recall": 0.61},
                    {"value": "M", "rows": 850, "decision_rate": 0.41, "recall": 0.66},
                    {"value": MALICIOUS, "rows": 40, "decision_rate": 0.3},
                ],
                "too_small": ["X"],
                "gap_metric": "decision_rate",
                "gap": 0.13,
                "exceeds": True,
                "message": "gender: the model flags 41% of rows where gender = M but 28% where "
                "gender = F, a gap of 13.0 points, above the charter's max_fairness_gap of 10 points.",
            },
            {
                "column": "contract",
                "group": "monthly",
                "rows": 700,
                "metric": "recall",
                "value": 0.7,
            },
            {
                "column": "contract",
                "group": "yearly",
                "rows": 500,
                "metric": "recall",
                "value": 0.4,
            },
        ],
        "fairness": {"gap": 0.13, "limit": 0.1, "column": "gender", "ok": False},
        "fit": {
            "train": 14.2,
            "validation": 11.9,
            "message": "Overfitting: net_value is 14.2 on the training rows and 11.9 on validation rows.",
        },
        "learning_curve": {
            "metric": "roc_auc",
            "points": [
                {"rows": r, "score": s, "std": 0.01}
                for r, s in [(500, 0.71), (1000, 0.75), (2000, 0.78), (4000, 0.8)]
            ],
        },
        "reasons": [
            {
                "row": 17,
                "score": 0.83,
                "decision": "act",
                "reasons": [
                    "contract = monthly raised the chance of churned by 18 points",
                    f"{MALICIOUS} = 3 raised the chance of churned by 6 points",
                ],
            },
            {"row": 4, "score": 0.05, "decision": "do not act", "reasons": []},
        ],
        "leakage": f"Possible leakage: one feature, {MALICIOUS!r}, carries 80% of the importance.",
    }


def build_result(*, with_diagnostics: bool = True, beats: bool = True) -> TrainResult:
    candidates = (
        candidate("baseline", "baseline", 0, 5.0),
        candidate("simple", "simple", 1, 12.0, selected=beats),
        candidate("boosted", "boosted", 2, 12.4),
        candidate(MALICIOUS, "extra", 3, 3.0),
    )
    headline = (
        "simple beats the baseline: net_value gain +7 per row (+132% of the baseline), "
        "95% interval +4.1 to +9.8."
        if beats
        else "Machine learning does not pay here yet: no model beats the baseline by more than "
        "its own noise."
    )
    return TrainResult(
        project="churn",
        target="churned",
        task="classification",
        metric="net_value",
        positive_class="yes",
        started=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        seconds=42.5,
        rows_train=8_000,
        rows_test=2_000,
        holdout={
            "scheme": "grouped",
            "reason": "grouped: an entity (data.entity) appears in several rows",
            "share": 0.2,
            "recorded_rows": 2_000,
            "present_rows": 2_000,
            "created": "2026-11-22T09:30:00+00:00",
        },
        validation={
            "scheme": "grouped",
            "reason": "grouped: all of an entity's rows stay in one fold",
            "folds": 5,
        },
        candidates=candidates,
        selected="simple" if beats else "baseline",
        selection_rule="simple is the simplest candidate within one standard error of the best",
        baseline="baseline",
        gain=7.0 if beats else 0.0,
        gain_ci=(4.1, 9.8) if beats else (0.0, 0.0),
        target_gain=0.1,
        beats_baseline=beats,
        headline=headline,
        features=FEATURES,
        dropped={
            "customer_id": "the entity: an identifier, never a feature",
            "notes": f"free text {MALICIOUS}",
        },
        diagnostics=diagnostics() if with_diagnostics else {},
        warnings=("simple's probabilities are poorly calibrated.",),
    )


@pytest.fixture(scope="module")
def charter() -> Charter:
    return parse_charter(CHARTER)


@pytest.fixture(scope="module")
def result() -> TrainResult:
    return build_result()


@pytest.fixture(scope="module")
def html(result, charter) -> str:
    return render_model_card(result, charter)


def captions(html: str) -> list[str]:
    return re.findall(r"<figcaption>(.*?)</figcaption>", html)


def test_card_parses_with_balanced_tags(parse_html, html):
    parser = parse_html(html)
    assert parser.errors == [] and parser.stack == []
    assert parser.tags["html"] == parser.tags["body"] == 1


def test_card_fetches_nothing(parse_html, html):
    parser = parse_html(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parser.tags)
    for tag, name, value in parser.attributes:
        if name in {"src", "href", "xlink:href", "srcset", "action", "data"}:
            assert value.startswith("#"), (tag, name, value)
    css = "".join(parser.style)
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    assert not re.search(r"https?://", html)


def test_card_escapes_hostile_names(parse_html, html):
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MALICIOUS in "".join(parse_html(html).text)  # shown to the reader, as text


def test_card_states_headline_decision_and_owner(html, result, charter):
    assert str(escape(result.headline)) in html
    assert 'class="verdict beats"' in html
    assert str(escape(charter.decision)) in html and "Retention team" in html
    assert "Which customers will cancel next month?" in html
    assert "Flagged, and it was yes (true positive)" in html and "+300" in html
    assert "−50" in html  # the false positive's value, with a true minus sign
    assert "beat the baseline by at least 10.0%" in html


def test_card_red_badge_when_nothing_beats_the_baseline(charter):
    html = render_model_card(build_result(beats=False), charter)
    assert 'class="verdict fails"' in html
    assert "Machine learning does not pay here yet" in html
    assert "The baseline (baseline) was selected" in html


def test_card_lists_every_candidate_and_marks_the_selected_one(html, result):
    start = html.index('<table class="leaderboard">')
    board = html[start : html.index("</table>", start)]
    for c in result.candidates:
        assert str(escape(c.name)) in board
    rows = re.findall(r"<tr( class=\"selected\")?>\s*<th scope=\"row\">(.*?)<", board)
    assert [name.strip() for marker, name in rows if marker] == ["simple"]
    assert "12.5 ± 0.42" not in board  # the CV value is the mean of the folds
    assert "12 ± 0.42" in board and "9.9 to 14.6" in board  # cv mean ± se; test interval
    assert "ROC AUC" in board and "0.31" in board


def test_card_compares_against_the_baseline_with_the_target(html):
    assert "a gain of +7 (+132%), 95% interval +4.1 to +9.8" in html
    assert "Met: the gain is more than chance: its 95% interval lies above zero." in html
    # 10% of the baseline's test value, 5.3
    assert (
        "Met: the charter&#39;s target: beat the baseline by 10.0%, a gain of at least +0.53."
        in html
    )


def test_card_draws_every_chart_with_labels(parse_html, html):
    parser = parse_html(html)
    assert captions(html) == [
        "Value on the test set, with 95% intervals",
        "Value against the decision threshold",
        "ROC curve (test set)",
        "Precision and recall (test set)",
        "Calibration: predicted chance against what happened",
        "Learning curve",
        "What the model relies on (top 15)",
        "Average push on a prediction (top 15)",
        "Share of rows flagged by gender",
        "Share of actual positives caught by contract",
    ]
    labels = [v for t, n, v in parser.attributes if t == "svg" and n == "aria-label"]
    assert len(labels) == parser.tags["svg"] == len(captions(html))
    assert all(labels)
    assert parser.tags["title"] == 1 + parser.tags["svg"]  # the page's, then one per chart
    assert "ROC AUC 0.81" in html and "PR AUC 0.58" in html
    assert "chosen threshold 0.31" in html
    assert "usage_12" not in html.split("What the model relies on")[1].split("</figure>")[0]


def test_card_ids_are_unique_and_references_resolve(parse_html, html):
    parser = parse_html(html)
    ids = Counter(value for _, name, value in parser.attributes if name == "id")
    assert [i for i, n in ids.items() if n > 1] == []
    for reference in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', html):
        assert (reference[0] or reference[1]) in ids


def test_card_shows_explanations_and_limits(html):
    assert "Row 17: predicted chance 83.0% · act" in html
    assert "contract = monthly raised the chance of churned by 18 points" in html
    assert "No feature moved this prediction." in html
    limits = html[html.index('id="limits"') :]
    assert "poorly calibrated" in limits and "Possible leakage" in limits
    assert "Overfitting" in limits and "max_fairness_gap allows 10 points" in limits
    assert limits.index("Possible leakage") < limits.index("held-out test rows")  # warnings first
    assert (
        "Too uneven: the model&#39;s rates differ by 13.0 points between groups of gender; "
        "the charter&#39;s max_fairness_gap allows 10 points." in html
    )


def test_card_without_diagnostics_skips_the_charts(parse_html, charter):
    html = render_model_card(build_result(with_diagnostics=False), charter)
    assert parse_html(html).errors == []
    assert captions(html) == ["Value on the test set, with 95% intervals"]
    assert 'id="charts"' not in html and 'id="explanations"' not in html
    assert "held-out test rows" in html


def test_card_survives_diagnostics_of_unexpected_shape(parse_html, charter):
    odd = {
        "value_curve": {"thresholds": [0.1, 0.2], "values": [1.0], "threshold": "x"},
        "roc": {"fpr": "no", "tpr": None},
        "pr": [],
        "calibration": {"bins": [{"score": None}, 7], "ece": math.nan},
        "importance": {"permutation": {"a": "x", "b": [math.inf]}, "contributions": None},
        "segments": [{"column": "g", "groups": "none"}, 3, {"column": "h", "value": None}],
        "fit": "nope",
        "learning_curve": {"points": [{"rows": "many"}]},
        "reasons": [{"row": None, "score": "high", "reasons": "not a list"}],
        "leakage": None,
    }
    result = build_result(with_diagnostics=False)
    from dataclasses import replace

    html = render_model_card(replace(result, diagnostics=odd), charter)
    assert parse_html(html).errors == []
    assert captions(html) == ["Value on the test set, with 95% intervals"]


def test_regression_card_names_its_metrics(parse_html):
    charter = parse_charter(
        CHARTER.replace("task: classification", "task: regression")
        .replace('positive_class: "yes"\n', "")
        .replace(
            "  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}\n",
            "  error_cost_per_unit: 2\n",
        )
    )
    from dataclasses import replace

    base = build_result(with_diagnostics=False)
    metrics = {"rmse": 3.2, "mae": 2.1, "r2": 0.64, "mape": 0.12}
    candidates = tuple(
        replace(c, threshold=None, test_metrics=metrics, cv_metrics=metrics)
        for c in base.candidates
    )
    html = render_model_card(
        replace(base, task="regression", positive_class=None, candidates=candidates), charter
    )
    assert parse_html(html).errors == []
    assert "RMSE" in html and "R²" in html and "12.0%" in html  # MAPE as a share
    assert "Each unit of prediction error costs 2.0." in html
    assert "ROC AUC" not in html


def test_write_creates_folders_and_returns_path(tmp_path, result, charter):
    path = write_model_card(result, charter, tmp_path / "cards" / "model.html")
    assert path == tmp_path / "cards" / "model.html"
    assert path.read_text(encoding="utf-8") == render_model_card(result, charter)


def test_card_is_deterministic_and_fast(result, charter, html):
    start = time.perf_counter()
    again = render_model_card(result, charter)
    assert time.perf_counter() - start < 5
    assert again == html
    assert len(html) < 1_000_000


def test_card_reads_the_shapes_the_training_run_writes(charter):
    # As modeling/_evidence.py writes them: no AUC in the curves, no "fairness" entry, and the
    # sensitive segment's message already among the warnings.
    from dataclasses import replace

    shaped = diagnostics()
    del shaped["roc"]["auc"], shaped["pr"]["ap"], shaped["fairness"]
    segment = shaped["segments"][0]
    base = build_result()
    result = replace(base, diagnostics=shaped, warnings=(*base.warnings, segment["message"]))
    html = render_model_card(result, charter)
    assert "ROC AUC 0.62" in html and "PR AUC 0.4" in html  # the selected model's test metrics
    assert (
        "Too uneven: the share of rows flagged differs by 13.0 points between groups of gender; "
        "the charter&#39;s max_fairness_gap allows 10 points." in html
    )
    limits = html[html.index('id="limits"') :]
    assert limits.count("max_fairness_gap") == 1  # said once, by the segment check
    assert "Guessing would give" in html  # the share of positives, read from calibration bins


def test_card_says_when_the_target_is_missed(charter):
    from dataclasses import replace

    html = render_model_card(replace(build_result(), gain=0.4, gain_ci=(0.1, 0.9)), charter)
    assert "Met: the gain is more than chance" in html
    assert "Not met: the charter&#39;s target: beat the baseline by 10.0%" in html


def test_signed_shows_the_sign_and_a_true_minus():
    assert [signed(x) for x in (12.5, -0.031, 0.0, -0.0, -1234.5)] == [
        "+12.5",
        "−0.031",
        "0",
        "0",
        "−1,234.5",
    ]
    assert signed(None) == "—"


def test_curve_charts_need_two_points_and_describe_the_choice():
    assert roc_chart([0.1], [0.2], auc=0.5) is None
    assert pr_chart([], [], ap=None) is None
    assert value_curve_chart([0.5], [1.0], chosen=0.5, unit="value") is None
    chart = value_curve_chart([0.0, 0.5, 1.0], [0.0, 4.0, -2.0], chosen=0.25, unit="net value")
    assert chart is not None
    assert "highest, 4, at 0.5" in chart.description
    assert "The chosen threshold 0.25 gives 2." in chart.description  # interpolated
    roc = roc_chart([0.0, 0.1, 1.0], [0.0, 0.6, 1.0], auc=0.8)
    assert roc is not None and "catches 60% of the actual positives" in roc.description


def test_bar_and_interval_charts_skip_what_is_not_a_number():
    assert bar_chart([Bar("a", math.nan)], title="t", unit="u", key="k") is None
    bars = bar_chart(
        [Bar("a", 0.25, note="10 rows"), Bar("b", math.nan)],
        title="Share",
        unit="%",
        key="k",
        percent_scale=True,
    )
    assert bars is not None and bars.description == "Share: a 25.0% (10 rows)."
    chart = interval_chart(
        ["x", "y"],
        [1.0, math.nan],
        [(0.5, 1.5), (0.0, 1.0)],
        unit="value",
        reference=("base", math.nan),
    )
    assert chart is not None
    assert chart.description == "Value on the test set: x 1 (95% interval 0.5 to 1.5)."
