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
    duration_ns,
    put_bool,
    put_choice,
    put_float,
    put_int,
    put_list,
    put_long,
    put_str,
    put_time,
)
from shipper.normalize.text import message_text
from shipper.normalize.values import as_str, as_timestamp
from shipper.normalize.vocab import ACTION_NAME, GUARDRAIL_ACTIONS, MODEL_TYPES, OUTCOMES, pipeline_action

TYPES = ("inference", "pipeline")


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


# ------------------------------------------------------------------------------------------ shared


def _common(record: dict[str, Any], doc: dict[str, Any], ctx: RecordContext, bad: list[str]) -> None:
    """Keys inference and pipeline records share: actor, service, host, network, trace, error, labels."""
    event = doc["event"]
    put_str(doc, "message", record.get("message"), bad, "message")
    if "message" in doc:  # free text may quote a request
        doc["message"] = ctx.scrub(doc["message"])
    put_list(doc, "tags", record.get("tags"), bad, "tags")
    labels = record.get("labels")
    if labels is not None:
        cleaned = labels_from(labels)
        if cleaned:
            doc["labels"] = cleaned
        elif labels.__class__ is not dict:
            bad.append("labels")

    user = record.get("user")
    block: dict[str, Any] = {}
    if user.__class__ is dict:
        put_str(block, "id", user.get("id"), bad, "user.id")
        put_str(block, "name", user.get("name"), bad, "user.name")
    else:
        put_str(block, "name", user, bad, "user.name")
    put_str(block, "id", record.get("user_id"), bad, "user.id")
    if block:
        doc["user"] = block

    service = record.get("service")
    block = {}
    if service.__class__ is dict:
        put_str(block, "name", service.get("name"), bad, "service.name")
        put_str(block, "version", service.get("version"), bad, "service.version")
        put_str(block, "environment", service.get("environment"), bad, "service.environment")
    else:
        put_str(block, "name", service, bad, "service.name")
    put_str(block, "environment", record.get("environment"), bad, "service.environment")
    if block:
        doc["service"] = block

    host = record.get("host")
    if host is not None:
        block = {}
        if host.__class__ is dict:
            put_str(block, "name", host.get("name"), bad, "host.name")
            put_list(block, "ip", host.get("ip"), bad, "host.ip")
        else:
            put_str(block, "name", host, bad, "host.name")
        if block:
            doc["host"] = block
    source_ip = record.get("source_ip")
    if source_ip is not None:
        put_str(block := {}, "ip", source_ip, bad, "source.ip")
        if block:
            doc["source"] = block
    trace_id = record.get("trace_id")
    if trace_id is not None:
        put_str(block := {}, "id", trace_id, bad, "trace.id")
        if block:
            doc["trace"] = block

    put_choice(event, "outcome", record.get("outcome"), OUTCOMES, bad, "event.outcome")
    error = record.get("error")
    if error is not None:
        block = {}
        if error.__class__ is dict:
            put_str(block, "type", error.get("type"), bad, "error.type")
            put_str(block, "code", error.get("code"), bad, "error.code")
            message = error.get("message")
        else:
            message = error
        text = as_str(message) if message is not None else None
        if text is not None:
            block["message"] = ctx.scrub(text)
        elif message is not None:
            bad.append("error.message")
        if block:
            doc["error"] = block
        if "outcome" not in event:
            event["outcome"] = "failure"
    if event["dataset"] == "mlsiem.inference":
        if "outcome" not in event:
            event["outcome"] = "success"
        elif event["outcome"] == "failure":
            event["type"] = ["error"]
    latency = record.get("latency_ms")
    if latency is None:
        latency = record.get("duration_ms")
    nanos = duration_ns(latency, bad, "event.duration") if latency is not None else None
    if nanos is not None:
        event["duration"] = nanos
    elif record.get("duration_ns") is not None:
        put_long(event, "duration", record["duration_ns"], bad, "event.duration")


