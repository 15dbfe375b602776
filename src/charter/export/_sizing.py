"""Resource requests for a packaged version, from its measured size and latency.

- memory: each worker holds the service (a measured base) and the model: the bytes of what it
  loads (the model files, the example rows, the reference statistics) times a factor for their
  in-memory form. The limit leaves the same again for large requests and the log's buffers.
- CPU: each request costs the model's single-row p99 latency, measured here through the path the
  service takes, plus a fixed allowance for HTTP, JSON, the contract check and the log; the
  request is that cost at the design load (`requests_per_second` per pod), at least 100m a
  worker. The autoscaler adds pods when they use more than 70% of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from charter.registry import ModelVersion, Registry
from charter.registry._gates import measure_latency
from charter.registry._versions import EXAMPLES, MANIFEST, REFERENCE

__all__ = [
    "BASE_WORKER_MIB",
    "MODEL_MEMORY_FACTOR",
    "REQUEST_OVERHEAD_MS",
    "Sizing",
    "derive_sizing",
    "measure_sizing",
    "model_bytes",
]

BASE_WORKER_MIB = 320
"""A `charter serve` worker's resident memory before its model: 290 MiB measured (Python 3.11,
charter 0.1.0, the demo's 50 KB LightGBM model, one worker), rounded up."""
MODEL_MEMORY_FACTOR = 4.0
"""In memory, parsed trees, arrays and tables take a few times the bytes of their files."""
REQUEST_OVERHEAD_MS = 1.0
"""CPU milliseconds a request costs beyond the model: HTTP, JSON, the contract check, the log."""
_MIN_CPU_PER_WORKER_M = 100
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Sizing:
    """What a pod asks for, and the measurements it was derived from."""

    model_bytes: int
    latency_p99_ms: float
    workers: int
    requests_per_second: float
    cpu_request_m: int
    memory_request_mib: int
    memory_limit_mib: int

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain data."""
        return asdict(self)

    def derivation(self) -> list[str]:
        """How each figure was reached, one line each (for the README and the report)."""
        model_mib = self.model_bytes / _MIB
        return [
            f"memory request {self.memory_request_mib} Mi = {self.workers} worker(s) × "
            f"({BASE_WORKER_MIB} Mi service + {MODEL_MEMORY_FACTOR:g} × {model_mib:.2f} MiB model), "
            "rounded up to 16 Mi; limit twice that",
            f"CPU request {self.cpu_request_m}m = {self.requests_per_second:g} requests/s × "
            f"({self.latency_p99_ms:.2f} ms p99 single-row latency + {REQUEST_OVERHEAD_MS:g} ms "
            f"per request), at least {_MIN_CPU_PER_WORKER_M}m a worker, rounded up to 50m",
        ]


def derive_sizing(
    model_size: int, latency_p99_ms: float, *, workers: int, requests_per_second: float
) -> Sizing:
    """Requests and limits from a model's size in bytes and its single-row p99 latency."""
    model_mib = model_size / _MIB
    memory = _round_up(workers * (BASE_WORKER_MIB + MODEL_MEMORY_FACTOR * model_mib), 16)
    cpu = _round_up(requests_per_second * (latency_p99_ms + REQUEST_OVERHEAD_MS), 50)
    return Sizing(
        model_bytes=model_size,
        latency_p99_ms=latency_p99_ms,
        workers=workers,
        requests_per_second=requests_per_second,
        cpu_request_m=max(cpu, _MIN_CPU_PER_WORKER_M * workers),
        memory_request_mib=memory,
        memory_limit_mib=2 * memory,
    )


def model_bytes(registry: Registry, version: ModelVersion) -> int:
    """The bytes of what a worker loads: the model's files, the example rows, the reference."""
    manifest = json.loads(registry.read(version, MANIFEST))
    names = {*manifest.get("files", {}), MANIFEST, EXAMPLES, REFERENCE}
    return sum(len(registry.read(version, n)) for n in sorted(names) if n in version.artifacts)


def measure_sizing(
    registry: Registry, version: ModelVersion, *, workers: int, requests_per_second: float
) -> Sizing:
    """Measure the version's size and its single-row p99 latency on this machine; derive from them."""
    latency = measure_latency(registry.load(version), registry)
    return derive_sizing(
        model_bytes(registry, version),
        latency,
        workers=workers,
        requests_per_second=requests_per_second,
    )


def _round_up(value: float, step: int) -> int:
    return max(step, int(math.ceil(value / step)) * step)
