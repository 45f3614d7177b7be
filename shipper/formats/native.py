"""The native format: JSON lines the mlsiem SDK writes, close to the ECS document with short keys.

See docs/formats.md for the full key list. The shape is
`{"type": "inference", "id", "ts", "model", "features", "prediction", "latency_ms", "user", ...}` for a
prediction or LLM call and `{"type": "pipeline", "action": "model_deployed", ...}` for an ML pipeline
step. Keys that take an object also take the short form: `"model": "fraud"` means `{"name": "fraud"}`,
`"user": "alice"` means `{"name": "alice"}`, `"prediction": 0.93` means `{"value": 0.93}` and
`"prediction": "fraud"` means `{"label": "fraud"}`. Unknown keys are ignored (kept in `event.original`
when that is switched on).
"""

from __future__ import annotations

from typing import Any

from shipper.normalize.document import Draft, RecordContext, RecordError, labels_from
from shipper.normalize.put import (
    BOOL,
    FLOAT,
    INT,
    LIST,
    LONG,
    STR,
    TIME,
    Copy,
    at,
    choice,
    duration_ns,
    place,
    put,
    table,
)
from shipper.normalize.text import message_text
from shipper.normalize.values import as_str, as_timestamp
from shipper.normalize.vocab import (
    ACTION_NAME,
    GUARDRAIL_ACTIONS,
    MODEL_TYPES,
    OUTCOMES,
    pipeline_action,
    provider_name,
)

TYPES = ("inference", "pipeline")


def claims(record: dict[str, Any]) -> bool:
    """A native record: `type` is `inference` or `pipeline` (by keys only)."""
    kind = record.get("type")
    return kind == "inference" or kind == "pipeline"


def timestamp_of(record: dict[str, Any]) -> str:
    """The record's time (`ts`, `@timestamp`, `timestamp` or `time`): records without one are rejected."""
    for key in ("ts", "@timestamp", "timestamp", "time"):
        value = record.get(key)
        if value is not None:
            stamp = as_timestamp(value)
            if stamp is None:
                raise RecordError(f"`{key}` is not a time (ISO 8601 or epoch number): {type(value).__name__}")
            return stamp
    raise RecordError("no timestamp: expected one of `ts`, `@timestamp`, `timestamp`, `time`")


def convert(record: dict[str, Any], ctx: RecordContext) -> list[Draft]:
    kind = record.get("type", "inference")
    if kind == "inference":
        return [inference(record, ctx)]
    if kind == "pipeline":
        return [pipeline(record, ctx)]
    raise RecordError(f"`type` must be one of {', '.join(TYPES)}; got {str(kind)[:40]!r}")


# ------------------------------------------------------------------------------------------ tables