def _model(record: dict[str, Any], bad: list[str]) -> dict[str, Any]:
    model = record.get("model")
    block: dict[str, Any] = {}
    if model.__class__ is dict:
        put_str(block, "name", model.get("name"), bad, "mlsiem.model.name")
        put_str(block, "version", model.get("version"), bad, "mlsiem.model.version")
        put_choice(block, "type", model.get("type"), MODEL_TYPES, bad, "mlsiem.model.type")
    else:
        put_str(block, "name", model, bad, "mlsiem.model.name")
    put_str(block, "version", record.get("model_version"), bad, "mlsiem.model.version")
    put_choice(block, "type", record.get("model_type"), MODEL_TYPES, bad, "mlsiem.model.type")
    return block


def _scalar_or_block(value: Any, name: str, bad: list[str]) -> dict[str, Any]:
    """`prediction` / `ground_truth`: an object, or a bare label (string, boolean) or value (number)."""
    target: dict[str, Any] = {}
    if value.__class__ is dict:
        put_str(target, "label", value.get("label"), bad, f"mlsiem.{name}.label")
        if name == "prediction":
            put_float(target, "score", value.get("score"), bad, "mlsiem.prediction.score")
        put_float(target, "value", value.get("value"), bad, f"mlsiem.{name}.value")
    elif value.__class__ is str or value.__class__ is bool:
        put_str(target, "label", value, bad, f"mlsiem.{name}.label")
    else:
        put_float(target, "value", value, bad, f"mlsiem.{name}.value")
    return target


# ------------------------------------------------------------------------------------------ inference


def _llm(llm: dict[str, Any], doc: dict[str, Any], mlsiem: dict[str, Any], ctx: RecordContext) -> list[str]:
    bad: list[str] = []
    gen_ai: dict[str, Any] = {}
    provider = as_str(llm.get("provider"))
    if provider:
        gen_ai["provider"] = {"name": provider}
        gen_ai["system"] = provider
    operation = as_str(llm.get("operation", "chat"))
    if operation:
        gen_ai["operation"] = {"name": operation}
    request: dict[str, Any] = {}
    put_str(request, "model", llm.get("model"), bad, "gen_ai.request.model")
    put_int(request, "max_tokens", llm.get("max_tokens"), bad, "gen_ai.request.max_tokens")
    put_float(request, "temperature", llm.get("temperature"), bad, "gen_ai.request.temperature")
    if request:
        gen_ai["request"] = request
    response: dict[str, Any] = {}
    put_str(response, "id", llm.get("response_id"), bad, "gen_ai.response.id")
    put_str(response, "model", llm.get("response_model"), bad, "gen_ai.response.model")
    put_list(response, "finish_reasons", llm.get("finish_reasons"), bad, "gen_ai.response.finish_reasons")
    if response:
        gen_ai["response"] = response
    usage: dict[str, Any] = {}
    put_int(usage, "input_tokens", llm.get("input_tokens"), bad, "gen_ai.usage.input_tokens")
    put_int(usage, "output_tokens", llm.get("output_tokens"), bad, "gen_ai.usage.output_tokens")
    if usage:
        gen_ai["usage"] = usage
    if gen_ai:
        doc["gen_ai"] = gen_ai

    block: dict[str, Any] = {}
    put_float(block, "cost_usd", llm.get("cost_usd"), bad, "mlsiem.llm.cost_usd")
    put_bool(block, "cache_hit", llm.get("cache_hit"), bad, "mlsiem.llm.cache_hit")
    guardrail = llm.get("guardrail")
    if guardrail is not None:
        rail: dict[str, Any] = {}
        if guardrail.__class__ is dict:
            action = guardrail.get("action")
            put_list(rail, "policies", guardrail.get("policies"), bad, "mlsiem.llm.guardrail.policies")
        else:
            action = guardrail
        put_choice(rail, "action", action, GUARDRAIL_ACTIONS, bad, "mlsiem.llm.guardrail.action")
        if rail:
            block["guardrail"] = rail
        if rail.get("action") == "blocked":
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
        model_name = request.get("model") or response.get("model")
        if model_name:
            model["name"] = model_name
    if "type" not in model:
        model["type"] = "embedding" if operation == "embeddings" else "llm"
    return bad


