"""Re-running the past: retraining a version from its recorded inputs, re-testing versions on today's rows."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from charter.data import open_dataset
from charter.errors import UsageError
from charter.modeling._boosted import BoostedCandidate
from charter.modeling._candidates import Candidate
from charter.modeling._frame import build_frame
from charter.modeling._splits import holdout_mask, load_holdout
from charter.modeling._train import charter_value, train
from charter.registry._files import sha256
from charter.registry._gates import Gate
from charter.registry._lineage import data_fingerprint, environment, git_state, holdout_identity
from charter.registry._registry import Registry
from charter.registry._versions import CHARTER, ModelVersion
from charter.spec import Charter, parse_charter

__all__ = ["Reproduction", "reproduce", "reproduction_gate", "retest"]

_RELATIVE = 1e-6
_ABSOLUTE = 1e-9


@dataclass(frozen=True)
class Reproduction:
    """A retraining from a version's recorded inputs, against what the version recorded.

    `metrics` holds (name, recorded, now) for each validated figure; `differences` says what
    changed between then and now among the inputs (data, charter, contract, holdout, code,
    packages); `mismatched` names the figures that differ beyond rounding.
    """

    version: ModelVersion
    metrics: tuple[tuple[str, float, float], ...]
    mismatched: tuple[str, ...]
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return not self.mismatched


def reproduce(
    registry: Registry,
    version: ModelVersion,
    *,
    charter_path: Path,
    workspace_folder: Path,
    on_step: Callable[[str], None] | None = None,
) -> Reproduction:
    """Retrain `version` from its recorded charter, settings and holdout on the data as it is now."""
    if version.kind == "custom":
        raise UsageError(
            f"{version.label} is a custom candidate ({version.candidate}); charter cannot rebuild "
            "your estimator from the record. Retrain it through the Python API with the same seed."
        )
    if version.lineage.get("cluster"):
        raise UsageError(
            f"{version.label} was trained on a Dask cluster ({version.lineage['cluster']}), where "
            "LightGBM's data-parallel training is close to but not bit-for-bit repeatable, and "
            "charter reproduce retrains on this machine; compare it with a new run of "
            "`charter train --cluster` instead."
        )
    project_folder = charter_path.resolve().parent
    recorded_text = registry.read(version, CHARTER).decode("utf-8")
    charter = parse_charter(recorded_text, source=f"{version.label}/{CHARTER}")
    lineage = version.lineage
    only, extra = _candidates(version)
    trained = train(
        charter,
        open_dataset(charter, base_dir=project_folder),
        workspace=workspace_folder,
        seed=int(lineage.get("seed", 0)),
        folds=int(lineage.get("folds", 5)),
        budget_seconds=float(lineage.get("budget_seconds", 60.0)),
        only=only,
        extra=extra,
        on_step=on_step,
    )
    now = trained.result.candidate(version.candidate)
    recorded = version.record
    figures: list[tuple[str, float, float]] = [
        ("cv value", float(recorded["cv"]["value"]), now.cv_mean),
        ("test value", float(recorded["test"]["value"]), now.test_value),
    ]
    figures += [
        (f"test {name}", float(value), float(now.test_metrics[name]))
        for name, value in recorded["test"].items()
        if name not in ("value", "value_ci") and name in now.test_metrics
    ]
    mismatched = tuple(name for name, then, today in figures if not _close(then, today))
    test_ids = np.asarray(trained.frame.row_id)[trained.test]
    current = {
        "data": data_fingerprint(trained.frame),
        "holdout": holdout_identity(load_holdout(workspace_folder / "holdout.parquet"), test_ids),
        "charter_sha256": _file_sha(charter_path),
        "contract_sha256": _file_sha(project_folder / "contract.yaml"),
        "git": git_state(project_folder),
        **environment(),
    }
    return Reproduction(version, tuple(figures), mismatched, tuple(_differences(lineage, current)))


def reproduction_gate(reproduction: Reproduction) -> Gate:
    name = "reproducible"
    if reproduction.matches:
        note = f"; note: {'; '.join(reproduction.differences)}" if reproduction.differences else ""
        return Gate(
            name,
            "pass",
            f"retrained from its recorded inputs: all {len(reproduction.metrics)} figures match{note}.",
        )
    what = ", ".join(reproduction.mismatched)
    why = (
        "; ".join(reproduction.differences)
        or "no recorded input differs, so the training itself varies"
    )
    return Gate(
        name, "fail", f"retrained from its recorded inputs, {what} differ. What changed: {why}."
    )


def retest(
    registry: Registry,
    charter: Charter,
    versions: Sequence[ModelVersion],
    *,
    project_folder: Path,
    workspace_folder: Path,
) -> dict[int, tuple[float, int]]:
    """Each version's business value on the test rows recorded today, as the charter values it now."""
    dataset = open_dataset(charter, base_dir=project_folder)
    holdout = load_holdout(workspace_folder / "holdout.parquet")
    found: dict[int, tuple[float, int]] = {}
    for version in versions:
        loaded = registry.load(version)
        scoring = loaded.scoring
        frame = build_frame(
            charter, dataset, task=scoring["task"], feature_types=scoring.get("feature_types")
        )
        test = frame.subset(np.flatnonzero(holdout_mask(frame, holdout)))
        predicted = loaded.model.predict(test)
        value = charter_value(charter, test.task, test.y, predicted, scoring.get("threshold"))
        found[version.number] = (float(value), test.rows)
    return found