# Rows of the record's own keys, grouped by meaning; each record kind compiles the groups it reads into
# ONE copy function (`copy_inference`, `copy_pipeline`): one call and one `record.get` binding per record.
MESSAGE = (("message", "message", STR), ("tags", "tags", LIST))
ACTOR = (
    (at("user", "id"), "user.id", STR),
    (at("user", "name", short=True), "user.name", STR),
    ("user_id", "user.id", STR),
    (at("service", "name", short=True), "service.name", STR),
    (at("service", "version"), "service.version", STR),
    (at("service", "environment"), "service.environment", STR),
    ("environment", "service.environment", STR),
    (at("host", "name", short=True), "host.name", STR),
    (at("host", "ip"), "host.ip", LIST),
    ("source_ip", "source.ip", STR),
    ("trace_id", "trace.id", STR),
    ("outcome", "event.outcome", choice(OUTCOMES)),
)
MODEL = (
    (at("model", "name", short=True), "mlsiem.model.name", STR),
    (at("model", "version"), "mlsiem.model.version", STR),
    (at("model", "type"), "mlsiem.model.type", choice(MODEL_TYPES)),
    ("model_version", "mlsiem.model.version", STR),
    ("model_type", "mlsiem.model.type", choice(MODEL_TYPES)),
)
REQUEST = (("span_id", "span.id", STR), ("client_ip", "client.ip", STR))
PIPELINE = (
    (at("pipeline", "name", short=True), "mlsiem.pipeline.name", STR),
    (at("pipeline", "run_id"), "mlsiem.pipeline.run_id", STR),
    (at("pipeline", "stage"), "mlsiem.pipeline.stage", STR),
    ("run_id", "mlsiem.pipeline.run_id", STR),
    ("stage", "mlsiem.pipeline.stage", STR),
    ("approved", "mlsiem.deployment.approved", BOOL),
)
TIMES = (("start", "event.start", TIME), ("end", "event.end", TIME))
copy_inference = table(*MODEL, *MESSAGE, *ACTOR, *REQUEST)
copy_pipeline = table(*MODEL, *PIPELINE, *MESSAGE, *ACTOR, *TIMES)
copy_error = table(("type", "error.type", STR), ("code", "error.code", STR))
copy_prediction = table(
    ("label", "mlsiem.prediction.label", STR),
    ("score", "mlsiem.prediction.score", FLOAT),
    ("value", "mlsiem.prediction.value", FLOAT),
)
copy_ground_truth = table(
    ("label", "mlsiem.ground_truth.label", STR),
    ("value", "mlsiem.ground_truth.value", FLOAT),
)
copy_http = table(
    ("method", "http.request.method", STR),
    ("status_code", "http.response.status_code", LONG),
    ("path", "url.path", STR),
)
copy_llm = table(
    ("model", "gen_ai.request.model", STR),
    ("max_tokens", "gen_ai.request.max_tokens", INT),
    ("temperature", "gen_ai.request.temperature", FLOAT),
    ("response_id", "gen_ai.response.id", STR),
    ("response_model", "gen_ai.response.model", STR),
    ("finish_reasons", "gen_ai.response.finish_reasons", LIST),
    ("input_tokens", "gen_ai.usage.input_tokens", INT),
    ("output_tokens", "gen_ai.usage.output_tokens", INT),
    ("cost_usd", "mlsiem.llm.cost_usd", FLOAT),
    ("cache_hit", "mlsiem.llm.cache_hit", BOOL),
    (at("guardrail", "policies"), "mlsiem.llm.guardrail.policies", LIST),
    (at("guardrail", "action", short=True), "mlsiem.llm.guardrail.action", choice(GUARDRAIL_ACTIONS)),
)


# ------------------------------------------------------------------------------------------ shared


def _common(record: dict[str, Any], doc: dict[str, Any], ctx: RecordContext, bad: list[str]) -> None:
    """What inference and pipeline records share beyond their copy table: message scrubbing, labels,
    error, outcome, duration (the table, `copy_inference` or `copy_pipeline`, has run before)."""
    if "message" in doc:  # free text may quote a request
        doc["message"] = ctx.scrub(doc["message"])
    labels = record.get("labels")
    if labels is not None:
        cleaned = labels_from(labels)
        if cleaned:
            doc["labels"] = cleaned
        elif labels.__class__ is not dict:
            bad.append("labels")
    event = doc["event"]
    error = record.get("error")
    if error is not None:
        _error(error, doc, ctx, bad)
        if "outcome" not in event:
            event["outcome"] = "failure"
    if event["dataset"] == "mlsiem.inference":
        if "outcome" not in event:
            event["outcome"] = "success"
        elif event["outcome"] == "failure":
            event["type"] = ["error"]
    _duration(record, doc, bad)


def _duration(record: dict[str, Any], doc: dict[str, Any], bad: list[str]) -> None:
    """`latency_ms` (or `duration_ms`) in milliseconds, else `duration_ns`: ECS `event.duration`."""
    latency = record.get("latency_ms")
    if latency is None:
        latency = record.get("duration_ms")
    nanos = duration_ns(latency, bad, "event.duration") if latency is not None else None
    if nanos is not None:
        doc["event"]["duration"] = nanos
    else:
        put(doc, "event.duration", record.get("duration_ns"), LONG, bad)


def _error(error: Any, doc: dict[str, Any], ctx: RecordContext, bad: list[str]) -> None:
    """`error`: an object (type, code, message) or the message alone; the message is scrubbed."""
    if error.__class__ is dict:
        copy_error(error, doc, bad)
        message = error.get("message")
    else:
        message = error
    text = as_str(message) if message is not None else None
    if text is not None:
        place(doc, ("error",), "message", ctx.scrub(text))
    elif message is not None:
        bad.append("error.message")


