"""Saving fitted candidates in safe formats, and loading them back only when nothing was changed.

A saved candidate is a folder: its model in a format that cannot run code when read (LightGBM's
text model, skops for scikit-learn objects, JSON for the rest) and `manifest.json`, which names
each file with its SHA-256. Loading checks every digest first, and reads skops files only when
every type they hold comes from scikit-learn, NumPy or SciPy (or is named in `trusted`).
Nothing is ever unpickled.

    folder/
      manifest.json       {"format", "kind", "name", "task", "files": {name: sha256}, "versions"}
      baseline.json       baseline: the rule flag and the fallback
      model.txt           boosted: booster.model_to_string()
      pipeline.skops      simple, custom: the fitted scikit-learn pipeline (or estimator)
      candidate.json      simple, boosted, custom: features, categories, settings, search results
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import scipy
import sklearn

from charter._atomic import write_bytes_atomic
from charter.errors import CharterError, UsageError
from charter.modeling._baseline import BaselineCandidate
from charter.modeling._boosted import BoostedCandidate
from charter.modeling._candidates import Candidate
from charter.modeling._simple import CustomCandidate, SimpleCandidate

__all__ = [
    "MANIFEST",
    "TRUSTED_MODULES",
    "deserialise_candidate",
    "json_bytes",
    "load_candidate",
    "save_candidate",
    "serialise_candidate",
]

MANIFEST = "manifest.json"
FORMAT = 1
TRUSTED_MODULES: tuple[str, ...] = ("sklearn", "numpy", "scipy")
"""Packages whose types a skops file may hold without being named in `trusted`."""

# Types outside those packages that fitted scikit-learn objects hold and that are safe to rebuild:
# skops checks the function a partial wraps as a type of its own.
_KNOWN_TYPES: frozenset[str] = frozenset({"functools.partial"})
_STATE = "candidate.json"
_BASELINE = "baseline.json"
_BOOSTER = "model.txt"
_PIPELINE = "pipeline.skops"
_FILES: dict[str, tuple[str, ...]] = {
    "baseline": (_BASELINE,),
    "simple": (_PIPELINE, _STATE),
    "boosted": (_BOOSTER, _STATE),
    "custom": (_PIPELINE, _STATE),
}


def serialise_candidate(
    candidate: Candidate, *, trusted: Collection[str] = ()
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A fitted candidate as files in safe formats, and the manifest naming each file's SHA-256.

    A custom estimator that skops cannot save, or whose types loading would refuse (outside
    scikit-learn, NumPy and SciPy and not in `trusted`), raises a UsageError instead.
    """
    if not getattr(candidate, "fitted", False):
        raise UsageError(f"candidate {candidate.name!r} is not fitted; fit it before saving it.")
    files = _serialise(candidate, trusted=trusted)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "kind": candidate.kind,
        "name": candidate.name,
        "task": getattr(candidate, "task", None),
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
        "versions": _versions(),
    }
    return files, manifest


def save_candidate(
    candidate: Candidate, folder: Path, *, trusted: Collection[str] = ()
) -> dict[str, Any]:
    """Write a fitted candidate into `folder` in safe formats; return its manifest.

    The manifest (also written as `manifest.json`, last) records each file's SHA-256; keep it
    with the model's record to detect a changed folder on load.

    Example:
        >>> manifest = save_candidate(fitted, Path("models/simple"))  # doctest: +SKIP
        >>> load_candidate(Path("models/simple"), expected=manifest).predict(frame)  # doctest: +SKIP
    """
    files, manifest = serialise_candidate(candidate, trusted=trusted)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_bytes_atomic(folder / name, data)
    write_bytes_atomic(folder / MANIFEST, json_bytes(manifest))
    return manifest


