"""`charter package`: a self-contained container build context for one version.

The context holds everything the image needs and nothing it must fetch from the project: the
Dockerfile, charter's wheel (or its pinned requirement), the lock of the packages the version
was trained with, and a minimal project folder (the charter, the contract and an embedded store
holding the version alone, in production) that `charter serve` runs from, configured by
environment variables only. Every file copied into the image is listed with its SHA-256 in
`SHA256SUMS`, which the build checks. It is written into a hidden folder beside OUT and renamed
into place, so a failure leaves no half-written context.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import SpecError, UsageError
from charter.export._embedded import STORE_FOLDER, embed_version
from charter.export._kubernetes import kubernetes_manifests, write_manifests
from charter.export._layout import LOG_DIR, PORT, VENV, resource_name
from charter.export._lock import Lock, WheelOrPin, charter_wheel, lock_text, version_lock
from charter.export._render import render_dockerfile, render_readme
from charter.export._sizing import Sizing, measure_sizing
from charter.registry import PRODUCTION, ModelVersion, Registry
from charter.registry._lineage import actor
from charter.registry._versions import CONTRACT, MANIFEST
from charter.spec import parse_charter

if TYPE_CHECKING:
    from charter.api import Project

__all__ = ["ENTRYPOINT", "PackageResult", "package_version"]

ENTRYPOINT = ("charter", "serve")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${VAR} without a :-default
_ENVIRONMENT = {
    "CHARTER_SERVE_HOST": ("0.0.0.0", "the address the service listens on"),
    "CHARTER_SERVE_PORT": (str(PORT), "the port"),
    "CHARTER_SERVE_WORKERS": (
        "1",
        "worker processes; add pods rather than workers (each worker counts its own /metrics)",
    ),
    "CHARTER_SERVE_RELOAD_SECONDS": ("2", "how often the service looks for an alias move"),
    "CHARTER_SERVE_LOG": (LOG_DIR, "the prediction log's folder (mount a volume to keep it)"),
    "CHARTER_SERVE_KEYS_FILE": ("", "a file of API keys, mounted from a secret; empty: none"),
    "CHARTER_STORE": (
        f"sqlite:///{STORE_FOLDER}/registry.db",
        "the metadata store, relative to the project: the embedded one in the image",
    ),
    "CHARTER_ARTIFACTS": (f"{STORE_FOLDER}/artifacts", "the artifact store, likewise"),
    "CHARTER_CACHE": (
        "/tmp/charter",
        "where the service keeps the trees it compiles for the pod's CPU (at start, in seconds)",
    ),
    "PYTHONUNBUFFERED": ("1", "messages reach the container's log at once"),
    "PYTHONDONTWRITEBYTECODE": ("1", "no bytecode files written at run time"),
}


@dataclass(frozen=True)
class PackageResult:
    """What `package_version` wrote: paths are inside `out`; `files` are relative to it."""

    out: Path
    version: ModelVersion
    image: str
    files: dict[str, str]  # every file copied into the image -> its SHA-256
    wheel: Path | None
    requirement: str | None
    lock: dict[str, str]
    lock_source: str
    python: str
    install_command: tuple[str, ...]  # as the Dockerfile runs it, from `out`
    entrypoint: tuple[str, ...]
    environment: dict[str, str]  # the Dockerfile's ENV
    sizing: Sizing | None = None
    manifests: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def dockerfile(self) -> Path:
        """The build context's Dockerfile."""
        return self.out / "Dockerfile"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (as charter-package.json keeps it); paths relative to `out`."""
        return {
            "project": self.version.project,
            "version": self.version.number,
            "candidate": self.version.candidate,
            "kind": self.version.kind,
            "image": self.image,
            "python": self.python,
            "wheel": None if self.wheel is None else self.wheel.name,
            "requirement": self.requirement,
            "lock": self.lock,
            "lock_source": self.lock_source,
            "install_command": list(self.install_command),
            "entrypoint": list(self.entrypoint),
            "environment": self.environment,
            "files": self.files,
            "sizing": None if self.sizing is None else self.sizing.to_dict(),
            "manifests": [p.relative_to(self.out).as_posix() for p in self.manifests],
            "warnings": list(self.warnings),
        }


def package_version(
    project: Project,
    version: str | int | None,
    out: Path,
    *,
    kubernetes: bool = False,
    image: str | None = None,
    workers: int = 1,
    requests_per_second: float = 50.0,
) -> PackageResult:
    """Write a container build context for `version` (default: production) into `out`, a new or
    empty folder; with `kubernetes`, also manifests sized from the version's measured size and
    latency (`workers` per pod, `requests_per_second` per pod at the requested CPU).

    Example:
        >>> result = package_version(Project("charter.yaml"), "production", Path("build/churn"))  # doctest: +SKIP
        >>> result.image, result.dockerfile.name  # doctest: +SKIP
        ('churn:v3', 'Dockerfile')
    """
    out = Path(out)
    _check_out(out)
    if not 1 <= workers <= 64:
        raise UsageError(f"workers={workers} must be between 1 and 64.")
    if not requests_per_second > 0:
        raise UsageError(f"requests_per_second={requests_per_second} must be above 0.")
    chosen = _chosen(project, version)
    tag = image or f"{resource_name(chosen.project)}:{chosen.label}"
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the context from the user's other tools
    try:
        result = _write(
            project,
            chosen,
            staging,
            image=tag,
            kubernetes=kubernetes,
            workers=workers,
            requests_per_second=requests_per_second,
        )
        if out.exists():
            out.rmdir()  # checked empty above
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _moved(result, staging, out)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; name a new or empty folder for the build context.")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"{out} is not empty; package into a new or empty folder, so that no stray file "
            "ends up in the image (e.g. remove it, or add the version to the name)."
        )


def _chosen(project: Project, version: str | int | None) -> ModelVersion:
    if version is None:
        if PRODUCTION not in project.registry().aliases(project.charter.project):
            raise UsageError(
                f"{project.charter.project} has no version in production; promote one, or name "
                "the version to package (e.g. v3). `charter models` lists them."
            )
        return project.version(PRODUCTION)
    return project.version(version)


def _write(
    project: Project,
    version: ModelVersion,
    folder: Path,
    *,
    image: str,
    kubernetes: bool,
    workers: int,
    requests_per_second: float,
) -> PackageResult:
    """Write the whole context into `folder`; return what was written."""
    registry = project.registry()
    warnings: list[str] = []
    charter_text = _write_project(project, version, folder / "project")
    lock, built = _write_packages(registry, version, folder, warnings)
    environment = {name: value for name, (value, _) in _ENVIRONMENT.items()}
    variables = _charter_variables(charter_text, environment, warnings)
    sizing = None
    manifests: list[Path] = []
    if kubernetes:
        sizing = measure_sizing(
            registry, version, workers=workers, requests_per_second=requests_per_second
        )
        found = kubernetes_manifests(version, image=image, charter_text=charter_text, sizing=sizing)
        manifests = write_manifests(folder / "kubernetes", found)
    files = _digests(folder, ["wheels", "requirements.lock", "project"])
    (folder / "SHA256SUMS").write_text(
        "".join(f"{digest}  {name}\n" for name, digest in files.items()), encoding="utf-8"
    )
    result = PackageResult(
        out=folder,
        version=version,
        image=image,
        files=files,
        wheel=built.wheel,
        requirement=built.requirement,
        lock=dict(sorted(lock.pins.items())),
        lock_source=lock.source,
        python=lock.python,
        install_command=(f"{VENV}/bin/pip", "install", "--no-cache-dir", "-r", "requirements.lock")
        + ((f"wheels/{built.wheel.name}",) if built.wheel is not None else ()),
        entrypoint=ENTRYPOINT,
        environment=environment,
        sizing=sizing,
        manifests=tuple(manifests),
        warnings=tuple(warnings),
    )
    _write_documents(folder, result, project, variables)
    return result


def _write_project(project: Project, version: ModelVersion, served: Path) -> str:
    """The folder `charter serve` runs from: the version alone in an embedded store, the
    project's charter and the version's contract. Returns the charter's text."""
    embed_version(project.registry(), version, served, actor=actor())
    charter_text = project.path.read_text(encoding="utf-8")
    (served / "charter.yaml").write_text(charter_text, encoding="utf-8")
    contract = _contract_text(project, version)
    if contract is not None:
        (served / "contract.yaml").write_text(contract, encoding="utf-8")
    return charter_text


