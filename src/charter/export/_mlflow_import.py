"""`charter import-mlflow MODEL_URI`: a team's MLflow model faces charter's holdout and gates.

The model is wrapped as a candidate that is fitted already (see `_mlflow_candidate`) and goes
through the same path `charter train` takes, with only the baseline beside it: the recorded
holdout, the folds, the threshold chosen for the business value, the gain over the baseline with
its interval, the fairness gap, the leaderboard and the run folder. A model with MLflow's
scikit-learn flavour is then registered as a version (saved with skops, like any custom
candidate), so it can be promoted through the gates, served and monitored. Any other flavour is
compared the same way but not registered: loading it means running MLflow's loader (unpickling
or executing code), which charter never does from its store.

Loading the model at import runs MLflow's loader once, on this machine: import models you trust.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from charter.errors import UsageError
from charter.export._extras import require
from charter.export._mlflow_candidate import (
    ImportedCandidate,
    PyfuncCandidate,
    check_features,
    check_name,
    positive_index,
    relabelled,
)
from charter.modeling._artifacts import serialise_candidate
from charter.modeling._candidates import Candidate
from charter.modeling._frame import ModelingFrame, Task, build_frame
from charter.modeling._result import TrainResult
from charter.modeling._train import guess_task, train
from charter.registry import ModelVersion

if TYPE_CHECKING:
    from charter.api import Project

__all__ = ["ImportResult", "import_mlflow"]

_SAMPLE_ROWS = 500  # rows the model must score before the run starts (fails early, clearly)


@dataclass(frozen=True)
class ImportResult:
    """An imported MLflow model, validated beside the baseline; registered when it can be stored."""

    uri: str
    candidate: str
    flavors: tuple[str, ...]
    result: TrainResult  # the leaderboard: the imported model and the baseline
    version: ModelVersion | None  # the registered version; None when it could not be stored
    not_registered: str | None = None  # why it was compared but not registered

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the run's documented JSON under `result`."""
        return {
            "uri": self.uri,
            "candidate": self.candidate,
            "flavors": list(self.flavors),
            "version": None if self.version is None else self.version.number,
            "not_registered": self.not_registered,
            "result": self.result.to_dict(),
        }


def import_mlflow(
    project: Project,
    model_uri: str,
    *,
    name: str | None = None,
    seed: int = 0,
    folds: int = 5,
    on_step: Callable[[str], None] | None = None,
) -> ImportResult:
    """Validate the MLflow model at `model_uri` (a local directory, `runs:/...`, `models:/...` or
    any URI MLflow loads without a server) beside the baseline; register it when it has the
    scikit-learn flavour. `name` is its name on the leaderboard (default: from the URI).

    Raises a UsageError naming `pip install 'charter[mlflow]'` when MLflow is not installed.

    Example:
        >>> imported = import_mlflow(Project("charter.yaml"), "mlruns/0/abc/artifacts/model")  # doctest: +SKIP
        >>> imported.version.label, imported.result.candidate(imported.candidate).test_value  # doctest: +SKIP
        ('v7', 41.3)
    """
    require("mlflow", "mlflow.pyfunc", purpose="Importing an MLflow model")
    info = _model_info(model_uri)
    flavors = tuple(sorted(info.flavors))
    label = check_name(name if name is not None else _default_name(model_uri))
    charter = project.charter
    dataset = project.dataset()
    task: Task = charter.task or guess_task(dataset, charter.target)
    sample = _sample(build_frame(charter, dataset, task=task))
    source = {
        "from": "mlflow",
        "uri": model_uri,
        "flavors": list(flavors),
        "run_id": info.run_id,
        "model_uuid": info.model_uuid,
    }
    inputs, required = _signature(info)
    candidate: Candidate
    if "sklearn" in info.flavors:
        candidate = _sklearn_candidate(model_uri, sample, inputs, label=label, source=source)
        reason = _unstorable(candidate)
    else:
        candidate = PyfuncCandidate(
            _pyfunc(model_uri),
            name=label,
            task=task,
            positive_class=sample.positive_class,
            inputs=inputs,
            required=required,
            source=source,
        )
        reason = (
            f"its flavour(s) ({', '.join(flavors)}) load by running MLflow's loader, which "
            "charter never does from its store; a model with the scikit-learn flavour is registered"
        )
    candidate.fit(sample).predict(sample)  # a model that cannot score charter's rows stops here
    if reason is None:
        result = project.train(
            seed=seed, folds=folds, only=["baseline"], extra=[candidate], on_step=on_step
        )
        version = project.version(result.versions[candidate.name])
        return ImportResult(model_uri, candidate.name, flavors, result, version)
    trained = train(
        charter,
        dataset,
        workspace=project.workspace,
        seed=seed,
        folds=folds,
        only=["baseline"],
        extra=[candidate],
        on_step=on_step,
    )
    return ImportResult(model_uri, candidate.name, flavors, trained.result, None, reason)