def load_candidate(
    folder: Path, *, expected: Mapping[str, Any] | None = None, trusted: Collection[str] = ()
) -> Candidate:
    """The fitted candidate saved in `folder`, after checking every file against the manifest.

    `expected` is the manifest `save_candidate` returned: when given, the folder's manifest
    must equal it, so a folder changed together with its manifest is refused too. A missing
    file, a changed file or a skops type outside scikit-learn, NumPy, SciPy and `trusted`
    raises a CharterError; nothing is deserialised before the checks pass.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    if expected is not None and _canonical(manifest) != _canonical(dict(expected)):
        raise CharterError(
            f"{folder / MANIFEST} differs from the manifest recorded when the model was saved; "
            "the artifact was changed or replaced. Save the model again from its training run."
        )
    contents = {
        name: _read_checked(folder, name, digest) for name, digest in manifest["files"].items()
    }
    return deserialise_candidate(manifest, contents, where=str(folder), trusted=trusted)


def deserialise_candidate(
    manifest: Mapping[str, Any],
    contents: Mapping[str, bytes],
    *,
    where: str,
    trusted: Collection[str] = (),
) -> Candidate:
    """The candidate from files already checked against `manifest` (`where` names them in errors)."""
    kind = manifest.get("kind")
    missing = [name for name in _FILES.get(str(kind), ()) if name not in contents]
    if kind not in _FILES or missing:
        raise CharterError(
            f"{where} does not hold a complete saved candidate (kind {kind!r}, missing "
            f"{', '.join(missing) or 'nothing'})."
        )
    if kind == "baseline":
        return BaselineCandidate.from_state(
            _json_state(contents[_BASELINE], f"{where}/{_BASELINE}")
        )
    state = _json_state(contents[_STATE], f"{where}/{_STATE}")
    if kind == "boosted":
        try:
            booster = lgb.Booster(model_str=contents[_BOOSTER].decode("utf-8"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise CharterError(f"{where}/{_BOOSTER} is not a LightGBM model: {exc}") from exc
        return BoostedCandidate.from_state(state, booster)
    model = _load_skops(contents[_PIPELINE], f"{where}/{_PIPELINE}", trusted=trusted)
    if kind == "simple":
        return SimpleCandidate.from_state(state, model)
    return CustomCandidate.from_state(state, model)


def _serialise(candidate: Candidate, *, trusted: Collection[str]) -> dict[str, bytes]:
    import skops.io as sio  # here, not at the top: skops costs half a second to import

    if isinstance(candidate, BaselineCandidate):
        return {_BASELINE: json_bytes(candidate.state())}
    if isinstance(candidate, BoostedCandidate) and candidate.booster_ is not None:
        text = candidate.booster_.model_to_string()
        return {_BOOSTER: text.encode("utf-8"), _STATE: json_bytes(candidate.state())}
    if isinstance(candidate, SimpleCandidate) and candidate.pipeline_ is not None:
        data = sio.dumps(candidate.pipeline_)
        _refuse_untrusted(data, trusted=trusted, name=candidate.name)
        return {_PIPELINE: data, _STATE: json_bytes(candidate.state())}
    if isinstance(candidate, CustomCandidate):
        try:
            data = sio.dumps(candidate.model_)
        except Exception as exc:  # skops raises many types for objects it cannot represent
            raise UsageError(
                f"candidate {candidate.name!r} ({type(candidate.estimator).__name__}) cannot be "
                f"saved safely: skops cannot represent it ({exc}). Use a scikit-learn estimator, "
                "or keep this candidate for comparison only."
            ) from exc
        _refuse_untrusted(data, trusted=trusted, name=candidate.name)
        return {_PIPELINE: data, _STATE: json_bytes(candidate.state())}
    raise UsageError(
        f"candidate {candidate.name!r} of type {type(candidate).__name__} cannot be saved safely: "
        "charter saves its baseline, simple, boosted and custom (scikit-learn) candidates only."
    )


def _refuse_untrusted(data: bytes, *, trusted: Collection[str], name: str) -> None:
    refused = _untrusted(data, trusted=trusted)
    if refused:
        raise UsageError(
            f"candidate {name!r} cannot be saved safely: it holds types from outside scikit-learn, "
            f"NumPy and SciPy ({', '.join(refused)}), which loading would refuse. Use scikit-learn "
            "parts, or pass these type names as trusted= when saving and loading."
        )


def _untrusted(data: bytes, *, trusted: Collection[str]) -> list[str]:
    import skops.io as sio

    allowed = _KNOWN_TYPES | set(trusted)
    return [
        name
        for name in sio.get_untrusted_types(data=data)
        if name not in allowed and name.split(".", 1)[0] not in TRUSTED_MODULES
    ]


def _load_skops(data: bytes, path: str, *, trusted: Collection[str]) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged archive surfaces as zip, JSON or key errors
        raise CharterError(f"{path} is not a readable skops file: {exc}") from exc
    refused = _untrusted(data, trusted=trusted)
    if refused:
        raise CharterError(
            f"{path} holds types charter does not trust ({', '.join(refused)}); it was not loaded. "
            "If you know where this model comes from, pass these type names as trusted=."
        )
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:  # skops reports damaged content with many exception types
        raise CharterError(f"{path} could not be loaded: {exc}") from exc


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise CharterError(
            f"{path} is missing: {folder} does not hold a saved candidate. Save one with "
            "save_candidate(), or point to the folder it was saved in."
        )
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise CharterError(f"{path} is not valid JSON ({exc}); the artifact is damaged.") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CharterError(f"{path} is not a candidate manifest: it has no 'files' mapping.")
    if manifest.get("format") != FORMAT:
        raise CharterError(
            f"{path} has format {manifest.get('format')!r}; this version of charter reads "
            f"format {FORMAT}. Upgrade charter or save the model again."
        )
    kind = manifest.get("kind")
    if kind not in _FILES:
        raise CharterError(f"{path} names kind {kind!r}; expected one of: {', '.join(_FILES)}.")
    missing = [name for name in _FILES[kind] if name not in manifest["files"]]
    if missing:
        raise CharterError(
            f"{path} does not list {', '.join(missing)}, which a {kind} candidate needs."
        )
    return manifest


def _read_checked(folder: Path, name: str, digest: Any) -> bytes:
    if not isinstance(name, str) or Path(name).name != name or name in {"", ".", ".."}:
        raise CharterError(
            f"{folder / MANIFEST} lists {name!r}, which is not a file name in {folder}."
        )
    path = folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CharterError(
            f"{path} is missing; the saved candidate is incomplete. Save the model again."
        ) from None
    if _sha256(data) != digest:
        raise CharterError(
            f"{path} does not match its SHA-256 in {MANIFEST}: it was changed after saving. "
            "Restore the original file or save the model again."
        )
    return data


def _json_state(data: bytes, path: str) -> dict[str, Any]:
    try:
        state = json.loads(data)
    except ValueError as exc:
        raise CharterError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise CharterError(f"{path} does not hold a JSON object.")
    return state


def json_bytes(value: Any) -> bytes:
    """Stable, readable JSON: sorted keys, no NaN."""
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False).encode("utf-8") + b"\n"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    import skops

    return {
        "scikit-learn": sklearn.__version__,
        "lightgbm": lgb.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
