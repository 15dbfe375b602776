"""The promotion gates: what a version must show before it may serve as `production`.

Each gate returns its verdict with the evidence behind it, in words an owner can check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from markupsafe import escape

from charter.errors import CharterError
from charter.registry._registry import LoadedVersion, Registry
from charter.registry._versions import CARD, CONTRACT, EXAMPLES, ModelVersion, examples_frame
from charter.spec import Charter

__all__ = [
    "Gate",
    "approval_gate",
    "baseline_gate",
    "documents_gate",
    "fairness_gate",
    "latency_gate",
    "measure_latency",
    "regression_gate",
]

Status = Literal["pass", "fail", "skip"]
Compare = Callable[[ModelVersion, ModelVersion], tuple[float, float, int]]
"""(new version, production) -> (new value, production value, rows), measured on today's test rows."""

_CARD_NAMES = "<dt>This card's candidate</dt><dd>"
_WARMUP = 20
_CALLS = 200


@dataclass(frozen=True)
class Gate:
    """One gate's verdict: `pass`, `fail`, or `skip` (not asked for), with its evidence."""

    name: str
    status: Status
    evidence: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def baseline_gate(version: ModelVersion) -> Gate:
    """Beats the baseline as the charter demands: the gain's lower bound above zero, target met."""
    name = "beats the baseline"
    gain = version.record.get("gain")
    metric = version.record.get("metric", "value")
    if version.kind == "baseline":
        return Gate(name, "fail", f"{version.label} is the baseline itself; it cannot beat itself.")
    if not gain:
        return Gate(
            name,
            "fail",
            "no baseline was trained beside this version, so no gain over one was measured.",
        )
    low, high = gain["ci"]
    evidence = f"{metric} gain {gain['value']:+.4g} per row, 95% interval {low:+.4g} to {high:+.4g}"
    if low <= 0:
        return Gate(
            name, "fail", f"{evidence}: the interval reaches zero, so the gain is not sure."
        )
    target = gain.get("target")
    if not gain.get("beats_baseline"):
        wanted = f"{target:.0%} of the baseline's value" if target is not None else "the target"
        return Gate(name, "fail", f"{evidence}: short of {wanted} the charter demands.")
    target_text = f"; the charter asks for {target:.0%}" if target is not None else ""
    return Gate(name, "pass", f"{evidence}{target_text}.")


def regression_gate(
    version: ModelVersion,
    production: ModelVersion | None,
    *,
    margin: float,
    compare: Compare | None,
) -> Gate:
    """Not worse than the production version on the same test rows by more than `margin`."""
    name = "no worse than production"
    if production is None:
        return Gate(name, "pass", "no version is in production yet.")
    metric = version.record.get("metric", "value")
    ours, theirs = version.lineage.get("holdout", {}), production.lineage.get("holdout", {})
    if ours.get("test_sha256") and ours.get("test_sha256") == theirs.get("test_sha256"):
        new, old = version.record["test"]["value"], production.record["test"]["value"]
        rows = int(ours.get("test_rows", 0))
        where = f"on the same {rows:,} test rows"
    elif compare is not None:
        try:
            new, old, rows = compare(version, production)
        except CharterError as exc:
            return Gate(
                name,
                "fail",
                f"the two versions were tested on different rows, and re-testing both failed: {exc}",
            )
        where = f"re-tested on today's {rows:,} test rows (their recorded test rows differ)"
    else:
        return Gate(
            name,
            "fail",
            f"{version.label} and production {production.label} were tested on different rows; they cannot be compared without the data.",
        )
    allowed = margin * abs(old)
    evidence = (
        f"{metric} {new:.4g} vs production {production.label} {old:.4g} {where}; "
        f"allowed drop {allowed:.4g} ({margin:.0%})"
    )
    return Gate(name, "pass" if new >= old - allowed else "fail", evidence + ".")


def fairness_gate(version: ModelVersion, limit: float | None) -> Gate:
    """The largest gap between sensitive groups within `constraints.max_fairness_gap`."""
    name = "fairness"
    found = version.record.get("fairness")
    if not found:
        return Gate(name, "pass", "no sensitive group large enough to compare (data.sensitive).")
    measured = f"largest gap {found['gap']:.3f} in {found['metric'].replace('_', ' ')} across {found['column']}"
    if limit is None:
        return Gate(
            name, "pass", f"{measured}; the charter sets no limit (constraints.max_fairness_gap)."
        )
    verdict: Status = "pass" if found["gap"] <= limit else "fail"
    return Gate(name, verdict, f"{measured}; limit {limit:.3f}.")


