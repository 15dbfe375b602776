"""`charter export VERSION --format mlflow`: a version as an MLflow model directory.

The directory is an MLflow pyfunc model saved "from code": its `entry.py` sets a
`charter.export._mlflow_model.CharterModel`, which loads the version packed under
`artifacts/charter/` and scores with charter's own code, so `mlflow.pyfunc.load_model(OUT)`
and `mlflow models serve -m OUT` give the predictions `charter score` gives. The signature names
every contract column (the target excepted) with its type; the requirements pin the packages
the version was trained with (from its lineage) and carry charter's wheel under `wheels/`. No
MLflow tracking server is involved. Before it is moved into place, the model is loaded back and
must give exactly charter's scores and decisions on the version's holdout rows.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from charter.errors import CharterError, UsageError
from charter.export._container import _check_out, _chosen, _contract_text
from charter.export._extras import require
from charter.export._holdout import HoldoutRows, holdout_rows
from charter.export._lock import charter_wheel, version_lock
from charter.registry import ModelVersion
from charter.registry._files import sha256
from charter.registry._versions import CONTRACT, MANIFEST, SCORING
from charter.spec._contract import DataContract

if TYPE_CHECKING:
    from charter.api import Project
    from charter.export._mlflow_model import PackedVersion
    from charter.serving._service import Deployed

__all__ = ["ExportResult", "export_mlflow", "signature_columns"]

_ENTRY = """\
# The MLflow "model from code" of a charter version: nothing is unpickled when it loads.
import mlflow.models

from charter.export._mlflow_model import CharterModel

mlflow.models.set_model(CharterModel())
"""
_EXAMPLE_ROWS = 5
_TYPES = {
    "integer": "long",
    "number": "double",
    "string": "string",
    "boolean": "boolean",
    "date": "datetime",
    "timestamp": "datetime",
}
_FEATURE_TYPES = {"number": "double", "category": "string", "date": "datetime"}


@dataclass(frozen=True)
class ExportResult:
    """What `export_mlflow` wrote into `out`, and how it was checked."""

    out: Path
    version: ModelVersion
    inputs: dict[str, tuple[str, bool]]  # signature: column -> (MLflow type, required)
    outputs: tuple[str, ...]
    requirements: tuple[str, ...]  # as requirements.txt lists them
    wheel: Path | None  # charter's wheel inside `out`, when it could be built
    checked_rows: int  # holdout rows keeping the contract, scored both ways before writing
    checked_on: str
    max_difference: float  # largest absolute score difference found (0.0: identical)
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain data; paths as text."""
        return {
            "format": "mlflow",
            "out": str(self.out),
            "project": self.version.project,
            "version": self.version.number,
            "candidate": self.version.candidate,
            "kind": self.version.kind,
            "inputs": {k: {"type": t, "required": r} for k, (t, r) in self.inputs.items()},
            "outputs": list(self.outputs),
            "requirements": list(self.requirements),
            "wheel": None if self.wheel is None else self.wheel.name,
            "checked_rows": self.checked_rows,
            "checked_on": self.checked_on,
            "max_difference": self.max_difference,
            "warnings": list(self.warnings),
        }


