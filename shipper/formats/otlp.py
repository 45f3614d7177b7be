"""OTLP/JSON export lines (the OpenTelemetry Collector's file exporter) carrying GenAI telemetry.

One line is one `{"resourceSpans": [...]}` or `{"resourceLogs": [...]}` object; every span and every
log record in it becomes one inference document. Both generations of the GenAI semantic conventions
are read: `gen_ai.provider.name`, `gen_ai.usage.input_tokens` / `output_tokens` and the deprecated
`gen_ai.system`, `gen_ai.usage.prompt_tokens` / `completion_tokens`, and what real clients send besides
(OpenLLMetry's `llm.request.type`, LiteLLM's spellings, cost and key owner; docs/formats.md). Where
prompt and completion text are read from: `otlp_content`.

One call, one counted event. A GenAI client reports a call as a span and, depending on its version and
settings, log records of the same call: the per-message `gen_ai.user.message` / `gen_ai.choice` events
(older instrumentations) or a `gen_ai.client.inference.operation.details` record that repeats the
span's usage (`span_and_event` mode). The span is the call (`event.kind: event`). A log record that
carries a span id is a detail of that span's call: it is kept, searchable (its prompt and completion
reach the content rules) and linked by `trace.id` / `span.id`, but as `event.kind: enrichment`, which
the dashboards and the detectors leave out of every count (requests, failures, tokens, cost). The two
are not merged into one document: they arrive in different export lines (often different files) and
documents are written once (`op_type: create`). A log record without a span id is the only record of
its call and stays `event.kind: event`.

Decisions: only spans and log records with GenAI content (a `gen_ai.*` attribute or a `gen_ai.*` event
name) become events by default (`otlp_genai_only`); an export line with none is rejected with that
reason, so nothing is dropped without a trace. Span status UNSET counts as success unless the span
carries `error.type`. `server.address` / `server.port` have no field in the inference mapping and go
to `labels.server_address` / `labels.server_port`. A span's id is `<traceId>-<spanId>`; log records have
no id of their own and get the normalizer's content hash. Trace and span ids in base64 (the plain
protobuf JSON mapping) become hex; a span or log record whose id is neither is reported (dead letter).
"""

from __future__ import annotations

from typing import Any, Final

from shipper.formats.otlp_content import any_value, attributes, message_content, otlp_id, structured
from shipper.normalize.document import Draft, RecordContext, RecordError
from shipper.normalize.put import FLOAT, INT, LONG, STR, first, put, table
from shipper.normalize.text import finish_reasons, message_text
from shipper.normalize.values import as_int, as_str, as_str_list, nanos_to_iso
from shipper.normalize.vocab import provider_name

_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")
_OK_CODES = (1, "1", "STATUS_CODE_OK")


def claims(record: dict[str, Any]) -> bool:
    """An OTLP/JSON export line: `resourceSpans` or `resourceLogs` (by keys only)."""
    return "resourceSpans" in record or "resourceLogs" in record


def _has_genai(attrs: dict[str, Any]) -> bool:
    return any(key.startswith("gen_ai.") for key in attrs)


# ------------------------------------------------------------------------------------- mapping

# OpenLLMetry's `llm.request.type` (when there is no `gen_ai.operation.name`), and operation names
# clients spell their own way, as the convention's operation names.
_REQUEST_TYPES: Final = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}
_OPERATION_SPELLINGS: Final = {
    "embedding": "embeddings",  # LiteLLM
    "aembedding": "embeddings",  # LiteLLM, async calls
    "acompletion": "chat",
    "atext_completion": "text_completion",
}


def _finish_reasons(value: Any) -> list[str] | None:
    """A list; LiteLLM sends it as a JSON array in a string (`'["stop"]'`)."""
    return as_str_list(structured(value))


def _litellm_user(attrs: dict[str, Any]) -> Any:
    """The LiteLLM proxy's key owner (an empty string when the key has none)."""
    return attrs.get("metadata.user_api_key_user_id") or None


def _operation(attrs: dict[str, Any]) -> Any:
    name = attrs.get("gen_ai.operation.name")
    if name is None:
        request_type = attrs.get("llm.request.type")
        return _REQUEST_TYPES.get(request_type) if request_type.__class__ is str else None
    return _OPERATION_SPELLINGS.get(name, name) if name.__class__ is str else name


