"""`charter package --kubernetes`: the manifests, valid against the Kubernetes schemas offline,
wired to each other and to the image, and sized from the version's measurements."""

from __future__ import annotations

import hashlib
import posixpath

import pytest
import yaml

from charter.api import Project
from charter.export import derive_sizing
from charter.export._layout import resource_name
from charter.export._sizing import BASE_WORKER_MIB, model_bytes
from charter.registry import PRODUCTION

KINDS = {
    "configmap.yaml": "ConfigMap",
    "deployment.yaml": "Deployment",
    "hpa.yaml": "HorizontalPodAutoscaler",
    "pdb.yaml": "PodDisruptionBudget",
    "service.yaml": "Service",
}


@pytest.fixture(scope="module")
def manifests(export_package):
    folder = export_package.out / "kubernetes"
    assert sorted(p.name for p in folder.iterdir()) == sorted(KINDS)
    assert sorted(export_package.manifests) == sorted(folder.iterdir())
    return {name: yaml.safe_load((folder / name).read_text()) for name in KINDS}


def _container(manifests):
    [container] = manifests["deployment.yaml"]["spec"]["template"]["spec"]["containers"]
    return container


def _env(container):
    return {e["name"]: e["value"] for e in container["env"]}


@pytest.mark.parametrize("release", ["1.27", "latest"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(manifests, release):
    validator = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate is not installed (pip install kubernetes-validate)",
    )
    version = validator.utils.latest_version() if release == "latest" else release
    for name, manifest in manifests.items():
        assert manifest["kind"] == KINDS[name]
        validator.validate(manifest, version, strict=True)  # raises on any unknown or bad field


def test_readiness_and_liveness_ask_the_services_own_routes(manifests):
    container = _container(manifests)
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v1/health", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/v1/health"
    [port] = container["ports"]
    assert port["name"] == "http"
    assert str(port["containerPort"]) == _env(container)["CHARTER_SERVE_PORT"]


def test_resources_follow_the_measured_size_and_latency(manifests, export_package, export_project):
    sizing = export_package.sizing
    assert sizing is not None and sizing.latency_p99_ms > 0
    registry = Project(export_project).registry()
    assert sizing.model_bytes == model_bytes(registry, registry.version("churn", PRODUCTION))
    resources = _container(manifests)["resources"]
    assert resources["requests"] == {
        "cpu": f"{sizing.cpu_request_m}m",
        "memory": f"{sizing.memory_request_mib}Mi",
    }
    assert resources["limits"] == {"memory": f"{sizing.memory_limit_mib}Mi"}
    readme = (export_package.out / "README.md").read_text()
    assert all(line in readme for line in sizing.derivation())


def test_sizing_is_derived_from_size_and_latency():
    sizing = derive_sizing(10 * 1024 * 1024, 5.0, workers=2, requests_per_second=100)
    assert sizing.memory_request_mib == 2 * (BASE_WORKER_MIB + 40)  # 4 × 10 MiB a worker
    assert sizing.memory_limit_mib == 2 * sizing.memory_request_mib
    assert sizing.cpu_request_m == 600  # 100/s × (5 ms + 1 ms)
    small = derive_sizing(1000, 0.05, workers=3, requests_per_second=10)
    assert small.cpu_request_m == 300  # at least 100m a worker
    assert small.memory_request_mib % 16 == 0


def test_selectors_find_the_pods_and_never_name_the_version(manifests):
    deployment = manifests["deployment.yaml"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert "app.kubernetes.io/version" not in selector  # a new version updates the same Deployment
    assert pod_labels["app.kubernetes.io/version"] == "v3"
    assert manifests["service.yaml"]["spec"]["selector"] == selector
    assert manifests["pdb.yaml"]["spec"]["selector"]["matchLabels"] == selector
    assert manifests["service.yaml"]["spec"]["ports"][0]["targetPort"] == "http"


def test_the_autoscaler_and_the_budget_keep_pods_up(manifests):
    hpa = manifests["hpa.yaml"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": manifests["deployment.yaml"]["metadata"]["name"],
    }
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] > manifests["pdb.yaml"]["spec"]["minAvailable"]
    assert "replicas" not in manifests["deployment.yaml"]["spec"]  # the autoscaler owns it


def test_prometheus_scrapes_the_pods_metrics(manifests):
    annotations = manifests["deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]
    port = _env(_container(manifests))["CHARTER_SERVE_PORT"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_configmap_carries_the_packaged_charter_to_where_serve_reads_it(
    manifests, export_package
):
    charter = (export_package.out / "project" / "charter.yaml").read_text()
    configmap = manifests["configmap.yaml"]
    assert configmap["data"] == {"charter.yaml": charter}
    pod = manifests["deployment.yaml"]["spec"]["template"]
    [volume] = [v for v in pod["spec"]["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    [mount] = [m for m in _container(manifests)["volumeMounts"] if m["name"] == volume["name"]]
    assert (mount["mountPath"], mount["subPath"]) == ("/app/project/charter.yaml", "charter.yaml")
    digest = hashlib.sha256(charter.encode()).hexdigest()
    assert pod["metadata"]["annotations"]["charter/charter-sha256"] == digest


def test_api_keys_come_from_a_secret_mounted_where_the_service_reads_them(manifests):
    container = _container(manifests)
    keys_file = _env(container)["CHARTER_SERVE_KEYS_FILE"]
    volumes = manifests["deployment.yaml"]["spec"]["template"]["spec"]["volumes"]
    [secret] = [v for v in volumes if "secret" in v]
    assert secret["secret"]["secretName"] == "churn-api-keys"
    [mount] = [m for m in container["volumeMounts"] if m["name"] == secret["name"]]
    assert mount["mountPath"] == posixpath.dirname(keys_file) and mount["readOnly"]


def test_the_pod_runs_as_the_images_user(manifests, export_package):
    security = manifests["deployment.yaml"]["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] == 10001
    assert f"USER {security['runAsUser']}:" in export_package.dockerfile.read_text()
    assert _container(manifests)["image"] == export_package.image == "churn:v3"


@pytest.mark.parametrize(
    ("project", "expected"),
    [("churn", "churn"), ("Churn_Model.v2", "churn-model-v2"), ("__", "charter")],
)
def test_resource_names_are_what_kubernetes_accepts(project, expected):
    assert resource_name(project) == expected
