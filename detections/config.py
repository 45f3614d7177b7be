"""The detector job's configuration: a YAML file validated with clear messages (or the defaults)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detections.actions import WebhookConfig
from detections.detectors import DETECTOR_NAMES, DETECTORS, Tunings
from detections.durations import parse_duration
from detections.state import default_instance
from mlsiem.errors import ConfigError
from mlsiem.indices import check_namespace
from mlsiem.yamlfile import read_yaml

DetectorName = Literal[DETECTOR_NAMES]  # type: ignore[valid-type]
__all__ = ["DetectConfig", "ModelConfig", "load_config", "model_tuning", "parse_duration"]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str | None = None
    features: list[str] | None = Field(
        None, description="watch these features (default: all in the baseline)"
    )
    detectors: list[DetectorName] = Field(default_factory=lambda: list(DETECTOR_NAMES))  # type: ignore[valid-type]
    min_window_events: int = Field(50, ge=1)
    tuning: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="this model's overrides of the job-wide `tuning`, per detector"
    )

    @model_validator(mode="after")
    def _tuning_names(self) -> ModelConfig:
        for name, override in self.tuning.items():
            if name not in DETECTORS:
                raise ValueError(f"tuning: unknown detector {name!r}; expected one of {', '.join(DETECTORS)}")
            DETECTORS[name].Tuning.model_validate(override)  # the same checks as the job-wide section
        return self


class FleetConfig(BaseModel):
    """How job instances share the work (docs/detections.md, "Several instances")."""

    model_config = ConfigDict(extra="forbid")

    instance: str = Field(
        default_factory=default_instance, min_length=1, description="this instance's name (default host:pid)"
    )
    lease: timedelta = Field(
        timedelta(minutes=2),
        description="a unit's lease lasts this long unless renewed; a dead holder's "
        "units are taken over after it",
    )
    shards: int = Field(16, ge=1, le=4096, description="the models are cut into this many leased shards")
    chunk_size: int = Field(100, ge=1, le=10_000, description="models judged (and held in memory) at once")
    searches_per_request: int = Field(200, ge=1, le=10_000, description="searches per `_msearch` request")

    @field_validator("lease", mode="before")
    @classmethod
    def _lease(cls, value: object) -> timedelta:
        lease = parse_duration(value)  # type: ignore[arg-type]
        if lease < timedelta(seconds=1):
            raise ValueError("lease must be at least 1s")
        return lease


class DetectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = "default"
    window: timedelta = timedelta(hours=1)
    bucket: timedelta = timedelta(minutes=5)
    max_backfill_windows: int = Field(24, ge=1, le=10_000)
    # A window is judged once it closed `delay` ago: events that reach the engine late (shipper lag, a
    # short outage) are still in it. OpenSearch anomaly detection calls this the window delay.
    delay: timedelta = timedelta(0)
    suppression: timedelta = timedelta(hours=6)
    alpha: float = Field(0.01, gt=0, lt=0.5)
    arl0: float = Field(500.0, ge=10)
    multivariate_sample: int = Field(2000, ge=100, le=50_000)
    models: list[ModelConfig] = Field(default_factory=list, description="empty: every model with a baseline")
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    sigma: bool = True
    tuning: Tunings = Field(default_factory=Tunings)  # type: ignore[valid-type]
    rules: list[Path] = Field(
        default_factory=list, description="the analyst's Sigma rule folders, added to the pack"
    )
    fleet: FleetConfig = Field(default_factory=FleetConfig)

    @field_validator("window", "bucket", "suppression", mode="before")
    @classmethod
    def _durations(cls, value: object) -> timedelta:
        return parse_duration(value)  # type: ignore[arg-type]

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: object) -> timedelta:
        return parse_duration(value, allow_zero=True)  # type: ignore[arg-type]

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        try:
            return check_namespace(value)
        except ConfigError as exc:  # pydantic reports ValueErrors with the field and the file
            raise ValueError(str(exc)) from None

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=10):
            raise ValueError("bucket must be at least 10s")
        return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def model_tuning(config: DetectConfig, model: ModelConfig, detector: str) -> Any:
    """The detector's tuning for this model: the job-wide section with the model's overrides merged in."""
    common = getattr(config.tuning, detector)
    override = model.tuning.get(detector)
    if not override:
        return common
    return DETECTORS[detector].Tuning.model_validate(_merge(common.model_dump(), override))


def load_config(path: Path | None, **overrides: object) -> DetectConfig:
    raw: dict = {}
    if path is not None:
        raw = read_yaml(path, "detector config")
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"detector config {path}: expected a mapping at the top level")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = DetectConfig.model_validate(raw)
    except ValidationError as exc:
        where = f"detector config {path}" if path else "detector options"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
    if config.delay > config.window * config.max_backfill_windows:
        where = f"detector config {path}" if path else "detector options"
        raise ConfigError(
            f"{where}: delay ({config.delay}) is longer than the max_backfill_windows windows the job "
            "looks back over; no window would ever be judged"
        )
    if config.window < config.bucket * 2:
        where = f"detector config {path}" if path else "detector options"
        raise ConfigError(
            f"{where}: window ({config.window}) must hold at least two buckets ({config.bucket})"
        )
    return config
