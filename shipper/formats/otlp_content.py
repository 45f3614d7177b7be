"""OTLP/JSON decoding: `AnyValue` / `KeyValue` lists as plain values, trace and span ids, and GenAI
message content.

Ids: the Collector's file exporter writes them as hex (what ECS `trace.id` / `span.id` hold); the plain
protobuf JSON mapping writes `bytes` as base64. Base64 that decodes to the id's size (16 bytes for a
trace, 8 for a span) becomes hex; anything else is an error the format reports.

Prompt and completion text is taken from, in order: `gen_ai.input.messages` / `gen_ai.output.messages`
(current conventions, structured or a JSON string), `gen_ai.prompt` / `gen_ai.completion` (attributes
or the `gen_ai.content.*` span events), OpenLLMetry's indexed `gen_ai.prompt.<n>.content` attributes,
and the per-message events (`gen_ai.user.message`, `gen_ai.choice`, ...) as span events or log records.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final

import orjson

from shipper.normalize.values import as_int

PROMPT_EVENTS = frozenset(
    {"gen_ai.user.message", "gen_ai.system.message", "gen_ai.assistant.message", "gen_ai.tool.message"}
)


_HEX: Final = {16: re.compile(r"[0-9a-fA-F]{32}"), 8: re.compile(r"[0-9a-fA-F]{16}")}
_ID_NAMES: Final = {16: "traceId", 8: "spanId"}


def otlp_id(value: Any, size: int) -> str | None:
    """A trace (`size` 16) or span (8) id as hex: hex kept as sent, base64 of `size` bytes converted;
    None when absent or empty. Raises ValueError naming the field for anything else."""
    if value is None or value == "":
        return None
    if value.__class__ is str:
        if _HEX[size].fullmatch(value):
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == size:
            return raw.hex()
    shown = value[:64] if value.__class__ is str else type(value).__name__
    raise ValueError(
        f"{_ID_NAMES[size]} {shown!r} is neither {size * 2} hex digits nor base64 of {size} bytes"
    )


def any_value(value: Any) -> Any:
    """An OTLP `AnyValue` as a plain value (int64 arrives as a string in OTLP/JSON)."""
    if value.__class__ is not dict:
        return None
    for key, item in value.items():
        if key == "stringValue":
            return item
        if key == "intValue":
            return as_int(item, 2**63 - 1, -(2**63))
        if key == "doubleValue" or key == "boolValue" or key == "bytesValue":
            return item
        if key == "arrayValue":
            values = item.get("values") if item.__class__ is dict else None
            return [any_value(v) for v in values] if values.__class__ is list else []
        if key == "kvlistValue":
            values = item.get("values") if item.__class__ is dict else None
            return attributes(values)
    return None


def attributes(items: Any) -> dict[str, Any]:
    """An OTLP `KeyValue` list as a dict."""
    result: dict[str, Any] = {}
    if items.__class__ is not list:
        return result
    for item in items:
        if item.__class__ is dict:
            key = item.get("key")
            if key.__class__ is str:
                result[key] = any_value(item.get("value"))
    return result


def structured(value: Any) -> Any:
    """Message attributes may hold a JSON string (`gen_ai.input.messages`, `gen_ai.prompt`)."""
    if value.__class__ is str and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """OpenLLMetry's flattened `gen_ai.prompt.<n>.role` / `.content` attributes as a message list (a
    completion's `.finish_reason` kept on its message, where `finish_reasons` finds it)."""
    messages = []
    index = 0
    while True:
        role, content = f"{prefix}.{index}.role", f"{prefix}.{index}.content"
        reason = attrs.get(f"{prefix}.{index}.finish_reason")
        if role not in attrs and content not in attrs and reason is None:
            break
        message = {"role": attrs.get(role), "content": attrs.get(content)}
        if reason is not None:
            message["finish_reason"] = reason
        messages.append(message)
        index += 1
    return messages or None


def message_content(attrs: dict[str, Any], events: list[tuple[str, dict[str, Any], Any]]) -> tuple[Any, Any]:
    """Prompt and completion in the richest form present (see the module docstring for the order)."""
    prompt = attrs.get("gen_ai.input.messages")
    if prompt is None:
        prompt = attrs.get("gen_ai.prompt")
    completion = attrs.get("gen_ai.output.messages")
    if completion is None:
        completion = attrs.get("gen_ai.completion")
    if prompt is None:
        prompt = _indexed_messages(attrs, "gen_ai.prompt")
    if completion is None:
        completion = _indexed_messages(attrs, "gen_ai.completion")
    prompt_messages: list[Any] = []
    choices: list[Any] = []
    for name, event_attrs, body in events:
        if name == "gen_ai.content.prompt" and prompt is None:
            prompt = event_attrs.get("gen_ai.prompt")
        elif name == "gen_ai.content.completion" and completion is None:
            completion = event_attrs.get("gen_ai.completion")
        elif name in PROMPT_EVENTS:
            message = body if body.__class__ is dict else dict(event_attrs)
            message.setdefault("role", name.split(".")[1])
            prompt_messages.append(message)
        elif name == "gen_ai.choice":
            choices.append(body if body.__class__ is dict else dict(event_attrs))
    if prompt is None and prompt_messages:
        prompt = prompt_messages
    if completion is None and choices:
        completion = choices
    return structured(prompt), structured(completion)