# The GenAI, network, user and HTTP attributes shared by spans and log records (both generations of
# the GenAI conventions: the current name first).
copy_attributes = table(
    (_operation, "gen_ai.operation.name", STR),
    ("gen_ai.request.model", "gen_ai.request.model", STR),
    ("gen_ai.request.max_tokens", "gen_ai.request.max_tokens", INT),
    ("gen_ai.request.temperature", "gen_ai.request.temperature", FLOAT),
    ("gen_ai.response.id", "gen_ai.response.id", STR),
    ("gen_ai.response.model", "gen_ai.response.model", STR),
    ("gen_ai.response.finish_reasons", "gen_ai.response.finish_reasons", _finish_reasons),
    (first("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"), "gen_ai.usage.input_tokens", INT),
    (
        first("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        "gen_ai.usage.output_tokens",
        INT,
    ),
    ("server.address", "labels.server_address", STR),
    ("server.port", "labels.server_port", LONG),
    ("client.address", "source.ip", STR),
    (first("enduser.id", "user.id", _litellm_user), "user.id", STR),
    ("user.name", "user.name", STR),
    ("http.request.method", "http.request.method", STR),
    ("http.response.status_code", "http.response.status_code", LONG),
    ("url.path", "url.path", STR),
    ("error.type", "error.type", STR),
)
copy_resource = table(
    ("service.name", "service.name", STR),
    ("service.version", "service.version", STR),
    (first("deployment.environment.name", "deployment.environment"), "service.environment", STR),
    ("host.name", "host.name", STR),
)


def _genai_fields(attrs: dict[str, Any], doc: dict[str, Any], bad: list[str]) -> None:
    gen_ai: dict[str, Any] = {}
    doc["gen_ai"] = gen_ai  # possibly empty: `_llm_block` reads it, then drops it if empty
    provider = attrs.get("gen_ai.provider.name")
    if provider is None:
        provider = attrs.get("gen_ai.system")
    if provider is not None:
        name = as_str(provider)
        if name:
            name = provider_name(name)
            gen_ai["provider"] = {"name": name}
            gen_ai["system"] = name
        elif name is None:  # an empty name (LiteLLM's embeddings) is no name
            bad.append("gen_ai.provider.name")
    copy_attributes(attrs, doc, bad)


def _llm_block(
    doc: dict[str, Any],
    attrs: dict[str, Any],
    prompt: Any,
    completion: Any,
    ctx: RecordContext,
    bad: list[str],
) -> None:
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
    put(doc, "mlsiem.llm.cost_usd", attrs.get("gen_ai.cost.total_cost"), FLOAT, bad)  # LiteLLM


def _nanos(value: Any) -> int | None:
    return as_int(value, 2**63 - 1) if value is not None else None


# ------------------------------------------------------------------------------------- spans


def _span_events(span: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """(name, attributes, body) of a span's named events."""
    events = []
    raw_events = span.get("events")
    if raw_events.__class__ is list:
        for event in raw_events:
            if event.__class__ is dict and event.get("name").__class__ is str:
                event_attrs = attributes(event.get("attributes"))
                events.append((event["name"], event_attrs, any_value(event.get("body"))))
    return events


def _span_outcome(
    span: dict[str, Any], attrs: dict[str, Any], doc: dict[str, Any], ctx: RecordContext
) -> None:
    """Status ERROR (or UNSET with `error.type`) is a failure, with the status message as error.message."""
    event = doc["event"]
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


def _span(
    span: dict[str, Any], resource: dict[str, Any], ctx: RecordContext, genai_only: bool
) -> Draft | None:
    attrs = attributes(span.get("attributes"))
    events = _span_events(span)
    if genai_only and not _has_genai(attrs) and not any(name.startswith("gen_ai.") for name, _, _ in events):
        return None
    start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    timestamp = nanos_to_iso(start) if start else (nanos_to_iso(end) if end else None)
    try:
        trace_id, span_id = otlp_id(span.get("traceId"), 16), otlp_id(span.get("spanId"), 8)
    except ValueError as exc:
        ctx.problems.append(f"span {as_str(span.get('name')) or '(unnamed)'}: {exc}")
        return None
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
    if resource:
        copy_resource(resource, doc, bad)
    _genai_fields(attrs, doc, bad)
    operation = doc["gen_ai"].get("operation", {}).get("name")
    if operation:
        event["action"] = operation
    _span_outcome(span, attrs, doc, ctx)
    prompt, completion = message_content(attrs, events)
    _llm_block(doc, attrs, prompt, completion, ctx, bad)
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
    try:
        trace_id, span_id = otlp_id(record.get("traceId"), 16), otlp_id(record.get("spanId"), 8)
    except ValueError as exc:
        ctx.problems.append(f"log record {event_name or '(unnamed)'}: {exc}")
        return None
    doc = ctx.inference(timestamp)
    bad: list[str] = []
    if trace_id:
        doc["trace"] = {"id": trace_id}
    if span_id:
        doc["span"] = {"id": span_id}
    if span_id:  # a detail of the call its span reports: not counted again (module docstring)
        doc["event"]["kind"] = "enrichment"
    if event_name:
        doc["event"]["action"] = event_name
    body = any_value(record.get("body"))
    if body.__class__ is str and not event_name.startswith("gen_ai."):
        doc["message"] = ctx.scrub(body)
    if resource:
        copy_resource(resource, doc, bad)
    _genai_fields(attrs, doc, bad)
    severity = as_int(record.get("severityNumber"), 24)
    if attrs.get("error.type") is not None or (severity is not None and severity >= 17):
        doc["event"]["outcome"] = "failure"
        doc["event"]["type"] = ["error"]
    else:
        doc["event"]["outcome"] = "success"
    prompt, completion = message_content(attrs, [(event_name, attrs, body)] if event_name else [])
    _llm_block(doc, attrs, prompt, completion, ctx, bad)
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
