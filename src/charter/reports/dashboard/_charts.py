"""The dashboard's own chart: the newest training run's candidates against the baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

from charter.registry import ModelVersion
from charter.reports._charts import Chart, interval_chart
from charter.reports._model_card import _metric_label
from charter.spec import Charter

__all__ = ["leaderboard_chart", "metric_unit"]


def metric_unit(metric: str | None) -> str:
    """The business metric as people say it, e.g. "net value per row"."""
    return _metric_label(metric or "value")


def leaderboard_chart(versions: Sequence[ModelVersion], charter: Charter) -> Chart | None:
    """Test value with 95% interval of each version of the newest run; the baseline as a line."""
    if not versions:
        return None
    run = versions[-1].run
    latest = [v for v in versions if v.run == run]
    names, points, intervals = [], [], []
    highlight = None
    baseline: float | None = None
    for version in latest:
        test = version.record.get("test") or {}
        value = _real(test.get("value"))
        if value is None:
            continue
        ci = test.get("value_ci") or [value, value]
        low, high = _real(ci[0]) if len(ci) > 0 else None, _real(ci[1]) if len(ci) > 1 else None
        name = f"{version.label} {version.candidate}"
        names.append(name)
        points.append(value)
        intervals.append((low if low is not None else value, high if high is not None else value))
        if version.selected:
            highlight = name
        if version.kind == "baseline" or version.candidate == version.record.get("baseline"):
            baseline = value
    if not names:
        return None
    return interval_chart(
        names,
        points,
        intervals,
        unit=metric_unit(latest[-1].record.get("metric") or charter.success.metric),
        highlight=highlight,
        reference=("baseline", baseline) if baseline is not None else None,
    )


def _real(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