def _outcome_value(value: Any, name: str, copy: Copy, doc: dict[str, Any], bad: list[str]) -> None:
    """`prediction` / `ground_truth`: an object, or a bare label (string, boolean) or value (number)."""
    if value.__class__ is dict:
        copy(value, doc, bad)
    elif value.__class__ is str or value.__class__ is bool:
        put(doc, f"mlsiem.{name}.label", value, STR, bad)
    else:
        put(doc, f"mlsiem.{name}.value", value, FLOAT, bad)


# ------------------------------------------------------------------------------------------ inference


def _llm(llm: dict[str, Any], doc: dict[str, Any], ctx: RecordContext, bad: list[str]) -> None:
    gen_ai: dict[str, Any] = {}
    provider = as_str(llm.get("provider"))
    if provider:
        provider = provider_name(provider)  # the convention's well-known names, as for the other formats
        gen_ai["provider"] = {"name": provider}
        gen_ai["system"] = provider
    operation = as_str(llm.get("operation", "chat"))
    if operation:
        gen_ai["operation"] = {"name": operation}
    if gen_ai:
        doc["gen_ai"] = gen_ai
    copy_llm(llm, doc, bad)
    mlsiem = doc["mlsiem"]
    block = mlsiem.get("llm")
    if block is None:
        block = {}
    else:
        rail = block.get("guardrail")
        if rail is not None and rail.get("action") == "blocked":
            doc["event"]["type"] = ["denied"]
    prompt, completion = llm.get("prompt"), llm.get("completion")
    ctx.content(
        block,
        message_text(prompt) if prompt is not None else None,
        message_text(completion) if completion is not None else None,
    )
    if block:
        mlsiem["llm"] = block
    model = mlsiem.get("model")
    if model is None:
        model = mlsiem["model"] = {}
    if "name" not in model:
        gen_ai = doc.get("gen_ai") or {}
        request, response = gen_ai.get("request"), gen_ai.get("response")
        model_name = (request and request.get("model")) or (response and response.get("model"))
        if model_name:
            model["name"] = model_name
    if "type" not in model:
        model["type"] = "embedding" if operation == "embeddings" else "llm"


def inference(record: dict[str, Any], ctx: RecordContext) -> Draft:
    doc = ctx.inference(timestamp_of(record))
    bad: list[str] = []
    mlsiem: dict[str, Any] = {}
    doc["mlsiem"] = mlsiem
    copy_inference(record, doc, bad)
    features = record.get("features")
    if features is not None and not ctx.features(mlsiem, features):
        bad.append("mlsiem.features")
    prediction = record.get("prediction")
    if prediction is not None:
        _outcome_value(prediction, "prediction", copy_prediction, doc, bad)
    truth = record.get("ground_truth")
    if truth is not None:
        _outcome_value(truth, "ground_truth", copy_ground_truth, doc, bad)
    _common(record, doc, ctx, bad)
    http = record.get("http")
    if http.__class__ is dict:
        copy_http(http, doc, bad)
    elif http is not None:
        bad.append("http")
    llm = record.get("llm")
    if llm.__class__ is dict:
        _llm(llm, doc, ctx, bad)
    elif llm is not None:
        bad.append("llm")
    own_id = record.get("id")
    return Draft("inference", own_id if own_id.__class__ is str and own_id else None, doc, bad)


# ------------------------------------------------------------------------------------------ pipeline


def pipeline(record: dict[str, Any], ctx: RecordContext) -> Draft:
    action = record.get("action")
    if action.__class__ is not str or not ACTION_NAME.fullmatch(action):
        raise RecordError("pipeline record needs an `action` such as model_deployed (a lower-case word)")
    category, event_type, implied_outcome = pipeline_action(action)
    doc = ctx.pipeline(timestamp_of(record), action, category, event_type)
    bad: list[str] = []
    doc["mlsiem"] = {}
    actor = record.get("actor")
    if actor is not None and record.get("user") is None:
        record = {**record, "user": actor}
    copy_pipeline(record, doc, bad)
    _common(record, doc, ctx, bad)
    event = doc["event"]
    if implied_outcome is not None and "outcome" not in event:
        event["outcome"] = implied_outcome
    own_id = record.get("id")
    return Draft("pipeline", own_id if own_id.__class__ is str and own_id else None, doc, bad)
