"""OTLP export requests (protobuf or JSON bodies) -> the lines the Collector's file exporter writes.

The receiver hands the pipeline exactly what `mlsiem ship` reads from a file-exporter file: one
OTLP/JSON object per record (`{"resourceSpans": [...]}` / `{"resourceLogs": [...]}`, camelCase keys,
hex trace and span ids, 64-bit integers as strings, enums as numbers, unset fields left out), so the
`otlp` format turns both into the same documents. Bodies are parsed by the official definitions
(`opentelemetry-proto`); JSON bodies go through protobuf's JSON parser after their hex ids are turned
into the bytes encoding it expects (ids already in base64, the plain protobuf JSON mapping, pass as they
are). A request whose line would pass `max_line_bytes` is cut into several lines (by resource, scope and
halves of the span or log record list), so one large export is not rejected whole.

Log records named `mlsiem.event` (the SDK's OpenTelemetry mode, `shipper.sdk_otel`) carry a native
event as their body: each becomes a native-format line of its own.

Metrics requests (`/v1/metrics`) are decoded and counted, not shipped: the GenAI client metrics
(`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`) repeat what every span carries, and
shipping both would count each call twice.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shipper.sdk_otel import NATIVE_EVENT

Signal = Literal["traces", "logs", "metrics"]
SIGNALS: Final[tuple[Signal, ...]] = ("traces", "logs", "metrics")
REQUESTS: Final[dict[Signal, type[Message]]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}
# signal -> (resource list key, scope list key, item list key) of the JSON encoding
_KEYS: Final = {
    "traces": ("resourceSpans", "scopeSpans", "spans"),
    "logs": ("resourceLogs", "scopeLogs", "logRecords"),
}
_HEX_IDS: Final = frozenset({"traceId", "spanId", "parentSpanId"})


class OtlpDecodeError(ValueError):
    """The body is not an export request of its signal; the message says why (for a 400 answer)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """One request: its lines (each a file-exporter line) with their item counts, and its items in all."""

    lines: list[tuple[bytes, int]]
    items: int
    metric_points: dict[str, int]


def parse_body(signal: Signal, body: bytes, json_body: bool) -> Message:
    """The export request in `body` (protobuf, or OTLP/JSON when `json_body`); OtlpDecodeError if not."""
    message = REQUESTS[signal]()
    if not json_body:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OtlpDecodeError(f"not a protobuf {message.DESCRIPTOR.name}: {exc or 'malformed'}") from None
        return message
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError(f"not an OTLP/JSON {message.DESCRIPTOR.name}: expected an object")
    try:
        _ids_to_base64(data, 0)
        ParseDict(data, message, ignore_unknown_fields=True, max_recursion_depth=64)
    except (ParseError, RecursionError, TypeError, ValueError) as exc:
        text = str(exc)[:300] or type(exc).__name__
        raise OtlpDecodeError(f"not an OTLP/JSON {message.DESCRIPTOR.name}: {text}") from None
    return message


def _ids_to_base64(node: Any, depth: int) -> None:
    """OTLP/JSON writes ids in hex, protobuf's JSON parser reads bytes as base64: convert in place."""
    if depth > 64:
        raise OtlpDecodeError("nested deeper than 64 levels")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_IDS and isinstance(value, str):
                if len(value) in (16, 32) and _is_hex(value):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            elif isinstance(value, dict | list):
                _ids_to_base64(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, dict | list):
                _ids_to_base64(value, depth + 1)


def _is_hex(text: str) -> bool:
    try:
        binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        return False
    return True


