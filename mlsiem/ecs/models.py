"""Pydantic models of the telemetry documents: inference and pipeline events.

The models are shaped as the documents are (`InferenceEvent.event.kind`), so `to_document()` is a plain
dump. They sit on the shipper's hot path, so validation stays inside pydantic-core: allowed values are
`Literal`s, and the only Python code per document converts datetimes to UTC and cleans the keys of the
two free-form objects (`labels`, `mlsiem.features`). Unknown keys are rejected (`extra="forbid"`): the
index mapping would not index them anyway, so a typo should fail loudly here rather than silently there.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mlsiem.ecs.fields import ECS_VERSION, DocumentKind

# ECS 9.4 allowed values (ecs_flat.yml `allowed_values`).
EventKind = Literal["alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"]
EventCategory = Literal[
    "api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
    "intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session",
    "threat", "vulnerability", "web",
]  # fmt: skip
EventType = Literal[
    "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "device", "end",
    "error", "group", "indicator", "info", "installation", "protocol", "start", "user",
]  # fmt: skip
EventOutcome = Literal["failure", "success", "unknown"]

# mlsiem's own closed vocabularies (not ECS): the values docs/formats.md lists for these fields.
ModelType = Literal["classification", "regression", "llm", "embedding", "ranking", "other"]
GuardrailAction = Literal["allowed", "blocked", "modified"]
FeatureValue = float | str | bool


def _to_utc(value: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted, so they serialise with a `Z`."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


_isfinite = math.isfinite


def _clean_key(key: str) -> str:
    # A dotted key would be read by the engine as an object path and could collide with a sibling.
    return key.replace(".", "_") if "." in key else key


def _clean_features(values: dict[str, FeatureValue | None]) -> dict[str, FeatureValue]:
    """Drop missing values (None, NaN, infinities: JSON cannot carry them) and undot the names."""
    for key, value in values.items():
        if value is None or "." in key or (value.__class__ is float and not _isfinite(value)):
            break
    else:
        return values  # type: ignore[return-value]  # the common case: nothing to clean, no copy
    return {
        _clean_key(key): value
        for key, value in values.items()
        if value is not None and not (value.__class__ is float and not _isfinite(value))
    }


def _clean_labels(values: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
    if not any("." in key for key in values):
        return values
    return {_clean_key(key): value for key, value in values.items()}


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
Features = Annotated[dict[str, FeatureValue | None], AfterValidator(_clean_features)]
Labels = Annotated[dict[str, str | int | float | bool], AfterValidator(_clean_labels)]


class EcsModel(BaseModel):
    """Base of every part: closed, and numbers accepted where ECS wants a keyword (ids, codes)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)


class Ecs(EcsModel):
    """Frozen, so one shared default instance serves every document without a copy."""

    model_config = ConfigDict(frozen=True)

    version: str = ECS_VERSION


