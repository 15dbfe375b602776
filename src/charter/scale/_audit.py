"""The readiness audit of data spread over a Dask cluster.

The profile and the findings that count rows are computed over every row, on the cluster:
`access.source` (rows of the source), `volume.rows` (rows with a known target),
`volume.class_size` and `bias.class_balance` (rows per class), and `volume.rows_per_feature`
(rows against the features' widths from the full profile). Every other check runs unchanged, on
one machine, on a reproducible random sample of at most `sample_rows` rows drawn on the cluster
(a simple random sample: each partition's share drawn from the multivariate hypergeometric
distribution, then its rows drawn uniformly, both seeded), with the sample's own profile: a
check never mixes counts of all rows with counts of the sample. When the data has at most
`sample_rows` rows the sample is every row, in order, and the findings are the single-machine
audit's. One info finding, `access.cluster`, says how the audit ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from charter.audit import AuditContext, AuditResult, Finding, Severity, profile_dataset, verdict_of
from charter.audit._bias import class_balance, class_order_sql, classes_from_counts
from charter.audit._run import CHECKS
from charter.audit._volume import count_findings
from charter.data import DATASET, Dataset, check_columns, quote_identifier, redact_url
from charter.errors import DataSourceError, UsageError
from charter.scale._profile import ClusterProfile, cluster_profile, partition_dataset
from charter.scale._sources import ClusterData, as_arrow
from charter.scale._tasks import current_client
from charter.spec import Charter, DatabaseSource

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

__all__ = ["COUNTED_ON_ALL_ROWS", "SAMPLE_ROWS", "audit_on_cluster", "sample_quotas"]

SAMPLE_ROWS = 1_000_000
"""Rows drawn for the checks that run on one machine, by default."""

COUNTED_ON_ALL_ROWS = (
    "access.source",
    "volume.rows",
    "volume.class_size",
    "volume.rows_per_feature",
    "bias.class_balance",
)
"""Findings whose counts cover every row; the other checks run on the sample."""

_CLASS_LIMIT = 10_000  # a target with more values than this in a partition is not a set of classes
_FULL_COUNT_GROUPS = ("volume", "representativeness and bias")


@dataclass(frozen=True)
class _Drawn:
    """The sample, and the target's counts over every row."""

    sample: pa.Table
    known: int  # rows with a known target
    classes: list[tuple[Any, int]] | None  # ranked (value, rows); None: too many values to count


def audit_on_cluster(
    charter: Charter,
    data: ClusterData,
    *,
    now: datetime | None = None,
    seed: int = 0,
    sample_rows: int = SAMPLE_ROWS,
    on_step: Callable[[str], None] | None = None,
) -> AuditResult:
    """Run the readiness audit on the current Dask cluster (`charter.scale.connect`).

    The result's profile and the findings in `COUNTED_ON_ALL_ROWS` cover every row; the other
    checks run on a reproducible sample of at most `sample_rows` rows (`seed`), which is every
    row when the data is that small. `on_step` is called with each step's name as it starts.

    Example:
        >>> with connect(parse_cluster("local:4")):  # doctest: +SKIP
        ...     result = audit_on_cluster(charter, read_charter_data(charter, base_dir=folder))
    """
    if sample_rows < 1:
        raise UsageError(f"sample_rows={sample_rows} must be at least 1 (rows drawn for checks)")
    started = now or datetime.now(UTC)
    clock = time.perf_counter()
    step = on_step or (lambda _: None)
    check_columns(charter, data.schema.names)
    client = current_client()
    step("profile")
    full = cluster_profile(data)
    step("sample")
    drawn = _draw(client, data, full, charter.target, sample_rows=sample_rows, seed=seed)
    dataset = _sample_dataset(charter, drawn.sample, rows=full.profile.rows)
    sample = AuditContext(
        charter=charter, dataset=dataset, profile=profile_dataset(dataset), now=started, seed=seed
    )
    counted = _counted_on_all_rows(charter, sample, full, drawn)
    findings = [_how_it_ran(client, data, full, drawn, seed=seed)]
    for name, check in CHECKS:
        step(name)
        findings.extend(_substitute(check(sample), counted.get(name, [])))
    ordered = tuple(sorted(findings, key=lambda f: f.severity.rank))
    return AuditResult(
        project=charter.project,
        target=charter.target,
        task=sample.task,
        verdict=verdict_of(ordered),
        findings=ordered,
        profile=full.profile,
        sources=tuple(dataset.sources.values()),
        started=started,
        seconds=time.perf_counter() - clock,
    )


def sample_quotas(partition_rows: Sequence[int], limit: int, seed: int) -> list[int]:
    """Rows to draw from each partition for a simple random sample of `limit` rows of them all.

    Every row when there are at most `limit`; else a multivariate hypergeometric draw, so each
    set of `limit` rows is equally likely once each partition draws its quota uniformly.
    """
    if sum(partition_rows) <= limit:
        return list(partition_rows)
    rng = np.random.default_rng(seed)
    drawn = rng.multivariate_hypergeometric(np.asarray(partition_rows, dtype=np.int64), limit)
    return [int(n) for n in drawn]


