"""`charter monitor --current` on a cluster: the report `monitor(project, current=file)` gives.

A demo project is trained and promoted once for the module, with alerts written to a JSON file.
Streams of new customers (`demo_stream`, a few rows spoiled so that some are refused) are written
as Parquet in row groups of 250 rows and read on the cluster in eight partitions. The report of
the cluster run must equal the single-machine report of the same file: counts, verdicts, quality
shares, p-values, performance and alerts exactly; floating-point figures to a relative 1e-9,
since the drift counts' per-bin sums are added partition by partition rather than in one pass
(the Wasserstein distances built from them move in the 15th digit).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.demo import demo_stream
from charter.monitoring._monitor import latest_report_path, monitor
from charter.scale import read_location
from charter.scale._monitor import monitor_on_cluster

ROWS_PER_PART = 250  # the partition size of the conftest's `project`
ALERTS = "alerts.json"  # where the conftest's trained project writes its alerts


def _stream(path: Path, *, shifted: bool, seed: int, target: bool) -> Path:
    """2,000 new customers as Parquet; a few break the contract (charges out of range, a
    missing contract type)."""
    table = demo_stream(2_000, shifted=shifted, seed=seed, first_id=700_001)
    charges = table.column("monthly_charges").to_pylist()
    contracts = table.column("contract").to_pylist()
    for row in range(3, 2_000, 211):
        charges[row] = 99_999.0
        contracts[row + 1] = None
    table = table.set_column(
        table.schema.get_field_index("monthly_charges"), "monthly_charges", pa.array(charges)
    )
    table = table.set_column(
        table.schema.get_field_index("contract"), "contract", pa.array(contracts, pa.string())
    )
    if not target:
        table = table.drop_columns(["churned"])
    pq.write_table(table, path, row_group_size=ROWS_PER_PART)
    return path


def _same(single: Any, cluster: Any, where: str = "report") -> None:
    """Equal, floats to a relative 1e-9 (NaN equal to NaN)."""
    if isinstance(single, dict):
        assert list(single) == list(cluster), where
        for key in single:
            _same(single[key], cluster[key], f"{where}.{key}")
    elif isinstance(single, list):
        assert len(single) == len(cluster), where
        for index, (a, b) in enumerate(zip(single, cluster, strict=True)):
            _same(a, b, f"{where}[{index}]")
    elif isinstance(single, float) and isinstance(cluster, float):
        both_nan = math.isnan(single) and math.isnan(cluster)
        assert both_nan or math.isclose(single, cluster, rel_tol=1e-9, abs_tol=1e-12), where
    else:
        assert single == cluster, where


def _document(report: Any) -> dict[str, Any]:
    found: dict[str, Any] = report.to_dict()
    found.pop("generated")
    return found


@pytest.mark.parametrize(
    ("shifted", "target"), [(True, True), (False, False)], ids=["shifted-with-outcomes", "stable"]
)
def test_cluster_report_equals_the_single_machine_report(
    dask_client, project, tmp_path, shifted, target
):
    path = _stream(tmp_path / "current.parquet", shifted=shifted, seed=61, target=target)
    single = monitor(project, current=path, send=False)
    data = read_location(str(path), base_dir=tmp_path)
    assert data.partitions == 8
    cluster = monitor_on_cluster(project, data, source=str(path), send=False)
    _same(_document(single), _document(cluster))

    (window,) = cluster.windows
    assert window.label == "current.parquet" and cluster.source == str(path)
    assert window.refused > 0 and window.predictions + window.refused == 2_000
    assert {"monthly_charges", "contract"} <= set(window.quality["refused_fields"])
    assert window.drift is not None and window.estimate is not None
    kinds = {alert.kind for alert in cluster.alerts}
    if shifted:  # the market moved: both paths raise the drift alert, and judge the outcomes
        assert window.drift.drifted and "drift" in kinds
        assert window.performance is not None and window.performance.labelled == window.predictions
    else:
        assert not window.drift.drifted and "drift" not in kinds
        assert window.performance is None


def test_alerts_are_sent_and_kept_as_on_one_machine(dask_client, project, tmp_path):
    path = _stream(tmp_path / "current.parquet", shifted=True, seed=62, target=True)
    sent = project.folder / ALERTS
    single = monitor(project, current=path)
    by_single = json.loads(sent.read_text(encoding="utf-8"))
    sent.unlink()
    data = read_location(str(path), base_dir=tmp_path)
    cluster = monitor_on_cluster(project, data, source=str(path))
    by_cluster = json.loads(sent.read_text(encoding="utf-8"))
    assert [d.sink for d in cluster.deliveries] == [d.sink for d in single.deliveries]
    assert all(d.delivered for d in cluster.deliveries)
    _same(
        {k: v for k, v in by_single.items() if k != "generated"},
        {k: v for k, v in by_cluster.items() if k != "generated"},
    )
    assert "drift" in {alert["kind"] for alert in by_cluster["alerts"]}
    # A dataset run is not the newest run of the prediction log, on either path.
    assert not latest_report_path(project).exists()
