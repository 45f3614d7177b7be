"""OTLP/JSON export lines (the OpenTelemetry Collector's file exporter) carrying GenAI telemetry.

One line is one `{"resourceSpans": [...]}` or `{"resourceLogs": [...]}` object; every span and every
log record in it becomes one inference event. Both generations of the GenAI semantic conventions are
read: `gen_ai.provider.name`, `gen_ai.usage.input_tokens` / `output_tokens` and the deprecated
`gen_ai.system`, `gen_ai.usage.prompt_tokens` / `completion_tokens`. Where prompt and completion
text are read from: `otlp_content`.

Decisions: only spans and log records with GenAI content (a `gen_ai.*` attribute or a `gen_ai.*` event
name) become events by default (`otlp_genai_only`); an export line with none is rejected with that
reason, so nothing is dropped without a trace. Span status UNSET counts as success unless the span
carries `error.type`. `server.address` / `server.port` have no field in the inference mapping and go
to `labels.server_address` / `labels.server_port`. A span's id is `<traceId>-<spanId>`; log records have
no id of their own and get the normalizer's content hash.
"""

from __future__ import annotations

from typing import Any

from shipper.formats.otlp_content import any_value, attributes, finish_reasons, message_content
from shipper.normalize.document import Draft, RecordContext, RecordError
from shipper.normalize.put import nest, put_float, put_int, put_list, put_long, put_str
from shipper.normalize.text import message_text
from shipper.normalize.values import as_int, as_str, nanos_to_iso

_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")
_OK_CODES = (1, "1", "STATUS_CODE_OK")


def _has_genai(attrs: dict[str, Any]) -> bool:
    return any(key.startswith("gen_ai.") for key in attrs)


# ------------------------------------------------------------------------------------- mapping


def _genai_fields(attrs: dict[str, Any], doc: dict[str, Any], bad: list[str]) -> None:
    """The GenAI, network, user and HTTP attributes shared by spans and log records."""
    get = attrs.get
    gen_ai: dict[str, Any] = {}
    provider = get("gen_ai.provider.name")
    if provider is None:
        provider = get("gen_ai.system")
    if provider is not None:
        name = as_str(provider)
        if name:
            gen_ai["provider"] = {"name": name}
            gen_ai["system"] = name
        else:
            bad.append("gen_ai.provider.name")
    operation = get("gen_ai.operation.name")
    if operation is not None:
        put_str(block := {}, "name", operation, bad, "gen_ai.operation.name")
        if block:
            gen_ai["operation"] = block
    request: dict[str, Any] = {}
    put_str(request, "model", get("gen_ai.request.model"), bad, "gen_ai.request.model")
    put_int(request, "max_tokens", get("gen_ai.request.max_tokens"), bad, "gen_ai.request.max_tokens")
    put_float(request, "temperature", get("gen_ai.request.temperature"), bad, "gen_ai.request.temperature")
    response: dict[str, Any] = {}
    put_str(response, "id", get("gen_ai.response.id"), bad, "gen_ai.response.id")
    put_str(response, "model", get("gen_ai.response.model"), bad, "gen_ai.response.model")
    reasons = get("gen_ai.response.finish_reasons")
    put_list(response, "finish_reasons", reasons, bad, "gen_ai.response.finish_reasons")
    usage: dict[str, Any] = {}
    tokens_in = get("gen_ai.usage.input_tokens")
    if tokens_in is None:
        tokens_in = get("gen_ai.usage.prompt_tokens")
    tokens_out = get("gen_ai.usage.output_tokens")
    if tokens_out is None:
        tokens_out = get("gen_ai.usage.completion_tokens")
    put_int(usage, "input_tokens", tokens_in, bad, "gen_ai.usage.input_tokens")
    put_int(usage, "output_tokens", tokens_out, bad, "gen_ai.usage.output_tokens")
    gen_ai.update(nest(request=request, response=response, usage=usage))
    doc["gen_ai"] = gen_ai  # possibly empty: `_llm_block` reads it, then drops it if empty

    labels: dict[str, Any] = {}
    put_str(labels, "server_address", get("server.address"), bad, "labels.server_address")
    put_long(labels, "server_port", get("server.port"), bad, "labels.server_port")
    if labels:
        doc["labels"] = labels
    if get("client.address") is not None:
        put_str(block := {}, "ip", get("client.address"), bad, "source.ip")
        if block:
            doc["source"] = block
    user: dict[str, Any] = {}
    user_id = get("enduser.id")
    put_str(user, "id", user_id if user_id is not None else get("user.id"), bad, "user.id")
    put_str(user, "name", get("user.name"), bad, "user.name")
    if user:
        doc["user"] = user
    if get("http.request.method") is not None or get("http.response.status_code") is not None:
        method: dict[str, Any] = {}
        put_str(method, "method", get("http.request.method"), bad, "http.request.method")
        status: dict[str, Any] = {}
        put_long(status, "status_code", get("http.response.status_code"), bad, "http.response.status_code")
        http = nest(request=method, response=status)
        if http:
            doc["http"] = http
    if get("url.path") is not None:
        put_str(block := {}, "path", get("url.path"), bad, "url.path")
        if block:
            doc["url"] = block
    if get("error.type") is not None:
        put_str(block := {}, "type", get("error.type"), bad, "error.type")
        if block:
            doc["error"] = block