def _candidates(version: ModelVersion) -> tuple[list[str], list[Candidate]]:
    """The built-in candidates to train again (the baseline always, to measure the gain)."""
    if version.kind == "boosted":
        params: dict[str, Any] = version.record.get("params", {})
        fixed = BoostedCandidate(
            version.record["task"],
            seed=int(version.lineage.get("seed", 0)),
            budget_seconds=float(version.lineage.get("budget_seconds", 60.0)),
            config=params.get("config") or None,
        )
        return ["baseline"], [fixed]
    return sorted({"baseline", version.kind}), []


def _differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    found = []
    if then.get("data", {}).get("sha256") != now["data"]["sha256"]:
        found.append(
            f"data: {then.get('data', {}).get('rows', '?'):,} rows then, {now['data']['rows']:,} "
            "now, or their content or columns changed"
        )
    if then.get("holdout", {}).get("test_sha256") != now["holdout"]["test_sha256"]:
        found.append("holdout: the test rows are not the same ones")
    if then.get("charter_sha256") != now["charter_sha256"]:
        found.append("charter: charter.yaml has changed since (the recorded charter was used)")
    if then.get("contract_sha256") != now["contract_sha256"]:
        found.append("contract: contract.yaml has changed since")
    old_git, new_git = then.get("git"), now["git"]
    if (
        old_git
        and new_git
        and (old_git["commit"], old_git["dirty"]) != (new_git["commit"], new_git["dirty"])
    ):
        found.append(
            f"code: commit {old_git['commit'][:10]}{_dirty(old_git)} then, "
            f"{new_git['commit'][:10]}{_dirty(new_git)} now"
        )
    if then.get("python") != now["python"]:
        found.append(f"python: {then.get('python')} then, {now['python']} now")
    changed = [
        f"{name} {version} → {now['packages'].get(name)}"
        for name, version in then.get("packages", {}).items()
        if now["packages"].get(name) != version
    ]
    if changed:
        found.append(f"packages: {', '.join(changed)}")
    return found


def _dirty(git: dict[str, Any]) -> str:
    return " with uncommitted changes" if git["dirty"] else ""


def _close(then: float, now: float) -> bool:
    if math.isnan(then) and math.isnan(now):
        return True
    return math.isclose(then, now, rel_tol=_RELATIVE, abs_tol=_ABSOLUTE)


def _file_sha(path: Path) -> str | None:
    return sha256(path.read_bytes()) if path.is_file() else None
