"""Pydantic models of what the detector job writes: drift metrics and alerts.

Alerts follow the conventions SIEM analysts know: `event.kind: alert`, a severity tier that is both a
label (`mlsiem.alert.severity`) and the matching ECS number (`event.severity` 21|47|73|99, the tiers
Elastic Security uses), the rule under `rule.*` and the MITRE ATLAS mapping under `threat.*`.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field, model_validator

from mlsiem.ecs.fields import DocumentKind
from mlsiem.ecs.models import (
    DataStream,
    EcsDocument,
    EcsModel,
    Endpoint,
    EventFields,
    Host,
    ModelInfo,
    PipelineRef,
    Service,
    User,
    UtcDatetime,
)

SeverityLabel = Literal["low", "medium", "high", "critical"]
SeverityScore = Literal[21, 47, 73, 99]
DriftSeverity = Literal["none", "low", "medium", "high", "critical"]
RuleCategory = Literal[
    "drift", "anomaly", "slo", "operational", "performance", "security", "pipeline", "data_quality"
]
AlertStatus = Literal["open", "acknowledged", "closed"]
# "watch": statistically certain but small (investigate); "act": practically large.
AlertTier = Literal["watch", "act"]

SEVERITY_SCORES: Final[dict[SeverityLabel, SeverityScore]] = {
    "low": 21,
    "medium": 47,
    "high": 73,
    "critical": 99,
}


def severity_from_label(label: SeverityLabel) -> SeverityScore:
    """`"high"` -> 73: the ECS `event.severity` of a tier."""
    try:
        return SEVERITY_SCORES[label]
    except KeyError:
        raise ValueError(f"unknown severity {label!r}; expected one of {tuple(SEVERITY_SCORES)}") from None


def label_from_severity(score: float) -> SeverityLabel:
    """73 -> `"high"`; any 0-100 score falls in the tier whose upper bound it does not exceed."""
    for label, upper in SEVERITY_SCORES.items():
        if score <= upper:
            return label
    return "critical"


# ------------------------------------------------------------------------------------------ parts


class Rule(EcsModel):
    id: str
    name: str
    category: RuleCategory
    ruleset: str | None = None
    version: str | None = None
    description: str | None = None
    reference: str | None = None
    author: list[str] | None = None


class ThreatEntry(EcsModel):
    """`threat.technique` or `threat.tactic`; ECS keeps each as parallel arrays."""

    id: list[str] | None = None
    name: list[str] | None = None
    reference: list[str] | None = None


class Threat(EcsModel):
    framework: str = "MITRE ATLAS"
    technique: ThreatEntry | None = None
    tactic: ThreatEntry | None = None


class AlertInfo(EcsModel):
    severity: SeverityLabel
    tier: AlertTier | None = None
    status: AlertStatus = "open"
    group_key: str | None = None
    occurrences: int = 1
    first_seen: UtcDatetime | None = None
    last_seen: UtcDatetime | None = None
    playbook: str | None = None  # the rule's investigation guide (Markdown), for the analyst's next steps


class DriftStats(EcsModel):
    """One statistical test of one feature (or of the prediction) between reference and current."""

    metric: str  # psi, ks, chi2, wasserstein, js, ...
    score: float
    threshold: float | None = None
    p_value: float | None = None
    feature: str | None = None
    reference_size: int | None = None
    current_size: int | None = None


class AlertDrift(DriftStats):
    top_features: list[str] | None = None  # the most drifted features behind a model-level alert


class DriftMeasurement(DriftStats):
    drifted: bool
    severity: DriftSeverity = "none"
    window_start: UtcDatetime | None = None
    window_end: UtcDatetime | None = None
    baseline_id: str | None = None  # the reference profile in `mlsiem-baselines`


class Quality(EcsModel):
    """A failed data-quality check of one feature: what it was in the reference and what it is now."""

    check: Literal["missing", "out_of_range", "constant", "new_category", "schema"]
    feature: str
    reference_value: str | None = None  # shares as numbers in text, kinds and values as they are
    current_value: str | None = None
    p_value: float | None = None


class Evidence(EcsModel):
    """How to find the source events: an analyst pivots from the alert with `query`."""

    query: str | None = None
    event_count: int | None = None
    sample_event_ids: list[str] | None = None


class Anomaly(EcsModel):
    """Per-request outliers (or an output collapse): how many, against how many by chance, from whom."""

    method: str  # isolation_forest, output_collapse, ...
    score: float | None = None  # the most anomalous request's score, or the collapse statistic
    outlier_share: float | None = None
    expected_share: float | None = None
    top_sources: list[str] | None = None  # "203.0.113.24 (38 of 41)", the outliers' top source.ip / user.name


class Slo(EcsModel):
    """A service-level objective's error budget burning too fast (multi-window burn rate)."""

    name: str  # latency, availability, time_to_first_token, cost
    objective: float  # the target share of good requests, e.g. 0.99
    burn_rate: float  # over the long window: the budget's consumption rate (1 = exactly on budget)
    window: str  # the alerting windows, e.g. "1h/5m"


class MlsiemAlert(EcsModel):
    alert: AlertInfo
    model: ModelInfo | None = None
    pipeline: PipelineRef | None = None
    drift: AlertDrift | None = None
    evidence: Evidence | None = None
    quality: Quality | None = None
    anomaly: Anomaly | None = None
    slo: Slo | None = None


class MlsiemDrift(EcsModel):
    model: ModelInfo
    drift: DriftMeasurement


# ------------------------------------------------------------------------------------------ documents


class AlertEventFields(EventFields):
    kind: Literal["alert"] = "alert"
    dataset: Literal["mlsiem.alerts"] = "mlsiem.alerts"
    severity: SeverityScore | None = None  # filled from mlsiem.alert.severity when omitted
    risk_score: float | None = None


class Alert(EcsDocument):
    """A finding (`mlsiem-alerts-*`), updated in place while its rule suppresses repeats."""

    kind: ClassVar[DocumentKind] = "alert"

    event: AlertEventFields = Field(default_factory=lambda: AlertEventFields())
    rule: Rule
    threat: Threat | None = None
    service: Service | None = None
    host: Host | None = None
    source: Endpoint | None = None
    client: Endpoint | None = None
    user: User | None = None
    mlsiem: MlsiemAlert

    @model_validator(mode="after")
    def _severity_tiers_agree(self) -> Alert:
        expected = SEVERITY_SCORES[self.mlsiem.alert.severity]
        if self.event.severity is None:
            self.event.severity = expected
        elif self.event.severity != expected:
            raise ValueError(
                f"event.severity {self.event.severity} does not match "
                f"mlsiem.alert.severity {self.mlsiem.alert.severity!r} ({expected})"
            )
        return self


class DriftEventFields(EventFields):
    kind: Literal["metric"] = "metric"
    dataset: Literal["mlsiem.drift"] = "mlsiem.drift"


class DriftMetric(EcsDocument):
    """One model x feature x window drift measurement (`metrics-mlsiem.drift-*`)."""

    kind: ClassVar[DocumentKind] = "drift"

    data_stream: DataStream | None = None
    event: DriftEventFields = Field(default_factory=lambda: DriftEventFields())
    service: Service | None = None
    mlsiem: MlsiemDrift
