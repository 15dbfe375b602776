"""The audit on a cluster reaches the single-machine audit's findings on the same data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from charter.audit import AuditResult, Severity
from charter.audit._run import run_audit
from charter.data import open_dataset
from charter.demo import write_demo_project
from charter.errors import DataSourceError, UsageError
from charter.scale import _sources, read_charter_data
from charter.scale._audit import COUNTED_ON_ALL_ROWS, audit_on_cluster, sample_quotas
from charter.spec import Charter, load_charter

NOW = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Charter, Path]:
    """The demo's joined data as three Parquet files, and a charter naming them as its one source."""
    folder = tmp_path_factory.mktemp("demo")
    charter = load_charter(write_demo_project(folder, customers=4000))
    joined = open_dataset(charter, base_dir=folder).to_arrow()
    (folder / "joined").mkdir()
    third = -(-joined.num_rows // 3)
    for index in range(3):
        pq.write_table(
            joined.slice(index * third, third),
            folder / "joined" / f"part{index}.parquet",
            row_group_size=500,
        )
    raw = charter.model_dump()
    raw["data"] |= {"sources": {"churn": "joined/*.parquet"}, "query": None}
    return Charter.model_validate(raw), folder


@pytest.fixture(scope="module")
def single(project: tuple[Charter, Path]) -> AuditResult:
    charter, folder = project
    return run_audit(charter, open_dataset(charter, base_dir=folder), now=NOW)


def _cluster_audit(project, monkeypatch, **options) -> AuditResult:  # type: ignore[no-untyped-def]
    charter, folder = project
    monkeypatch.setattr(_sources, "PARTITION_ROWS", 1000)
    data = read_charter_data(charter, base_dir=folder)
    assert data.partitions >= 6
    return audit_on_cluster(charter, data, now=NOW, **options)


def _keys(result: AuditResult) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (f.check, f.severity.value, f.columns)
        for f in result.findings
        if f.check != "access.cluster"
    ]


def _by_check(result: AuditResult, check: str):  # type: ignore[no-untyped-def]
    (finding,) = [f for f in result.findings if f.check == check]
    return finding


def test_the_cluster_audit_equals_the_single_machine_audit(
    dask_client, project, single, monkeypatch
):  # type: ignore[no-untyped-def]
    steps: list[str] = []
    clustered = _cluster_audit(project, monkeypatch, on_step=steps.append)
    assert _keys(clustered) == _keys(single)
    assert clustered.verdict == single.verdict
    assert clustered.task == single.task
    assert steps[:2] == ["profile", "sample"]
    for check in ("volume.rows", "volume.class_size", "volume.rows_per_feature"):
        assert _by_check(clustered, check).message == _by_check(single, check).message
    ran = _by_check(clustered, "access.cluster")
    assert ran.severity == Severity.INFO
    assert ran.evidence["rows"] == ran.evidence["sample_rows"] == single.profile.rows
    assert ran.evidence["sampled"] is False and ran.evidence["partitions"] >= 6
    assert clustered.to_dict()["rows"] == single.to_dict()["rows"]


def test_a_sampled_audit_still_counts_every_row(dask_client, project, single, monkeypatch):  # type: ignore[no-untyped-def]
    sampled = _cluster_audit(project, monkeypatch, sample_rows=1500, seed=3)
    assert sampled.verdict == single.verdict
    for check in COUNTED_ON_ALL_ROWS:
        ours, theirs = _by_check(sampled, check), _by_check(single, check)
        assert ours.severity == theirs.severity, check
        if check == "access.source":  # which names the source as the charter wrote it
            assert ours.evidence["rows"] == theirs.evidence["rows"] == single.profile.rows
        else:
            assert (ours.message, ours.evidence) == (theirs.message, theirs.evidence), check
    assert sampled.profile.rows == single.profile.rows
    for name, column in single.profile.columns.items():
        assert sampled.profile.columns[name].missing == column.missing, name
    ran = _by_check(sampled, "access.cluster")
    assert ran.evidence["sampled"] is True and ran.evidence["sample_rows"] == 1500
    assert "random sample of 1,500 rows" in ran.message


def test_sample_quotas_draw_exactly_the_sample_reproducibly() -> None:
    rows = [1000, 0, 250, 4000, 10]
    quotas = sample_quotas(rows, 700, seed=5)
    assert sum(quotas) == 700
    assert all(0 <= q <= n for q, n in zip(quotas, rows, strict=True))
    assert quotas == sample_quotas(rows, 700, seed=5)
    assert quotas != sample_quotas(rows, 700, seed=6)
    assert sample_quotas(rows, 10_000, seed=5) == rows  # small data: every row


def test_a_target_the_data_lacks_is_named_before_any_work(dask_client, project, monkeypatch):  # type: ignore[no-untyped-def]
    charter, folder = project
    wrong = Charter.model_validate(charter.model_dump() | {"target": "cancelled"})
    with pytest.raises(DataSourceError, match="target 'cancelled' is not a column"):
        read_charter_data(wrong, base_dir=folder)  # named on reading, before any work
    data = read_charter_data(charter, base_dir=folder)
    with pytest.raises(DataSourceError, match="target 'cancelled' is not a column"):
        audit_on_cluster(wrong, data)
    with pytest.raises(UsageError, match="sample_rows=0"):
        audit_on_cluster(charter, data, sample_rows=0)