def _resource_fields(resource: dict[str, Any], doc: dict[str, Any], bad: list[str]) -> None:
    if not resource:
        return
    service: dict[str, Any] = {}
    put_str(service, "name", resource.get("service.name"), bad, "service.name")
    put_str(service, "version", resource.get("service.version"), bad, "service.version")
    environment = resource.get("deployment.environment.name")
    if environment is None:
        environment = resource.get("deployment.environment")
    put_str(service, "environment", environment, bad, "service.environment")
    if service:
        doc["service"] = service
    host_name = resource.get("host.name")
    if host_name is not None:
        put_str(block := {}, "name", host_name, bad, "host.name")
        if block:
            doc["host"] = block


def _llm_block(doc: dict[str, Any], prompt: Any, completion: Any, ctx: RecordContext) -> None:
    gen_ai = doc["gen_ai"]
    mlsiem: dict[str, Any] = {}
    doc["mlsiem"] = mlsiem
    response = gen_ai.get("response", {})
    model_name = response.get("model") or gen_ai.get("request", {}).get("model")
    operation = gen_ai.get("operation", {}).get("name")
    model: dict[str, Any] = {"type": "embedding" if operation == "embeddings" else "llm"}
    if model_name:
        model["name"] = model_name
    mlsiem["model"] = model
    if "finish_reasons" not in response:
        reasons = finish_reasons(completion)
        if reasons:
            if "response" not in gen_ai:
                gen_ai["response"] = response = {}
            response["finish_reasons"] = reasons
    if not gen_ai:
        del doc["gen_ai"]
    llm: dict[str, Any] = {}
    ctx.content(
        llm,
        message_text(prompt) if prompt is not None else None,
        message_text(completion) if completion is not None else None,
    )
    if llm:
        mlsiem["llm"] = llm


def _nanos(value: Any) -> int | None:
    return as_int(value, 2**63 - 1) if value is not None else None


# ------------------------------------------------------------------------------------- spans


def _span(
    span: dict[str, Any], resource: dict[str, Any], ctx: RecordContext, genai_only: bool
) -> Draft | None:
    attrs = attributes(span.get("attributes"))
    events = []
    raw_events = span.get("events")
    if raw_events.__class__ is list:
        for event in raw_events:
            if event.__class__ is dict and event.get("name").__class__ is str:
                event_attrs = attributes(event.get("attributes"))
                events.append((event["name"], event_attrs, any_value(event.get("body"))))
    if genai_only and not _has_genai(attrs) and not any(name.startswith("gen_ai.") for name, _, _ in events):
        return None
    start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    timestamp = nanos_to_iso(start) if start else (nanos_to_iso(end) if end else None)
    trace_id, span_id = as_str(span.get("traceId")), as_str(span.get("spanId"))
    if timestamp is None:
        ctx.problems.append(f"span {trace_id}-{span_id}: no valid startTimeUnixNano")
        return None
    doc = ctx.inference(timestamp)
    bad: list[str] = []
    event = doc["event"]
    if start and end and end >= start:
        event["duration"] = end - start
        event["start"] = timestamp
        end_stamp = nanos_to_iso(end)
        if end_stamp:
            event["end"] = end_stamp
    if trace_id:
        doc["trace"] = {"id": trace_id}
    if span_id:
        doc["span"] = {"id": span_id}
    name = span.get("name")
    if name.__class__ is str and name:
        doc["message"] = name
    _resource_fields(resource, doc, bad)
    _genai_fields(attrs, doc, bad)
    operation = doc.get("gen_ai", {}).get("operation", {}).get("name")
    if operation:
        event["action"] = operation
    status = span.get("status")
    code = status.get("code") if status.__class__ is dict else None
    if code in _ERROR_CODES or (code not in _OK_CODES and attrs.get("error.type") is not None):
        event["outcome"] = "failure"
        event["type"] = ["error"]
        message = status.get("message") if status.__class__ is dict else None
        if message.__class__ is str and message:
            error = doc.get("error")
            if error is None:
                error = doc["error"] = {}
            error["message"] = ctx.scrub(message)
    else:
        event["outcome"] = "success"
    prompt, completion = message_content(attrs, events)
    _llm_block(doc, prompt, completion, ctx)
    own_id = f"{trace_id}-{span_id}" if trace_id and span_id else None
    return Draft("inference", own_id, doc, bad)


