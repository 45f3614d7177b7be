"""LiteLLM proxy `StandardLoggingPayload` JSON lines (the proxy's standard logging object).

Field choices: `@timestamp` is `startTime` (epoch seconds); `event.duration` is `endTime - startTime`;
`gen_ai.request.model` is the public `model_group` (what the caller asked for) and
`gen_ai.response.model` the deployment's `model` (or the response's own `model`); `user.id` is the
LiteLLM user behind the API key (`metadata.user_api_key_user_id`), `user.name` the `end_user` the
application declared, `user.group` the key's team; the key's alias and hash (never the key itself) go
to `labels.api_key_alias` / `labels.api_key_hash`. Only the host of `api_base` is kept
(`labels.server_address`): a URL can carry credentials in its query string. Guardrail results
(`guardrail_information`, a list in current LiteLLM, one object in older releases) become
`mlsiem.llm.guardrail.{action,policies}`: intervened/failed -> blocked (modified when entities were
masked), success -> allowed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from shipper.normalize.document import Draft, RecordContext, RecordError
from shipper.normalize.put import BOOL, FLOAT, INT, LIST, STR, at, place, put, table, truthy
from shipper.normalize.text import finish_reasons, message_text
from shipper.normalize.values import as_float, as_str, epoch_to_iso
from shipper.normalize.vocab import provider_name

# LiteLLM call types -> OpenTelemetry `gen_ai.operation.name`; others keep their own name.
_OPERATIONS = {
    "completion": "chat",
    "acompletion": "chat",
    "text_completion": "text_completion",
    "atext_completion": "text_completion",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "responses": "chat",
    "aresponses": "chat",
    "anthropic_messages": "chat",
    "image_generation": "image_generation",
    "aimage_generation": "image_generation",
}


def claims(record: dict[str, Any]) -> bool:
    """A StandardLoggingPayload: `call_type` with `startTime` or `response_cost` (by keys only)."""
    return "call_type" in record and ("startTime" in record or "response_cost" in record)


def _requested(record: dict[str, Any]) -> Any:
    """The public model group the caller asked for, else the deployment's model."""
    return record.get("model_group") or record.get("model")


def _max_tokens(record: dict[str, Any]) -> Any:
    params = record.get("model_parameters")
    if params.__class__ is not dict:
        return None
    return params.get("max_tokens", params.get("max_completion_tokens"))


def _server(record: dict[str, Any]) -> str | None:
    """Only the host of `api_base`: a URL can carry credentials in its query string."""
    api_base = record.get("api_base")
    if api_base.__class__ is not str or not api_base:
        return None
    try:
        return urlsplit(api_base).hostname or None
    except ValueError:
        return None


# The payload's straight copies, grouped by meaning and compiled into ONE function (`copy_payload`).
REQUEST = (
    (_requested, "gen_ai.request.model", STR),
    (at("model_parameters", "temperature"), "gen_ai.request.temperature", FLOAT),
    (_max_tokens, "gen_ai.request.max_tokens", INT),
    (at("response", "id"), "gen_ai.response.id", STR),
    (at("response", "model"), "gen_ai.response.model", STR),
)
USAGE = (
    ("prompt_tokens", "gen_ai.usage.input_tokens", INT),
    ("completion_tokens", "gen_ai.usage.output_tokens", INT),
)
ACTOR = (
    (at("metadata", "user_api_key_user_id"), "user.id", STR),
    (truthy("end_user"), "user.name", STR),
    (at("metadata", "user_api_key_team_id"), "user.group.id", STR),
    (at("metadata", "user_api_key_team_alias"), "user.group.name", STR),
    (at("metadata", "user_api_key_org_id"), "organization.id", STR),
    (truthy("requester_ip_address", at("metadata", "requester_ip_address")), "source.ip", STR),
    (truthy("user_agent"), "user_agent.original", STR),
    (truthy("trace_id"), "trace.id", STR),
    (truthy("request_tags"), "tags", LIST),
    (at("metadata", "user_api_key_alias"), "labels.api_key_alias", STR),
    (at("metadata", "user_api_key_hash"), "labels.api_key_hash", STR),
    (_server, "labels.server_address", STR),
    (truthy("model_id"), "labels.model_id", STR),
)
LLM = (
    (_requested, "mlsiem.model.name", STR),
    ("response_cost", "mlsiem.llm.cost_usd", FLOAT),
    ("cache_hit", "mlsiem.llm.cache_hit", BOOL),
)
copy_payload = table(*REQUEST, *USAGE, *ACTOR, *LLM)
copy_error = table((truthy("error_class"), "error.type", STR), (truthy("error_code"), "error.code", STR))


def _guardrail_action(entry: dict[str, Any], action: str | None) -> str | None:
    """One guardrail result folded into the action so far: blocked wins, then modified, then allowed."""
    status = entry.get("guardrail_status")
    if status in ("guardrail_intervened", "failure"):
        masked = entry.get("masked_entity_count")
        outcome = "modified" if masked.__class__ is dict and any(masked.values()) else "blocked"
        return "blocked" if action == "blocked" else outcome
    if status == "success" and action is None:
        return "allowed"
    return action


