"""The ground truth a scenario run writes beside its telemetry (`incidents.json`).

The demo's scorecard reads it: for each incident, whether an alert of one of its `expected_rules`
(Sigma rule ids or detector rule ids) arrived for its `entity` between `start` and a grace period
after `end`, and how long it took; alerts in the control period are false alerts. `related_rules`
are rules that may also fire, rightly, on the same incident (a model extraction also shifts the
feature distribution): they are neither misses nor false alerts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["drift", "anomaly", "slo", "operational", "performance", "security", "pipeline"]
FileFormat = Literal["native", "litellm", "otlp"]


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime


class Incident(BaseModel):
    """One injected incident: what, when, against whom, and which rules should catch it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    title: str
    category: Category
    start: datetime
    end: datetime
    expected_rules: list[str] = Field(
        min_length=1, description="rule ids; an alert of any one is a detection"
    )
    expected_rule_names: list[str]
    related_rules: list[str] = Field(default_factory=list, description="rule ids that may also fire on it")
    entity: dict[str, str] = Field(description="ECS field -> value the alert's group should carry")
    file: str
    description: str
    details: dict[str, str] = Field(default_factory=dict)
    event_count: int = 0


class FileSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: FileFormat
    lines: int
    events: int  # ECS events the lines become (an OTLP line carries several spans)


class Manifest(BaseModel):
    """What `write_scenario` wrote: the timeline, the control period, the incidents, the files."""

    model_config = ConfigDict(extra="forbid")

    generator_version: str
    seed: int
    hours: float
    timeline: Period
    control: Period
    detector_window_seconds: int = Field(description="one timeline slot: a window every incident spans")
    incidents: list[Incident]
    files: dict[str, FileSummary]
    planted_secrets: list[str] = Field(
        default_factory=list,
        description="every credential the telemetry carries (pasted into prompts, leaked in completions): "
        "none of them may reach the engine while redaction is on",
    )

    def incident(self, incident_id: str) -> Incident:
        for incident in self.incidents:
            if incident.id == incident_id:
                return incident
        raise KeyError(incident_id)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
