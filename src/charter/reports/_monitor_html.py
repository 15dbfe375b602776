"""The monitoring report: a `MonitorReport.to_dict()` document as one self-contained HTML file.

It reads the plain JSON document rather than the dataclasses, so a report saved with
`charter monitor --json` renders the same later; any figure may be null (not measurable), and
reads "—" or "not measured", never "None" or "nan".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from charter import __version__
from charter.reports._charts import Chart
from charter.reports._format import number, percent, real_number, shorten
from charter.reports._svg import MUTED, PALETTE, figure, figure_to_svg
from charter.reports._templates import environment

__all__ = ["render_monitor_report"]

NOT_MEASURED = "not measured"
TOP_FLAGS = 5
"""Humility flags drawn one by one: the most frequent, the rest are in the overall flag share."""

_STATUS = {
    "ok": ("ready", "Nothing needs attention: the newest window passed every rule."),
    "warning": ("warnings", "Review the alerts below; nothing is critical."),
    "critical": ("not-ready", "Act now: the model no longer delivers what was promised."),
}
_METRICS = {"net_value": "value per row", "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "r2": "R²"}
_TESTS = {"ks": "Kolmogorov–Smirnov", "chi2": "chi-square"}
_PER_ROW = "value per row"
_ADOPTION = "Adoption: share of decisions followed"
_QUALITY = "Data quality: refused, flagged and fallback shares"
_DRIFT = "Drift: share of the model's importance that drifted"

Record = Mapping[str, Any]


@dataclass(frozen=True)
class _Line:
    """One series over the windows (None where not measured), with an optional 95% band."""

    name: str
    values: list[float | None]
    low: list[float | None] | None = None
    high: list[float | None] | None = None
    dashed: bool = False


def render_monitor_report(report: Record) -> str:
    """Render a monitoring run (`MonitorReport.to_dict()`) as a self-contained HTML document.

    Status and alerts first, then a chart over the windows for every figure (value, drift,
    data quality, volume), the newest window's features, and every figure per window as a table.
    Everything is inline (CSS, SVG); it fetches nothing, so it opens offline and can be mailed.

    Example:
        >>> html = render_monitor_report(monitor(project).to_dict())  # doctest: +SKIP
    """
    return environment().get_template("monitor.html.j2").render(**_context(report))


def _context(report: Record) -> dict[str, Any]:
    windows = _records(report.get("windows"))
    labels = [_text(w.get("label")) or f"window {i + 1}" for i, w in enumerate(windows)]
    status = _text(report.get("status")) or "ok"
    css, explanation = _STATUS.get(status, _STATUS["warning"])
    promised = _mapping(report.get("promised"))
    found = (_text(_at(w, "performance.metric")) for w in windows)
    metric = _text(promised.get("metric")) or next((m for m in found if m), "net_value")
    latest = windows[-1] if windows else {}
    drift = _mapping(latest.get("drift"))
    features = [_feature_row(f) for f in _records(drift.get("features"))]
    volume = [_line("served", windows, "predictions"), _line("refused", windows, "refused")]
    return {
        "version": __version__,
        "project": _text(report.get("project")) or "(unnamed project)",
        "status": status,
        "status_class": css,
        "explanation": explanation,
        "facts": [
            ("Production version", _fig(report.get("version"))),
            ("Window", _text(report.get("window")) or "—"),
            ("Source", _text(report.get("source")) or "—"),
            ("Windows shown", _span(labels)),
            ("Promised at validation (95% interval)", _promise(promised, metric)),
            ("Generated", _when(report.get("generated"))),
        ],
        "alerts": _records(report.get("alerts")),  # shown as they are; null reads "—"
        "deliveries": _records(report.get("deliveries")),
        "value_charts": _value_charts(windows, labels, real_number(promised.get("value")), metric),
        "drift_charts": _drift_charts(windows, labels),
        "drift_latest": _drift_latest(drift),
        "features": sorted(features, key=lambda f: not f["drifted"]),
        "quality_charts": _quality_charts(windows, labels),
        "refused_fields": _refused_fields(latest),
        "volume_charts": [
            _slot("Predictions per window", labels, volume, "predictions", "volume", bars=True)
        ],
        "latest_label": labels[-1] if labels else "—",
        # Each window with the alerts its rules raised when it was the newest: the timeline.
        "timeline": [
            {"label": label, "alerts": _records(w.get("alerts"))}
            for w, label in zip(windows, labels, strict=True)
        ],
        "table": [_window_row(w, label, metric) for w, label in zip(windows, labels, strict=True)],
    }


def _value_charts(
    windows: list[Record], labels: list[str], promised: float | None, metric: str
) -> list[Chart]:
    per_row = metric == "net_value"
    unit = _PER_ROW if per_row else _METRICS.get(metric, metric.replace("_", " "))
    # The estimate stands in where no judged live figure exists yet (no or too few outcomes).
    waiting = [_at(w, "performance.judged") is not True for w in windows]
    estimate = _line("estimate (no outcomes yet)", windows, "estimate.value", keep=waiting)
    live = [_line("live (with outcomes)", windows, "performance.value")]
    title = f"Live {unit}, with 95% intervals" + (", and the estimate" if per_row else "")
    levels = [("promised at validation", promised)]
    slots = [_slot(title, labels, live + [estimate] * per_row, unit, "live", levels=levels)]
    if not per_row:
        title = "Estimated value per row (no outcomes yet)"
        slots.append(_slot(title, labels, [estimate], _PER_ROW, "estimate"))
    target = []
    for w in windows:
        base, share = (real_number(_at(w, f"adoption.{k}")) for k in ("baseline.value", "target"))
        target.append(None if base is None or share is None else base + share * abs(base))
    lines = [
        _line("realised (what was done)", windows, "adoption.realised"),
        _line("today's rule, same cases", windows, "adoption.baseline.value", dashed=True),
        _Line("charter's target", target, dashed=True),
    ]
    title = "Realised value against today's rule"
    followed = [_line("decisions followed", windows, "adoption.followed")]
    unit = "share of decisions with feedback"
    return [
        *slots,
        _slot(title, labels, lines, _PER_ROW, "realised"),
        _slot(_ADOPTION, labels, followed, unit, "adoption", share=True),
    ]


def _drift_charts(windows: list[Record], labels: list[str]) -> list[Chart]:
    moved = [_line("importance of drifted features", windows, "drift.drifted_importance")]
    psi = [_line("PSI of the model's scores", windows, "drift.score.psi")]
    return [
        _slot(_DRIFT, labels, moved, "share of importance", "drift", share=True),
        _slot("Score drift: PSI of the model's scores", labels, psi, "PSI", "score"),
    ]


def _drift_latest(drift: Record) -> dict[str, Any] | None:
    if not drift:
        return None
    score, absent = _mapping(drift.get("score")), drift.get("absent")
    score_text = f"Score drift: {NOT_MEASURED}."
    if score:
        moved = _said(score.get("drifted"), "drifted", "did not drift", NOT_MEASURED)
        change = f": {score['change']}" if score.get("change") else ""
        score_text = f"The model's scores {moved}{change} (PSI {_fig(score.get('psi'))}, "
        score_text += f"p {_fig(score.get('p_value'))})."
    return {
        "drifted": bool(drift.get("drifted")),
        "reason": _text(drift.get("reason")) or "",
        "importance": percent(real_number(drift.get("drifted_importance"))),
        "rows": _fig(drift.get("rows")),
        "approximate": bool(drift.get("approximate")),
        "absent": ", ".join(map(str, absent)) if isinstance(absent, list) else "",
        "score": score_text,
    }


def _feature_row(f: Record) -> dict[str, Any]:
    test = _text(f.get("test"))
    spread = real_number(f.get("wasserstein_std"))
    missing, before = (real_number(f.get(k)) for k in ("missing_share", "reference_missing_share"))
    return {
        "name": _text(f.get("name")) or "?",
        "kind": _text(f.get("kind")) or "",
        "importance": percent(real_number(f.get("importance"))),
        "psi": _fig(f.get("psi")),
        "test": f"{_TESTS.get(test, test)} {_fig(f.get('statistic'))}" if test else "—",
        "p": _fig(f.get("p_value")),
        "q": _fig(f.get("q_value")),
        "js": _fig(f.get("js")),
        "wasserstein": _fig(f.get("wasserstein"))
        + (f" ({_fig(spread)} sd)" if spread is not None else ""),
        "missing": f"{percent(missing)} ({percent(before)})",
        "drifted": f.get("drifted") is True,
        "verdict": "too few rows to judge" if f.get("judged") is False else _said(f.get("drifted")),
        "change": _text(f.get("change")) or "—",
    }


def _quality_charts(windows: list[Record], labels: list[str]) -> list[Chart]:
    lines = [
        _line("refused by the data contract", windows, "quality.refused_share"),
        _line("flagged (any humility flag)", windows, "quality.flag_share"),
        _line("served by the fallback rule", windows, "quality.fallback_share"),
    ]
    peaks: dict[str, float] = {}
    for w in windows:
        for flag, value in _mapping(_at(w, "quality.flags")).items():
            peaks[str(flag)] = max(peaks.get(str(flag), 0.0), real_number(value) or 0.0)
    shown = sorted(peaks, key=lambda k: (-peaks[k], k))[:TOP_FLAGS]

    def share(w: Record, flag: str) -> float | None:
        # A flag absent from a window that measured flags was raised on no prediction there.
        if real_number(_at(w, "quality.flag_share")) is None:
            return None
        return real_number(_mapping(_at(w, "quality.flags")).get(flag)) or 0.0

    flags = [_Line(flag, [share(w, flag) for w in windows]) for flag in shown]
    title = "Humility flags per window" + (
        f" (the {TOP_FLAGS} most frequent)" if len(peaks) > TOP_FLAGS else ", by flag"
    )
    return [
        _slot(_QUALITY, labels, lines, "share of records", "quality", share=True),
        _slot(title, labels, flags, "share of predictions", "flags", share=True),
    ]


def _refused_fields(window: Record) -> list[tuple[str, str, str]]:
    total = real_number(window.get("refused"))
    rows = []
    for name, count in _mapping(_at(window, "quality.refused_fields")).items():
        n = real_number(count)
        share = percent(n / total) if n is not None and total else "—"
        rows.append((str(name), "—" if n is None else number(int(n)), share))
    return rows


def _window_row(w: Record, label: str, metric: str) -> list[str]:
    versions = _mapping(w.get("versions")).items()
    labelled = real_number(_at(w, "performance.labelled"))
    live = _interval(_at(w, "performance.value"), " per row" if metric == "net_value" else "")
    return [
        label,
        _fig(w.get("predictions")),
        _fig(w.get("refused")),
        ", ".join(f"v{k}: {_fig(v)}" for k, v in versions) or "—",
        live + ("" if labelled is None else f" · {number(int(labelled))} outcomes"),
        _interval(_at(w, "estimate.value"), " per row"),
        _interval(_at(w, "adoption.followed"), "", share=True),
        _interval(_at(w, "adoption.realised"), " per row"),
        _interval(_at(w, "adoption.baseline"), " per row"),
        percent(real_number(_at(w, "drift.drifted_importance"))),
        percent(real_number(_at(w, "quality.refused_share"))),
        percent(real_number(_at(w, "quality.flag_share"))),
    ]


def _slot(
    title: str,
    labels: list[str],
    lines: list[_Line],
    unit: str,
    key: str,
    *,
    share: bool = False,
    bars: bool = False,
    levels: Sequence[tuple[str, float | None]] = (),
) -> Chart:
    """A chart of `lines` over the windows (stacked bars when `bars`); `levels` are flat lines.

    Shares are drawn in percent. Nothing is drawn when no window measured anything.
    """
    drawn = [line for line in lines if any(v is not None for v in line.values)]
    if not drawn:
        return Chart(title, f"{NOT_MEASURED.capitalize()} in any window yet.", "")  # no drawing
    scale, show = (100.0, percent) if share else (1.0, _fig)
    marks = [(name, value) for name, value in levels if value is not None]

    def ys(values: Sequence[float | None]) -> list[float]:
        return [math.nan if v is None else scale * v for v in values]

    said = [[NOT_MEASURED if v is None else show(v) for v in line.values] for line in drawn]
    parts = [
        f"{line.name}: " + ", ".join(f"{a} {b}" for a, b in zip(labels, words, strict=True))
        for line, words in zip(drawn, said, strict=True)
    ]
    description = f"{title}. " + "; ".join(parts + [f"{a}: {show(b)}" for a, b in marks]) + "."
    entries = len(drawn) + len(marks)
    legend = math.ceil(entries / 2) if entries > 1 else 0  # rows of a two-column legend
    n = len(labels)
    x = list(range(n))
    height, top = 2.9 + 0.2 * legend, 0.15 + 0.2 * legend
    with figure(5.8, height, left=0.8, bottom=0.75, top=top) as (fig, ax):
        stack = [0.0] * n
        for i, line in enumerate(drawn):
            colour = PALETTE[i % len(PALETTE)]
            if bars:
                heights = [0.0 if math.isnan(y) else y for y in ys(line.values)]
                ax.bar(x, heights, bottom=stack, width=0.7, color=colour, label=line.name)
                stack = [s + h for s, h in zip(stack, heights, strict=True)]
                continue
            if line.low is not None and line.high is not None:
                low, high = ys(line.low), ys(line.high)
                ax.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)
                ax.vlines(x, low, high, color=colour, alpha=0.6, linewidth=1.2)
            style = "--" if line.dashed else "-"
            ax.plot(x, ys(line.values), style, color=colour, marker="o", ms=4, label=line.name)
        for name, value in marks:
            ax.axhline(scale * value, color=MUTED, linestyle=":", linewidth=1.4, label=name)
        ticks = x[:: max(1, math.ceil(n / 10))]
        names = [shorten(labels[i], 16) for i in ticks]
        ax.set_xticks(ticks, names, rotation=30 if n > 3 else 0, ha="right" if n > 3 else "center")
        ax.set_xlim(-0.6, n - 0.4)
        if bars or share:
            ax.set_ylim(bottom=0)
        ax.set_xlabel("window")
        ax.set_ylabel(f"{unit} (%)" if share else unit)
        ax.grid(axis="y", color="#eaecf0", linewidth=0.8)
        if legend:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, borderaxespad=0.2)
        svg = figure_to_svg(fig, key=key, title=title, description=description)
    return Chart(title, description, svg)


def _line(
    name: str, windows: list[Record], path: str, *, keep: Sequence[bool] = (), dashed: bool = False
) -> _Line:
    """The figure at `path` in each window, with its 95% band where it is an interval
    {value, low, high}; windows where `keep` is False are left out (gaps), and the line dashed."""
    found = [_at(w, path) for w in windows]
    if keep:
        found = [v if k else None for v, k in zip(found, keep, strict=True)]
    if not any(isinstance(v, Mapping) for v in found):
        return _Line(name, [real_number(v) for v in found], dashed=dashed)
    value, low, high = ([real_number(_at(v, k)) for v in found] for k in ("value", "low", "high"))
    return _Line(name, value, low, high, dashed=dashed or bool(keep))


def _interval(interval: Any, unit: str, *, share: bool = False) -> str:
    value, low, high = (real_number(_mapping(interval).get(k)) for k in ("value", "low", "high"))
    if value is None:
        return "—"
    show = percent if share else _fig
    bounds = f" ({show(low)} to {show(high)})" if low is not None and high is not None else ""
    return f"{show(value)}{unit}{bounds}"


def _promise(promised: Record, metric: str) -> str:
    text = _interval(promised, " per row" if metric == "net_value" else "")
    if text == "—":
        return NOT_MEASURED
    return text if metric == "net_value" else f"{_METRICS.get(metric, metric)} {text}"


def _span(labels: list[str]) -> str:
    if len(labels) < 2:
        return f"1 ({labels[0]})" if labels else "none"
    return f"{len(labels)} ({labels[0]} to {labels[-1]})"


def _when(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value) or "—"
    offset = moment.utcoffset()
    text = moment.strftime("%Y-%m-%d %H:%M")
    return text if offset is None else text + (" UTC" if not offset else moment.strftime(" %z"))


def _fig(value: Any) -> str:
    """A figure for a table: formatted, or "—" when null, NaN or not a number."""
    found = real_number(value)
    if found is None:
        return "—"
    return number(int(found) if found.is_integer() and abs(found) < 1e15 else found)


def _at(record: Any, path: str) -> Any:
    """The value at a dotted path through nested mappings; None where any step is missing."""
    for step in path.split("."):
        if not isinstance(record, Mapping):
            return None
        record = record.get(step)
    return record


def _mapping(value: Any) -> Record:
    return value if isinstance(value, Mapping) else {}


def _records(value: Any) -> list[Record]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _said(value: Any, yes: str = "yes", no: str = "no", unknown: str = "—") -> str:
    return yes if value is True else no if value is False else unknown


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
