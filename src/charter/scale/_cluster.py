"""Which Dask cluster to run on: a scheduler's address, a LocalCluster on this machine, or none."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from charter.errors import UsageError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "ENVIRONMENT",
    "MEMORY_ENVIRONMENT",
    "ClusterSpec",
    "cluster_option",
    "connect",
    "parse_cluster",
    "require_dask",
]

ENVIRONMENT = "CHARTER_DASK"
"""Environment variable naming the cluster when `--cluster` is not given."""
MEMORY_ENVIRONMENT = "CHARTER_DASK_MEMORY_LIMIT"
"""Memory limit of each worker of a local cluster (e.g. "2GB"); Dask's own share by default."""

_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "ucx://")
_LOCAL = re.compile(r"local(?::(\d+))?")
_CONNECT_TIMEOUT = "15s"


@dataclass(frozen=True)
class ClusterSpec:
    """A Dask scheduler's address, or a local cluster of `workers` processes (None: one per core)."""

    address: str | None = None
    workers: int | None = None
    memory_limit: str | None = None

    @property
    def local(self) -> bool:
        return self.address is None

    def describe(self) -> str:
        """Words for progress lines and reports: never a password from the address."""
        if self.address is not None:
            return re.sub(r"//[^@/]*@", "//", self.address)
        workers = self.workers or os.cpu_count() or 1
        memory = f", {self.memory_limit} each" if self.memory_limit else ""
        return f"a local cluster of {workers} worker process{'es' if workers != 1 else ''}{memory}"


def parse_cluster(text: str, *, where: str = "--cluster") -> ClusterSpec:
    """Read `tcp://host:8786`, `local` or `local:N` (N worker processes)."""
    value = text.strip()
    local = _LOCAL.fullmatch(value)
    if local:
        workers = int(local.group(1)) if local.group(1) else None
        if workers is not None and not 1 <= workers <= 256:
            raise UsageError(f"{where}: local:{workers} needs between 1 and 256 workers")
        return ClusterSpec(workers=workers, memory_limit=os.environ.get(MEMORY_ENVIRONMENT))
    if value.startswith(_SCHEMES) and re.fullmatch(r"[a-z]+://[^\s/]+:\d+/?", value):
        return ClusterSpec(address=value.rstrip("/"))
    raise UsageError(
        f"{where}: {text!r} is not a cluster; expected a scheduler address such as "
        "tcp://scheduler:8786, or local (one worker per core) or local:4"
    )


def cluster_option(option: str | None) -> ClusterSpec | None:
    """The cluster from `--cluster`, else from CHARTER_DASK, else None (run on this machine)."""
    if option:
        return parse_cluster(option)
    from_environment = os.environ.get(ENVIRONMENT, "").strip()
    if from_environment:
        return parse_cluster(from_environment, where=ENVIRONMENT)
    return None


def require_dask() -> None:
    """Fail with the install command when Dask is not there."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "running on a Dask cluster needs Dask: pip install 'charter[dask]' "
            f"(missing: {exc.name})"
        ) from exc


@contextmanager
def connect(spec: ClusterSpec) -> Iterator[Client]:
    """A Dask client on the cluster, closed (and a local cluster stopped) on the way out."""
    require_dask()
    from distributed import Client, LocalCluster

    if spec.address is not None:
        try:
            client = Client(spec.address, timeout=_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at {spec.describe()} ({exc}). Check the "
                f"address and that the scheduler is running; set it with --cluster or {ENVIRONMENT}"
            ) from exc
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=spec.workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port: 8787 may be taken by another cluster
        memory_limit=spec.memory_limit or "auto",
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client