def decode(signal: Signal, message: Message, max_line_bytes: int) -> Decoded:
    """The request as file-exporter lines of at most `max_line_bytes` where it can be cut that small."""
    if signal == "metrics":
        return Decoded([], 0, _metric_points(message))
    resource_key, scope_key, item_key = _KEYS[signal]
    item = _span if signal == "traces" else _log_record
    groups: list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]] = []
    native: list[tuple[bytes, int]] = []
    items = 0
    for resource_items in getattr(message, _field(resource_key)):
        resource = _resource_head(resource_items, scope_key)
        for scope_items in getattr(resource_items, _field(scope_key)):
            scope = _resource_head(scope_items, item_key)
            converted = []
            for entry in getattr(scope_items, _field(item_key)):
                if (
                    signal == "logs"
                    and entry.event_name == NATIVE_EVENT
                    and entry.body.HasField("kvlist_value")
                ):
                    native.append((orjson.dumps(plain_value(entry.body)), 1))
                else:
                    converted.append(item(entry))
            items += len(converted)
            groups.append((resource, scope, converted))
    if not items:
        return Decoded(native, len(native), {})
    whole = _line(resource_key, scope_key, item_key, groups)
    if len(whole) <= max_line_bytes:
        return Decoded([(whole, items), *native], items + len(native), {})
    lines: list[tuple[bytes, int]] = list(native)
    for resource, scope, converted in groups:
        _cut(lines, resource_key, scope_key, item_key, resource, scope, converted, max_line_bytes)
    return Decoded(lines, items + len(native), {})


def plain_value(value: Any) -> Any:
    """An AnyValue as plain data (maps, lists, scalars; bytes as base64 text)."""
    which = value.WhichOneof("value")
    if which == "kvlist_value":
        return {kv.key: plain_value(kv.value) for kv in value.kvlist_value.values}
    if which == "array_value":
        return [plain_value(entry) for entry in value.array_value.values]
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if which == "double_value" and not math.isfinite(value.double_value):
        return None
    return getattr(value, which) if which else None


def _field(json_name: str) -> str:
    return {
        "resourceSpans": "resource_spans",
        "scopeSpans": "scope_spans",
        "spans": "spans",
        "resourceLogs": "resource_logs",
        "scopeLogs": "scope_logs",
        "logRecords": "log_records",
    }[json_name]


def _line(resource_key: str, scope_key: str, item_key: str, groups: list) -> bytes:
    """One export object of the groups; consecutive groups of one resource share its entry."""
    resources: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for resource, scope, converted in groups:
        if not converted:
            continue
        if not resources or resources[-1][0] is not resource:
            resources.append((resource, []))
        resources[-1][1].append({**scope, item_key: converted})
    return orjson.dumps({resource_key: [{**head, scope_key: scopes} for head, scopes in resources]})


def _cut(
    lines: list[tuple[bytes, int]],
    resource_key: str,
    scope_key: str,
    item_key: str,
    resource: dict[str, Any],
    scope: dict[str, Any],
    converted: list[dict[str, Any]],
    limit: int,
) -> None:
    """Halve the item list until each line fits (a single item over the limit stays a line of its own)."""
    if not converted:
        return
    line = _line(resource_key, scope_key, item_key, [(resource, scope, converted)])
    if len(line) <= limit or len(converted) == 1:
        lines.append((line, len(converted)))
        return
    half = len(converted) // 2
    _cut(lines, resource_key, scope_key, item_key, resource, scope, converted[:half], limit)
    _cut(lines, resource_key, scope_key, item_key, resource, scope, converted[half:], limit)


# -------------------------------------------------------------------- protobuf -> OTLP/JSON


_INT64: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_SINT64,
    }
)
_MESSAGE, _HEX, _BYTES, _LONG, _DOUBLE, _PLAIN = range(6)
_plans: dict[Any, tuple[str, int, bool]] = {}


def _plan(field: Any) -> tuple[str, int, bool]:
    """(JSON name, value kind, repeated) of a field, worked out once per field."""
    plan = _plans.get(field)
    if plan is None:
        name, kind = field.json_name, _PLAIN
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            kind = _MESSAGE
        elif field.type == FieldDescriptor.TYPE_BYTES:
            kind = _HEX if name in _HEX_IDS else _BYTES
        elif field.type in _INT64:
            kind = _LONG
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            kind = _DOUBLE
        plan = _plans[field] = (name, kind, field.is_repeated)
    return plan