def _write_packages(
    registry: Registry, version: ModelVersion, folder: Path, warnings: list[str]
) -> tuple[Lock, WheelOrPin]:
    """requirements.lock from the version's lineage, and charter's wheel under wheels/."""
    lock = version_lock(version, json.loads(registry.read(version, MANIFEST)))
    if lock.source != "lineage":
        warnings.append(
            f"{version.label}'s lineage records no package versions; requirements.lock pins "
            f"those of {lock.source}."
        )
    built = charter_wheel(folder / "wheels", trained_with=lock.pins.get("charter"))
    installed = metadata.version("charter")
    if built.reason is not None:
        warnings.append(
            f"no charter wheel ({built.reason}); the image installs {built.requirement}."
        )
    elif lock.pins.get("charter") not in (None, installed):
        warnings.append(
            f"{version.label} was trained with charter {lock.pins['charter']}; the wheel is "
            f"charter {installed} (the installed source)."
        )
    (folder / "requirements.lock").write_text(
        lock_text(lock, version, requirement=built.requirement), encoding="utf-8"
    )
    return lock, built


def _write_documents(
    folder: Path, result: PackageResult, project: Project, variables: list[str]
) -> None:
    """The Dockerfile, the README and charter-package.json."""
    version = result.version
    packaged = datetime.now(UTC).isoformat(timespec="seconds")
    source = project.registry().store.where
    context = {
        "project": version.project,
        "label": version.label,
        "candidate": version.candidate,
        "kind": version.kind,
        "created": version.created,
        "created_by": version.created_by,
        "aliases": ", ".join(version.aliases),
        "source": source,
        "charter_version": metadata.version("charter"),
        "packaged": packaged,
        "python": result.python,
        "python_minor": ".".join(result.python.split(".")[:2]),
        "image": result.image,
        "install_command": shlex.join(result.install_command),
        "local_install_command": shlex.join(("venv/bin/pip", *result.install_command[1:])),
        "entrypoint": json.dumps(list(result.entrypoint)),
        "charter_variables": variables,
        "require_key": project.charter.serving.require_key,
        "sizing_lines": result.sizing.derivation() if result.sizing is not None else [],
        "variables": [(n, v, meaning) for n, (v, meaning) in _ENVIRONMENT.items()],
        "environment": list(result.environment.items()),
        "result": result,
    }
    (folder / "Dockerfile").write_text(render_dockerfile(context), encoding="utf-8")
    (folder / "README.md").write_text(render_readme(context), encoding="utf-8")
    summary = {**result.to_dict(), "packaged": packaged, "source": source}
    (folder / "charter-package.json").write_text(
        json.dumps(summary, indent=2) + "\n", encoding="utf-8"
    )


