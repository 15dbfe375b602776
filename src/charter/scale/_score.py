"""Batch scoring on a Dask cluster: every partition scored on a worker by `score_batch`, the code
`charter score` runs on one machine, into one part of a Parquet dataset.

What the workers need: the project's folder (the charter, the embedded stores, the prediction
log) at the same path as on this machine, so a shared or mounted file system (a local cluster has
it by construction), and the same CHARTER_STORE / CHARTER_ARTIFACTS as this process when those
are set. Tasks carry the charter's path and the version's number, never the model: each worker
process loads the version once and keeps it for later partitions and later runs.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from charter.errors import CharterError, DataSourceError, UsageError
from charter.registry import PRODUCTION, ModelVersion, Workspace
from charter.scale._sources import ClusterData, as_arrow
from charter.scale._tasks import current_client
from charter.serving._batch import CHUNK_ROWS, BatchResult, score_batch

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

    from charter.api import Project
    from charter.serving._service import Deployed

__all__ = ["PART_NAME", "VersionOnWorkers", "deployed_on_worker", "score_on_cluster"]

PART_NAME = "part-{:05d}.parquet"
"""The file a partition's rows go to, in the output (and quarantine) folder, by partition number."""

_PART = re.compile(r"part-\d{5,}\.parquet")
_VERSIONS_KEPT = 4  # versions a worker process keeps loaded (a run needs one; a few runs, a few)


@dataclass(frozen=True)
class VersionOnWorkers:
    """What a worker needs to load a version itself; small, sent with every task.

    It names everything the loaded version depends on, so a worker process that lives on (a
    long-running cluster) loads again when any of it changes: the charter file's content (its
    serving settings), the stores, the version (its number and when it was registered: a project
    rebuilt in the same folder registers a new v1) and the threshold in force. `stores` is a
    fingerprint of the stores this process opened, never their URLs (they may hold a password).
    """

    charter: str  # the charter file's absolute path
    charter_digest: str
    stores: str
    number: int
    created: str
    threshold: float | None

    @classmethod
    def of(cls, project: Project, version: ModelVersion) -> VersionOnWorkers:
        """`version` of `project`, deciding at the threshold in force now."""
        path = project.path.resolve()
        return cls(
            charter=str(path),
            charter_digest=_digest(path.read_bytes()),
            stores=_fingerprint(project.stores),
            number=version.number,
            created=version.created,
            threshold=project.registry().threshold(version),
        )


@lru_cache(maxsize=_VERSIONS_KEPT)
def deployed_on_worker(version: VersionOnWorkers) -> Deployed:
    """The version loaded in this (worker) process, once: later calls return the same one."""
    from charter.api import Project
    from charter.serving._service import deploy

    path = Path(version.charter)
    if not path.is_file():
        raise DataSourceError(
            f"a Dask worker on {socket.gethostname()} cannot see the charter at {path}; "
            "scoring on a cluster needs the project folder on a file system every worker shares "
            "at the same path (a local cluster always does)"
        )
    project = Project(path)
    if _fingerprint(project.stores) != version.stores:
        raise UsageError(
            f"a Dask worker on {socket.gethostname()} opens other stores than this machine for "
            f"{path}: start the workers with the same CHARTER_STORE and CHARTER_ARTIFACTS as the "
            "command (or with neither)"
        )
    registry = project.registry()
    try:
        found = registry.version(project.charter.project, version.number)
        deployed = deploy(project, found)
    finally:
        registry.store.dispose()
    seen = (_digest(path.read_bytes()), found.created, deployed.threshold)
    if seen != (version.charter_digest, version.created, version.threshold):
        raise CharterError(
            f"the charter or v{version.number} (its threshold) changed while the run was under "
            "way; run the command again"
        )
    return deployed


@dataclass(frozen=True)
class _Job:
    """One scoring run, as every task sees it."""

    version: VersionOnWorkers
    project: str
    output: str  # the output folder
    quarantine: str  # the quarantine folder
    log: str | None  # the prediction log's folder; None: not logged
    flush_seconds: float
    explain: bool
    fallback: bool


def score_on_cluster(
    project: Project,
    data: ClusterData,
    output: str | Path,
    *,
    quarantine: str | Path | None = None,
    version: str | int | None = None,
    explain: bool = False,
    log: bool = True,
    on_partition: Callable[[int, int], None] | None = None,
    client: Client | None = None,
) -> BatchResult:
    """`charter score` on a Dask cluster: the production version (or `version`) scores each
    partition of `data` on a worker with `score_batch`, as on one machine.

    `output` becomes a folder of Parquet files, part-00000.parquet and on (one per partition,
    read as one table by pyarrow.dataset, pandas or DuckDB); rows breaking the contract go, with
    the reason in `_violations`, to the same parts of `quarantine` (default: OUTPUT.quarantine
    beside it), never dropped. Parts of an earlier run in either folder are replaced. With
    `log`, the workers append each scored and each refused row to the project's prediction log
    (source "batch"), so they need the project's folder on a shared file system (see the
    module's description). `on_partition(done, total)` is called as each partition finishes.
    Runs on `client` (default: the current Dask client).

    Example:
        >>> with connect(parse_cluster("local:4")) as client:  # doctest: +SKIP
        ...     data = read_location("new/*.parquet", base_dir=Path.cwd())
        ...     result = score_on_cluster(Project("charter.yaml"), data, "scores")
    """
    from dask.delayed import delayed
    from distributed import as_completed

    started = time.perf_counter()
    client = client or current_client()
    job = _job(project, output, quarantine, version, explain=explain, log=log)
    total = data.partitions
    futures = client.compute(
        [
            delayed(_score_part, pure=False)(part, index, job)
            for index, part in enumerate(data.frame.to_delayed())
        ]
    )
    position = {future.key: index for index, future in enumerate(futures)}
    results: dict[int, BatchResult] = {}
    try:
        for future in as_completed(futures):
            results[position[future.key]] = future.result()
            if on_partition is not None:
                on_partition(len(results), total)
    finally:
        client.cancel([future for future in futures if not future.done()])
    return _merged([results[index] for index in range(total)], job, started)


