"""The MLflow pyfunc model of a charter version: charter's own scoring, from files packed beside it.

`export_mlflow` packs a version into the MLflow model's `artifacts/charter/` folder: every file
of the version (the model in its safe format, scoring settings, contract, reference statistics,
example rows) and `version.json`, which holds the version's record, the SHA-256 of every packed
file, and what its service applies beyond the model: the decision threshold in force, the
baseline rule, the humility settings and the fallback. `CharterModel.load_context` checks every
file against its digest and builds the same `Deployed` bundle `charter serve` builds;
`predict` checks the frame against the data contract and scores it as `charter score` does.

Nothing is unpickled: the MLflow model is saved "from code" (`entry.py` sets a `CharterModel`),
and the version's files are read by charter's loaders.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from mlflow.pyfunc.model import PythonModel

from charter.errors import CharterError, ContractError
from charter.modeling._artifacts import deserialise_candidate
from charter.registry import ModelVersion
from charter.registry._versions import (
    CONTRACT,
    EXAMPLES,
    MANIFEST,
    REFERENCE,
    SCORING,
    examples_frame,
)
from charter.serving._humility import Humility, flag_lists
from charter.serving._records import RecordChecker
from charter.serving._scorer import Scorer
from charter.serving._service import Deployed, column_decisions
from charter.spec._contract import parse_contract

__all__ = [
    "ARTIFACT",
    "FILES",
    "FORMAT",
    "VERSION_FILE",
    "CharterModel",
    "PackedVersion",
    "load_packed",
    "output_columns",
    "score_frame",
]

ARTIFACT = "charter"
"""The MLflow artifact key (and folder under `artifacts/`) holding the packed version."""
VERSION_FILE = "version.json"
FILES = "files"
FORMAT = 1
_SHOWN_PROBLEMS = 5  # rows named in the error for a frame that breaks the contract


@dataclass(frozen=True)
class PackedVersion:
    """A packed version, loaded: what serves it, and whether flagged rows fall back to the rule."""

    deployed: Deployed
    fallback: bool


class CharterModel(PythonModel):
    """An MLflow pyfunc model scoring with a packed charter version (see the module docstring).

    Example:
        >>> model = mlflow.pyfunc.load_model("export/churn-v3")  # doctest: +SKIP
        >>> model.predict(frame)[["score", "decision"]]  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._packed: PackedVersion | None = None

    def load_context(self, context: Any) -> None:
        """Load the packed version from the model's `charter` artifact, checking every file."""
        self._packed = load_packed(Path(context.artifacts[ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score the rows of `model_input` as `charter score` does.

        The DataFrame hint tells MLflow the model takes a table (no schema is inferred from it:
        the signature written at export says the columns); a list of records is taken too.
        """
        if self._packed is None:
            self.load_context(context)
        assert self._packed is not None
        return score_frame(self._packed, _frame(model_input))


def load_packed(folder: Path) -> PackedVersion:
    """The version packed in `folder` (`version.json` and `files/`), every file checked first."""
    meta = _read_json(folder / VERSION_FILE)
    if meta.get("format") != FORMAT:
        raise CharterError(
            f"{folder / VERSION_FILE} has format {meta.get('format')!r}; this charter reads "
            f"format {FORMAT}. Export the version again with this charter."
        )
    contents = {
        name: _checked(folder / FILES, name, digest) for name, digest in meta["files"].items()
    }
    version = ModelVersion(**{**meta["version"], "aliases": tuple(meta["version"]["aliases"])})
    manifest = json.loads(contents[MANIFEST])
    where = str(folder / FILES)
    model = deserialise_candidate(
        manifest, {name: contents[name] for name in manifest["files"]}, where=where
    )
    scoring = json.loads(contents[SCORING])
    contract = parse_contract(contents[CONTRACT].decode("utf-8"), source=f"{where}/{CONTRACT}")
    reference = json.loads(contents[REFERENCE]) if REFERENCE in contents else {}
    features = scoring["features"]
    serving = meta["serving"]
    band = serving.get("uncertain_band")
    threshold = meta["threshold"]
    deployed = Deployed(
        version=version,
        scorer=Scorer(
            model,
            scoring,
            threshold=threshold,
            rule=meta.get("rule"),
            background=examples_frame(contents[EXAMPLES], scoring),
        ),
        checker=RecordChecker(contract, features, feature_types=scoring.get("feature_types")),
        humility=Humility(
            reference,
            features,
            max_missing_share=float(serving["max_missing_share"]),
            uncertain_band=None if band is None else (float(band[0]), float(band[1])),
        ),
        contract=contract,
        threshold=threshold,
        entity=meta.get("entity"),
        reference=reference,
    )
    return PackedVersion(deployed, fallback=serving.get("fallback") == "baseline")


def score_frame(packed: PackedVersion, frame: pd.DataFrame) -> pd.DataFrame:
    """Score `frame`'s rows as `charter score` does: checked, scored, flagged, decided.

    Classification gives `score` (as people see it: calibrated when the version is),
    `decision` ("act" / "no action"), `fallback` (the baseline rule decided a flagged row) and
    `flags`; regression gives `value` and `flags`. Every row carries the `version` number.
    A frame with a row that breaks the data contract raises a ContractError naming the rows
    and fields at fault (never their values).
    """
    deployed = packed.deployed
    table = pa.Table.from_pandas(frame, preserve_index=False)
    check = deployed.checker.check_table(table)
    if check.bad_rows:
        raise ContractError(_problems(check.good, check.reasons.to_pylist()))
    scorer = deployed.scorer
    columns = scorer.table_features(table).columns(scorer.features)
    scored = scorer.score_columns(columns, table)
    classification = scored.decisions is not None
    codes = deployed.humility.codes(columns, scored.raw if classification else None)
    act, used = column_decisions(deployed, scored, codes, table, fallback=packed.fallback)
    rows = table.num_rows
    out: dict[str, Any] = {"version": np.full(rows, deployed.number, dtype=np.int64)}
    if act is not None:
        out["score"] = scored.shown
        out["decision"] = np.where(act, "act", "no action").astype(object)
        out["fallback"] = used
    else:
        out["value"] = scored.shown
    out["flags"] = flag_lists(codes)
    return pd.DataFrame(out, index=pd.RangeIndex(rows))


def output_columns(task: str) -> tuple[str, ...]:
    """The columns `score_frame` gives for a task, in order."""
    if task == "classification":
        return ("version", "score", "decision", "fallback", "flags")
    return ("version", "value", "flags")


def _frame(model_input: Any) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, Mapping):
        return pd.DataFrame([dict(model_input)])
    if isinstance(model_input, list) and all(isinstance(r, Mapping) for r in model_input):
        return pd.DataFrame([dict(r) for r in model_input])
    raise CharterError(
        f"a charter model scores a table of records (a DataFrame, or a list of records), not "
        f"{type(model_input).__name__}."
    )


def _problems(good: np.ndarray, reasons: list[str]) -> str:
    bad = [i for i, ok in enumerate(good) if not ok]
    shown = "; ".join(f"row {i}: {reasons[i]}" for i in bad[:_SHOWN_PROBLEMS])
    more = f" (and {len(bad) - _SHOWN_PROBLEMS} more)" if len(bad) > _SHOWN_PROBLEMS else ""
    return (
        f"{len(bad)} of {len(good)} rows break the data contract, so none was scored: "
        f"{shown}{more}. Fix those rows, or score the others."
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CharterError(
            f"{path} is missing: this MLflow model holds no packed charter version. Export it "
            "again with `charter export VERSION --format mlflow`."
        ) from None
    except ValueError as exc:
        raise CharterError(f"{path} is not valid JSON ({exc}); the export is damaged.") from exc
    if not isinstance(value, dict):
        raise CharterError(f"{path} does not hold a JSON object; the export is damaged.")
    return value


def _checked(folder: Path, name: str, digest: str) -> bytes:
    if Path(name).name != name or name in {"", ".", ".."}:
        raise CharterError(
            f"{folder.parent / VERSION_FILE} lists {name!r}, which is not a file name."
        )
    path = folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CharterError(
            f"{path} is missing; the export is incomplete. Export it again."
        ) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise CharterError(
            f"{path} does not match its SHA-256 in {VERSION_FILE}: it was changed after export. "
            "Export the version again."
        )
    return data
