"""Timeliness: how far back the data goes, how fresh it is, and whether any period is missing.

Only runs when the charter names `data.time`. Everything is SQL over the `dataset` view; the
per-period table it returns is small (one row per day, week, month, quarter or year).

Thresholds (documented constants):
- the newest record is stale when older than `STALE_AFTER_DAYS` (90 days) or two periods,
  whichever is longer (quarterly data is not stale after 90 days);
- gaps are a warning when at least `GAP_WARNING_SHARE` (1%) of the expected periods are missing
  or two consecutive periods are missing; a lone missing period (a holiday) is info;
- the last complete period is a drop when it has fewer than `DROP_RATIO` (half) the median rows.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from charter.audit._context import AuditContext
from charter.audit._findings import Finding, Severity
from charter.data import DATASET, quote_identifier

__all__ = [
    "DROP_RATIO",
    "GAP_WARNING_SHARE",
    "STALE_AFTER_DAYS",
    "Granularity",
    "check_timeliness",
    "granularity_of",
    "missing_periods",
    "timestamp_expression",
]

STALE_AFTER_DAYS = 90
GAP_WARNING_SHARE = 0.01
DROP_RATIO = 0.5
_PARSE_SHARE = 0.9  # share of text values that must parse for a column to count as dates
_DETECT_ROWS = 10_000
_TEXT_FORMATS = (
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d-%m-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d %b %Y",
    "%b %d %Y",
    "%d-%b-%Y",
)

_DATE_LIKE = re.compile(
    r"\s*(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{8}\b|\d{1,2}[ -][A-Za-z]{3}|[A-Za-z]{3} \d{1,2})"
)  # a cheap test on a column's most frequent values before trying to parse it as dates

Granularity = Literal["day", "week", "month", "quarter", "year"]
_PERIOD_DAYS: dict[Granularity, float] = {
    "day": 1,
    "week": 7,
    "month": 30.4,
    "quarter": 91.3,
    "year": 365.25,
}


def timestamp_expression(
    ctx: AuditContext, column: str, *, allow_numeric: bool = False
) -> str | None:
    """SQL reading `column` as TIMESTAMP, or None when it does not hold dates.

    Date and timestamp columns are cast; text is parsed with the format most of its values
    follow (ISO, day-first or month-first); with `allow_numeric`, whole years (2015) and
    yyyymmdd numbers are read too.
    """
    return ctx.shared(
        f"charter.audit.timestamp:{column}:{allow_numeric}",
        lambda: _timestamp_expression(ctx, column, allow_numeric=allow_numeric),
    )


def _timestamp_expression(ctx: AuditContext, column: str, *, allow_numeric: bool) -> str | None:
    dtype = ctx.dataset.columns.get(column)
    profile = ctx.profile.columns.get(column)
    if dtype is None or profile is None:
        return None
    q = quote_identifier(column)
    upper = dtype.upper()
    if upper.startswith(("DATE", "TIMESTAMP")):
        return f"CAST({q} AS TIMESTAMP)"
    if profile.kind == "categorical":
        looks_like_dates = any(_DATE_LIKE.match(str(v)) for v, _ in profile.top_values[:5])
        return _text_expression(ctx, q) if looks_like_dates else None
    if allow_numeric and profile.kind == "numeric" and profile.minimum is not None:
        low, high = float(profile.minimum), float(profile.maximum)
        whole = f"CAST({q} AS BIGINT)"
        if low >= 1800 and high <= 2200:
            return f"make_timestamp({whole}, 1, 1, 0, 0, 0)"
        if low >= 18000101 and high <= 22001231:
            return f"try_strptime(CAST({whole} AS VARCHAR), '%Y%m%d')"
    return None


def _text_expression(ctx: AuditContext, q: str) -> str | None:
    text = f"trim(CAST({q} AS VARCHAR))"
    candidates = [f"TRY_CAST({text} AS TIMESTAMP)"]
    candidates += [f"try_strptime({text}, '{fmt}')" for fmt in _TEXT_FORMATS]
    counts = ", ".join(f"count({c})" for c in candidates)
    row = ctx.dataset.sql(
        f"SELECT count(*), {counts} FROM "
        f"(SELECT {q} FROM {DATASET} WHERE {q} IS NOT NULL LIMIT {_DETECT_ROWS})"
    )[0]
    total, parsed = int(row[0]), [int(n) for n in row[1:]]
    if total == 0:
        return None
    best = max(range(len(parsed)), key=lambda i: (parsed[i], -i))
    return candidates[best] if parsed[best] >= _PARSE_SHARE * total else None


def granularity_of(median_gap_days: float) -> Granularity:
    """The natural period of data whose distinct timestamps are this far apart (median)."""
    if median_gap_days <= 1.5:
        return "day"
    if median_gap_days <= 10:
        return "week"
    if median_gap_days <= 45:
        return "month"
    if median_gap_days <= 135:
        return "quarter"
    return "year"


def _next(period: date, granularity: Granularity) -> date:
    if granularity in ("day", "week"):
        return period + timedelta(days=1 if granularity == "day" else 7)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity]
    index = period.year * 12 + period.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def missing_periods(present: list[date], granularity: Granularity) -> tuple[list[date], int]:
    """Periods between the first and last present one that have no rows, and how many were expected.

    `present` holds period starts (as date_trunc gives them). For daily data, weekdays that
    almost never have rows (a business-day table's weekends) are not expected.
    """
    if not present:
        return [], 0
    have = set(present)
    active = set(range(7))
    if granularity == "day" and len(have) >= 28:
        per_weekday = [sum(1 for d in have if d.weekday() == w) for w in range(7)]
        active = {w for w in range(7) if per_weekday[w] >= 0.1 * max(per_weekday)}
    missing, expected, period, last = [], 0, min(have), max(have)
    while period <= last:
        if period.weekday() in active or granularity != "day":
            expected += 1
            if period not in have:
                missing.append(period)
        period = _next(period, granularity)
    return missing, expected


@dataclass(frozen=True)
class _Span:
    first: datetime
    last: datetime
    rows: int
    dated: int
    future: int


def check_timeliness(ctx: AuditContext) -> list[Finding]:
    """Span, staleness, future dates, gaps and rows per period of the charter's time column.

    Checks: `timeliness.span`, `timeliness.staleness`, `timeliness.future_dates`,
    `timeliness.gaps`, `timeliness.volume_per_period`. Nothing when `data.time` is not set.
    """
    column = ctx.charter.data.time
    if column is None:
        return []
    expression = timestamp_expression(ctx, column, allow_numeric=True)
    if expression is None:
        return [_unreadable(ctx, column)]
    now = _naive_utc(ctx.now)
    span = _span(ctx, expression, now)
    if span is None:
        return [_unreadable(ctx, column)]
    granularity = granularity_of(_median_gap_days(ctx, expression))
    periods = _periods(ctx, expression, granularity)
    findings = [
        _span_finding(column, span, granularity, len(periods)),
        _staleness(column, span, granularity, now),
    ]
    if span.future:
        findings.append(_future(column, span, now))
    findings.append(_gaps(column, [p for p, _, _ in periods], granularity))
    volume = _volume_per_period(column, periods, granularity)
    if volume is not None:
        findings.append(volume)
    return findings


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _span(ctx: AuditContext, expression: str, now: datetime) -> _Span | None:
    row = ctx.dataset.sql(
        f"SELECT min(t), max(t), count(*), count(t), count_if(t > ?) "
        f"FROM (SELECT {expression} AS t FROM {DATASET})",
        [now + timedelta(days=1)],
    )[0]
    if row[0] is None:
        return None
    return _Span(row[0], row[1], int(row[2]), int(row[3]), int(row[4]))


def _median_gap_days(ctx: AuditContext, expression: str) -> float:
    row = ctx.dataset.sql(
        "SELECT median(gap) FROM (SELECT epoch(t) - epoch(lag(t) OVER (ORDER BY t)) AS gap "
        f"FROM (SELECT DISTINCT {expression} AS t FROM {DATASET}) WHERE t IS NOT NULL)"
    )[0]
    return float(row[0]) / 86400 if row[0] is not None else 1.0


def _periods(
    ctx: AuditContext, expression: str, granularity: Granularity
) -> list[tuple[date, int, float]]:
    """(period start, rows, days from period start to its newest record), oldest first."""
    rows = ctx.dataset.sql(
        f"SELECT date_trunc('{granularity}', t) AS p, count(*), "
        f"(epoch(max(t)) - epoch(date_trunc('{granularity}', t))) / 86400 "
        f"FROM (SELECT {expression} AS t FROM {DATASET}) WHERE t IS NOT NULL GROUP BY p ORDER BY p"
    )
    return [(_as_date(p), int(n), float(offset)) for p, n, offset in rows]


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _shown(moment: datetime) -> str:
    return (
        moment.date().isoformat()
        if moment.time() == datetime.min.time()
        else moment.isoformat(" ", "minutes")
    )


def _unreadable(ctx: AuditContext, column: str) -> Finding:
    present = column in ctx.dataset.columns
    problem = "holds no values that can be read as dates" if present else "is not in the data"
    return Finding(
        check="timeliness.span",
        severity=Severity.WARNING,
        columns=(column,),
        message=f"The time column {column!r} named in the charter {problem}, so freshness and gaps "
        "cannot be checked.",
        recommendation="Point data.time at a date or timestamp column (for example the snapshot "
        "date of each row), or store the dates in ISO format (2024-01-31).",
        evidence={"column": column, "dtype": ctx.dataset.columns.get(column)},
    )


def _span_finding(column: str, span: _Span, granularity: Granularity, periods: int) -> Finding:
    days = (span.last - span.first).total_seconds() / 86400
    undated = span.rows - span.dated
    extra = f" {undated:,} rows have no date." if undated else ""
    return Finding(
        check="timeliness.span",
        severity=Severity.INFO,
        columns=(column,),
        message=f"The data covers {_shown(span.first)} to {_shown(span.last)} ({_duration(days)}); "
        f"it comes {_adverb(granularity)}, with rows in {periods:,} {granularity}s.{extra}",
        recommendation="Check that this period is long enough to contain the seasons and events "
        "the model must handle (at least one full year for seasonal business).",
        evidence={
            "first": span.first.isoformat(),
            "last": span.last.isoformat(),
            "days": round(days, 3),
            "granularity": granularity,
            "periods": periods,
            "undated_rows": undated,
        },
    )


def _duration(days: float) -> str:
    if days >= 730:
        return f"{days / 365.25:.1f} years"
    if days >= 60:
        return f"{days / 30.44:.0f} months"
    return f"{days:,.0f} days"


def _period(start: date, granularity: Granularity) -> str:
    """A period as people name it: 2024-03-05, week of 2024-03-04, 2024-03, 2024-Q1, 2024."""
    return {
        "day": start.isoformat(),
        "week": f"week of {start.isoformat()}",
        "month": start.strftime("%Y-%m"),
        "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
        "year": str(start.year),
    }[granularity]


def _adverb(granularity: Granularity) -> str:
    return {
        "day": "daily",
        "week": "weekly",
        "month": "monthly",
        "quarter": "quarterly",
        "year": "yearly",
    }[granularity]


def _staleness(column: str, span: _Span, granularity: Granularity, now: datetime) -> Finding:
    age = (now - span.last).total_seconds() / 86400
    limit = max(STALE_AFTER_DAYS, 2 * _PERIOD_DAYS[granularity])
    stale = age > limit
    return Finding(
        check="timeliness.staleness",
        severity=Severity.WARNING if stale else Severity.INFO,
        columns=(column,),
        message=f"The newest record is dated {_shown(span.last)}, {max(age, 0):,.0f} days before "
        f"the audit ({now.date().isoformat()})"
        + (f": older than the {limit:,.0f}-day limit." if stale else "."),
        recommendation="Get a recent extract before modelling: a model trained on old data learns "
        "yesterday's customers and prices."
        if stale
        else "No action needed.",
        evidence={
            "newest": span.last.isoformat(),
            "now": now.isoformat(),
            "age_days": round(age, 3),
            "limit_days": limit,
        },
    )


def _future(column: str, span: _Span, now: datetime) -> Finding:
    return Finding(
        check="timeliness.future_dates",
        severity=Severity.WARNING,
        columns=(column,),
        message=f"{span.future:,} rows of {column!r} are dated after the audit date "
        f"({now.date().isoformat()}), the latest on {_shown(span.last)}.",
        recommendation="Dates in the future are usually typing or time-zone errors, or placeholder "
        "dates such as 2099-12-31; correct or remove them.",
        evidence={"rows": span.future, "latest": span.last.isoformat(), "now": now.isoformat()},
    )


def _gaps(column: str, present: list[date], granularity: Granularity) -> Finding:
    missing, expected = missing_periods(present, granularity)
    runs = _runs(missing, granularity)
    longest = max((n for _, _, n in runs), default=0)
    share = len(missing) / expected if expected else 0.0
    severity = Severity.INFO
    if missing and (share >= GAP_WARNING_SHARE or longest >= 2):
        severity = Severity.WARNING
    if missing:
        shown = ", ".join(
            _period(a, granularity)
            if n == 1
            else f"{_period(a, granularity)} to {_period(b, granularity)}"
            for a, b, n in runs[:5]
        )
        more = f" and {len(runs) - 5} more gaps" if len(runs) > 5 else ""
        message = (
            f"{len(missing):,} of {expected:,} {granularity}s have no rows "
            f"({share:.1%}; longest gap {longest} {granularity}s): {shown}{more}."
        )
        recommendation = (
            "Find out why these periods are empty (an outage, a lost extract, a "
            "closure) and fill them if possible; a model cannot learn what happened "
            "there and time-based checks will be skewed."
        )
    else:
        message = f"Every {granularity} from the first to the last has rows: no gaps."
        recommendation = "No action needed."
    return Finding(
        check="timeliness.gaps",
        severity=severity,
        columns=(column,),
        message=message,
        recommendation=recommendation,
        evidence={
            "granularity": granularity,
            "expected_periods": expected,
            "missing_periods": len(missing),
            "longest_gap": longest,
            "gaps": [
                {"from": a.isoformat(), "to": b.isoformat(), "periods": n} for a, b, n in runs[:50]
            ],
        },
    )


def _runs(missing: list[date], granularity: Granularity) -> list[tuple[date, date, int]]:
    runs: list[tuple[date, date, int]] = []
    for period in missing:
        if runs and _next(runs[-1][1], granularity) == period:
            start, _, n = runs[-1]
            runs[-1] = (start, period, n + 1)
        else:
            runs.append((period, period, 1))
    return runs


def _volume_per_period(
    column: str, periods: list[tuple[date, int, float]], granularity: Granularity
) -> Finding | None:
    if len(periods) < 4:
        return None
    typical = statistics.median(offset for _, _, offset in periods[:-1])
    partial = periods[-1][2] < 0.8 * typical
    complete = periods[:-1] if partial else periods
    median = float(statistics.median(n for _, n, _ in complete))
    last, last_rows, _ = complete[-1]
    drop = last_rows < DROP_RATIO * median
    note = (
        f" The last {granularity} ({_period(periods[-1][0], granularity)}) looks incomplete and "
        "is left out."
        if partial
        else ""
    )
    return Finding(
        check="timeliness.volume_per_period",
        severity=Severity.WARNING if drop else Severity.INFO,
        columns=(column,),
        message=f"Rows per {granularity}: median {median:,.0f}; the last complete {granularity} "
        f"({_period(last, granularity)}) has {last_rows:,}"
        + (f", less than {DROP_RATIO:.0%} of usual." if drop else ".")
        + note,
        recommendation="Check whether the latest extract is complete before training on it: a "
        "sudden drop usually means missing data, not fewer customers."
        if drop
        else "No action needed.",
        evidence={
            "granularity": granularity,
            "series": [{"period": p.isoformat(), "rows": n} for p, n, _ in periods],
            "median": median,
            "last_complete_period": last.isoformat(),
            "last_complete_rows": last_rows,
            "partial_last_period": partial,
            "ratio": round(last_rows / median, 4) if median and math.isfinite(median) else None,
        },
    )
