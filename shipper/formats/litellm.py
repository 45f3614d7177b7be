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
from shipper.normalize.put import nest, put_bool, put_float, put_int, put_list, put_str
from shipper.normalize.text import message_text
from shipper.normalize.values import as_float, as_str, epoch_to_iso

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


def _guardrail(information: Any, llm: dict[str, Any], bad: list[str]) -> None:
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
        status = entry.get("guardrail_status")
        if status in ("guardrail_intervened", "failure"):
            masked = entry.get("masked_entity_count")
            outcome = "modified" if masked.__class__ is dict and any(masked.values()) else "blocked"
            action = "blocked" if action == "blocked" else outcome
        elif status == "success" and action is None:
            action = "allowed"
    rail: dict[str, Any] = {}
    if action:
        rail["action"] = action
    if policies:
        rail["policies"] = policies
    if rail:
        llm["guardrail"] = rail


def convert(record: dict[str, Any], ctx: RecordContext) -> list[Draft]:
    start = as_float(record.get("startTime"))
    timestamp = epoch_to_iso(start) if start is not None else None
    if timestamp is None:
        raise RecordError("LiteLLM payload has no valid `startTime` (epoch seconds)")
    doc = ctx.inference(timestamp)
    bad: list[str] = []
    event = doc["event"]
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
    failed = record.get("status") == "failure"
    event["outcome"] = "failure" if failed else "success"
    if failed:
        event["type"] = ["error"]

    gen_ai: dict[str, Any] = {}
    provider = as_str(record.get("custom_llm_provider"))
    if provider:
        gen_ai["provider"] = {"name": provider}
        gen_ai["system"] = provider
    if operation:
        gen_ai["operation"] = {"name": operation}
    request: dict[str, Any] = {}
    requested = record.get("model_group") or record.get("model")
    put_str(request, "model", requested, bad, "gen_ai.request.model")
    params = record.get("model_parameters")
    if params.__class__ is dict:
        put_float(request, "temperature", params.get("temperature"), bad, "gen_ai.request.temperature")
        max_tokens = params.get("max_tokens", params.get("max_completion_tokens"))
        put_int(request, "max_tokens", max_tokens, bad, "gen_ai.request.max_tokens")
    response_block: dict[str, Any] = {}
    response = record.get("response")
    if response.__class__ is dict:
        put_str(response_block, "id", response.get("id"), bad, "gen_ai.response.id")
        put_str(response_block, "model", response.get("model"), bad, "gen_ai.response.model")
        choices = response.get("choices")
        if choices.__class__ is list:
            reasons = [
                c["finish_reason"]
                for c in choices
                if c.__class__ is dict and c.get("finish_reason").__class__ is str
            ]
            if reasons:
                response_block["finish_reasons"] = reasons
    if "model" not in response_block:
        put_str(response_block, "model", record.get("model"), bad, "gen_ai.response.model")
    usage: dict[str, Any] = {}
    put_int(usage, "input_tokens", record.get("prompt_tokens"), bad, "gen_ai.usage.input_tokens")
    put_int(usage, "output_tokens", record.get("completion_tokens"), bad, "gen_ai.usage.output_tokens")
    gen_ai.update(nest(request=request, response=response_block, usage=usage))
    if gen_ai:
        doc["gen_ai"] = gen_ai

    metadata = record.get("metadata")
    if metadata.__class__ is not dict:
        metadata = {}
    user: dict[str, Any] = {}
    put_str(user, "id", metadata.get("user_api_key_user_id"), bad, "user.id")
    put_str(user, "name", record.get("end_user") or None, bad, "user.name")
    group: dict[str, Any] = {}
    put_str(group, "id", metadata.get("user_api_key_team_id"), bad, "user.group.id")
    put_str(group, "name", metadata.get("user_api_key_team_alias"), bad, "user.group.name")
    if group:
        user["group"] = group
    organization: dict[str, Any] = {}
    put_str(organization, "id", metadata.get("user_api_key_org_id"), bad, "organization.id")
    source: dict[str, Any] = {}
    put_str(
        source,
        "ip",
        record.get("requester_ip_address") or metadata.get("requester_ip_address") or None,
        bad,
        "source.ip",
    )
    user_agent: dict[str, Any] = {}
    put_str(user_agent, "original", record.get("user_agent") or None, bad, "user_agent.original")
    trace: dict[str, Any] = {}
    put_str(trace, "id", record.get("trace_id") or None, bad, "trace.id")
    doc.update(nest(user=user, organization=organization, source=source, user_agent=user_agent, trace=trace))
    put_list(doc, "tags", record.get("request_tags") or None, bad, "tags")

    labels: dict[str, Any] = {}
    put_str(labels, "api_key_alias", metadata.get("user_api_key_alias"), bad, "labels.api_key_alias")
    put_str(labels, "api_key_hash", metadata.get("user_api_key_hash"), bad, "labels.api_key_hash")
    api_base = record.get("api_base")
    if api_base.__class__ is str and api_base:
        try:
            host = urlsplit(api_base).hostname
        except ValueError:
            host = None
        if host:
            labels["server_address"] = host
    model_id = record.get("model_id")
    put_str(labels, "model_id", model_id or None, bad, "labels.model_id")
    if labels:
        doc["labels"] = labels

    if failed:
        error: dict[str, Any] = {}
        information = record.get("error_information")
        message = record.get("error_str")
        if information.__class__ is dict:
            put_str(error, "type", information.get("error_class") or None, bad, "error.type")
            code = information.get("error_code")
            put_str(error, "code", code or None, bad, "error.code")
            if message is None:
                message = information.get("error_message")
            if code is not None and str(code).isdigit() and 100 <= int(str(code)) <= 599:
                doc["http"] = {"response": {"status_code": int(str(code))}}
        text = as_str(message) if message is not None else None
        if text:
            error["message"] = ctx.scrub(text)
        if error:
            doc["error"] = error

    mlsiem: dict[str, Any] = {}
    doc["mlsiem"] = mlsiem
    model: dict[str, Any] = {"type": "embedding" if operation == "embeddings" else "llm"}
    put_str(model, "name", requested, bad, "mlsiem.model.name")
    mlsiem["model"] = model
    llm: dict[str, Any] = {}
    put_float(llm, "cost_usd", record.get("response_cost"), bad, "mlsiem.llm.cost_usd")
    put_bool(llm, "cache_hit", record.get("cache_hit"), bad, "mlsiem.llm.cache_hit")
    guardrails = record.get("guardrail_information")
    if guardrails is not None:
        _guardrail(guardrails, llm, bad)
        if llm.get("guardrail", {}).get("action") == "blocked":
            event["type"] = ["denied"]
    messages, response_text = record.get("messages"), None
    if response is not None and operation != "embeddings":
        response_text = message_text(response)
    ctx.content(llm, message_text(messages) if messages is not None else None, response_text)
    if llm:
        mlsiem["llm"] = llm
    own_id = record.get("id")
    return [Draft("inference", own_id if own_id.__class__ is str and own_id else None, doc, bad)]