def _contract_text(project: Project, version: ModelVersion) -> str | None:
    """The contract the version was trained under (stored with it), else the project's."""
    if CONTRACT in version.artifacts:
        return project.registry().read(version, CONTRACT).decode("utf-8")
    path = project.contract_path
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _charter_variables(text: str, environment: dict[str, str], warnings: list[str]) -> list[str]:
    """`${VAR}`s the charter needs that the image does not set: set empty, and checked."""
    names = sorted({n for n in _VARIABLE.findall(text) if n not in environment})
    try:
        parse_charter(text, environ={**environment, **dict.fromkeys(names, "")})
    except SpecError as exc:
        warnings.append(
            f"the charter does not load with {', '.join(names)} empty, as the image sets them; "
            f"set them when running the container. {exc}"
        )
    return names


def _digests(folder: Path, roots: list[str]) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `roots` (files or folders), sorted."""
    found: dict[str, str] = {}
    for root in roots:
        start = folder / root
        paths = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
        for path in paths:
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return dict(sorted(found.items()))


def _moved(result: PackageResult, staging: Path, out: Path) -> PackageResult:
    """The result with its paths moved from the staging folder to `out`."""

    def moved(path: Path) -> Path:
        return out / path.relative_to(staging)

    return replace(
        result,
        out=out,
        wheel=None if result.wheel is None else moved(result.wheel),
        manifests=tuple(moved(p) for p in result.manifests),
    )
