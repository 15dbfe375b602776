"""The model card: a `TrainResult` and its charter as one self-contained HTML file for the owner."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import escape

from charter import __version__
from charter._atomic import write_text_atomic
from charter.reports._charts import (
    Bar,
    Chart,
    bar_chart,
    calibration_chart,
    interval_chart,
    learning_curve_chart,
    pr_chart,
    roc_chart,
    value_curve_chart,
)
from charter.reports._format import number, percent, real_number, signed
from charter.reports._templates import environment
from charter.spec import Charter

if TYPE_CHECKING:
    from charter.modeling._result import CandidateResult, TrainResult

__all__ = ["render_model_card", "render_version_cards", "write_model_card"]

_VERSION_SLOT = "\x00charter-version-slot\x00"

TOP_FEATURES = 15
MAX_SEGMENT_CHARTS = 12

_METRICS = {
    "net_value": "net value per row",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "brier": "Brier",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "mape": "MAPE",
}
_COLUMNS = {
    "classification": ("roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall", "f1"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
# Segment metrics: label, and whether the value is a share drawn in percent.
_SEGMENT_METRICS = {
    "decision_rate": ("share of rows flagged (%)", True),
    "positive_rate": ("share of rows flagged (%)", True),
    "recall": ("share of actual positives caught (%)", True),
    "outcome_rate": ("share actually positive (%)", True),
    "mean_score": ("mean predicted chance (%)", True),
    "mae": ("mean absolute error (target units)", False),
}


@dataclass(frozen=True)
class _Row:
    name: str
    kind: str
    selected: bool
    baseline: bool
    cv: str
    test: str
    interval: str
    metrics: list[str]
    threshold: str


@dataclass(frozen=True)
class _Figure:
    chart: Chart
    note: str


@dataclass(frozen=True)
class _Example:
    row: str
    score: str
    decision: str
    reasons: list[str]


def render_model_card(result: TrainResult, charter: Charter) -> str:
    """Render the model card of a training run as a self-contained HTML document.

    It states the decision the model supports, the data, how it was validated, every candidate
    against the baseline with intervals, the diagnostics drawn as charts, example explanations,
    and the limits. Everything is inline (CSS, SVG), so it opens offline and can be mailed.

    Example:
        >>> html = render_model_card(trained.result, charter)  # doctest: +SKIP
    """
    return environment().get_template("model_card.html.j2").render(**_context(result, charter))


def render_version_cards(result: TrainResult, charter: Charter) -> dict[str, str]:
    """The model card of each candidate of a run, naming the candidate it belongs to.

    The run's evidence (charts, explanations) is drawn once, for the chosen candidate; each
    candidate's card adds which candidate it is and where its own figures are.
    """
    page = (
        environment()
        .get_template("model_card.html.j2")
        .render(**_context(result, charter), version_slot=_VERSION_SLOT)
    )
    cards = {}
    for candidate in result.candidates:
        if candidate.name == result.selected:
            note = f"{candidate.name}, the run's chosen candidate: the evidence below is its own."
        else:
            note = (
                f"{candidate.name}, a candidate the run did not choose: its figures are in the "
                f"results table; the charts and explanations below describe {result.selected}."
            )
        cards[candidate.name] = page.replace(_VERSION_SLOT, escape(note))
    return cards


def write_model_card(result: TrainResult, charter: Charter, path: str | os.PathLike[str]) -> Path:
    """Write the model card of `result` to `path` (folders created) and return the path."""
    return write_text_atomic(path, render_model_card(result, charter))


def _context(result: TrainResult, charter: Charter) -> dict[str, Any]:
    diagnostics = result.diagnostics if isinstance(result.diagnostics, Mapping) else {}
    unit = _metric_label(result.metric)
    positive = result.positive_class or _text(charter.positive_class)
    selected = next((c for c in result.candidates if c.name == result.selected), None)
    baseline = next((c for c in result.candidates if c.name == result.baseline), None)
    segments, gap = _segments(diagnostics, charter)
    fairness = _fairness(gap)
    return {
        "result": result,
        "charter": charter,
        "version": __version__,
        "unit": unit,
        "positive": positive,
        "trained": result.started.strftime("%Y-%m-%d %H:%M")
        + (" UTC" if result.started.utcoffset() is not None else ""),
        "duration": f"{result.seconds:.1f} s"
        if result.seconds < 60
        else f"{round(result.seconds) // 60} min {round(result.seconds) % 60} s",
        "outcomes": _outcomes(charter, positive),
        "rows": {
            "train": number(result.rows_train),
            "test": number(result.rows_test),
            "total": number(result.rows_train + result.rows_test),
        },
        "holdout": {k: _text(v) for k, v in result.holdout.items()},
        "holdout_share": percent(real_number(result.holdout.get("share"))),
        "validation": {k: _text(v) for k, v in result.validation.items()},
        "headers": [_metric_label(m) for m in _COLUMNS.get(result.task, ())],
        "leaderboard": [_row(c, result) for c in result.candidates],
        "comparison": _comparison(result, selected, baseline, unit),
        "intervals": _intervals(result, baseline, unit),
        "figures": _figures(result, diagnostics, positive, unit),
        "segments": segments,
        "fairness": fairness,
        "target_share": percent(charter.success.beat_baseline_by),
        "fairness_limit": None
        if charter.constraints.max_fairness_gap is None
        else f"{100 * charter.constraints.max_fairness_gap:.0f} points",
        "threshold": number(selected.threshold)
        if selected and selected.kind != "baseline" and selected.threshold is not None
        else None,
        "examples": _examples(diagnostics, result),
        "limits": _limits(result, diagnostics, fairness),
    }


def _outcomes(charter: Charter, positive: str | None) -> list[tuple[str, str]]:
    values = charter.success.value
    if values is None:
        return []
    it = positive or "positive"
    return [
        (f"Flagged, and it was {it} (true positive)", signed(values.true_positive)),
        (f"Flagged, but it was not {it} (false positive)", signed(values.false_positive)),
        (f"Not flagged, but it was {it} (false negative)", signed(values.false_negative)),
        (f"Not flagged, and it was not {it} (true negative)", signed(values.true_negative)),
    ]


def _row(candidate: CandidateResult, result: TrainResult) -> _Row:
    low, high = candidate.test_value_ci
    metrics = []
    for name in _COLUMNS.get(result.task, ()):
        value = real_number(candidate.test_metrics.get(name))
        if name == "mape":
            metrics.append(percent(value))
        else:
            metrics.append(
                number(value) if name in {"rmse", "mae"} or value is None else f"{value:.3f}"
            )
    return _Row(
        name=candidate.name,
        kind=candidate.kind,
        selected=candidate.name == result.selected,
        baseline=candidate.name == result.baseline,
        cv=f"{number(candidate.cv_mean)} ± {number(candidate.cv_se)}",
        test=number(candidate.test_value),
        interval=f"{number(low)} to {number(high)}",
        metrics=metrics,
        threshold=number(candidate.threshold),
    )


def _comparison(
    result: TrainResult,
    selected: CandidateResult | None,
    baseline: CandidateResult | None,
    unit: str,
) -> dict[str, Any]:
    """The gain over the baseline in words, and each condition of "beats the baseline"."""
    if baseline is None:
        return {
            "text": "No baseline was trained, so there is nothing to compare against.",
            "checks": [],
        }
    if selected is None or selected.name == baseline.name:
        return {
            "text": f"The baseline ({baseline.name}) was selected: no model is better than it "
            "by more than the noise of cross-validation.",
            "checks": [],
        }
    low, high = result.gain_ci
    relative = f" ({result.gain / abs(baseline.test_value):+.0%})" if baseline.test_value else ""
    text = (
        f"On the test set, {selected.name} gives {number(selected.test_value)} {unit} against "
        f"{number(baseline.test_value)} for the baseline ({baseline.name}): a gain of "
        f"{signed(result.gain)}{relative}, 95% interval {signed(low)} to {signed(high)}."
    )
    checks = [("the gain is more than chance: its 95% interval lies above zero", low > 0)]
    required = _required_gain(result, baseline)
    if result.target_gain is not None and required is not None:
        checks.append(
            (
                f"the charter's target: beat the baseline by {percent(result.target_gain)}, "
                f"a gain of at least {signed(required)}",
                result.gain >= required,
            )
        )
    return {"text": text, "checks": checks}


def _required_gain(result: TrainResult, baseline: CandidateResult) -> float | None:
    if result.target_gain is None or not math.isfinite(baseline.test_value):
        return None
    return result.target_gain * abs(baseline.test_value)


def _intervals(result: TrainResult, baseline: CandidateResult | None, unit: str) -> Chart | None:
    reference = target = None
    if baseline is not None:
        reference = (f"baseline ({baseline.name})", baseline.test_value)
        required = _required_gain(result, baseline)
        if required is not None:
            target = ("charter target", baseline.test_value + required)
    return interval_chart(
        [c.name for c in result.candidates],
        [c.test_value for c in result.candidates],
        [c.test_value_ci for c in result.candidates],
        unit=unit,
        highlight=result.selected,
        reference=reference,
        target=target,
    )


def _figures(
    result: TrainResult, diagnostics: Mapping[str, Any], positive: str | None, unit: str
) -> list[_Figure]:
    """The diagnostics' charts, each with a line on how to read it; absent parts are skipped."""
    selected = next((c for c in result.candidates if c.name == result.selected), None)
    tested = selected.test_metrics if selected else {}
    it = f"{result.target} = {positive}" if positive else result.target
    found: list[tuple[Chart | None, str]] = []
    curve = _mapping(diagnostics, "value_curve")
    if curve:
        found.append(
            (
                value_curve_chart(
                    *_pair(curve.get("thresholds"), curve.get("values")),
                    chosen=real_number(curve.get("threshold")),
                    unit=unit,
                ),
                "Each point is the value per row if the decision were taken for every row whose "
                "score reaches that threshold, measured on predictions for rows the model had not "
                "seen. The dashed line marks the threshold the model uses.",
            )
        )
    roc, pr = _mapping(diagnostics, "roc"), _mapping(diagnostics, "pr")
    if roc:
        auc = real_number(roc.get("auc"))
        found.append(
            (
                roc_chart(
                    *_pair(roc.get("fpr"), roc.get("tpr")),
                    auc=auc if auc is not None else real_number(tested.get("roc_auc")),
                ),
                f"How well the scores separate {it} from the rest: the closer the curve runs to "
                "the top left corner, the better; the diagonal is guessing.",
            )
        )
    if pr:
        ap = real_number(pr.get("ap"))
        found.append(
            (
                pr_chart(
                    *_pair(pr.get("recall"), pr.get("precision")),
                    ap=ap if ap is not None else real_number(tested.get("pr_auc")),
                    prevalence=real_number(pr.get("prevalence")) or _prevalence(diagnostics),
                ),
                f"Of the rows flagged, the share that really is {it} (precision), against the "
                f"share of all {it} rows that get flagged (recall).",
            )
        )
    calibration = _mapping(diagnostics, "calibration")
    if calibration:
        points = [p for p in map(_bin, _records(calibration.get("bins"))) if p is not None]
        found.append(
            (
                calibration_chart(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    [p[2] for p in points],
                    ece=real_number(calibration.get("ece")),
                    method=_text(calibration.get("method")),
                ),
                _text(calibration.get("message"))
                or "When the model says 30%, about 30% of those rows should turn out positive: "
                "points on the diagonal are well calibrated.",
            )
        )
    found.append(_learning(diagnostics))
    found += _importance(diagnostics, result.task, unit)
    return [_Figure(chart, note) for chart, note in found if chart is not None]