def export_mlflow(
    project: Project, version: str | int | None, out: Path, *, wheel: bool = True
) -> ExportResult:
    """Write `version` (default: production) as an MLflow pyfunc model into `out`, a new or
    empty folder; `wheel=False` pins `charter==X` instead of carrying charter's wheel.

    Raises a UsageError naming `pip install 'charter[mlflow]'` when MLflow is not installed.

    Example:
        >>> result = export_mlflow(Project("charter.yaml"), "v3", Path("export/churn-v3"))  # doctest: +SKIP
        >>> mlflow.pyfunc.load_model("export/churn-v3").predict(frame)  # doctest: +SKIP
    """
    require("mlflow", "mlflow.pyfunc", purpose="Exporting a version to MLflow")
    out = Path(out)
    _check_out(out)
    chosen = _chosen(project, version)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result = _write(project, chosen, scratch, wheel=wheel)
        staged = scratch / "model"
        staged.chmod(0o755)
        if out.exists():
            out.rmdir()  # checked empty above
        staged.rename(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _moved(result, out)


def signature_columns(
    contract: DataContract, scoring: dict[str, Any]
) -> dict[str, tuple[str, bool]]:
    """Column -> (MLflow type, required) for a version: every contract column but the target,
    then features the contract does not name. A column is required when the model reads it and
    the contract says it is required and never empty; integer columns that may be empty are
    doubles (pandas holds empty integers as floats)."""
    features = list(scoring["features"])
    types: dict[str, str] = scoring.get("feature_types", {})
    columns: dict[str, tuple[str, bool]] = {}
    for name, rule in contract.columns.items():
        if name == contract.target or name == scoring.get("target"):
            continue
        kind = _TYPES[rule.type]
        if kind == "long" and rule.nullable:
            kind = "double"
        columns[name] = (kind, name in features and rule.required and not rule.nullable)
    for name in features:
        if name not in columns:
            columns[name] = (_FEATURE_TYPES.get(types.get(name, "number"), "double"), False)
    return columns


def _write(project: Project, version: ModelVersion, scratch: Path, *, wheel: bool) -> ExportResult:
    import mlflow.pyfunc

    from charter.export._mlflow_model import ARTIFACT, PackedVersion, output_columns
    from charter.serving._service import deploy

    deployed = deploy(project, version)
    scoring = json.loads(project.registry().read(version, SCORING))
    fallback = _pack(project, version, deployed, scratch / ARTIFACT)
    contract = deployed.contract
    inputs = signature_columns(contract, scoring)
    outputs = output_columns(scoring["task"])
    warnings: list[str] = []
    packed = PackedVersion(deployed, fallback)
    rows = holdout_rows(project, version, scoring)
    good = _good_rows(rows, inputs, packed)
    example = _example(rows, good, warnings)
    requirements, built = _requirements(project, version, scratch / "wheels", wheel, warnings)
    entry = scratch / "entry.py"
    entry.write_text(_ENTRY, encoding="utf-8")
    model = scratch / "model"
    with _quiet_mlflow():  # its INFO lines (validating the example) are not the user's concern
        mlflow.pyfunc.save_model(
            path=str(model),
            python_model=str(entry),
            artifacts={ARTIFACT: str(scratch / ARTIFACT)},
            signature=_signature(inputs, scoring["task"]),
            input_example=example,
            pip_requirements=requirements,
            metadata={
                "charter_project": version.project,
                "charter_version": version.number,
                "charter_candidate": version.candidate,
                "charter_kind": version.kind,
                "charter_threshold": deployed.threshold,
            },
        )
    if built is not None:
        (model / "wheels").mkdir()
        shutil.copy2(built, model / "wheels" / built.name)
    difference = _check(model, good, packed, rows.source)
    listed = (model / "requirements.txt").read_text(encoding="utf-8").split()
    return ExportResult(
        out=model,
        version=version,
        inputs=inputs,
        outputs=outputs,
        requirements=tuple(listed),
        wheel=None if built is None else model / "wheels" / built.name,
        checked_rows=len(good),
        checked_on=rows.source,
        max_difference=difference,
        warnings=tuple(warnings),
    )


def _pack(project: Project, version: ModelVersion, deployed: Deployed, folder: Path) -> bool:
    """Write the version's files and version.json into `folder`; return the fallback setting."""
    from charter.export._mlflow_model import FILES, FORMAT, VERSION_FILE

    registry = project.registry()
    files = {name: registry.read(version, name) for name in sorted(version.artifacts)}
    if CONTRACT not in files:
        text = _contract_text(project, version)
        if text is None:
            raise UsageError(
                f"{version.label} has no data contract, and neither has the project; run "
                "`charter audit` to write contract.yaml, then export again."
            )
        files[CONTRACT] = text.encode("utf-8")
    (folder / FILES).mkdir(parents=True)
    for name, data in files.items():
        (folder / FILES / name).write_bytes(data)
    settings = project.charter.serving
    band = settings.uncertain_band
    meta = {
        "format": FORMAT,
        "version": {
            "project": version.project,
            "number": version.number,
            "candidate": version.candidate,
            "kind": version.kind,
            "run": version.run,
            "selected": version.selected,
            "created": version.created,
            "created_by": version.created_by,
            "location": version.location,
            "record": version.record,
            "aliases": list(version.aliases),
        },
        "files": {name: sha256(data) for name, data in files.items()},
        "threshold": deployed.threshold,
        "rule": deployed.scorer.rule,
        "entity": deployed.entity,
        "serving": {
            "fallback": settings.fallback,
            "max_missing_share": settings.max_missing_share,
            "uncertain_band": None if band is None else list(band),
        },
    }
    text = json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
    (folder / VERSION_FILE).write_text(text, encoding="utf-8")
    return settings.fallback == "baseline"


def _signature(inputs: dict[str, tuple[str, bool]], task: str) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, DataType, Schema

    outputs: list[Any] = [ColSpec("long", "version")]
    if task == "classification":
        outputs += [
            ColSpec("double", "score"),
            ColSpec("string", "decision"),
            ColSpec("boolean", "fallback"),
        ]
    else:
        outputs.append(ColSpec("double", "value"))
    outputs.append(ColSpec(Array(DataType.string), "flags"))
    columns: list[Any] = [
        ColSpec(kind, name, required=required) for name, (kind, required) in inputs.items()
    ]
    return ModelSignature(inputs=Schema(columns), outputs=Schema(outputs))


def _example(rows: HoldoutRows, good: pd.DataFrame, warnings: list[str]) -> pd.DataFrame | None:
    """A few holdout rows that keep the contract, typed as the signature says."""
    if rows.raw is None:
        warnings.append(f"no input example: checked on {rows.source}.")
        return None
    if good.empty:
        warnings.append("no input example: none of the holdout rows keeps the contract.")
        return None
    return good.head(_EXAMPLE_ROWS).reset_index(drop=True)


def _good_rows(
    rows: HoldoutRows, inputs: dict[str, tuple[str, bool]], packed: PackedVersion
) -> pd.DataFrame:
    """The holdout rows that keep the contract, as a client sends them: the signature's columns,
    dates as pandas datetimes (as MLflow hands them over). Empty without raw rows."""
    if rows.raw is None:
        return pd.DataFrame()
    columns = {}
    for name, (kind, _) in inputs.items():
        if name not in rows.raw.columns:
            continue
        values = rows.raw[name]
        if kind == "datetime":
            values = pd.to_datetime(values, utc=True).dt.tz_localize(None)
        elif kind == "double":
            values = pd.to_numeric(values, errors="coerce").astype("float64")
        columns[name] = values
    typed = pd.DataFrame(columns)
    check = packed.deployed.checker.check_table(pa.Table.from_pandas(typed, preserve_index=False))
    return typed[np.asarray(check.good, dtype=bool)].reset_index(drop=True)


def _requirements(
    project: Project, version: ModelVersion, wheels: Path, wheel: bool, warnings: list[str]
) -> tuple[list[str], Path | None]:
    """The trained-with pins, and charter as its wheel (`wheels/...`) or a pinned requirement."""
    lock = version_lock(version, json.loads(project.registry().read(version, MANIFEST)))
    if lock.source != "lineage":
        warnings.append(
            f"{version.label}'s lineage records no package versions; the requirements pin "
            f"those of {lock.source}."
        )
    pins = [f"{name}=={pin}" for name, pin in sorted(lock.pins.items()) if name != "charter"]
    trained_with = lock.pins.get("charter")
    if not wheel:
        return [*pins, f"charter=={trained_with or metadata.version('charter')}"], None
    built = charter_wheel(wheels, trained_with=trained_with)
    if built.wheel is None:
        warnings.append(
            f"no charter wheel ({built.reason}); the model requires {built.requirement}."
        )
        return [*pins, str(built.requirement)], None
    return [*pins, f"wheels/{built.wheel.name}"], built.wheel


def _check(model: Path, good: pd.DataFrame, packed: PackedVersion, where: str) -> float:
    """Load the saved model with MLflow and score the rows both ways: the scores must be
    identical and the decisions the same. Returns the largest score difference (0.0)."""
    import mlflow.pyfunc

    from charter.export._mlflow_model import score_frame

    if good.empty:
        return 0.0
    ours = score_frame(packed, good)
    theirs = mlflow.pyfunc.load_model(str(model)).predict(good)
    column = "score" if "score" in ours.columns else "value"
    difference = float(np.max(np.abs(ours[column].to_numpy() - theirs[column].to_numpy())))
    same_decisions = "decision" not in ours.columns or bool(
        (ours["decision"].to_numpy() == theirs["decision"].to_numpy()).all()
    )
    if difference != 0.0 or not same_decisions:
        raise CharterError(
            f"the MLflow model of {packed.deployed.version.label} does not score as charter does "
            f"on {where} (largest score difference {difference:.3g}, decisions "
            f"{'the same' if same_decisions else 'differ'}); nothing was exported."
        )
    return difference


def _moved(result: ExportResult, out: Path) -> ExportResult:
    wheel = None if result.wheel is None else out / "wheels" / result.wheel.name
    return replace(result, out=out, wheel=wheel)


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
