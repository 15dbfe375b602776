"""The readiness report: self-contained, escaped, complete, and tolerant of missing parts."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from markupsafe import escape

from charter.audit import Finding, Severity
from charter.reports import render_audit_html, write_audit_html

MALICIOUS = "<script>alert(1)</script>"


def test_report_parses_with_balanced_tags(parse_html, html):
    parser = parse_html(html)
    assert parser.errors == []
    assert parser.stack == []
    assert parser.tags["html"] == parser.tags["body"] == 1


def test_report_fetches_nothing(parse_html, html):
    parser = parse_html(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parser.tags)
    for tag, name, value in parser.attributes:
        if name in {"src", "href", "xlink:href", "srcset", "action", "data"}:
            assert value.startswith("#"), (tag, name, value)
    css = "".join(parser.style)
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    # The fixture holds no web address, so none may appear anywhere (SVG namespaces included).
    assert not re.search(r"https?://", html)


def test_report_states_verdict_and_explanation(html):
    assert "NOT READY" in html
    assert "Fix the data before modelling: 2 blocking problems, and 2 warnings to review." in html
    assert "churn" in html and "10,000 rows × 9 columns" in html
    assert "2026-11-22 09:30 UTC" in html and "4.2 s" in html


def test_report_lists_every_finding_errors_first(html, result):
    positions = []
    for finding in result.findings:
        text = str(escape(finding.message))
        assert text in html, finding.message
        positions.append((finding.severity.rank, html.index(text)))
        if finding.recommendation:
            assert str(escape(finding.recommendation)) in html
    assert [rank for rank, _ in sorted(positions, key=lambda p: p[1])] == sorted(
        r for r, _ in positions
    )


def test_report_escapes_hostile_names(parse_html, html):
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parser = parse_html(html)
    assert MALICIOUS in "".join(parser.text)  # shown to the reader, as text


def test_report_draws_every_chart(parse_html, html):
    parser = parse_html(html)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    assert captions[:4] == [
        "Missing values per column",
        "Target rate by gender",
        "Learning curve",
        "Rows per period",
    ]
    assert "churned" in captions[4]  # the target's distribution comes first
    svgs = [a for a in parser.attributes if a[0] == "svg" and a[1] == "aria-label"]
    assert len(svgs) == parser.tags["svg"] == len(captions)
    assert all(label for _, _, label in svgs)
    assert "overall 25.4%" in html  # (5000 × 0.21 + 4690 × 0.30) / 9690


def test_report_ids_are_unique_and_references_resolve(parse_html, html):
    parser = parse_html(html)
    ids = Counter(value for _, name, value in parser.attributes if name == "id")
    assert [i for i, n in ids.items() if n > 1] == []
    for reference in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', html):
        assert (reference[0] or reference[1]) in ids


def test_report_evidence_is_available(html, result):
    assert html.count("<details>") == sum(1 for f in result.findings if f.evidence)
    assert "ROC AUC" in html and "<th>score</th>" in html  # the curve's records as a table


def test_report_renders_without_optional_parts(parse_html, make_result):
    html = render_audit_html(make_result(bias=False, curve=False, volume=False))
    assert parse_html(html).errors == []
    assert "Learning curve" not in html
    assert "Target rate by" not in html
    assert "Rows per period" not in html
    assert "Missing values per column" in html


def test_report_of_a_clean_audit_says_ready(make_result):
    html = render_audit_html(make_result(findings=[]))
    assert "READY" in html and "NOT READY" not in html and "READY WITH WARNINGS" not in html
    assert "Ready to model: the data passed every readiness check." in html
    assert "The audit found nothing to report." in html


def test_report_survives_evidence_of_unexpected_shape(parse_html, make_result):
    findings = [
        Finding(
            "bias.group_size",
            Severity.WARNING,
            ("gender",),
            "odd groups",
            "",
            {"groups": "not a list"},
        ),
        Finding(
            "bias.target_rate",
            Severity.WARNING,
            (),
            "no column",
            "",
            {"groups": [{"group": "a", "rows": 1, "rate": 0.5}]},
        ),
        Finding(
            "volume.learning_curve",
            Severity.INFO,
            (),
            "odd curve",
            "",
            {"curve": [{"rows": "many", "score": None}, 7], "metric": None},
        ),
        Finding("timeliness.volume_per_period", Severity.INFO, (), "no series", "", {}),
        Finding(
            "quality.other",
            Severity.INFO,
            ("x",),
            "nested",
            "",
            {"deep": {"a": [1, {"b": float("nan")}]}, "when": None},
        ),
    ]
    html = render_audit_html(make_result(findings=findings))
    assert parse_html(html).errors == []
    for caption in ("Target rate by", "Learning curve", "Rows per period"):
        assert caption not in html
    assert "READY WITH WARNINGS" in html
    assert "Ready to model, but review 2 warnings first." in html


def test_write_creates_folders_and_returns_path(tmp_path, result):
    path = write_audit_html(result, tmp_path / "reports" / "audit.html")
    assert path == tmp_path / "reports" / "audit.html"
    assert path.read_text(encoding="utf-8") == render_audit_html(result)


def test_report_is_deterministic(result):
    assert render_audit_html(result) == render_audit_html(result)


@pytest.mark.slow
def test_report_for_thirty_columns_renders_quickly(make_result):
    result = make_result(extra_numeric=21)
    assert len(result.profile.columns) == 30
    render_audit_html(make_result())  # warm up imports and the template cache
    start = time.perf_counter()
    html = render_audit_html(result)
    assert time.perf_counter() - start < 10
    assert len(html) < 1_000_000


def test_report_reads_the_evidence_the_checks_write(make_result):
    # The shapes written by the bias and volume checks: extra fields, "points", a metric code.
    findings = [
        Finding(
            "bias.small_group",
            Severity.WARNING,
            ("age_band",),
            "age_band has a group of 12 rows.",
            "",
            {"groups": [{"group": "80+", "rows": 12, "share": 0.001}]},
        ),
        Finding(
            "bias.group_rates",
            Severity.INFO,
            ("age_band",),
            "Churn is similar across age bands.",
            "",
            {
                "metric": "positive_rate",
                "positive_class": "yes",
                "groups": [
                    {"group": "18-30", "rows": 400, "rate": 0.2, "evaluable": True},
                    {"group": "31-80", "rows": 600, "rate": 0.3, "evaluable": True},
                    {"group": "80+", "rows": 12, "rate": 0.9, "evaluable": False},
                ],
            },
        ),
        Finding(
            "volume.learning_curve",
            Severity.INFO,
            (),
            "The curve is flat.",
            "",
            {
                "metric": "roc_auc",
                "points": [
                    {"rows": 100, "score": 0.7, "std": 0.02},
                    {"rows": 200, "score": 0.71, "std": 0.01},
                ],
            },
        ),
    ]
    html = render_audit_html(make_result(findings=findings))
    assert html.count("<figcaption>Target rate by age_band</figcaption>") == 1
    assert "overall 26.0%" in html  # (400 × 0.2 + 600 × 0.3) / 1000; the 12-row group is left out
    assert "share of 'yes' (% of rows)" in html
    assert "validation ROC AUC" in html