# ------------------------------------------------------------------------------------- log records


def _log_record(
    record: dict[str, Any], resource: dict[str, Any], ctx: RecordContext, genai_only: bool
) -> Draft | None:
    attrs = attributes(record.get("attributes"))
    event_name = record.get("eventName")
    if event_name.__class__ is not str or not event_name:
        event_name = attrs.get("event.name") if attrs.get("event.name").__class__ is str else ""
    if genai_only and not event_name.startswith("gen_ai.") and not _has_genai(attrs):
        return None
    nanos = _nanos(record.get("timeUnixNano")) or _nanos(record.get("observedTimeUnixNano"))
    timestamp = nanos_to_iso(nanos) if nanos else None
    if timestamp is None:
        ctx.problems.append(f"log record {event_name or '(unnamed)'}: no valid timeUnixNano")
        return None
    doc = ctx.inference(timestamp)
    bad: list[str] = []
    trace_id, span_id = as_str(record.get("traceId")), as_str(record.get("spanId"))
    if trace_id:
        doc["trace"] = {"id": trace_id}
    if span_id:
        doc["span"] = {"id": span_id}
    if event_name:
        doc["event"]["action"] = event_name
    body = any_value(record.get("body"))
    if body.__class__ is str and not event_name.startswith("gen_ai."):
        doc["message"] = ctx.scrub(body)
    _resource_fields(resource, doc, bad)
    _genai_fields(attrs, doc, bad)
    severity = as_int(record.get("severityNumber"), 24)
    if attrs.get("error.type") is not None or (severity is not None and severity >= 17):
        doc["event"]["outcome"] = "failure"
        doc["event"]["type"] = ["error"]
    else:
        doc["event"]["outcome"] = "success"
    prompt, completion = message_content(attrs, [(event_name, attrs, body)] if event_name else [])
    _llm_block(doc, prompt, completion, ctx)
    return Draft("inference", None, doc, bad)


# ------------------------------------------------------------------------------------- entry


def _resources(record: dict[str, Any], key: str, scope_keys: tuple[str, ...], item_key: str):
    resources = record.get(key)
    if resources.__class__ is not list:
        raise RecordError(f"`{key}` is not a list")
    for resource_block in resources:
        if resource_block.__class__ is not dict:
            continue
        resource = resource_block.get("resource")
        resource_attrs = attributes(resource.get("attributes")) if resource.__class__ is dict else {}
        for scope_key in scope_keys:
            scopes = resource_block.get(scope_key)
            if scopes.__class__ is not list:
                continue
            for scope in scopes:
                items = scope.get(item_key) if scope.__class__ is dict else None
                if items.__class__ is list:
                    for item in items:
                        if item.__class__ is dict:
                            yield item, resource_attrs


def convert(record: dict[str, Any], ctx: RecordContext, genai_only: bool = True) -> list[Draft]:
    drafts: list[Draft] = []
    seen = 0
    if "resourceSpans" in record:
        for span, resource in _resources(
            record, "resourceSpans", ("scopeSpans", "instrumentationLibrarySpans"), "spans"
        ):
            seen += 1
            draft = _span(span, resource, ctx, genai_only)
            if draft is not None:
                drafts.append(draft)
    if "resourceLogs" in record:
        for log_record, resource in _resources(
            record, "resourceLogs", ("scopeLogs", "instrumentationLibraryLogs"), "logRecords"
        ):
            seen += 1
            draft = _log_record(log_record, resource, ctx, genai_only)
            if draft is not None:
                drafts.append(draft)
    if "resourceSpans" not in record and "resourceLogs" not in record:
        raise RecordError("not an OTLP/JSON export: no `resourceSpans` or `resourceLogs`")
    if not drafts and not ctx.problems:
        what = (
            f"{seen} span(s)/log record(s), none with GenAI attributes" if seen else "no spans or log records"
        )
        raise RecordError(f"OTLP export line holds {what} (otlp_genai_only keeps GenAI telemetry only)")
    return drafts
