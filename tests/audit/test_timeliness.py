"""Timeliness checks: span, staleness, future dates, gaps and rows per period."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from charter.audit import Finding, Severity
from charter.audit._timeliness import check_timeliness, granularity_of, missing_periods
from conftest import dataset_from_csv, make_context

START = date(2023, 1, 1)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def daily_table(days: list[date], seed: int = 0, per_day: int = 40) -> pa.Table:
    """Rows spread over the given days (Poisson counts, at least one per day)."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(rng.poisson(per_day, len(days)), 1)
    dates = [d for d, c in zip(days, counts, strict=True) for _ in range(c)]
    return pa.table({"day": pa.array(dates, pa.date32()), "y": rng.random(len(dates))})


def timeliness(table: pa.Table, now: datetime, time: str = "day") -> dict[str, Finding]:
    context = make_context(table, task="regression", time=time, now=now)
    findings = check_timeliness(context)
    for finding in findings:
        document = finding.to_dict()
        assert json.loads(json.dumps(document)) == document
    return by_check(findings)


def days(count: int, start: date = START) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]


def test_clean_daily_table_raises_no_alarm() -> None:
    table = daily_table(days(365))
    found = timeliness(table, now=datetime(2024, 1, 3, tzinfo=UTC))
    assert set(found) == {
        "timeliness.span",
        "timeliness.staleness",
        "timeliness.gaps",
        "timeliness.volume_per_period",
    }
    assert all(f.severity == Severity.INFO for f in found.values())
    span = found["timeliness.span"].evidence
    assert span["first"] == "2023-01-01T00:00:00"
    assert span["last"] == "2023-12-31T00:00:00"
    assert span["granularity"] == "day"
    assert span["periods"] == 365
    assert found["timeliness.staleness"].evidence["age_days"] == pytest.approx(3.0)


def test_rows_per_period_match_an_independent_count() -> None:
    table = daily_table(days(120), seed=3)
    found = timeliness(table, now=datetime(2023, 5, 2))
    series = found["timeliness.volume_per_period"].evidence["series"]
    expected = Counter(table["day"].to_pylist())
    assert {date.fromisoformat(p["period"]): p["rows"] for p in series} == expected
    assert found["timeliness.volume_per_period"].evidence["median"] == float(
        np.median(list(expected.values()))
    )


def test_no_time_column_no_findings() -> None:
    table = daily_table(days(30))
    assert check_timeliness(make_context(table, task="regression")) == []


def test_stale_data_is_a_warning() -> None:
    table = daily_table(days(200))
    last = START + timedelta(days=199)
    found = timeliness(table, now=datetime.combine(last, datetime.min.time()) + timedelta(days=150))
    finding = found["timeliness.staleness"]
    assert finding.severity == Severity.WARNING
    assert finding.evidence["age_days"] == pytest.approx(150.0)
    assert finding.evidence["limit_days"] == 90
    assert "150 days" in finding.message


