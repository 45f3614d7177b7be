"""What a scenario run is: seed, length, start time and traffic rates, validated with clear messages.

The defaults give the demo's story: six hours of traffic (a few tens of thousands of events) starting
at a fixed instant, so two runs with the same seed write byte-identical files. The demo may pass
"now minus hours" as `start` to make the telemetry look live; the output then differs only in time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

DEFAULT_START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday morning


class Rates(BaseModel):
    """Ordinary traffic per hour, averaged over the timeline (the daily rhythm moves around it)."""

    model_config = ConfigDict(extra="forbid")

    classifier_per_hour: float = Field(2400.0, ge=100, le=200_000, description="credit-scorer predictions")
    llm_per_hour: float = Field(1500.0, ge=100, le=100_000, description="chat calls through the LLM proxy")
    agent_per_hour: float = Field(250.0, ge=20, le=50_000, description="support-assistant requests (OTLP)")
    pipeline_runs_per_hour: float = Field(1.5, ge=0.1, le=100, description="training runs, all models")
    daily_amplitude: float = Field(0.35, ge=0.0, le=0.9, description="relative swing of the daily rhythm")


class ScenarioConfig(BaseModel):
    """One scenario run. `hours` stretches the whole timeline: every incident is present at any length."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(7, ge=0, le=2**63 - 1)
    hours: float = Field(6.0, ge=1.0, le=72.0, description="length of the timeline")
    start: AwareDatetime = DEFAULT_START
    rates: Rates = Field(default_factory=Rates)
    label_fraction: float = Field(0.5, ge=0.05, le=1.0, description="share of predictions that get a label")
    label_delay_minutes: float = Field(8.0, ge=0.0, le=120.0, description="mean delay before a label arrives")
    extraction_queries: int = Field(1300, ge=1000, le=20_000, description="model extraction probe size")
    peak_hour_utc: float | None = Field(
        None, ge=0.0, lt=24.0, description="hour of the daily traffic peak; None: the timeline's middle"
    )

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)