def _prevalence(diagnostics: Mapping[str, Any]) -> float | None:
    """The test set's share of positives, read from the calibration bins (the same rows)."""
    calibration = _mapping(diagnostics, "calibration")
    bins = [p for p in map(_bin, _records(calibration.get("bins")))] if calibration else []
    rows = sum(b[2] for b in bins if b is not None)
    return sum(b[1] * b[2] for b in bins if b is not None) / rows if rows else None


def _learning(diagnostics: Mapping[str, Any]) -> tuple[Chart | None, str]:
    curve = _mapping(diagnostics, "learning_curve")
    if not curve:
        return None, ""
    points = [
        (r, s, real_number(p.get("std")) or 0.0)
        for p in _records(curve.get("points"))
        if (r := real_number(p.get("rows"))) is not None
        and (s := real_number(p.get("score"))) is not None
    ]
    chart = learning_curve_chart(
        [p[0] for p in points],
        [p[1] for p in points],
        [p[2] for p in points],
        metric=_metric_label(_text(curve.get("metric")) or "score"),
    )
    return chart, (
        "The validation score as the model gets more training rows. Still rising at the right "
        "means more data would likely help; flat means more data alone will not."
    )


def _importance(
    diagnostics: Mapping[str, Any], task: str, unit: str
) -> list[tuple[Chart | None, str]]:
    importance = _mapping(diagnostics, "importance")
    if not importance:
        return []
    found: list[tuple[Chart | None, str]] = []
    permutation = _mapping(importance, "permutation")
    if permutation:
        bars = []
        for name, pair in permutation.items():
            values = (
                _floats(pair) if isinstance(pair, Sequence) else [real_number(pair) or math.nan]
            )
            if values and math.isfinite(values[0]):
                spread = values[1] if len(values) > 1 and math.isfinite(values[1]) else 0.0
                bars.append(Bar(str(name), values[0], spread))
        bars.sort(key=lambda b: -b.value)
        found.append(
            (
                bar_chart(
                    bars[:TOP_FEATURES],
                    title=f"What the model relies on (top {min(len(bars), TOP_FEATURES)})",
                    unit=f"drop in {unit} when the feature is shuffled",
                    key="permutation",
                ),
                "How much the value falls when one feature's values are shuffled on the test rows "
                "(± one standard deviation over repeats): the features the model cannot do "
                "without. A feature near zero adds little.",
            )
        )
    contributions = _mapping(importance, "contributions")
    if contributions:
        bars = [
            Bar(str(name), value)
            for name, raw in contributions.items()
            if (value := real_number(raw)) is not None
        ]
        bars.sort(key=lambda b: -b.value)
        scale = "log-odds" if task == "classification" else "target units"
        found.append(
            (
                bar_chart(
                    bars[:TOP_FEATURES],
                    title=f"Average push on a prediction (top {min(len(bars), TOP_FEATURES)})",
                    unit=f"mean absolute contribution ({scale})",
                    key="contributions",
                ),
                "How far each feature moves a single prediction on average, up or down "
                "(SHAP values for trees, exact contributions for linear models).",
            )
        )
    return found


