"""The charter: what the project must achieve, stated before any model exists."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "BaselineSpec",
    "Charter",
    "ConstraintsSpec",
    "DataSpec",
    "DatabaseSource",
    "AlertsSpec",
    "DriftSpec",
    "Duration",
    "FileSource",
    "MonitoringSpec",
    "OutcomeValues",
    "PromotionSpec",
    "ServingSpec",
    "StoreSpec",
    "SuccessSpec",
    "TrainingWindowSpec",
]

Task = Literal["classification", "regression"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _fraction(value: object) -> object:
    """Accept 0.1, 10 (meaning 10%) or "10%"; return a fraction."""
    if isinstance(value, str):
        text = value.strip()
        match = re.fullmatch(r"([-+]?\d+(?:\.\d+)?)\s*%", text)
        if match:
            return float(match.group(1)) / 100
        try:
            return float(text)
        except ValueError:
            raise ValueError(
                f"expected a percentage such as '10%' or a fraction such as 0.1, got {value!r}"
            ) from None
    return value


Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=-1, le=10)]


class FileSource(_Strict):
    """A CSV, Parquet or JSON-lines file (or a glob of them); CSV dialect detected unless set."""

    path: str
    format: Literal["csv", "parquet", "json"] | None = None
    delimiter: str | None = None
    quote: str | None = None
    encoding: str | None = None
    header: bool | None = None


class DatabaseSource(_Strict):
    """A query against a database reachable by a SQLAlchemy URL."""

    url: str
    query: str
    partition_by: str | None = (
        None  # a numeric or date column of the query: key ranges on a cluster
    )


def _source(value: object) -> object:
    return {"path": value} if isinstance(value, str) else value


def _source_kind(value: object) -> str:
    if isinstance(value, dict):
        return "database" if "url" in value else "file"
    return "database" if isinstance(value, DatabaseSource) else "file"


Source = Annotated[
    Annotated[FileSource, Tag("file")] | Annotated[DatabaseSource, Tag("database")],
    Discriminator(_source_kind),
    BeforeValidator(_source),
]


class DataSpec(_Strict):
    """Where the data lives and what its special columns mean."""

    sources: dict[str, Source] = Field(min_length=1)
    query: str | None = None
    entity: str | None = None
    time: str | None = None
    sensitive: list[str] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _names_are_identifiers(cls, sources: dict[str, Source]) -> dict[str, Source]:
        for name in sources:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(
                    f"source name {name!r} must be a plain identifier (letters, digits, _) "
                    "so the query can name it, e.g. 'customers'"
                )
        return sources


class OutcomeValues(_Strict):
    """Business value of each outcome of the decision, in the owner's currency."""

    true_positive: float
    false_positive: float
    false_negative: float
    true_negative: float


class SuccessSpec(_Strict):
    """How success is measured, and the target decided before any model exists."""

    metric: str | None = None
    value: OutcomeValues | None = None
    error_cost_per_unit: float | None = Field(default=None, ge=0)
    beat_baseline_by: Fraction | None = None


class BaselineSpec(_Strict):
    """Today's way of deciding, which any model must beat."""

    rule: str | None = None
    description: str | None = None


class ConstraintsSpec(_Strict):
    """Limits the production model must respect."""

    latency_ms_p99: float | None = Field(default=None, gt=0)
    explanations: Literal["required", "optional"] = "optional"
    max_fairness_gap: float | None = Field(default=None, ge=0, le=1)


class StoreSpec(_Strict):
    """Where versions and the audit trail live; CHARTER_STORE and CHARTER_ARTIFACTS override these."""

    url: str | None = None  # SQLAlchemy URL of the metadata store (default: .charter/registry.db)
    artifacts: str | None = None  # fsspec URL of the artifact store (default: .charter/artifacts)


class PromotionSpec(_Strict):
    """What moving a version into production demands beyond the charter's own targets."""

    approval: Literal["required", "optional"] = "optional"
    approvers: list[str] = Field(default_factory=list)  # who may approve; anyone named when empty
    # How much worse than the production version (on the same test rows) a new one may be.
    max_regression: Fraction = 0.01


class ServingSpec(_Strict):
    """How the prediction service answers, checks and logs."""

    require_key: bool = False  # predictions need an API key (feedback and admin always do)
    # Classification scores within [low, high] are flagged "uncertain".
    uncertain_band: tuple[float, float] | None = None
    # What a flagged record's decision is: the model's (none) or today's rule's (baseline).
    fallback: Literal["none", "baseline"] = "none"
    max_missing_share: float = Field(default=0.5, ge=0, le=1)  # more missing features: flagged
    body_limit_kb: int = Field(default=1024, gt=0)
    max_records: int = Field(default=10_000, gt=0)  # records per request
    flush_seconds: float = Field(default=1.0, gt=0, le=60)  # the prediction log's flush interval
    log_retention_days: int | None = Field(default=None, gt=0)

    @field_validator("uncertain_band")
    @classmethod
    def _band_inside_unit(cls, band: tuple[float, float] | None) -> tuple[float, float] | None:
        if band is not None and not 0 <= band[0] < band[1] <= 1:
            raise ValueError(
                f"uncertain_band must be [low, high] with 0 <= low < high <= 1, e.g. [0.4, 0.6]; got {list(band)}"
            )
        return band