def inference(record: dict[str, Any], ctx: RecordContext) -> Draft:
    doc = ctx.inference(timestamp_of(record))
    bad: list[str] = []
    mlsiem: dict[str, Any] = {}
    model = _model(record, bad)
    if model:
        mlsiem["model"] = model
    features = record.get("features")
    if features is not None and not ctx.features(mlsiem, features):
        bad.append("mlsiem.features")
    prediction = record.get("prediction")
    if prediction is not None:
        block = _scalar_or_block(prediction, "prediction", bad)
        if block:
            mlsiem["prediction"] = block
    truth = record.get("ground_truth")
    if truth is not None:
        block = _scalar_or_block(truth, "ground_truth", bad)
        if block:
            mlsiem["ground_truth"] = block
    doc["mlsiem"] = mlsiem
    _common(record, doc, ctx, bad)
    span_id = record.get("span_id")
    if span_id is not None:
        put_str(block := {}, "id", span_id, bad, "span.id")
        if block:
            doc["span"] = block
    client_ip = record.get("client_ip")
    if client_ip is not None:
        put_str(block := {}, "ip", client_ip, bad, "client.ip")
        if block:
            doc["client"] = block
    http = record.get("http")
    if http.__class__ is dict:
        method: dict[str, Any] = {}
        put_str(method, "method", http.get("method"), bad, "http.request.method")
        status: dict[str, Any] = {}
        put_long(status, "status_code", http.get("status_code"), bad, "http.response.status_code")
        http_block = {key: value for key, value in (("request", method), ("response", status)) if value}
        if http_block:
            doc["http"] = http_block
        put_str(block := {}, "path", http.get("path"), bad, "url.path")
        if block:
            doc["url"] = block
    elif http is not None:
        bad.append("http")
    llm = record.get("llm")
    if llm.__class__ is dict:
        bad.extend(_llm(llm, doc, mlsiem, ctx))
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
    mlsiem: dict[str, Any] = {}
    model = _model(record, bad)
    if model:
        mlsiem["model"] = model
    pipeline_ref = record.get("pipeline")
    block: dict[str, Any] = {}
    if pipeline_ref.__class__ is dict:
        put_str(block, "name", pipeline_ref.get("name"), bad, "mlsiem.pipeline.name")
        put_str(block, "run_id", pipeline_ref.get("run_id"), bad, "mlsiem.pipeline.run_id")
        put_str(block, "stage", pipeline_ref.get("stage"), bad, "mlsiem.pipeline.stage")
    else:
        put_str(block, "name", pipeline_ref, bad, "mlsiem.pipeline.name")
    put_str(block, "run_id", record.get("run_id"), bad, "mlsiem.pipeline.run_id")
    put_str(block, "stage", record.get("stage"), bad, "mlsiem.pipeline.stage")
    if block:
        mlsiem["pipeline"] = block
    approved: dict[str, Any] = {}
    put_bool(approved, "approved", record.get("approved"), bad, "mlsiem.deployment.approved")
    if approved:
        mlsiem["deployment"] = approved
    doc["mlsiem"] = mlsiem
    actor = record.get("actor")
    if actor is not None and record.get("user") is None:
        record = {**record, "user": actor}
    _common(record, doc, ctx, bad)
    event = doc["event"]
    if implied_outcome is not None and "outcome" not in event:
        event["outcome"] = implied_outcome
    put_time(event, "start", record.get("start"), bad, "event.start")
    put_time(event, "end", record.get("end"), bad, "event.end")
    own_id = record.get("id")
    return Draft("pipeline", own_id if own_id.__class__ is str and own_id else None, doc, bad)
