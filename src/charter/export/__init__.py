"""Deploy anywhere: a version as a container build context, with Kubernetes manifests; and
interoperate: MLflow models out and in, ONNX graphs out.

`package_version(project, "v3", Path("build/churn"), kubernetes=True)` writes a Dockerfile,
charter's wheel, the lock of the packages the version was trained with, a project folder holding
the version alone, and (with `kubernetes`) manifests sized from its measured size and latency.

`export_mlflow(project, "v3", Path("export/churn-v3"))` writes an MLflow pyfunc model that scores
as charter does; `import_mlflow(project, "runs:/abc/model")` validates a team's MLflow model
beside the baseline and registers it; `export_onnx(project, "v3", Path("churn-v3.onnx"))` writes
a boosted or linear version, preprocessing included, as one ONNX graph checked against the
native model. MLflow and ONNX are optional extras (`pip install 'charter[mlflow]'`, `[onnx]`),
imported only when these functions run.
"""

from charter.export._container import ENTRYPOINT, PackageResult, package_version
from charter.export._embedded import embed_version
from charter.export._kubernetes import kubernetes_manifests, write_manifests
from charter.export._mlflow import ExportResult, export_mlflow
from charter.export._mlflow_import import ImportResult, import_mlflow
from charter.export._onnx import OnnxResult, export_onnx
from charter.export._sizing import Sizing, derive_sizing, measure_sizing

__all__ = [
    "ENTRYPOINT",
    "ExportResult",
    "ImportResult",
    "OnnxResult",
    "PackageResult",
    "Sizing",
    "derive_sizing",
    "embed_version",
    "export_mlflow",
    "export_onnx",
    "import_mlflow",
    "kubernetes_manifests",
    "measure_sizing",
    "package_version",
    "write_manifests",
]