def _scalar(kind: int, value: Any) -> Any:
    if kind == _HEX:
        return value.hex()
    if kind == _BYTES:
        return base64.b64encode(value).decode()
    if kind == _LONG:
        return str(value)
    if kind == _DOUBLE and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def message_dict(message: Message) -> dict[str, Any]:
    """Any message as the OTLP/JSON encoding has it (protobuf's JSON mapping, ids in hex)."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        name, kind, repeated = _plan(field)
        if kind == _MESSAGE:
            out[name] = [message_dict(entry) for entry in value] if repeated else message_dict(value)
        elif repeated:
            out[name] = [_scalar(kind, entry) for entry in value]
        else:
            out[name] = _scalar(kind, value)
    return out


def _any_value(value: Any) -> dict[str, Any]:
    which = value.WhichOneof("value")
    if which == "string_value":
        return {"stringValue": value.string_value}
    if which == "int_value":
        return {"intValue": str(value.int_value)}
    return message_dict(value)


def _attributes(entries: Any) -> list[dict[str, Any]]:
    return [
        {"key": kv.key, "value": _any_value(kv.value)}
        if kv.key and kv.HasField("value")
        else message_dict(kv)
        for kv in entries
    ]


def _resource_head(group: Any, list_field: str) -> dict[str, Any]:
    """A ResourceSpans/ScopeSpans (or logs) group without its list: resource or scope, schema URL."""
    head = message_dict(group)
    head.pop(list_field, None)
    return head


def _span(span: Any) -> dict[str, Any]:
    """A span (the hot path: explicit fields, the same result as `message_dict`)."""
    out: dict[str, Any] = {}
    if span.trace_id:
        out["traceId"] = span.trace_id.hex()
    if span.span_id:
        out["spanId"] = span.span_id.hex()
    if span.trace_state:
        out["traceState"] = span.trace_state
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id.hex()
    if span.flags:
        out["flags"] = span.flags
    if span.name:
        out["name"] = span.name
    if span.kind:
        out["kind"] = span.kind
    if span.start_time_unix_nano:
        out["startTimeUnixNano"] = str(span.start_time_unix_nano)
    if span.end_time_unix_nano:
        out["endTimeUnixNano"] = str(span.end_time_unix_nano)
    if span.attributes:
        out["attributes"] = _attributes(span.attributes)
    if span.dropped_attributes_count:
        out["droppedAttributesCount"] = span.dropped_attributes_count
    if span.events:
        out["events"] = [message_dict(event) for event in span.events]
    if span.dropped_events_count:
        out["droppedEventsCount"] = span.dropped_events_count
    if span.links:
        out["links"] = [message_dict(link) for link in span.links]
    if span.dropped_links_count:
        out["droppedLinksCount"] = span.dropped_links_count
    if span.HasField("status"):
        out["status"] = message_dict(span.status)
    return out


def _log_record(record: Any) -> dict[str, Any]:
    return message_dict(record)


_POINT_LISTS: Final = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def _metric_points(message: Any) -> dict[str, int]:
    """Data points per metric name (what the receiver counts and drops)."""
    points: dict[str, int] = {}
    for resource in message.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                data = metric.WhichOneof("data")
                count = len(getattr(metric, data).data_points) if data in _POINT_LISTS else 0
                points[metric.name] = points.get(metric.name, 0) + count
    return points


Decoder = Callable[[Signal, bytes, bool, int], Decoded]


def decode_body(signal: Signal, body: bytes, json_body: bool, max_line_bytes: int) -> Decoded:
    """`parse_body` then `decode`: a body in, file-exporter lines out (OtlpDecodeError for a bad body)."""
    return decode(signal, parse_body(signal, body, json_body), max_line_bytes)