class EcsDocument(EcsModel):
    """Fields every document carries; subclasses add their own and set `kind`."""

    kind: ClassVar[DocumentKind]

    timestamp: UtcDatetime = Field(alias="@timestamp")
    message: str | None = None
    tags: list[str] | None = None
    labels: Labels | None = None
    ecs: Ecs = Ecs()

    def to_document(self) -> dict[str, Any]:
        """The nested JSON object to index: no None values, UTC times with `Z`, `@timestamp` spelled so."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# ------------------------------------------------------------------------------------------ ECS parts


class DataStream(EcsModel):
    type: Literal["logs", "metrics"]
    dataset: str
    namespace: str = "default"


class EventFields(EcsModel):
    """`event.*` shared by every kind; subclasses pin `kind` and `dataset`."""

    kind: EventKind = "event"
    category: list[EventCategory] | None = None
    type: list[EventType] | None = None
    outcome: EventOutcome | None = None
    dataset: str | None = None
    module: str = "mlsiem"
    action: str | None = None
    provider: str | None = None
    code: str | None = None
    id: str | None = None
    created: UtcDatetime | None = None
    ingested: UtcDatetime | None = None
    sequence: int | None = None
    hash: str | None = None
    original: str | None = None
    duration: int | None = None  # nanoseconds, as ECS defines it
    reason: str | None = None
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None


class Service(EcsModel):
    name: str | None = None
    version: str | None = None
    environment: str | None = None


class Host(EcsModel):
    name: str | None = None
    ip: list[str] | None = None


class Endpoint(EcsModel):
    """`source` or `client`: only the address. Left unparsed (cheap); the mapping ignores a bad one."""

    ip: str | None = None


class UserGroup(EcsModel):
    id: str | None = None
    name: str | None = None


class User(EcsModel):
    id: str | None = None
    name: str | None = None
    group: UserGroup | None = None


class Organization(EcsModel):
    id: str | None = None
    name: str | None = None


class UserAgent(EcsModel):
    original: str | None = None


class HttpRequest(EcsModel):
    method: str | None = None


class HttpResponse(EcsModel):
    status_code: int | None = None


class Http(EcsModel):
    request: HttpRequest | None = None
    response: HttpResponse | None = None


class Url(EcsModel):
    path: str | None = None


class Error(EcsModel):
    type: str | None = None
    code: str | None = None
    message: str | None = None


class Identifier(EcsModel):
    """`trace` and `span`."""

    id: str | None = None


class LogFile(EcsModel):
    path: str | None = None


class Log(EcsModel):
    file: LogFile | None = None


class GenAiName(EcsModel):
    """`gen_ai.provider` and `gen_ai.operation`."""

    name: str | None = None


class GenAiRequest(EcsModel):
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None


class GenAiResponse(EcsModel):
    id: str | None = None
    model: str | None = None
    finish_reasons: list[str] | None = None


class GenAiUsage(EcsModel):
    input_tokens: int | None = None
    output_tokens: int | None = None


class GenAi(EcsModel):
    provider: GenAiName | None = None
    system: str | None = None  # legacy copy of provider.name, ECS 9.4 still defines it
    operation: GenAiName | None = None
    request: GenAiRequest | None = None
    response: GenAiResponse | None = None
    usage: GenAiUsage | None = None


# --------------------------------------------------------------------------------------- mlsiem parts


class ModelInfo(EcsModel):
    name: str | None = None
    version: str | None = None
    type: ModelType | None = None


class SourceInfo(EcsModel):
    format: str | None = None  # native, otlp, litellm, mapping, ...


class LogPosition(EcsModel):
    offset: int | None = None


class Prediction(EcsModel):
    label: str | None = None
    score: float | None = None
    value: float | None = None


class GroundTruth(EcsModel):
    label: str | None = None
    value: float | None = None


class Guardrail(EcsModel):
    action: GuardrailAction | None = None
    policies: list[str] | None = None


class Llm(EcsModel):
    prompt: str | None = None
    completion: str | None = None
    prompt_length: int | None = None
    prompt_sha256: str | None = None
    cost_usd: float | None = None
    cache_hit: bool | None = None
    guardrail: Guardrail | None = None


class PipelineRef(EcsModel):
    name: str | None = None
    run_id: str | None = None
    stage: str | None = None


class Deployment(EcsModel):
    approved: bool | None = None


class MlsiemInference(EcsModel):
    model: ModelInfo | None = None
    prediction: Prediction | None = None
    ground_truth: GroundTruth | None = None
    features: Features | None = None
    features_dropped: int | None = None  # features cut by the per-model cap
    llm: Llm | None = None
    source: SourceInfo | None = None
    log: LogPosition | None = None


class MlsiemPipeline(EcsModel):
    model: ModelInfo | None = None
    pipeline: PipelineRef | None = None
    deployment: Deployment | None = None
    source: SourceInfo | None = None
    log: LogPosition | None = None


# ------------------------------------------------------------------------------------------ documents


class InferenceEventFields(EventFields):
    # `enrichment`: a record that details a call counted elsewhere (an OTLP log record of a span)
    kind: Literal["event", "pipeline_error", "enrichment"] = "event"
    category: list[EventCategory] | None = Field(default_factory=lambda: ["api"])
    dataset: Literal["mlsiem.inference"] = "mlsiem.inference"


class InferenceEvent(EcsDocument):
    """One prediction or LLM call (`logs-mlsiem.inference-*`)."""

    kind: ClassVar[DocumentKind] = "inference"

    data_stream: DataStream | None = None
    event: InferenceEventFields = Field(default_factory=lambda: InferenceEventFields())
    service: Service | None = None
    host: Host | None = None
    source: Endpoint | None = None
    client: Endpoint | None = None
    user: User | None = None
    organization: Organization | None = None
    user_agent: UserAgent | None = None
    http: Http | None = None
    url: Url | None = None
    error: Error | None = None
    trace: Identifier | None = None
    span: Identifier | None = None
    log: Log | None = None
    gen_ai: GenAi | None = None
    mlsiem: MlsiemInference = Field(default_factory=lambda: MlsiemInference())


class PipelineEventFields(EventFields):
    kind: Literal["event", "pipeline_error"] = "event"
    action: str  # model_registered, model_deployed, training_started, guardrail_changed, ...
    dataset: Literal["mlsiem.pipeline"] = "mlsiem.pipeline"


class PipelineEvent(EcsDocument):
    """A training, validation, registry or deployment step (`logs-mlsiem.pipeline-*`); `user` is the actor."""

    kind: ClassVar[DocumentKind] = "pipeline"

    data_stream: DataStream | None = None
    event: PipelineEventFields
    service: Service | None = None
    host: Host | None = None
    source: Endpoint | None = None
    user: User | None = None
    error: Error | None = None
    trace: Identifier | None = None
    log: Log | None = None
    mlsiem: MlsiemPipeline = Field(default_factory=lambda: MlsiemPipeline())