def _segments(
    diagnostics: Mapping[str, Any], charter: Charter
) -> tuple[list[_Figure], dict[str, Any] | None]:
    """Segment charts and the fairness gap.

    Reads both shapes: one record per column with its `groups` (as the diagnostics write them),
    or one flat record per group and metric. Without an explicit `fairness` entry, the largest
    gap over the sensitive columns stands for it.
    """
    bars: dict[tuple[str, str], list[Bar]] = {}
    notes: dict[tuple[str, str], str] = {}
    sensitive: list[Mapping[str, Any]] = []
    for record in _records(diagnostics.get("segments")):
        column = _text(record.get("column")) or "?"
        if "groups" in record:
            groups = _records(record.get("groups"))
            metric = _text(record.get("gap_metric")) or next(
                (
                    m
                    for m in _SEGMENT_METRICS
                    if any(real_number(g.get(m)) is not None for g in groups)
                ),
                "",
            )
            bars[column, metric] = [
                Bar(_text(g.get("value", g.get("group"))) or "(missing)", v, 0.0, _note(g, metric))
                for g in groups
                if (v := real_number(g.get(metric))) is not None
            ]
            notes[column, metric] = _text(record.get("message")) or ""
            if record.get("sensitive") and real_number(record.get("gap")) is not None:
                sensitive.append(record)
        elif (value := real_number(record.get("value"))) is not None:
            key = (column, _text(record.get("metric")) or "value")
            label = _text(record.get("group")) or "(missing)"
            bars.setdefault(key, []).append(Bar(label, value, 0.0, _note(record, "")))
    figures = []
    for i, ((column, metric), drawn) in enumerate(list(bars.items())[:MAX_SEGMENT_CHARTS]):
        label, share = _SEGMENT_METRICS.get(metric, (_metric_label(metric), False))
        share = share or (metric in _METRICS and all(0 <= b.value <= 1 for b in drawn))
        title = f"{label.split(' (')[0].capitalize()} by {column}"
        chart = bar_chart(drawn, title=title, unit=label, key=f"segment-{i}", percent_scale=share)
        if chart is not None:
            figures.append(_Figure(chart, notes.get((column, metric), "")))
    fairness = _mapping(diagnostics, "fairness")
    if fairness is None and sensitive:
        worst = max(sensitive, key=lambda r: real_number(r.get("gap")) or 0.0)
        fairness = {
            "gap": real_number(worst.get("gap")),
            "limit": charter.constraints.max_fairness_gap,
            "column": worst.get("column"),
            "metric": worst.get("gap_metric"),
            "ok": not worst.get("exceeds"),
        }
    return figures, dict(fairness) if fairness else None


