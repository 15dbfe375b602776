"""What a package installs: the exact package versions a version was trained with, and charter.

The pins come from the version's lineage (`packages`: the libraries that shape what a model
learns or predicts, recorded at training time). charter itself goes in as a wheel built from the
installed source; when that cannot be built (charter was installed from a wheel or an index),
as the pinned requirement `charter==X` instead.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from charter.registry import ModelVersion
from charter.registry._lineage import PACKAGES

__all__ = ["Lock", "WheelOrPin", "charter_wheel", "lock_text", "version_lock"]

_BUILD_SECONDS = 300


@dataclass(frozen=True)
class Lock:
    """Exact versions to install (`name -> version`) and where they were read."""

    python: str
    pins: dict[str, str]
    source: Literal["lineage", "model manifest", "this environment"]


@dataclass(frozen=True)
class WheelOrPin:
    """charter as a built wheel (`wheel`) or, failing that, a pinned requirement, with the reason."""

    wheel: Path | None
    requirement: str | None
    reason: str | None


def version_lock(version: ModelVersion, manifest: dict[str, object] | None = None) -> Lock:
    """The pins of the packages `version` was trained with: its lineage's, else its model
    manifest's (written beside the model), else, said so, this environment's."""
    lineage = version.lineage
    python = str(lineage.get("python") or platform.python_version())
    recorded = lineage.get("packages")
    if isinstance(recorded, dict) and recorded:
        return Lock(python, _known(recorded), "lineage")
    written = (manifest or {}).get("versions")
    if isinstance(written, dict) and written:
        return Lock(python, _known(written), "model manifest")
    here: dict[str, str] = {}
    for name in PACKAGES:
        try:
            here[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return Lock(platform.python_version(), here, "this environment")


def lock_text(lock: Lock, version: ModelVersion, *, requirement: str | None) -> str:
    """requirements.lock: one `name==version` a line, charter excluded unless pinned as a requirement."""
    source = {
        "lineage": "its lineage",
        "model manifest": "its model manifest (the lineage records no packages)",
        "this environment": "THIS environment: the version records none",
    }[lock.source]
    lines = [
        f"# The exact package versions {version.project} {version.label} was trained with, from {source}.",
        f"# Trained on Python {lock.python}. Other dependencies resolve within charter's own ranges.",
    ]
    lines += [f"{name}=={pin}" for name, pin in sorted(lock.pins.items()) if name != "charter"]
    if requirement is not None:
        lines.append(requirement)
    return "\n".join(lines) + "\n"


def charter_wheel(into: Path, *, trained_with: str | None) -> WheelOrPin:
    """Build charter's wheel from the installed source into `into`; else pin `charter==X`
    (X: the version `trained_with`, or the installed one)."""
    installed = metadata.version("charter")
    pinned = f"charter=={trained_with or installed}"
    source = _source_tree()
    if source is None:
        return WheelOrPin(None, pinned, "charter is not installed from a source tree")
    with tempfile.TemporaryDirectory(prefix="charter-wheel-") as scratch:
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
                + ["--wheel-dir", scratch, str(source)],
                capture_output=True,
                text=True,
                timeout=_BUILD_SECONDS,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            return WheelOrPin(None, pinned, f"building the wheel failed: {last[0]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return WheelOrPin(None, pinned, f"building the wheel failed: {exc}")
        built = sorted(Path(scratch).glob("charter-*.whl"))
        if not built:
            return WheelOrPin(None, pinned, "pip built no charter wheel")
        into.mkdir(parents=True, exist_ok=True)
        wheel = into / built[0].name
        wheel.write_bytes(built[0].read_bytes())
    return WheelOrPin(wheel, None, None)


def _source_tree() -> Path | None:
    """The folder charter was installed from (pip's direct_url.json), when it holds pyproject.toml."""
    try:
        text = metadata.distribution("charter").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    url = urlparse(str(json.loads(text).get("url", "")))
    if url.scheme != "file":
        return None
    folder = Path(unquote(url.path))
    return folder if (folder / "pyproject.toml").is_file() else None


def _known(versions: dict[object, object]) -> dict[str, str]:
    return {str(name): str(pin) for name, pin in versions.items() if pin}