def test_staleness_limit_grows_with_the_period() -> None:
    months = [date(2020 + i // 4, 3 * (i % 4) + 1, 1) for i in range(12)]  # quarterly snapshots
    table = daily_table(months)
    found = timeliness(table, now=datetime(2023, 2, 15))  # 137 days after 2022-10-01
    assert found["timeliness.span"].evidence["granularity"] == "quarter"
    assert found["timeliness.staleness"].severity == Severity.INFO


def test_future_dates_are_reported() -> None:
    table = daily_table(days(100))
    found = timeliness(table, now=datetime(2023, 3, 1))  # the last 41 days are in the future
    finding = found["timeliness.future_dates"]
    assert finding.severity == Severity.WARNING
    expected = sum(1 for d in table["day"].to_pylist() if d > date(2023, 3, 2))
    assert finding.evidence["rows"] == expected


def test_a_run_of_missing_days_is_a_warning() -> None:
    present = [d for d in days(200) if not date(2023, 3, 10) <= d <= date(2023, 3, 14)]
    found = timeliness(daily_table(present), now=datetime(2023, 7, 25))
    finding = found["timeliness.gaps"]
    assert finding.severity == Severity.WARNING
    assert finding.evidence["missing_periods"] == 5
    assert finding.evidence["longest_gap"] == 5
    assert finding.evidence["gaps"] == [{"from": "2023-03-10", "to": "2023-03-14", "periods": 5}]
    assert "2023-03-10 to 2023-03-14" in finding.message


def test_a_lone_missing_day_is_info() -> None:
    present = [d for d in days(365) if d != date(2023, 12, 25)]
    finding = timeliness(daily_table(present), now=datetime(2024, 1, 2))["timeliness.gaps"]
    assert finding.severity == Severity.INFO
    assert finding.evidence["missing_periods"] == 1


def test_business_days_have_no_weekend_gaps() -> None:
    present = [d for d in days(180) if d.weekday() < 5]
    finding = timeliness(daily_table(present), now=datetime(2023, 7, 1))["timeliness.gaps"]
    assert finding.evidence["missing_periods"] == 0
    assert finding.severity == Severity.INFO


def test_drop_in_the_last_complete_month() -> None:
    rng = np.random.default_rng(1)
    stamps: list[datetime] = []
    for month in range(1, 13):
        count = 60 if month == 12 else 300
        first = datetime(2023, month, 1)
        last = datetime(2023, month + 1, 1) if month < 12 else datetime(2024, 1, 1)
        spread = (last - first).total_seconds()
        stamps += [first + timedelta(seconds=float(s)) for s in np.sort(rng.random(count) * spread)]
    stamps[-1] = datetime(2023, 12, 31, 23, 0)  # December is complete
    table = pa.table({"at": pa.array(stamps, pa.timestamp("us")), "y": rng.random(len(stamps))})
    found = timeliness(table, now=datetime(2024, 1, 5), time="at")
    assert found["timeliness.span"].evidence["granularity"] == "day"
    table = table.append_column("month", pa.array([s.strftime("%Y-%m-01") for s in stamps]))
    finding = timeliness(table, now=datetime(2024, 1, 5), time="month")[
        "timeliness.volume_per_period"
    ]
    assert finding.evidence["granularity"] == "month"
    assert finding.severity == Severity.WARNING
    assert finding.evidence["last_complete_rows"] == 60
    assert finding.evidence["median"] == 300
    assert len(finding.evidence["series"]) == 12


def test_partial_last_period_is_left_out() -> None:
    # weekly data with a timestamp per day; the extract stops on the Tuesday of the last week
    stamps = [datetime(2023, 1, 2) + timedelta(hours=6 * i) for i in range(4 * 7 * 10 + 6)]
    table = pa.table({"at": pa.array(stamps, pa.timestamp("us")), "y": np.ones(len(stamps))})
    context = make_context(table, task="regression", time="at", now=datetime(2023, 3, 20))
    finding = by_check(check_timeliness(context))["timeliness.volume_per_period"]
    assert finding.evidence["granularity"] == "day"
    assert finding.evidence["partial_last_period"] is True  # the last day has 2 of its 4 rows
    assert finding.evidence["last_complete_rows"] == 4
    assert finding.severity == Severity.INFO


def test_text_dates_day_first_weekly() -> None:
    fridays = [date(2010, 2, 5) + timedelta(weeks=i) for i in range(60)]
    text = [d.strftime("%d-%m-%Y") for d in fridays for _ in range(3)]
    table = pa.table({"Date": text, "y": np.arange(len(text), dtype=float)})
    found = timeliness(table, now=datetime(2011, 4, 10), time="Date")
    span = found["timeliness.span"].evidence
    assert span["first"] == "2010-02-05T00:00:00"
    assert span["last"] == fridays[-1].isoformat() + "T00:00:00"
    assert span["granularity"] == "week"
    assert found["timeliness.gaps"].evidence["missing_periods"] == 0


def test_whole_years_as_numbers() -> None:
    table = pa.table({"year": np.repeat(np.arange(2000, 2020), 5), "y": np.arange(100.0)})
    found = timeliness(table, now=datetime(2020, 6, 1), time="year")
    assert found["timeliness.span"].evidence["granularity"] == "year"
    assert found["timeliness.span"].evidence["first"] == "2000-01-01T00:00:00"


def test_unreadable_time_column_is_a_warning() -> None:
    table = pa.table({"when": ["soon", "later", "never"] * 10, "y": np.arange(30.0)})
    found = timeliness(table, now=datetime(2024, 1, 1), time="when")
    assert set(found) == {"timeliness.span"}
    assert found["timeliness.span"].severity == Severity.WARNING


@pytest.mark.parametrize(
    ("gap", "granularity"),
    [(0.01, "day"), (1, "day"), (7, "week"), (14, "month"), (31, "month"), (91, "quarter"),
     (365, "year")],
)  # fmt: skip
def test_granularity_of(gap: float, granularity: str) -> None:
    assert granularity_of(gap) == granularity


def test_missing_periods_monthly_across_a_year_end() -> None:
    present = [date(2023, 11, 1), date(2023, 12, 1), date(2024, 2, 1)]
    assert missing_periods(present, "month") == ([date(2024, 1, 1)], 4)


def test_missing_periods_weekly() -> None:
    mondays = [date(2024, 1, 1) + timedelta(weeks=i) for i in range(10) if i not in (3, 4)]
    missing, expected = missing_periods(mondays, "week")
    assert missing == [date(2024, 1, 22), date(2024, 1, 29)]
    assert expected == 10


def test_missing_periods_daily_ignores_days_never_worked() -> None:
    workdays = [d for d in days(70) if d.weekday() < 5 and d != date(2023, 2, 15)]
    missing, expected = missing_periods(workdays, "day")
    assert missing == [date(2023, 2, 15)]
    assert expected == sum(1 for d in days(70) if d.weekday() < 5 and d <= workdays[-1])


def test_walmart_weekly_without_gaps(data_dir) -> None:
    dataset = dataset_from_csv(data_dir / "walmart_weekly_sales.csv")
    context = make_context(
        dataset, target="Weekly_Sales", task="regression", time="Date", now=datetime(2012, 11, 1)
    )
    found = by_check(check_timeliness(context))
    span = found["timeliness.span"].evidence
    assert span["granularity"] == "week"
    assert (span["first"], span["last"]) == ("2010-02-05T00:00:00", "2012-10-26T00:00:00")
    assert span["periods"] == 143
    assert found["timeliness.gaps"].evidence["missing_periods"] == 0
    assert found["timeliness.gaps"].severity == Severity.INFO
    series = found["timeliness.volume_per_period"].evidence["series"]
    assert len(series) == 143 and {p["rows"] for p in series} == {45}  # 45 stores every week
    assert found["timeliness.staleness"].severity == Severity.INFO
    stale = make_context(dataset, target="Weekly_Sales", task="regression", time="Date")
    assert by_check(check_timeliness(stale))["timeliness.staleness"].severity == Severity.WARNING


def test_bike_sharing_daily_without_gaps(data_dir) -> None:
    dataset = dataset_from_csv(data_dir / "bike_sharing_hour.csv")
    context = make_context(
        dataset, target="cnt", task="regression", time="dteday", now=datetime(2013, 1, 2)
    )
    found = by_check(check_timeliness(context))
    assert found["timeliness.span"].evidence["granularity"] == "day"
    assert found["timeliness.span"].evidence["periods"] == 731
    assert found["timeliness.gaps"].evidence["missing_periods"] == 0
    assert all(f.severity == Severity.INFO for f in found.values())