def _guardrail(information: Any, doc: dict[str, Any], bad: list[str]) -> None:
    entries = [information] if information.__class__ is dict else information
    if entries.__class__ is not list:
        bad.append("mlsiem.llm.guardrail")
        return
    policies: list[str] = []
    action: str | None = None
    for entry in entries:
        if entry.__class__ is not dict:
            continue
        name = as_str(entry.get("guardrail_name"))
        if name:
            policies.append(name)
        action = _guardrail_action(entry, action)
    rail: dict[str, Any] = {}
    if action:
        rail["action"] = action
    if policies:
        rail["policies"] = policies
    if rail:
        place(doc, ("mlsiem", "llm"), "guardrail", rail)
        if action == "blocked":
            doc["event"]["type"] = ["denied"]


def _event(record: dict[str, Any], event: dict[str, Any], start: float, timestamp: str) -> str | None:
    """Duration, action and outcome; returns the operation (`gen_ai.operation.name`)."""
    end = as_float(record.get("endTime"))
    end_stamp = epoch_to_iso(end) if end is not None else None
    if end_stamp is not None and end >= start:  # type: ignore[operator]
        # Epoch-second floats carry microseconds at best: round there, not to float noise in ns.
        event["duration"] = round((end - start) * 1e6) * 1000  # type: ignore[operator]
        event["start"] = timestamp
        event["end"] = end_stamp
    call_type = as_str(record.get("call_type"))
    operation = _OPERATIONS.get(call_type, call_type) if call_type else None
    if operation:
        event["action"] = operation
    if record.get("status") == "failure":
        event["outcome"] = "failure"
        event["type"] = ["error"]
    else:
        event["outcome"] = "success"
    return operation


def _gen_ai(record: dict[str, Any], doc: dict[str, Any], operation: str | None) -> None:
    """Provider and operation: before `copy_payload`, which adds the request, response and usage."""
    provider = as_str(record.get("custom_llm_provider"))
    if provider:
        # LiteLLM's `azure`, `bedrock`, `vertex_ai`: the convention's well-known names
        provider = provider_name(provider)
        doc["gen_ai"] = {"provider": {"name": provider}, "system": provider}
    if operation:
        place(doc, ("gen_ai", "operation"), "name", operation)


def _response(record: dict[str, Any], doc: dict[str, Any], bad: list[str]) -> None:
    """Finish reasons, and the deployment's model when the response names none: after `copy_payload`."""
    response = record.get("response")
    reasons = finish_reasons(response.get("choices")) if response.__class__ is dict else None
    if reasons:
        place(doc, ("gen_ai", "response"), "finish_reasons", reasons)
    if "model" not in doc.get("gen_ai", {}).get("response", {}):
        put(doc, "gen_ai.response.model", record.get("model"), STR, bad)


def _error(record: dict[str, Any], doc: dict[str, Any], ctx: RecordContext, bad: list[str]) -> None:
    information = record.get("error_information")
    message = record.get("error_str")
    if information.__class__ is dict:
        code = information.get("error_code")
        if code is not None and str(code).isdigit() and 100 <= int(str(code)) <= 599:
            doc["http"] = {"response": {"status_code": int(str(code))}}
        copy_error(information, doc, bad)
        if message is None:
            message = information.get("error_message")
    text = as_str(message) if message is not None else None
    if text:
        place(doc, ("error",), "message", ctx.scrub(text))


def convert(record: dict[str, Any], ctx: RecordContext) -> list[Draft]:
    start = as_float(record.get("startTime"))
    timestamp = epoch_to_iso(start) if start is not None else None
    if timestamp is None:
        raise RecordError("LiteLLM payload has no valid `startTime` (epoch seconds)")
    doc = ctx.inference(timestamp)
    bad: list[str] = []
    operation = _event(record, doc["event"], start, timestamp)  # type: ignore[arg-type]
    _gen_ai(record, doc, operation)
    doc["mlsiem"] = {"model": {"type": "embedding" if operation == "embeddings" else "llm"}}
    copy_payload(record, doc, bad)
    _response(record, doc, bad)
    if doc["event"]["outcome"] == "failure":
        _error(record, doc, ctx, bad)
    guardrails = record.get("guardrail_information")
    if guardrails is not None:
        _guardrail(guardrails, doc, bad)
    mlsiem = doc["mlsiem"]
    llm = mlsiem.get("llm")
    if llm is None:
        llm = {}
    messages, response, response_text = record.get("messages"), record.get("response"), None
    if response is not None and operation != "embeddings":
        response_text = message_text(response)
    ctx.content(llm, message_text(messages) if messages is not None else None, response_text)
    if llm:
        mlsiem["llm"] = llm
    own_id = record.get("id")
    return [Draft("inference", own_id if own_id.__class__ is str and own_id else None, doc, bad)]