def _draw(
    client: Client,
    data: ClusterData,
    full: ClusterProfile,
    target: str,
    *,
    sample_rows: int,
    seed: int,
) -> _Drawn:
    from dask.delayed import delayed

    quotas = sample_quotas(full.partition_rows, sample_rows, seed)
    tasks = [
        delayed(_sample_partition)(part, number, quota, seed, target)
        for number, (part, quota) in enumerate(zip(data.frame.to_delayed(), quotas, strict=True))
    ]
    results = client.gather(client.compute(tasks))
    sample = _realigned(pa.concat_tables([table for table, _, _ in results]))
    known = sum(n for _, n, _ in results)
    counts = [classes for _, _, classes in results]
    if any(c.num_rows > _CLASS_LIMIT for c in counts):
        return _Drawn(sample, known, None)
    with duckdb.connect() as connection:
        t = quote_identifier(target)
        ranked = (
            connection.from_arrow(pa.concat_tables(counts))
            .query(
                "counts",
                f"SELECT {t}, sum(n) AS n FROM counts GROUP BY 1 {class_order_sql(target)}",
            )
            .fetchall()
        )
    return _Drawn(sample, known, [(value, int(n)) for value, n in ranked])


def _realigned(table: pa.Table) -> pa.Table:
    """The table in freshly allocated buffers: those received from workers may sit at any
    address, and DuckDB's Arrow scans (Acero) complain about, and slow down on, unaligned ones."""
    columns = [
        pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _sample_partition(
    partition: pd.DataFrame, number: int, quota: int, seed: int, target: str
) -> tuple[pa.Table, int, pa.Table]:
    """A partition's share of the sample, its rows with a known target, and its class counts."""
    table = as_arrow(partition)
    sample = table
    if quota < table.num_rows:
        rng = np.random.default_rng([seed, number])
        sample = table.take(np.sort(rng.choice(table.num_rows, size=quota, replace=False)))
    dataset = partition_dataset(table)
    try:
        t = quote_identifier(target)
        known = int(dataset.sql(f"SELECT count({t}) FROM {DATASET}")[0][0])
        classes = dataset.connection.sql(
            f"SELECT {t}, count(*) AS n FROM {DATASET} WHERE {t} IS NOT NULL "
            f"GROUP BY 1 LIMIT {_CLASS_LIMIT + 1}"
        ).to_arrow_table()
    finally:
        dataset.connection.close()
    return sample, known, classes


def _sample_dataset(charter: Charter, sample: pa.Table, *, rows: int) -> Dataset:
    """The sample as the charter's one source, described as the source is (every row counted)."""
    ((name, source),) = charter.data.sources.items()
    if name == DATASET:
        raise DataSourceError(
            f"source name {DATASET!r} is reserved for the joined data; rename the source under "
            "data.sources"
        )
    dataset = Dataset.from_arrow(sample, name=name)
    if isinstance(source, DatabaseSource):
        kind, location = "database", redact_url(source.url)
    else:
        kind, location = "file", source.path
    info = dataset.sources[name]
    dataset.sources[name] = replace(info, kind=kind, location=location, rows=rows)
    return dataset


def _counted_on_all_rows(
    charter: Charter, sample: AuditContext, full: ClusterProfile, drawn: _Drawn
) -> dict[str, list[Finding]]:
    """The findings that count rows, from every row's counts, by check group."""
    everything = AuditContext(
        charter=charter, dataset=sample.dataset, profile=full.profile, now=sample.now
    )
    classes = None
    if sample.task == "classification" and drawn.classes is not None:
        classes = classes_from_counts(charter, drawn.classes)
    volume = count_findings(everything, rows=drawn.known, classes=classes)
    balance = [class_balance(everything, classes)] if classes is not None else []
    return dict(zip(_FULL_COUNT_GROUPS, (volume, balance), strict=True))


def _substitute(found: list[Finding], counted: list[Finding]) -> list[Finding]:
    """A group's findings with those counted over every row in place of the sample's."""
    by_check = {f.check: f for f in counted}
    return [by_check.pop(f.check, f) for f in found] + list(by_check.values())


def _how_it_ran(
    client: Client, data: ClusterData, full: ClusterProfile, drawn: _Drawn, *, seed: int
) -> Finding:
    rows, sampled = full.profile.rows, drawn.sample.num_rows
    workers = len(client.nthreads())
    address = client.scheduler.address if client.scheduler is not None else "?"
    where = f"{workers} worker{'s' if workers != 1 else ''} at {address}"
    if sampled < rows:
        scope = (
            f"The profile and the row counts ({', '.join(COUNTED_ON_ALL_ROWS)}) cover every row; "
            f"the other checks ran on a random sample of {sampled:,} rows (seed {seed}), so "
            "their counts and shares are the sample's."
        )
        advice = "To run every check on every row, raise the sample size or audit on one machine."
    else:
        scope = "Every check covered every row."
        advice = "No action needed."
    return Finding(
        check="access.cluster",
        severity=Severity.INFO,
        columns=(),
        message=f"The audit ran on a Dask cluster ({where}) over {data.description}: "
        f"{rows:,} rows. {scope}",
        recommendation=advice,
        evidence={
            "scheduler": address,
            "workers": workers,
            "partitions": data.partitions,
            "rows": rows,
            "sample_rows": sampled,
            "sampled": sampled < rows,
            "seed": seed,
            "counted_on_all_rows": list(COUNTED_ON_ALL_ROWS),
        },
    )
