"""The reports' charts, each drawn from plain numbers into an inline SVG with its alt text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from charter.audit import ColumnProfile
from charter.reports._format import compact, display_value, number, percent, shorten
from charter.reports._svg import INK, MUTED, PALETTE, figure, figure_to_svg

__all__ = [
    "Bar",
    "Chart",
    "GroupRate",
    "bar_chart",
    "calibration_chart",
    "distribution_chart",
    "group_rate_chart",
    "interval_chart",
    "learning_curve_chart",
    "missingness_chart",
    "pr_chart",
    "roc_chart",
    "value_curve_chart",
    "volume_chart",
]

_SMALL = (2.9, 2.0)  # inches: one cell of the distributions grid
_WIDE = 5.8
_TOP_VALUES = 8
_LABEL_CHARS = 22
_CHAR_INCHES = 0.062  # mean width of a tick-label character at 8 pt


@dataclass(frozen=True)
class Chart:
    """A drawn chart: `svg` is markup ready to inline; `description` is its alt text."""

    title: str
    description: str
    svg: str


@dataclass(frozen=True)
class GroupRate:
    """One group of a sensitive column: its size and target rate (None when unknown).

    A group that is not `evaluable` has too few rows for its rate to mean much: it is drawn
    greyed out and left out of the overall rate.
    """

    group: str
    rows: int
    rate: float | None
    evaluable: bool = True


def missingness_chart(columns: Sequence[ColumnProfile], *, limit: int = 40) -> Chart | None:
    """Horizontal bars of the share of rows missing per column, largest first.

    Placeholder strings that mean missing ('?', 'N/A', ...) are stacked beside true nulls.
    None when no column misses anything.
    """
    entries = [
        (c.name, c.missing / c.rows, c.placeholders / c.rows)
        for c in columns
        if c.rows and (c.missing or c.placeholders)
    ]
    if not entries:
        return None
    entries.sort(key=lambda e: (-(e[1] + e[2]), e[0]))
    shown, hidden = entries[:limit], len(entries) - limit
    clean = len(columns) - len(entries)
    title = "Missing values per column"
    parts = [f"{name} {percent(nulls + tokens)}" for name, nulls, tokens in shown]
    description = "Share of rows missing per column, largest first: " + ", ".join(parts) + "."
    if hidden > 0:
        description += f" {hidden} more columns with fewer missing values are not drawn."
    if clean:
        description += f" {clean} columns have no missing values."
    labels = [shorten(name, _LABEL_CHARS + 6) for name, _, _ in shown]
    nulls = [100 * n for _, n, _ in shown]
    tokens = [100 * t for _, _, t in shown]
    height = 0.75 + 0.24 * len(shown)
    left = 0.25 + _CHAR_INCHES * max(len(label) for label in labels)
    legend = any(tokens)
    with figure(
        _WIDE, height + 0.25 * legend, left=left, bottom=0.5, right=0.6, top=0.15 + 0.25 * legend
    ) as (fig, ax):
        positions = range(len(shown))
        ax.barh(positions, nulls, height=0.7, color=PALETTE[0], label="empty (null)")
        if legend:
            ax.barh(
                positions,
                tokens,
                left=nulls,
                height=0.7,
                color=PALETTE[1],
                label="placeholder text ('?', 'N/A', ...)",
            )
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, borderaxespad=0.2)
        top = max(n + t for n, t in zip(nulls, tokens, strict=True))
        for y, (n, t) in enumerate(zip(nulls, tokens, strict=True)):
            ax.text(
                n + t + top * 0.01, y, percent((n + t) / 100), va="center", fontsize=7.5, color=INK
            )
        ax.set_yticks(list(positions), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, min(100.0, top * 1.12) or 1.0)
        ax.set_ylim(len(shown) - 0.5, -0.5)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_xlabel("missing (% of rows)")
        ax.tick_params(axis="y", length=0)
        svg = figure_to_svg(fig, key="missing", title=title, description=description)
    return Chart(title, description, svg)


def distribution_chart(column: ColumnProfile, *, key: str) -> Chart | None:
    """A histogram for a numeric column, or bars of the most frequent values for a categorical one.

    None when the profile holds neither (dates, all-missing columns, or approximate top values
    without counts).
    """
    if column.histogram:
        return _histogram(column, key)
    if column.top_values and all(count >= 0 for _, count in column.top_values):
        return _top_values(column, key)
    return None


def _histogram(column: ColumnProfile, key: str) -> Chart:
    bins = column.histogram
    total = sum(count for _, _, count in bins) or 1
    title = column.name
    with figure(*_SMALL, left=0.58, bottom=0.42, right=0.12) as (fig, ax):
        if len(bins) == 1 or bins[0][0] == bins[-1][1]:
            value, count = bins[0][0], sum(c for _, _, c in bins)
            description = f"{column.name} holds one value, {number(value)}, in {count:,} rows."
            span = max(abs(value) * 0.1, 1.0)
            ax.bar([value], [count], width=span / 8, color=PALETTE[0])
            ax.set_xlim(value - span, value + span)
        else:
            edges = [bins[0][0], *(right for _, right, _ in bins)]
            counts = [count for _, _, count in bins]
            ax.stairs(counts, edges, fill=True, color=PALETTE[0])
            fullest = max(bins, key=lambda b: b[2])
            description = (
                f"Histogram of {column.name}: {len(bins)} bins from {number(edges[0])} to "
                f"{number(edges[-1])}; the fullest bin, {number(fullest[0])} to "
                f"{number(fullest[1])}, holds {percent(fullest[2] / total)} of rows."
            )
        _compact_axis(ax, "x")
        _compact_axis(ax, "y")
        ax.set_xlabel(f"{shorten(column.name, 40)} (value)")
        ax.set_ylabel("rows")
        svg = figure_to_svg(fig, key=key, title=title, description=description)
    return Chart(title, description, svg)


def _top_values(column: ColumnProfile, key: str) -> Chart:
    rows = column.rows or 1
    top = list(column.top_values[:_TOP_VALUES])
    other = column.present - sum(count for _, count in top)
    values = [(shorten(display_value(v), _LABEL_CHARS), 100 * count / rows) for v, count in top]
    if other > 0:
        values.append(("(other values)", 100 * other / rows))
    title = column.name
    description = (
        f"Most frequent values of {column.name}: "
        + ", ".join(f"{label} {percent(share / 100)}" for label, share in values)
        + "."
    )
    left = 0.2 + _CHAR_INCHES * max(len(label) for label, _ in values)
    with figure(*_SMALL, left=min(left, 1.4), bottom=0.42, right=0.12) as (fig, ax):
        positions = list(range(len(values)))
        colours = [MUTED if label == "(other values)" else PALETTE[0] for label, _ in values]
        ax.barh(positions, [share for _, share in values], height=0.72, color=colours)
        ax.set_yticks(positions, [label for label, _ in values])
        ax.set_ylim(len(values) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_xlabel("share of rows (%)")
        svg = figure_to_svg(fig, key=key, title=title, description=description)
    return Chart(title, description, svg)


def group_rate_chart(
    column: str, groups: Sequence[GroupRate], *, percent_scale: bool, label: str | None = None
) -> Chart | None:
    """Bars of the target rate per group of a sensitive column, with the overall rate as a line.

    `percent_scale` draws rates in [0, 1] as percentages (classification); otherwise the rate
    is the target's mean (regression). `label` names the x axis. None when no group has a rate.
    """
    rated = [g for g in groups if g.rate is not None and math.isfinite(g.rate)]
    if not rated:
        return None
    scale = 100.0 if percent_scale else 1.0
    unit = label or ("target rate (% of rows)" if percent_scale else "mean of the target")
    counted = [g for g in rated if g.evaluable] or rated
    weight = sum(g.rows for g in counted)
    overall = sum(g.rows * (g.rate or 0.0) for g in counted) / weight if weight else None
    title = f"Target rate by {column}"

    def show(rate: float) -> str:
        return percent(rate) if percent_scale else number(rate)

    description = (
        f"{title}: "
        + ", ".join(
            f"{g.group} {show(g.rate or 0.0)} ({number(g.rows)} rows"
            + ("" if g.evaluable else ", too few to judge")
            + ")"
            for g in rated
        )
        + "."
    )
    unrated = [g.group for g in groups if g not in rated]
    if unrated:
        description += " No rate for: " + ", ".join(unrated) + "."
    labels = [shorten(g.group, _LABEL_CHARS) for g in rated]
    height = 1.0 + 0.3 * len(rated)
    left = 0.25 + _CHAR_INCHES * max(len(text) for text in labels)
    with figure(_WIDE, height, left=left, bottom=0.5, right=1.5, top=0.3) as (fig, ax):
        values = [scale * (g.rate or 0.0) for g in rated]
        positions = list(range(len(rated)))
        colours = [PALETTE[0] if g.evaluable else "#c4cbd6" for g in rated]
        ax.barh(positions, values, height=0.65, color=colours)
        top = max(max(values), 0.0) or 1.0
        for y, g in enumerate(rated):
            note = "" if g.evaluable else " (too few)"
            ax.text(
                max(values[y], 0.0) + top * 0.015,
                y,
                f"{show(g.rate or 0.0)} · {g.rows:,} rows{note}",
                va="center",
                fontsize=7.5,
                color=INK if g.evaluable else MUTED,
                zorder=3,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
        if overall is not None:
            ax.axvline(scale * overall, color=PALETTE[3], linestyle="--", linewidth=1, zorder=1)
            ax.text(
                scale * overall,
                -0.62,
                f"overall {show(overall)}",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color=PALETTE[3],
            )
        ax.set_yticks(positions, labels)
        ax.set_ylim(len(rated) - 0.5, -0.5)
        ax.set_xlim(min(0.0, min(values) * 1.1), top * 1.3)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_xlabel(unit)
        svg = figure_to_svg(fig, key=f"group-{column}", title=title, description=description)
    return Chart(title, description, svg)


def learning_curve_chart(
    rows: Sequence[float], scores: Sequence[float], stds: Sequence[float], *, metric: str
) -> Chart | None:
    """Validation score against training rows, with a band of ± one standard deviation."""
    points = sorted(
        (r, s, d if math.isfinite(d) else 0.0)
        for r, s, d in zip(rows, scores, stds, strict=True)
        if math.isfinite(r) and math.isfinite(s)
    )
    if not points:
        return None
    title = "Learning curve"
    (r0, s0, _), (r1, s1, _) = points[0], points[-1]
    description = (
        f"Validation {metric} against training rows: {number(s0)} with {number(r0)} rows, "
        f"{number(s1)} with {number(r1)} rows."
    )
    with figure(_WIDE, 3.0, left=0.75, bottom=0.5) as (fig, ax):
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.fill_between(
            xs,
            [y - p[2] for y, p in zip(ys, points, strict=True)],
            [y + p[2] for y, p in zip(ys, points, strict=True)],
            color=PALETTE[0],
            alpha=0.18,
            linewidth=0,
            label="± 1 standard deviation",
        )
        ax.plot(xs, ys, marker="o", markersize=4, color=PALETTE[0], label=f"validation {metric}")
        if xs[0] > 0 and xs[-1] / xs[0] >= 20:
            ax.set_xscale("log")
        _compact_axis(ax, "x")
        ax.set_xlabel("training rows")
        ax.set_ylabel(metric)
        ax.grid(axis="y", color="#eaecf0", linewidth=0.8)
        ax.legend(loc="lower right")
        svg = figure_to_svg(fig, key="learning-curve", title=title, description=description)
    return Chart(title, description, svg)


def volume_chart(periods: Sequence[str], rows: Sequence[int]) -> Chart | None:
    """Bars of the number of rows per period (month, week, ...), in time order as given."""
    if not periods:
        return None
    title = "Rows per period"
    low = min(range(len(rows)), key=lambda i: rows[i])
    high = max(range(len(rows)), key=lambda i: rows[i])
    description = (
        f"Rows per period from {periods[0]} to {periods[-1]} ({len(periods)} periods): fewest "
        f"{number(rows[low])} in {periods[low]}, most {number(rows[high])} in {periods[high]}."
    )
    with figure(_WIDE, 2.8, left=0.7, bottom=0.75) as (fig, ax):
        positions = list(range(len(periods)))
        ax.bar(positions, rows, width=0.85 if len(periods) < 120 else 1.0, color=PALETTE[0])
        step = max(1, math.ceil(len(periods) / 10))
        ticks = positions[::step]
        ax.set_xticks(ticks, [shorten(periods[i], 12) for i in ticks], rotation=30, ha="right")
        ax.set_xlim(-0.6, len(periods) - 0.4)
        _compact_axis(ax, "y")
        ax.set_xlabel("period")
        ax.set_ylabel("rows")
        svg = figure_to_svg(fig, key="volume", title=title, description=description)
    return Chart(title, description, svg)


def _compact_axis(ax: Axes, which: str) -> None:
    axis = ax.xaxis if which == "x" else ax.yaxis
    if axis.get_scale() == "linear":
        axis.set_major_locator(MaxNLocator(5))
    else:
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda value, _: compact(value)))


# The model card's charts. Shares (rates, probabilities) are drawn in percent.

_SQUARE = (_WIDE, 4.2)
_CURVE_POINTS = 400


@dataclass(frozen=True)
class Bar:
    """One labelled bar: its value, an optional spread (± one standard deviation), and a note."""

    label: str
    value: float
    spread: float = 0.0
    note: str = ""


def roc_chart(fpr: Sequence[float], tpr: Sequence[float], *, auc: float | None) -> Chart | None:
    """The ROC curve on the test set, with the diagonal of a model that guesses."""
    points = _curve(fpr, tpr)
    if len(points) < 2:
        return None
    xs, ys = [100 * p[0] for p in points], [100 * p[1] for p in points]
    title = "ROC curve (test set)"
    caught = float(np.interp(10.0, xs, ys))
    description = (
        f"ROC curve on the test set{'' if auc is None else f', ROC AUC {number(auc)}'}: flagging "
        f"10% of the actual negatives catches {caught:.0f}% of the actual positives; a model that "
        "guesses would catch 10%."
    )
    label = "model" if auc is None else f"model (ROC AUC {number(auc)})"
    with figure(*_SQUARE, left=0.65, bottom=0.5, top=0.15, right=0.2) as (fig, ax):
        ax.plot([0, 100], [0, 100], color=MUTED, linestyle="--", linewidth=1, label="guessing")
        ax.plot(xs, ys, color=PALETTE[0], linewidth=1.8, label=label)
        _percent_box(ax)
        ax.set_xlabel("false positive rate (% of actual negatives flagged)")
        ax.set_ylabel("true positive rate (% of positives caught)")
        ax.legend(loc="lower right")
        svg = figure_to_svg(fig, key="roc", title=title, description=description)
    return Chart(title, description, svg)


def pr_chart(
    recall: Sequence[float],
    precision: Sequence[float],
    *,
    ap: float | None,
    prevalence: float | None = None,
) -> Chart | None:
    """Precision against recall on the test set; `prevalence` (share of positives) as guessing."""
    points = _curve(recall, precision, falling=True)
    if len(points) < 2:
        return None
    xs, ys = [100 * p[0] for p in points], [100 * p[1] for p in points]
    title = "Precision and recall (test set)"
    at_half = float(np.interp(50.0, xs, ys))
    description = (
        f"Precision against recall on the test set{'' if ap is None else f', PR AUC {number(ap)}'}"
        f": catching half of the actual positives, {at_half:.0f}% of the flagged rows are positive."
    )
    if prevalence is not None:
        description += f" Guessing would give {percent(prevalence)}, the share of positives."
    label = "model" if ap is None else f"model (PR AUC {number(ap)})"
    with figure(*_SQUARE, left=0.65, bottom=0.5, top=0.15, right=0.2) as (fig, ax):
        if prevalence is not None:
            share = 100 * prevalence
            ax.axhline(share, color=MUTED, linestyle="--", linewidth=1, label="guessing")
        ax.plot(xs, ys, color=PALETTE[1], linewidth=1.8, label=label)
        _percent_box(ax)
        ax.set_xlabel("recall (% of positives caught)")
        ax.set_ylabel("precision (% of flagged rows positive)")
        ax.legend(loc="lower left")
        svg = figure_to_svg(fig, key="pr", title=title, description=description)
    return Chart(title, description, svg)


def calibration_chart(
    scores: Sequence[float],
    rates: Sequence[float],
    rows: Sequence[int],
    *,
    ece: float | None,
    method: str | None,
) -> Chart | None:
    """A reliability diagram: the observed rate per bin of predicted probability, and the diagonal.

    Marker areas follow the rows in each bin.
    """
    points = sorted(
        (s, r, n)
        for s, r, n in zip(scores, rates, rows, strict=True)
        if math.isfinite(s) and math.isfinite(r) and n > 0
    )
    if not points:
        return None
    title = "Calibration: predicted chance against what happened"
    worst = max(points, key=lambda p: abs(p[0] - p[1]))
    description = (
        f"Reliability diagram on the test set over {len(points)} bins"
        + ("" if ece is None else f", expected calibration error {number(ece)}")
        + ("" if not method or method == "none" else f", calibrated with {method}")
        + f". The largest miss: rows given {percent(worst[0])} on average turned out positive "
        f"{percent(worst[1])} of the time ({number(worst[2])} rows)."
    )
    largest = max(n for _, _, n in points)
    with figure(*_SQUARE, left=0.65, bottom=0.5, top=0.15, right=0.2) as (fig, ax):
        ax.plot([0, 100], [0, 100], color=MUTED, linestyle="--", linewidth=1, label="perfect")
        xs, ys = [100 * p[0] for p in points], [100 * p[1] for p in points]
        ax.plot(xs, ys, color=PALETTE[0], linewidth=1.2)
        sizes = [12 + 110 * n / largest for _, _, n in points]
        ax.scatter(xs, ys, s=sizes, color=PALETTE[0], zorder=3, label="model (area: rows)")
        _percent_box(ax)
        ax.set_xlabel("predicted chance (% mean score in bin)")
        ax.set_ylabel("observed rate (% positive)")
        ax.legend(loc="upper left")
        svg = figure_to_svg(fig, key="calibration", title=title, description=description)
    return Chart(title, description, svg)


def value_curve_chart(
    thresholds: Sequence[float], values: Sequence[float], *, chosen: float | None, unit: str
) -> Chart | None:
    """Value per row against the decision threshold, with the chosen threshold marked.

    `unit` names the y axis (for example "net value per row").
    """
    points = sorted((t, v) for t, v in zip(thresholds, values, strict=True) if math.isfinite(t + v))
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    best = max(points, key=lambda p: p[1])
    title = "Value against the decision threshold"
    description = (
        f"{unit.capitalize()} on out-of-fold predictions for each decision threshold from "
        f"{number(xs[0])} to {number(xs[-1])}: highest, {number(best[1])}, at {number(best[0])}."
    )
    at = None
    if chosen is not None and math.isfinite(chosen):
        at = float(np.interp(chosen, xs, ys))
        description += f" The chosen threshold {number(chosen)} gives {number(at)}."
    with figure(_WIDE, 3.0, left=0.75, bottom=0.5, top=0.25) as (fig, ax):
        ax.plot(xs, ys, color=PALETTE[0], linewidth=1.8, label=unit)
        if min(ys) < 0 < max(ys):
            ax.axhline(0, color="#98a2b3", linewidth=0.8)
        if chosen is not None and at is not None:
            ax.axvline(chosen, color=PALETTE[3], linestyle="--", linewidth=1)
            ax.plot([chosen], [at], marker="o", markersize=6, color=PALETTE[3], zorder=3)
            left = chosen < (xs[0] + xs[-1]) / 2
            ax.text(
                chosen + (xs[-1] - xs[0]) * (0.012 if left else -0.012),
                0.05,
                f"chosen threshold {number(chosen)}: {number(at)}",
                transform=ax.get_xaxis_transform(),
                fontsize=7.5,
                color=PALETTE[3],
                ha="left" if left else "right",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
        ax.set_xlim(xs[0], xs[-1])
        _compact_axis(ax, "y")
        ax.set_xlabel("decision threshold (act when the score is at least this)")
        ax.set_ylabel(unit)
        ax.grid(axis="y", color="#eaecf0", linewidth=0.8)
        svg = figure_to_svg(fig, key="value-curve", title=title, description=description)
    return Chart(title, description, svg)


def bar_chart(
    bars: Sequence[Bar], *, title: str, unit: str, key: str, percent_scale: bool = False
) -> Chart | None:
    """Horizontal bars in the given order (first on top), each with its value and note written.

    `percent_scale` draws values in [0, 1] as percentages; spreads draw as error bars.
    """
    drawn = [b for b in bars if math.isfinite(b.value)]
    if not drawn:
        return None
    scale = 100.0 if percent_scale else 1.0

    def show(value: float) -> str:
        return percent(value) if percent_scale else compact(value)

    description = (
        f"{title}: "
        + ", ".join(
            f"{b.label} {show(b.value)}"
            + (f" ± {show(b.spread)}" if b.spread else "")
            + (f" ({b.note})" if b.note else "")
            for b in drawn
        )
        + "."
    )
    labels = [shorten(b.label, _LABEL_CHARS + 6) for b in drawn]
    values = [scale * b.value for b in drawn]
    spreads = [scale * b.spread if math.isfinite(b.spread) else 0.0 for b in drawn]
    left = 0.25 + _CHAR_INCHES * max(len(label) for label in labels)
    with figure(_WIDE, 0.85 + 0.26 * len(drawn), left=left, bottom=0.5, right=1.5, top=0.1) as (
        fig,
        ax,
    ):
        positions = list(range(len(drawn)))
        errors = spreads if any(spreads) else None
        colours = [PALETTE[0] if v >= 0 else PALETTE[3] for v in values]
        ax.barh(positions, values, height=0.65, color=colours, xerr=errors, ecolor=INK)
        low = min(0.0, *(v - s for v, s in zip(values, spreads, strict=True)))
        high = max(0.0, *(v + s for v, s in zip(values, spreads, strict=True)))
        span = (high - low) or 1.0
        for y, (b, v, s) in enumerate(zip(drawn, values, spreads, strict=True)):
            ax.text(
                max(v + s, 0.0) + span * 0.015,
                y,
                show(b.value) + (f" · {b.note}" if b.note else ""),
                va="center",
                fontsize=7.5,
                color=INK,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
        if low < 0:
            ax.axvline(0, color="#98a2b3", linewidth=0.8)
        ax.set_yticks(positions, labels)
        ax.set_ylim(len(drawn) - 0.5, -0.5)
        ax.set_xlim(low - span * 0.02 if low < 0 else 0.0, high + span * 0.3)
        ax.tick_params(axis="y", length=0)
        _compact_axis(ax, "x")
        ax.set_xlabel(unit)
        svg = figure_to_svg(fig, key=key, title=title, description=description)
    return Chart(title, description, svg)


def interval_chart(
    names: Sequence[str],
    points: Sequence[float],
    intervals: Sequence[tuple[float, float]],
    *,
    unit: str,
    highlight: str | None = None,
    reference: tuple[str, float] | None = None,
    target: tuple[str, float] | None = None,
) -> Chart | None:
    """Each candidate's test value with its 95% interval; `reference` and `target` as lines."""
    entries = [
        (name, p, lo, hi)
        for name, p, (lo, hi) in zip(names, points, intervals, strict=True)
        if math.isfinite(p)
    ]
    if not entries:
        return None
    title = "Value on the test set, with 95% intervals"
    description = (
        f"{unit.capitalize()} on the test set: "
        + ", ".join(
            f"{n} {number(p)} (95% interval {number(lo)} to {number(hi)})"
            for n, p, lo, hi in entries
        )
        + "."
    )
    marks = [
        (mark, style, colour)
        for mark, style, colour in ((reference, "--", MUTED), (target, ":", PALETTE[2]))
        if mark is not None and math.isfinite(mark[1])
    ]
    for (label, value), _, _ in marks:
        description += f" {label.capitalize()}: {number(value)}."
    labels = [shorten(n, _LABEL_CHARS + 6) for n, _, _, _ in entries]
    left = 0.25 + _CHAR_INCHES * max(len(label) for label in labels)
    height = 0.95 + 0.34 * len(entries) + 0.2 * bool(marks)
    with figure(_WIDE, height, left=left, bottom=0.5, right=0.3, top=0.1 + 0.25 * bool(marks)) as (
        fig,
        ax,
    ):
        for y, (name, p, lo, hi) in enumerate(entries):
            colour = PALETTE[1] if name == highlight else PALETTE[0]
            lo, hi = (lo, hi) if math.isfinite(lo + hi) else (p, p)
            ax.plot([lo, hi], [y, y], color=colour, linewidth=2.2, solid_capstyle="butt")
            ax.plot([p], [y], marker="o", markersize=6, color=colour)
        for (label, value), style, colour in marks:
            ax.axvline(value, color=colour, linestyle=style, linewidth=1.2, label=label)
        ax.set_yticks(list(range(len(entries))), labels)
        ax.set_ylim(len(entries) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        _compact_axis(ax, "x")
        ax.set_xlabel(unit)
        ax.grid(axis="x", color="#eaecf0", linewidth=0.8)
        if marks:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, borderaxespad=0.2)
        svg = figure_to_svg(fig, key="intervals", title=title, description=description)
    return Chart(title, description, svg)


def _curve(
    xs: Sequence[float], ys: Sequence[float], *, falling: bool = False
) -> list[tuple[float, float]]:
    """Finite points sorted along x, thinned to a few hundred.

    Points sharing an x are ordered by y, rising, or falling when `falling` (precision drops
    while recall stands still).
    """
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    points.sort(key=lambda p: (p[0], -p[1] if falling else p[1]))
    if len(points) > _CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(points) - 1, _CURVE_POINTS).round().astype(int))
        points = [points[i] for i in keep]
    return points


def _percent_box(ax: Axes) -> None:
    ax.set_xlim(-1, 101)
    ax.set_ylim(-1, 102)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.grid(color="#eaecf0", linewidth=0.8)