def _model_info(uri: str) -> Any:
    import mlflow.models
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as exc:
        raise UsageError(
            f"no MLflow model can be read at {uri!r}: {exc}. Give a model directory (with its "
            "MLmodel file), runs:/RUN_ID/PATH or models:/NAME/VERSION."
        ) from exc


def _pyfunc(uri: str) -> Any:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.pyfunc.load_model(uri)
    except (MlflowException, ImportError, OSError) as exc:
        raise UsageError(
            f"MLflow could not load the model at {uri!r}: {exc}. Install what the model needs "
            "(its requirements.txt) into this environment, then import it again."
        ) from exc


def _default_name(uri: str) -> str:
    parts = [p for p in re.split(r"[/\\:]+", uri.rstrip("/\\")) if p]
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", parts[-1] if parts else "").strip("_.-")
    if not tail or tail.lower() in {"model", "artifacts", "mlflow", "models", "runs"}:
        return "mlflow"
    return f"mlflow_{tail}"


def _sample(frame: ModelingFrame) -> ModelingFrame:
    return frame.subset(np.arange(min(frame.rows, _SAMPLE_ROWS)))


def _signature(info: Any) -> tuple[dict[str, str], list[str]]:
    """The model's input columns by MLflow type, and the required ones (none without a signature)."""
    signature = info.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return {}, []
    columns = signature.inputs.inputs
    return (
        {str(c.name): _type_name(c.type) for c in columns},
        [str(c.name) for c in columns if getattr(c, "required", True)],
    )


def _type_name(kind: Any) -> str:
    return str(getattr(kind, "name", kind))


def _sklearn_candidate(
    uri: str,
    sample: ModelingFrame,
    inputs: dict[str, str],
    *,
    label: str,
    source: dict[str, Any],
) -> ImportedCandidate:
    import mlflow.sklearn
    from sklearn.base import is_classifier, is_regressor

    model = mlflow.sklearn.load_model(uri)
    task = sample.task
    if (task == "classification" and not is_classifier(model)) or (
        task == "regression" and not is_regressor(model)
    ):
        raise UsageError(
            f"the MLflow model {uri!r} ({type(model).__name__}) is not a "
            f"{'classifier' if task == 'classification' else 'regressor'}, and the charter's "
            f"task is {task}."
        )
    named = getattr(model, "feature_names_in_", None)
    features = [str(f) for f in named] if named is not None else list(inputs)
    if not features:
        raise UsageError(
            f"the MLflow model {uri!r} says neither which columns it reads (no signature) nor "
            "what it was fitted on (no feature_names_in_); log it with a signature."
        )
    check_features(sample, features, name=label)
    dates = [f for f in features if inputs.get(f) == "datetime"]
    if dates:
        raise UsageError(
            f"the MLflow model {uri!r} reads {', '.join(dates)} as datetimes; charter gives "
            "scikit-learn models dates as days since 1970-01-01, as it trains its own. Refit it "
            "on that reading, or log it with a pyfunc flavour only (it is then compared, not "
            "registered)."
        )
    if task == "classification":
        positive = positive_index(model.classes_, sample.positive_class, name=label)
        model = relabelled(model, positive, sample.X[features], name=label)
    return ImportedCandidate(model, name=label, task=task, features=features, source=source)


def _unstorable(candidate: Candidate) -> str | None:
    """Why charter cannot store the candidate safely, or None when it can."""
    try:
        serialise_candidate(candidate)
    except UsageError as exc:
        return str(exc)
    return None