def _duration(value: object) -> object:
    """Accept "90d", "12h", "30m", "45s", "2w" or a number of seconds; return seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", value.lower())
        if not match:
            raise ValueError(f"expected a duration such as '1d', '12h' or '30m', got {value!r}")
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        return float(match.group(1)) * unit
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
"""A length of time in seconds, written "1d", "12h", "30m", "45s" or "2w" in a charter."""


class DriftSpec(_Strict):
    """When a change in the data counts as drift (see `charter monitor`)."""

    psi: float = Field(default=0.2, gt=0)  # the smallest material change, per feature
    alpha: float = Field(default=0.05, gt=0, lt=1)  # false discovery rate across features
    importance_share: float = Field(default=0.2, gt=0, le=1)  # drifted importance that alarms
    min_rows: int = Field(default=100, ge=10)  # fewer present values: too few to judge


class TrainingWindowSpec(_Strict):
    """Which rows a retrained challenger learns from."""

    # expanding: the charter's data plus every labelled prediction; sliding: only the
    # labelled predictions of the last `length` (and the charter's data of that period).
    kind: Literal["expanding", "sliding"] = "expanding"
    length: Duration | None = None


class AlertsSpec(_Strict):
    """Where alerts go besides the terminal."""

    json_file: str | None = None  # alerts of each run written here (relative to the charter)
    webhook: str | None = None  # an http(s) URL that receives a JSON POST per run with alerts
    webhook_retries: int = Field(default=3, ge=0, le=10)


class MonitoringSpec(_Strict):
    """How the deployed model is watched, and what happens when it drifts or decays."""

    window: Duration = 86400.0  # the length of one monitoring window
    drift: DriftSpec = Field(default_factory=DriftSpec)
    # Decay: live (or estimated) value per row below the validated value by more than this share.
    decay_margin: Fraction = 0.1
    min_labels: int = Field(default=100, ge=10)  # labelled predictions needed to judge a window
    min_adoption: Fraction | None = None  # alert when fewer decisions than this were followed
    max_violation_share: Fraction = 0.05  # alert above this share of records breaking the contract
    max_flag_share: Fraction = 0.25  # alert above this share of flagged records
    retrain_when: list[Literal["drift", "decay", "schedule"]] = Field(default_factory=list)
    retrain_every: Duration | None = None  # with "schedule": retrain a production this old
    training_window: TrainingWindowSpec = Field(default_factory=TrainingWindowSpec)
    auto_promote: bool = False  # a challenger that passes the gates goes live without approval
    # Roll back when a new version's live value per row falls below its predecessor's by this share.
    rollback_margin: Fraction = 0.05
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)

    @model_validator(mode="after")
    def _schedule_has_period(self) -> MonitoringSpec:
        if "schedule" in self.retrain_when and self.retrain_every is None:
            raise ValueError(
                "retrain_when lists schedule but retrain_every is missing; "
                "add e.g. retrain_every: 30d"
            )
        return self


class Charter(_Strict):
    """A project's charter. Fields a person must answer may be empty; `charter check` lists them."""

    project: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    owner: str | None = None
    problem: str | None = None
    decision: str | None = None
    task: Task | None = None
    target: str
    positive_class: str | int | bool | None = None
    data: DataSpec
    success: SuccessSpec = Field(default_factory=SuccessSpec)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    constraints: ConstraintsSpec = Field(default_factory=ConstraintsSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    store: StoreSpec = Field(default_factory=StoreSpec)

    @model_validator(mode="after")
    def _special_columns_differ(self) -> Charter:
        roles = {
            "target": self.target,
            "data.entity": self.data.entity,
            "data.time": self.data.time,
        }
        seen: dict[str, str] = {}
        for role, column in roles.items():
            if column is None:
                continue
            if column in seen:
                raise ValueError(
                    f"{role} and {seen[column]} both name column {column!r}; they must differ"
                )
            seen[column] = role
        if self.target in self.data.sensitive:
            raise ValueError(f"target {self.target!r} cannot also be a sensitive column")
        return self

    @property
    def special_columns(self) -> set[str]:
        """Columns that are never features: the target, the entity and the time column."""
        return {c for c in (self.target, self.data.entity, self.data.time) if c}
