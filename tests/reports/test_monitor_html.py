"""The monitoring report: self-contained, strict HTML, every figure shown, nulls in plain words."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from charter.reports import render_monitor_report

HOSTILE = "<script>alert(1)</script>"
CHART_TITLES = [
    "Live value per row, with 95% intervals, and the estimate",
    "Realised value against today's rule",
    "Adoption: share of decisions followed",
    "Drift: share of the model's importance that drifted",
    "Score drift: PSI of the model's scores",
    "Data quality: refused, flagged and fallback shares",
    "Humility flags per window, by flag",
    "Predictions per window",
]
NULL_WORDS = re.compile(r"\b(None|nan|NaN|null|inf|undefined)\b")


def interval(value: float | None, low: float | None, high: float | None) -> dict[str, Any]:
    return {"value": value, "low": low, "high": high}


def feature(name: str, **figures: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "kind": "number",
        "rows": 1500,
        "missing_share": 0.0,
        "reference_missing_share": 0.0,
        "psi": 0.01,
        "js": 0.02,
        "test": "ks",
        "statistic": 0.03,
        "p_value": 0.4,
        "q_value": 0.6,
        "wasserstein": 0.8,
        "wasserstein_std": 0.05,
        "importance": 0.2,
        "judged": True,
        "drifted": False,
        "change": "median stayed at 14 (mean 14.2 → 14.3)",
    }
    return {**base, **figures}


def make_report() -> dict[str, Any]:
    """Three windows by hand: labels complete in the first, few in the second, none in the newest
    (where only the estimate speaks); drift measured in the first and the newest only."""
    drifted = feature(
        "contract",
        kind="category",
        psi=0.41,
        js=0.19,
        test="chi2",
        statistic=212.5,
        p_value=1.2e-40,
        q_value=3.6e-40,
        wasserstein=None,
        wasserstein_std=None,
        importance=0.35,
        drifted=True,
        change="share of 'monthly' rose from 40% to 61%",
    )
    windows = [
        {
            "label": "2026-11-18",
            "start": "2026-11-18T00:00:00+00:00",
            "end": "2026-11-19T00:00:00+00:00",
            "predictions": 1200,
            "refused": 30,
            "versions": {"3": 1200},
            "quality": {
                "refused_share": 30 / 1230,
                "refused_fields": {"age": 20, "plan": 10},
                "flag_share": 0.05,
                "flags": {"out_of_range:age": 0.04, "unseen_category:plan": 0.01},
                "fallback_share": 0.0,
            },
            "drift": {
                "rows": 1200,
                "features": [feature("tenure"), feature("contract", kind="category")],
                "score": feature("score", importance=None, change=None),
                "drifted": False,
                "drifted_importance": 0.0,
                "reason": "no feature moved materially",
                "approximate": False,
            },
            "performance": {
                "labelled": 900,
                "metric": "net_value",
                "value": interval(12.1, 10.0, 14.2),
                "metrics": {"roc_auc": 0.81, "log_loss": None},
                "promised": 11.5,
                "judged": True,
                "decayed": False,
            },
            "estimate": {
                "rows": 1200,
                "value": interval(11.9, 10.2, 13.6),
                "positive_rate": 0.21,
                "precision": 0.55,
                "recall": 0.62,
                "accuracy": 0.8,
                "promised": 11.5,
                "decayed": False,
            },
            "adoption": {
                "labelled": 900,
                "answered": 800,
                "followed": interval(0.72, 0.69, 0.75),
                "realised": interval(10.4, 8.9, 11.9),
                "total": 9360.0,
                "baseline": interval(8.0, 6.6, 9.4),
                "gain_share": 0.3,
                "target": 0.1,
                "met": True,
            },
        },
        {
            "label": "2026-11-19",
            "start": "2026-11-19T00:00:00+00:00",
            "end": "2026-11-20T00:00:00+00:00",
            "predictions": 1100,
            "refused": 0,
            "versions": {"3": 1100},
            "quality": {
                "refused_share": 0.0,
                "refused_fields": {},
                "flag_share": None,
                "flags": {},
                "fallback_share": None,
            },
            "drift": None,
            "performance": {
                "labelled": 40,
                "metric": "net_value",
                "value": interval(9.0, None, None),
                "metrics": {"roc_auc": None},
                "promised": 11.5,
                "judged": False,
                "decayed": None,
            },
            "estimate": {
                "rows": 1100,
                "value": interval(10.8, 9.1, 12.5),
                "positive_rate": 0.22,
                "precision": None,
                "recall": None,
                "accuracy": 0.79,
                "promised": 11.5,
                "decayed": False,
            },
            "adoption": {
                "labelled": 40,
                "answered": 35,
                "followed": interval(0.6, 0.43, 0.75),
                "realised": None,
                "total": None,
                "baseline": None,
                "gain_share": None,
                "target": 0.1,
                "met": None,
            },
        },
        {
            "label": "2026-11-20",
            "start": "2026-11-20T00:00:00+00:00",
            "end": "2026-11-21T00:00:00+00:00",
            "predictions": 1500,
            "refused": 12,
            "versions": {"3": 1450, "2": 50},
            "quality": {
                "refused_share": 12 / 1512,
                "refused_fields": {"plan": 12},
                "flag_share": 0.09,
                "flags": {"unseen_category:plan": 0.09},
                "fallback_share": 0.002,
            },
            "drift": {
                "rows": 1500,
                "features": [
                    feature("tenure", importance=0.4),
                    drifted,
                    feature(
                        HOSTILE,
                        importance=None,
                        psi=None,
                        js=None,
                        test=None,
                        statistic=None,
                        p_value=None,
                        q_value=None,
                        wasserstein=None,
                        wasserstein_std=None,
                        missing_share=None,
                        judged=False,
                        drifted=None,
                        change=None,
                    ),
                ],
                "score": feature(
                    "score",
                    importance=None,
                    psi=0.31,
                    p_value=2e-9,
                    drifted=True,
                    change="median rose from 0.18 to 0.29",
                ),
                "drifted": True,
                "drifted_importance": 0.35,
                "reason": "features carrying 35% of the importance drifted (limit 20%)",
                "approximate": False,
            },
            "performance": None,
            "estimate": {
                "rows": 1500,
                "value": interval(7.2, 5.9, 8.5),
                "positive_rate": 0.3,
                "precision": 0.5,
                "recall": 0.6,
                "accuracy": 0.77,
                "promised": 11.5,
                "decayed": True,
            },
            "adoption": None,
        },
    ]
    return {
        "schema_version": 1,
        "project": "churn",
        "generated": "2026-11-21T06:00:00+00:00",
        "version": 3,
        "source": "prediction log",
        "window": "1d",
        "promised": {"metric": "net_value", "value": 11.5, "low": 9.8, "high": 13.2},
        "status": "warning",
        "windows": windows,
        "alerts": [
            {
                "kind": "drift",
                "severity": "warning",
                "window": "2026-11-20",
                "message": "The data drifted from training (features carrying 35% of the "
                "importance drifted). contract: share of 'monthly' rose from 40% to 61%.",
                "evidence": {"drifted": ["contract"], "drifted_importance": 0.35},
            },
            {
                "kind": "estimated_decay",
                "severity": "warning",
                "window": "2026-11-20",
                "message": "Before outcomes arrive, the scores imply 7.2 per row (95% interval "
                "5.9 to 8.5) against 11.5 promised: an estimate, to confirm with outcomes.",
                "evidence": {},
            },
        ],
        "deliveries": [
            {"sink": "file alerts.json", "delivered": True, "attempts": 1, "error": None}
        ],
    }


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return make_report()


@pytest.fixture(scope="module")
def monitor_html(report: dict[str, Any]) -> str:
    return render_monitor_report(report)


@pytest.fixture(scope="module")
def parsed(parse_html, monitor_html: str):
    return parse_html(monitor_html, strict=True)


def row_of(parsed, first: str) -> list[str]:
    return next(r for r in parsed.rows if r and r[0].strip().startswith(first))


def test_parses_strictly_and_fetches_nothing(monitor_html, parsed):
    assert monitor_html.startswith("<!doctype html>")
    assert parsed.tags["html"] == parsed.tags["body"] == parsed.tags["main"] == 1
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    for tag, name, value in parsed.attributes:
        if name in {"src", "href", "xlink:href", "srcset", "action", "data"}:
            assert value.startswith("#"), (tag, name, value)
    assert not re.search(r"https?://", monitor_html)
    assert "@import" not in monitor_html and "url(http" not in monitor_html


def test_header_states_status_project_version_window_and_promise(parsed):
    text = " ".join(parsed.text)
    assert "WARNING" in text and "Review the alerts below; nothing is critical." in text
    assert ("div", "class", "verdict verdict-warnings") in parsed.attributes
    for fact in ("churn", "prediction log", "1d", "2026-11-21 06:00 UTC"):
        assert fact in text
    assert "3 (2026-11-18 to 2026-11-20)" in text
    assert "Promised at validation (95% interval)" in text
    assert "11.5 per row (9.8 to 13.2)" in text


@pytest.mark.parametrize(
    ("alerts", "word", "css"),
    [
        ([], "OK", "ready"),
        (
            [{"kind": "decay", "severity": "critical", "window": "w", "message": "m"}],
            "CRITICAL",
            "not-ready",
        ),
    ],
)
def test_status_in_words_and_colour(parse_html, report, alerts, word, css):
    changed = {**report, "alerts": alerts, "status": word.lower()}
    parsed = parse_html(render_monitor_report(changed), strict=True)
    assert word in parsed.text
    assert ("div", "class", f"verdict verdict-{css}") in parsed.attributes
    if not alerts:
        assert "No alerts: the newest window passed every rule of the charter." in parsed.text


def test_alerts_show_message_kind_and_severity(monitor_html, report, parsed):
    for alert in report["alerts"]:
        assert str(escape(alert["message"])) in monitor_html
    kinds = [row_of(parsed, "warning")[1] for _ in range(1)]
    assert kinds == ["drift"]
    assert any(r[:2] == ["warning", "estimated decay"] for r in parsed.rows)
    assert ("span", "class", "pill pill-warning") in parsed.attributes
    assert "file alerts.json (delivered)." in " ".join(" ".join(parsed.text).split())


def test_drifted_feature_comes_first_with_its_change(parsed):
    header = next(r for r in parsed.rows if r and r[0] == "Feature")
    features = [r for r in parsed.rows[parsed.rows.index(header) + 1 :] if len(r) == len(header)]
    names = [r[0] for r in features][:3]
    assert names[0].startswith("contract") and names[1].startswith("tenure")
    contract = dict(zip(header, features[0], strict=True))
    assert contract["Drifted"] == "yes"
    assert contract["What changed"] == "share of 'monthly' rose from 40% to 61%"
    assert contract["Importance"] == "35.0%" and contract["PSI"] == "0.41"
    assert contract["Test"] == "chi-square 212.5" and contract["p"] == "1.20e-40"
    assert contract["Wasserstein"] == "—"
    tenure = dict(zip(header, features[1], strict=True))
    assert tenure["Drifted"] == "no" and tenure["Wasserstein"] == "0.8 (0.05 sd)"
    assert tenure["Test"] == "Kolmogorov–Smirnov 0.03"
    hostile = dict(zip(header, features[2], strict=True))
    assert hostile["Feature"].startswith(HOSTILE)  # shown as text, never as markup
    assert hostile["Drifted"] == "too few rows to judge"
    assert hostile["PSI"] == hostile["p"] == hostile["What changed"] == "—"
    assert ("tr", "class", "drifted") in [(t, n, v) for t, n, v in parsed.attributes]


def test_drift_summary_and_score_drift(parsed):
    text = " ".join("".join(parsed.text).split())
    assert "Drifted: features carrying 35% of the importance drifted (limit 20%)" in text
    assert "Drifted features carry 35.0% of the model's importance; 1,500 rows compared." in text
    assert (
        "The model's scores drifted: median rose from 0.18 to 0.29 (PSI 0.31, p 2.00e-09)." in text
    )


def test_every_chart_has_its_title_axes_and_alt_text(monitor_html, parsed):
    for title in CHART_TITLES:
        assert title in parsed.captions, title
    svgs = re.findall(r"<svg\b[^>]*>", monitor_html)
    assert len(svgs) == len(CHART_TITLES)  # every figure is measured in some window
    assert all('role="img"' in s and "aria-label=" in s for s in svgs)
    for axis in ("window", "value per row", "share of records (%)", "predictions", "PSI"):
        assert f">{axis}<" in monitor_html, axis


def test_alt_text_reads_the_figures_per_window(report, parsed):
    labels = [v for _, n, v in parsed.attributes if n == "aria-label"]
    adoption = next(v for v in labels if v.startswith("Adoption"))
    for window in report["windows"]:
        followed = (window["adoption"] or {}).get("followed")
        expected = "not measured" if followed is None else f"{100 * followed['value']:.1f}%"
        assert f"{window['label']} {expected}" in adoption
    volume = next(v for v in labels if v.startswith("Predictions per window"))
    for window in report["windows"]:
        assert f"{window['label']} {window['predictions']:,}" in volume


def test_live_value_estimate_and_adoption_per_window(parsed):
    header = next(r for r in parsed.rows if r and r[0] == "Window")
    rows = [
        dict(zip(header, row_of(parsed, label), strict=True))
        for label in ("2026-11-18", "2026-11-19", "2026-11-20")
    ]
    assert rows[0]["Live value"] == "12.1 per row (10 to 14.2) · 900 outcomes"
    assert rows[1]["Live value"] == "9 per row · 40 outcomes"
    assert rows[2]["Live value"] == "—"
    assert rows[2]["Estimate"] == "7.2 per row (5.9 to 8.5)"
    assert rows[0]["Followed"] == "72.0% (69.0% to 75.0%)"
    assert rows[1]["Realised"] == rows[2]["Followed"] == "—"
    assert rows[0]["Refused share"] == f"{100 * 30 / 1230:.1f}%"
    assert rows[2]["Versions"] == "v3: 1,450, v2: 50"
    assert rows[1]["Drifted importance"] == "—" and rows[2]["Drifted importance"] == "35.0%"


def test_refused_fields_of_the_newest_window(parsed):
    assert ["plan", "12", "100.0%"] in parsed.rows


def test_nulls_never_read_none_or_nan(monitor_html, parsed):
    assert not NULL_WORDS.search(" ".join(parsed.text))
    assert not any(NULL_WORDS.search(v) for _, n, v in parsed.attributes if n == "aria-label")
    assert "not measured" in monitor_html and "—" in monitor_html


def test_one_window_thirty_windows_and_none(parse_html, report):
    one = {**report, "windows": report["windows"][-1:]}
    parsed = parse_html(render_monitor_report(one), strict=True)
    assert "1 (2026-11-20)" in parsed.text
    # Adoption and realised value were not measured in the one window: said, not drawn.
    assert parsed.text.count("Not measured in any window yet.") == 2
    many = {
        **report,
        "windows": [dict(report["windows"][i % 3], label=f"day {i + 1}") for i in range(30)],
    }
    html = render_monitor_report(many)
    assert "30 (day 1 to day 30)" in parse_html(html, strict=True).text
    none = parse_html(render_monitor_report({**report, "windows": [], "alerts": []}), strict=True)
    assert "No window to show: the prediction log is empty." in none.text
    assert none.text.count("Not measured in any window yet.") == len(CHART_TITLES)


def test_same_report_same_file(report, monitor_html):
    assert render_monitor_report(copy.deepcopy(report)) == monitor_html


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path] if isinstance(value, int | float) and not isinstance(value, bool) else []


NUMBERS = _leaves(make_report())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    holes=st.lists(st.sampled_from(NUMBERS), max_size=40, unique=True),
    filler=st.sampled_from([None, math.nan, math.inf]),
)
def test_any_figure_may_be_missing(parse_html, holes, filler):
    """Any number left out (null, or NaN/infinity from a hand-made dict) still reads as missing."""
    report = make_report()
    for path in holes:
        container = report
        for step in path[:-1]:
            container = container[step]
        container[path[-1]] = filler
    parsed = parse_html(render_monitor_report(report), strict=True)
    assert not NULL_WORDS.search(" ".join(parsed.text))
    assert not any(NULL_WORDS.search(v) for _, n, v in parsed.attributes if n == "aria-label")
    assert all(title in parsed.captions for title in CHART_TITLES)


def test_renders_the_layout_the_monitoring_dataclasses_write(parse_html):
    """Built from the real result classes (not a monitoring run), so a change of layout shows here."""
    from datetime import UTC, datetime

    from charter.monitoring import DriftResult, FeatureDrift
    from charter.monitoring._alerts import Alert, Delivery
    from charter.monitoring._monitor import MonitorReport, WindowReport
    from charter.monitoring._outcomes import Adoption, Estimate, Interval, Performance

    nan = math.nan
    moved = FeatureDrift(
        "plan", "category", 800, 0.0, 0.01, 0.52, 0.3, "chi2", 90.1, 1e-12, 2e-12,
        None, None, 0.6, True, True, "share of 'basic' rose from 20% to 55%",
    )  # fmt: skip
    still = FeatureDrift(
        "age", "number", 800, 0.02, 0.02, 0.01, 0.03, "ks", 0.02, 0.7, 0.7,
        0.4, 0.03, 0.4, True, False, "median stayed at 41",
    )  # fmt: skip
    drift = DriftResult(800, (moved, still), None, True, 0.6, "plan drifted", False, ("city",))
    window = WindowReport(
        label="2026-11-20",
        start=datetime(2026, 11, 20, tzinfo=UTC),
        end=datetime(2026, 11, 21, tzinfo=UTC),
        predictions=800,
        refused=8,
        versions={4: 800},
        quality={
            "refused_share": 0.01,
            "refused_fields": {"plan": 8},
            "flag_share": 0.0,
            "flags": {},
            "fallback_share": 0.0,
        },  # fmt: skip
        drift=drift,
        performance=Performance(30, "net_value", Interval(5.0, nan, nan), {}, 9.0, False, None),
        estimate=Estimate(800, Interval(6.5, 5.5, 7.5), 0.3, 0.5, nan, 0.7, 9.0, True),
        adoption=Adoption(30, 30, Interval(0.9, 0.74, 0.97), None, None, None, None, 0.1, None),
    )
    report = MonitorReport(
        project="churn",
        generated=datetime(2026, 11, 21, 6, tzinfo=UTC),
        version=4,
        source="prediction log",
        window="1 day",
        promised={"metric": "net_value", "value": 9.0, "low": 8.0, "high": 10.0},
        windows=[window],
        alerts=[Alert("drift", "warning", "2026-11-20", "The data drifted from training.")],
        deliveries=[Delivery("webhook", False, 3, "HTTP 503")],
    ).to_dict()
    parsed = parse_html(render_monitor_report(report), strict=True)
    text = " ".join("".join(parsed.text).split())
    assert "WARNING" in text and "The data drifted from training." in text
    assert "webhook (not delivered: HTTP 503)." in text
    assert "share of 'basic' rose from 20% to 55%" in text
    assert "Not compared (missing from this window): city." in text
    assert "6.5 per row (5.5 to 7.5)" in text and "90.0% (74.0% to 97.0%)" in text
    assert not NULL_WORDS.search(text)
