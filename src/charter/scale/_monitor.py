"""`charter monitor --current DATASET` with the dataset on a Dask cluster.

Each partition is checked and scored on a worker as `monitor` checks and scores a dataset on one
machine (`dataset_rows`), and reduced there to what merges exactly: the quality counts, and each
feature's and the score's drift counts on the reference's own grid (`count`). This machine
merges them (`QualityCounts.merge`, `Counts.merge`, partition by partition in order) and judges
the drift from the merged counts (`drift_from_counts`). Bin counts, rows and the quality shares
are the single-machine figures exactly; the drift statistics built from the bins' sums (means,
spreads, Wasserstein distances) differ from them only by floating-point rounding of those sums,
which the decisions do not depend on. Live performance and the label-free estimate need the
rows themselves, so each served row's score, decision and outcome (three numbers) come back
to this machine. Workers load the production version themselves, as in `score_on_cluster`: they
need the project's folder at the same path (a local cluster always has it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.compute as pc

from charter.errors import UsageError
from charter.monitoring._drift import Counts, count
from charter.monitoring._monitor import (
    DATASET_WINDOW,
    MonitorReport,
    QualityCounts,
    dataset_rows,
    dataset_window,
    judged_report,
    production_context,
)
from charter.scale._score import VersionOnWorkers, deployed_on_worker
from charter.scale._sources import ClusterData, as_arrow
from charter.scale._tasks import current_client

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

    from charter.api import Project

__all__ = ["monitor_on_cluster"]


@dataclass(frozen=True)
class _Measured:
    """One partition, measured: what merges, and the served rows' three numbers."""

    quality: QualityCounts
    counts: dict[str, Counts]  # reference feature -> counts on its grid
    score: Counts | None  # the scores' counts (None: the reference keeps no score statistics)
    scores: np.ndarray
    act: np.ndarray
    truth: np.ndarray | None  # outcomes from the target column (None: no target column)


def monitor_on_cluster(
    project: Project,
    data: ClusterData,
    *,
    source: str,
    send: bool = True,
    now: datetime | None = None,
    client: Client | None = None,
) -> MonitorReport:
    """`monitor(project, current=...)` with the dataset `data` on a Dask cluster.

    `source` is the dataset as the user named it (the report's `source`; its last part labels
    the window). The report has the single-machine shape and is judged, sent and kept the same
    way (a dataset run is not kept as the newest run of the log). Runs on `client` (default:
    the current Dask client).

    Example:
        >>> with connect(parse_cluster("local:4")):  # doctest: +SKIP
        ...     data = read_location("current/*.parquet", base_dir=Path.cwd())
        ...     report = monitor_on_cluster(Project("charter.yaml"), data, source="current")
    """
    from dask.delayed import delayed

    client = client or current_client()
    context = production_context(project)
    version = VersionOnWorkers.of(project, context.deployed.version)
    futures = client.compute(
        [delayed(_measure_part, pure=False)(part, version) for part in data.frame.to_delayed()]
    )
    parts: list[_Measured] = client.gather(futures)
    quality = QualityCounts()
    counts: dict[str, Counts] = {}
    score: Counts | None = None
    for part in parts:  # in partition order: new values rank as on the whole dataset
        quality = quality.merge(part.quality)
        for name, found in part.counts.items():
            counts[name] = counts[name].merge(found) if name in counts else found
        if part.score is not None:
            score = part.score if score is None else score.merge(part.score)
    truths = [part.truth for part in parts if part.truth is not None]
    window = dataset_window(
        context,
        _label(source),
        refused=quality.refused,
        quality=quality.shares(),
        drift=context.drift_of_counts(counts, score, rows=quality.served),
        scores=np.concatenate([np.empty(0), *(part.scores for part in parts)]),
        act=np.concatenate([np.zeros(0, dtype=bool), *(part.act for part in parts)]),
        truth=np.concatenate(truths) if truths else None,
    )
    return judged_report(
        context, [window], source=source, window=DATASET_WINDOW, send=send, now=now, latest=False
    )


def _label(source: str) -> str:
    """The window's label: the dataset's last part, as on one machine (a file's name)."""
    return PurePath(source.rstrip("/\\")).name or source


def _measure_part(partition: pd.DataFrame, version: VersionOnWorkers) -> _Measured:
    """One partition checked, scored and counted on a worker."""
    deployed = deployed_on_worker(version)
    served, refused, kept, truth = dataset_rows(deployed, as_arrow(partition))
    scores = served.column("score").to_numpy().astype(np.float64)
    act = pc.equal(served.column("decision"), "act").to_numpy(zero_copy_only=False)
    reference = deployed.reference
    features: Mapping[str, Mapping[str, object]] = reference.get("features", {})
    columns = deployed.scorer.columns(kept)
    counts: dict[str, Counts] = {}
    for name, feature in features.items():
        if name in columns:
            try:
                counts[name] = count(feature, columns[name])
            except UsageError as error:  # named as `drift` names it
                raise UsageError(f"{name}: {error}") from None
    score = count(reference["score"], scores) if "score" in reference else None
    return _Measured(QualityCounts.of(served, refused), counts, score, scores, act, truth)