def _job(
    project: Project,
    output: str | Path,
    quarantine: str | Path | None,
    version: str | int | None,
    *,
    explain: bool,
    log: bool,
) -> _Job:
    """The run's settings, checked here (the version, the folders) before any task starts."""
    registry = project.registry()
    name = project.charter.project
    if version is None and PRODUCTION not in registry.aliases(name):
        raise UsageError(f"{name} has no version in production; promote one, or pass --version.")
    found = project.version(PRODUCTION if version is None else version)
    folder = _folder(Path(output), "OUTPUT")
    aside = _folder(
        Path(quarantine)
        if quarantine is not None
        else folder.with_name(f"{folder.stem}.quarantine{folder.suffix}"),
        "--quarantine",
    )
    if aside == folder:
        raise UsageError(f"--quarantine names the output folder {folder}; name another folder")
    for place in (folder, aside):
        for part in _parts(place):
            part.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    settings = project.charter.serving
    return _Job(
        version=VersionOnWorkers.of(project, found),
        project=name,
        output=str(folder),
        quarantine=str(aside),
        log=str(project.workspace.resolve() / "predictions") if log else None,
        flush_seconds=settings.flush_seconds,
        explain=explain,
        fallback=settings.fallback == "baseline",
    )


def _folder(path: Path, what: str) -> Path:
    """A folder for a Parquet dataset: new, empty, or holding only parts of an earlier run."""
    folder = path.expanduser().resolve()
    if folder.suffix.lower() == ".csv":
        raise UsageError(
            f"{what} {path}: on a cluster, scores are written as a folder of Parquet files "
            f"(part-00000.parquet, ...); name a folder such as {path.with_suffix('')}"
        )
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"{what} {path} is a file; on a cluster, scores are written as a folder of Parquet "
            "files: name a folder (it is created) or remove the file"
        )
    if folder.is_dir():
        others = sorted(
            p.name
            for p in folder.iterdir()
            if not (p.name.startswith(".") or _PART.fullmatch(p.name))
        )
        if others:
            raise UsageError(
                f"{what} {path} holds files other than the parts of a scores dataset "
                f"({', '.join(others[:3])}); name a new or empty folder"
            )
    return folder


def _parts(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _PART.fullmatch(p.name) and p.is_file())


def _score_part(partition: pd.DataFrame, index: int, job: _Job) -> BatchResult:
    """One partition scored on a worker, to part `index` of the output and quarantine folders."""
    from charter.serving._log import PredictionLog

    deployed = deployed_on_worker(job.version)
    table = as_arrow(partition)  # no pandas metadata: the parts read as `charter score`'s file
    # An empty partition still writes its (empty) part: every part has the dataset's columns.
    batches = table.to_batches(max_chunksize=CHUNK_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    name = PART_NAME.format(index)
    predictions = (
        None
        if job.log is None
        else PredictionLog(job.log, flush_seconds=job.flush_seconds, compact_every=None)
    )
    try:
        return score_batch(
            deployed,
            iter(batches),
            Path(job.output) / name,
            log=predictions,
            project=job.project,
            quarantine=Path(job.quarantine) / name,
            explain=job.explain,
            fallback=job.fallback,
        )
    finally:
        if predictions is not None:
            predictions.close()  # written before the task reports done


def _merged(parts: list[BatchResult], job: _Job, started: float) -> BatchResult:
    """The partitions' results as one run's."""
    problems: dict[str, int] = {}
    for part in parts:
        for problem, rows in part.problems.items():
            problems[problem] = problems.get(problem, 0) + rows
    rows = sum(part.rows for part in parts)
    scored = sum(part.scored for part in parts)
    aside = Path(job.quarantine)
    if rows == scored and aside.is_dir() and not any(aside.iterdir()):
        aside.rmdir()  # nothing quarantined: no folder, as on one machine no file
    return BatchResult(
        rows=rows,
        scored=scored,
        quarantined=rows - scored,
        output=Path(job.output),
        quarantine=aside if rows > scored else None,
        version=job.version.number,
        seconds=time.perf_counter() - started,
        problems=problems,
    )


def _fingerprint(stores: Workspace) -> str:
    return _digest("\n".join((str(stores.folder), stores.store_url, stores.artifacts_url)).encode())


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]
