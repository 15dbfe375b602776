"""The service's Prometheus metrics: requests, latency, validation failures, flags, scores."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 10))


class ServiceMetrics:
    """One registry per service, so tests and several apps in a process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "charter_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "charter_request_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "charter_predictions",
            "Records scored, by version.",
            ["version"],
            registry=self.registry,
        )
        self.invalid = Counter(
            "charter_validation_failures",
            "Records refused by the data contract, by field.",
            ["field"],
            registry=self.registry,
        )
        self.flags = Counter(
            "charter_humility_flags",
            "Humility flags raised, by flag.",
            ["flag"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "charter_fallback_decisions",
            "Records given the baseline rule's decision instead of the model's.",
            registry=self.registry,
        )
        self.scores = Histogram(
            "charter_score",
            "Scores returned (probabilities or values).",
            buckets=_SCORE_BUCKETS,
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
