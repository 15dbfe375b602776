"""The Dask back end: the same audit, training, scoring and monitoring on a cluster.

Nothing here imports Dask until a cluster is asked for (`--cluster` or CHARTER_DASK).
"""

from charter.scale._cluster import (
    ENVIRONMENT,
    ClusterSpec,
    cluster_option,
    connect,
    parse_cluster,
    require_dask,
)
from charter.scale._sources import ClusterData, as_arrow, read_charter_data, read_location

__all__ = [
    "ENVIRONMENT",
    "ClusterData",
    "ClusterSpec",
    "as_arrow",
    "cluster_option",
    "connect",
    "parse_cluster",
    "read_charter_data",
    "read_location",
    "require_dask",
]
