"""Where a version came from: hashes of its inputs, the code, the packages, who and when."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from charter.modeling._frame import ModelingFrame
from charter.modeling._splits import Holdout

__all__ = [
    "PACKAGES",
    "actor",
    "data_fingerprint",
    "environment",
    "git_state",
    "holdout_identity",
]

PACKAGES = (
    "charter",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "scikit-learn",
    "scipy",
    "lightgbm",
    "skops",
)
"""The packages whose versions can change what a model learns or predicts."""


def actor() -> str:
    """Who is acting: `CHARTER_USER` when set (e.g. in CI or a service), else the login name."""
    named = os.environ.get("CHARTER_USER", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container user without passwd entry)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def environment() -> dict[str, Any]:
    """The Python version and the versions of the packages that shape a model."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}


def git_state(folder: Path) -> dict[str, Any] | None:
    """The commit checked out in `folder` and whether it has uncommitted changes; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def data_fingerprint(frame: ModelingFrame) -> dict[str, Any]:
    """A hash of the rows a run learned from (order-free), their columns and how each was read."""
    digest = hashlib.sha256()
    digest.update(json.dumps(frame.feature_types, sort_keys=True).encode())
    digest.update(json.dumps(list(map(str, frame.X.columns))).encode())
    digest.update(np.sort(np.asarray(frame.row_id, dtype=np.uint64)).tobytes())
    return {
        "sha256": digest.hexdigest(),
        "rows": frame.rows,
        "features": len(frame.X.columns),
    }


def holdout_identity(holdout: Holdout, test_row_ids: np.ndarray) -> dict[str, Any]:
    """The recorded holdout (its rows and how it was drawn) and the test rows actually used."""
    recorded = hashlib.sha256(np.asarray(holdout.row_ids, dtype=np.uint64).tobytes())
    recorded.update(f"{holdout.scheme}|{holdout.created.isoformat()}".encode())
    used = hashlib.sha256(np.sort(np.asarray(test_row_ids, dtype=np.uint64)).tobytes())
    return {
        "sha256": recorded.hexdigest(),
        "scheme": holdout.scheme,
        "created": holdout.created.isoformat(),
        "test_rows": len(test_row_ids),
        "test_sha256": used.hexdigest(),
    }
