"""The Dataset presents every source the same way to the checks."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from charter.audit._run import run_audit
from charter.data import Dataset
from charter.spec import parse_charter

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_time_zoned_timestamps_are_audited_in_utc():
    n = 2000
    rng = np.random.default_rng(0)
    days = np.datetime64("2026-01-01") + rng.integers(0, 300, n).astype("timedelta64[D]")
    seconds = days.astype("datetime64[s]").astype("int64")
    table = pa.table(
        {
            "id": np.arange(n),
            "when": pa.array(seconds, pa.timestamp("s", tz="Europe/Paris")),
            "closed": pa.array(seconds + 86400 * 10, pa.timestamp("s", tz="UTC")),
            "x": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
        }
    )
    charter = parse_charter(
        "project: p\ntarget: y\ndata: {sources: {a: a.csv}, entity: id, time: when}\n"
    )
    result = run_audit(charter, Dataset.from_arrow(table), now=NOW)
    future = {f.check: f for f in result.findings}["leakage.future_timestamp"]
    assert future.columns == ("closed",)
    assert result.profile.columns["when"].dtype == "TIMESTAMP"