def _fairness(fairness: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Whether the gap is within the charter's limit, and the gap in words."""
    gap, limit = (
        (real_number(fairness.get(k)) for k in ("gap", "limit")) if fairness else (None, None)
    )
    if not fairness or gap is None:
        return None
    metric = _text(fairness.get("metric"))
    column = _text(fairness.get("column"))
    among = f" between groups of {column}" if column else " between groups"
    if metric == "mae":
        text = f"the typical error (MAE) differs by {gap:.0%} of the overall MAE{among}"
        allowed = f"{limit:.0%}" if limit is not None else ""
    else:
        points = f"{100 * gap:.1f} points"
        if metric:
            label = _SEGMENT_METRICS.get(metric, (metric.replace("_", " "), True))[0]
            text = f"the {label.split(' (')[0]} differs by {points}{among}"
        else:
            text = f"the model's rates differ by {points}{among}"
        allowed = f"{100 * limit:.0f} points" if limit is not None else ""
    if allowed:
        text += f"; the charter's max_fairness_gap allows {allowed}"
    return {"ok": fairness.get("ok") is not False, "text": text}


def _note(group: Mapping[str, Any], shown: str) -> str:
    parts = (
        [f"{number(int(rows))} rows"]
        if (rows := real_number(group.get("rows"))) is not None
        else []
    )
    for metric, words in (("decision_rate", "flagged"), ("recall", "caught")):
        value = real_number(group.get(metric))
        if metric != shown and value is not None:
            parts.append(f"{percent(value)} {words}")
    return " · ".join(parts)


def _examples(diagnostics: Mapping[str, Any], result: TrainResult) -> list[_Example]:
    examples = []
    for record in _records(diagnostics.get("reasons")):
        score = real_number(record.get("score"))
        shown = f"prediction {number(score)}"
        if score is not None and result.task == "classification":
            shown = f"predicted chance {percent(score)}"
        reasons = record.get("reasons")
        examples.append(
            _Example(
                row=number(record.get("row")),
                score=shown,
                decision=_text(record.get("decision")) or "",
                reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
            )
        )
    return examples


def _limits(
    result: TrainResult, diagnostics: Mapping[str, Any], fairness: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """Warnings first, then what the reader should know; each text once."""
    found: dict[str, str] = {}
    for warning in result.warnings:
        found.setdefault(str(warning), "warning")
    leak = _text(diagnostics.get("leakage"))
    if leak:
        found.setdefault(leak, "warning")
    said = any("fairness" in text for text in found)  # the segment check already warned
    if fairness and not fairness["ok"] and not said:
        found.setdefault(f"Fairness: {fairness['text']}.", "warning")
    fit = _mapping(diagnostics, "fit")
    message = _text(fit.get("message")) if fit else None
    if message:
        found.setdefault(message, "warning" if message.lower().startswith("overfit") else "info")
    found.setdefault(
        f"The figures were measured on {number(result.rows_test)} held-out test rows "
        f"({_text(result.holdout.get('scheme')) or 'holdout'}). They hold for data like these; "
        "check them again when the population, the product or the decision changes.",
        "info",
    )
    if result.dropped:
        found.setdefault(
            f"{len(result.dropped)} column(s) were left out of the features; see Data.", "info"
        )
    return sorted(found.items(), key=lambda item: item[1] != "warning")


def _metric_label(metric: str) -> str:
    base = metric.removeprefix("neg_")
    label = _METRICS.get(base, base.replace("_", " "))
    return label if base == metric else f"−{label} (negated: higher is better)"


def _bin(record: Mapping[str, Any]) -> tuple[float, float, int] | None:
    score, rate, rows = (real_number(record.get(k)) for k in ("score", "rate", "rows"))
    if score is None or rate is None or rows is None or rows <= 0:
        return None
    return score, rate, int(rows)


def _mapping(container: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = container.get(key)
    return value if isinstance(value, Mapping) and value else None


def _records(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _floats(value: Any) -> list[float]:
    """Numbers from a list (NaN where a number is missing); [] for any other shape."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [math.nan if (v := real_number(item)) is None else v for item in value]


def _pair(xs: Any, ys: Any) -> tuple[list[float], list[float]]:
    """Two lists of numbers of one length, or two empty lists."""
    first, second = _floats(xs), _floats(ys)
    return (first, second) if len(first) == len(second) else ([], [])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