def measure_latency(loaded: LoadedVersion, registry: Registry) -> float:
    """The 99th percentile, in milliseconds, of single-row predictions on this machine, through
    the path the prediction service takes (a record's values to a score)."""
    from charter.serving._scorer import Scorer

    frame = examples_frame(registry.read(loaded.version, EXAMPLES), loaded.scoring)
    if frame.rows == 0:
        raise CharterError(f"{loaded.version.label} has no example rows to time predictions on.")
    scorer = Scorer(loaded.model, loaded.scoring, threshold=loaded.version.record.get("threshold"))
    records = [{f: _plain(frame.X[f].iloc[i]) for f in frame.X.columns} for i in range(frame.rows)]
    by_rule = loaded.version.kind == "baseline" and frame.baseline is not None
    times = []
    for index in range(_WARMUP + _CALLS):
        row = index % frame.rows
        start = time.perf_counter()
        if by_rule:  # the baseline's rule was evaluated when the examples were stored
            scorer.model.predict(frame.subset(np.array([row])))
        else:
            scorer.score(records[row : row + 1])
        if index >= _WARMUP:
            times.append(time.perf_counter() - start)
    return float(np.percentile(np.array(times) * 1000, 99))


def _plain(value: object) -> float | str | bool | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str | bool):
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def latency_gate(p99_ms: float, limit: float | None) -> Gate:
    name = "latency"
    measured = f"single-row prediction p99 {p99_ms:.2f} ms on this machine ({_CALLS} calls)"
    if limit is None:
        return Gate(
            name, "pass", f"{measured}; the charter sets no limit (constraints.latency_ms_p99)."
        )
    return Gate(name, "pass" if p99_ms <= limit else "fail", f"{measured}; limit {limit:g} ms.")


def documents_gate(version: ModelVersion, registry: Registry, current_contract: str | None) -> Gate:
    """The data contract and the model card exist, stored with this version, unchanged."""
    name = "contract and model card"
    missing = [
        label
        for file, label in ((CONTRACT, "data contract"), (CARD, "model card"))
        if file not in version.artifacts
    ]
    if missing:
        advice = (
            "run `charter audit` (it writes the contract), then `charter train` again"
            if CONTRACT not in version.artifacts
            else "train again"
        )
        return Gate(
            name,
            "fail",
            f"{version.label} was registered without its {' and '.join(missing)}; {advice}.",
        )
    try:
        contract = registry.read(version, CONTRACT)
        card = registry.read(version, CARD).decode("utf-8", errors="replace")
    except CharterError as exc:
        return Gate(name, "fail", str(exc))
    if f"{_CARD_NAMES}{escape(version.candidate)}," not in card:
        return Gate(
            name,
            "fail",
            f"the model card stored with {version.label} is not {version.candidate}'s card.",
        )
    evidence = (
        f"both stored with {version.label}, SHA-256 verified, the card names {version.candidate}"
    )
    if current_contract is not None and current_contract.encode("utf-8") != contract:
        evidence += (
            "; contract.yaml has changed since: the version keeps the contract it was trained with"
        )
    return Gate(name, "pass", evidence + ".")


def approval_gate(charter: Charter, approvals: list[str], approved_by: str | None) -> Gate:
    """A named person's approval, when the charter's `promotion.approval` is `required`."""
    name = "approval"
    policy = charter.promotion
    allowed = policy.approvers
    if approved_by is not None and allowed and approved_by not in allowed:
        return Gate(
            name,
            "fail",
            f"{approved_by} is not among the charter's approvers ({', '.join(allowed)}).",
        )
    who = [approved_by] if approved_by else [a for a in approvals if not allowed or a in allowed]
    if who:
        return Gate(name, "pass", f"approved by {', '.join(dict.fromkeys(who))}.")
    if policy.approval != "required":
        return Gate(name, "skip", "not required by the charter (promotion.approval).")
    named = f" (one of: {', '.join(allowed)})" if allowed else ""
    return Gate(
        name,
        "fail",
        f"the charter requires approval by a named person{named}: pass --approved-by NAME.",
    )
