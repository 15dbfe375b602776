"""Kubernetes manifests for a packaged version: Deployment, Service, autoscaler, disruption
budget and the charter's ConfigMap, with the API keys read from a Secret the operator creates.

The Deployment's selector names the project only, never the version, so that applying the
manifests of a newer package rolls the same Deployment forward and `kubectl rollout undo` can
take it back. The pod template carries the version and the charter's SHA-256, so a changed
charter rolls the pods too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from charter.export._layout import (
    KEYS_DIR,
    KEYS_FILE,
    LOG_DIR,
    PORT,
    PROJECT_DIR,
    UID,
    resource_name,
)
from charter.export._sizing import Sizing
from charter.registry import ModelVersion

__all__ = [
    "CPU_TARGET_PERCENT",
    "MAX_REPLICAS",
    "MIN_REPLICAS",
    "kubernetes_manifests",
    "write_manifests",
]

MIN_REPLICAS = 2  # one pod may be drained or restarted while the other answers
MAX_REPLICAS = 10
CPU_TARGET_PERCENT = 70
_CHARTER_FILE = "charter.yaml"


def kubernetes_manifests(
    version: ModelVersion,
    *,
    image: str,
    charter_text: str,
    sizing: Sizing,
) -> dict[str, dict[str, Any]]:
    """Each manifest by its file name (`deployment.yaml`, …), as plain data.

    Example:
        >>> found = kubernetes_manifests(version, image="churn:v3", charter_text=text, sizing=s)  # doctest: +SKIP
        >>> sorted(found)  # doctest: +SKIP
        ['configmap.yaml', 'deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'service.yaml']
    """
    name = resource_name(version.project)
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "prediction-service"}
    labels = {**selector, "app.kubernetes.io/part-of": "charter"}
    return {
        "configmap.yaml": _configmap(name, labels, charter_text),
        "deployment.yaml": _deployment(
            name, labels, selector, version, image, charter_text, sizing
        ),
        "hpa.yaml": _autoscaler(name, labels),
        "pdb.yaml": _disruption_budget(name, labels, selector),
        "service.yaml": _service(name, labels, selector),
    }


def write_manifests(folder: Path, manifests: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Write each manifest as YAML (multi-line text as literal blocks); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file, manifest in manifests.items():
        path = folder / file
        path.write_text(
            yaml.dump(dict(manifest), Dumper=_Dumper, sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
        written.append(path)
    return written


def _configmap(name: str, labels: dict[str, str], charter_text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-charter", "labels": labels},
        "data": {_CHARTER_FILE: charter_text},
    }


def _deployment(
    name: str,
    labels: dict[str, str],
    selector: dict[str, str],
    version: ModelVersion,
    image: str,
    charter_text: str,
    sizing: Sizing,
) -> dict[str, Any]:
    digest = hashlib.sha256(charter_text.encode("utf-8")).hexdigest()
    pod_labels = {**labels, "app.kubernetes.io/version": version.label}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": pod_labels,
            "annotations": {
                # what `kubectl rollout history` shows for this revision
                "kubernetes.io/change-cause": f"charter package {version.project} {version.label} ({version.candidate})",
            },
        },
        "spec": {
            # no `replicas`: the autoscaler owns the count, and re-applying must not reset it
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                        "charter/version": version.label,
                        "charter/charter-sha256": digest,
                    },
                },
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [_container(image, sizing)],
                    "volumes": [
                        {"name": "charter", "configMap": {"name": f"{name}-charter"}},
                        {
                            "name": "api-keys",
                            "secret": {"secretName": f"{name}-api-keys", "optional": False},
                        },
                        {"name": "predictions", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def _container(image: str, sizing: Sizing) -> dict[str, Any]:
    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    return {
        "name": "charter",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": "CHARTER_SERVE_PORT", "value": str(PORT)},
            {"name": "CHARTER_SERVE_WORKERS", "value": str(sizing.workers)},
            {"name": "CHARTER_SERVE_LOG", "value": LOG_DIR},
            {"name": "CHARTER_SERVE_KEYS_FILE", "value": KEYS_FILE},
        ],
        "resources": {
            "requests": {
                "cpu": f"{sizing.cpu_request_m}m",
                "memory": f"{sizing.memory_request_mib}Mi",
            },
            # no CPU limit: throttling a busy pod raises its latency; the autoscaler adds pods
            "limits": {"memory": f"{sizing.memory_limit_mib}Mi"},
        },
        # loading the model may take a while: liveness only counts once the process answers
        "startupProbe": probe("/v1/health", 2, 60),
        "readinessProbe": probe("/v1/ready", 5, 3),
        "livenessProbe": probe("/v1/health", 10, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {
                "name": "charter",
                "mountPath": f"{PROJECT_DIR}/{_CHARTER_FILE}",
                "subPath": _CHARTER_FILE,
                "readOnly": True,
            },
            {"name": "api-keys", "mountPath": KEYS_DIR, "readOnly": True},
            {"name": "predictions", "mountPath": LOG_DIR},
        ],
    }


def _service(name: str, labels: dict[str, str], selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _autoscaler(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def _disruption_budget(
    name: str, labels: dict[str, str], selector: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line text (the charter) as a literal block, as a person would write it; no
    anchors and aliases where the same labels appear twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)
