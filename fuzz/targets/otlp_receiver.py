"""Fuzz target: the OTLP receiver's body decoding (gzip, protobuf or OTLP/JSON, to file-exporter lines).

The first byte picks the signal (traces, logs, metrics), the encoding (protobuf or JSON) and whether
the rest is gzip; the rest is the request body, as `otlp_http` receives it. The contract: `gunzip`
raises only `zlib.error` or its size-limit error, `decode_body` only `OtlpDecodeError` with a reason;
a decoded request's lines are JSON objects of their signal (or native events), their item counts add
up to the request's, each line is within `max_line_bytes` unless it holds a single item, and every
line goes through the normalizer the way the pipeline sends it: events or a rejection with a reason.

Seeds: protobuf and JSON requests of GenAI spans (with events, links, status, arrays and maps in
attributes), log records (with a native `mlsiem.event` body), and metrics, some gzipped.
"""

from __future__ import annotations

import gzip
import zlib

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from fuzz.checks import Bug, check_records
from fuzz.outcome import reported
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin
from shipper.sources.otlp_decode import SIGNALS, OtlpDecodeError, decode_body, message_dict
from shipper.sources.otlp_http import _TooLarge, gunzip

MAX_LINE_BYTES = 4096  # small, so requests are cut into several lines
MAX_DECODED = 1 << 20
NORMALIZER = Normalizer(NormalizeConfig(max_line_bytes=MAX_LINE_BYTES))
ORIGIN = Origin("otlp")
_KEYS = {"traces": "resourceSpans", "logs": "resourceLogs"}


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _traces() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.append(_kv("service.name", AnyValue(string_value="chat-api")))
    scope = resource.scope_spans.add()
    scope.scope.name = "openai_v2"
    for seq in range(3):
        span = scope.spans.add(
            trace_id=bytes([seq + 1]) * 16,
            span_id=bytes([seq + 2]) * 8,
            parent_span_id=b"\x09" * 8 if seq else b"",
            name="chat gpt-4o",
            kind=3,
            start_time_unix_nano=1_765_000_000_000_000_000 + seq,
            end_time_unix_nano=1_765_000_000_500_000_000 + seq,
        )
        span.attributes.extend(
            [
                _kv("gen_ai.operation.name", AnyValue(string_value="chat")),
                _kv("gen_ai.request.model", AnyValue(string_value="gpt-4o")),
                _kv("gen_ai.usage.input_tokens", AnyValue(int_value=12 + seq)),
                _kv("gen_ai.request.temperature", AnyValue(double_value=0.5)),
                _kv(
                    "gen_ai.response.finish_reasons",
                    AnyValue(array_value={"values": [AnyValue(string_value="stop")]}),
                ),
                _kv("meta", AnyValue(kvlist_value={"values": [_kv("k", AnyValue(bool_value=True))]})),
                _kv("blob", AnyValue(bytes_value=b"\x00\x01")),
            ]
        )
        event = span.events.add(time_unix_nano=1_765_000_000_100_000_000, name="gen_ai.content.prompt")
        event.attributes.append(_kv("gen_ai.prompt", AnyValue(string_value="hello")))
        span.links.add(trace_id=b"\x07" * 16, span_id=b"\x08" * 8)
        span.status.code = 2 if seq == 2 else 0
    return request


def _logs() -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    record = scope.log_records.add(time_unix_nano=1_765_000_000_000_000_000, severity_number=9)
    record.event_name = "gen_ai.client.inference.operation.details"
    record.trace_id, record.span_id = b"\x01" * 16, b"\x02" * 8
    record.attributes.append(_kv("gen_ai.usage.input_tokens", AnyValue(int_value=3)))
    record.body.string_value = "details"
    native = scope.log_records.add(event_name="mlsiem.event")
    body = {"type": "inference", "id": "a1", "ts": "2026-11-25T10:00:00Z", "model": {"name": "m"}}
    native.body.kvlist_value.values.extend(_kv(k, _any(v)) for k, v in body.items())
    return request


def _any(value: object) -> AnyValue:
    if isinstance(value, dict):
        return AnyValue(kvlist_value={"values": [_kv(k, _any(v)) for k, v in value.items()]})
    return AnyValue(string_value=str(value))


def _metrics() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="gen_ai.client.token.usage")
    metric.histogram.data_points.add(count=1, sum=12.0)
    return request


def _json(request: object) -> bytes:
    return orjson.dumps(message_dict(request))  # type: ignore[arg-type]


def _seeds() -> list[bytes]:
    seeds = []
    for number, request in enumerate((_traces(), _logs(), _metrics())):
        for json_body in (False, True):
            body = _json(request) if json_body else request.SerializeToString()
            seeds.append(bytes([number * 4 + json_body * 2]) + body)
            seeds.append(bytes([number * 4 + json_body * 2 + 1]) + gzip.compress(body, mtime=0))
    return seeds


SEEDS: list[bytes] = _seeds()


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0], data[1:]
    signal = SIGNALS[(mode >> 2) % 3]
    json_body, gzipped = bool(mode & 2), bool(mode & 1)
    if gzipped:
        try:
            body = gunzip(body, MAX_DECODED)
        except _TooLarge:
            reported("gzip body expands over the limit")
            return
        except zlib.error as exc:
            reported(f"not a gzip body: {exc}")
            return
        if len(body) > MAX_DECODED:
            raise Bug(f"gunzip gave {len(body)} bytes, over its limit")
    try:
        decoded = decode_body(signal, body, json_body, MAX_LINE_BYTES)
    except OtlpDecodeError as exc:
        reported(str(exc))
        return
    if sum(items for _, items in decoded.lines) != decoded.items:
        raise Bug(f"line item counts {[i for _, i in decoded.lines]} do not add up to {decoded.items}")
    for line, items in decoded.lines:
        record = orjson.loads(line)
        if not isinstance(record, dict):
            raise Bug(f"a decoded line is not a JSON object: {line[:80]!r}")
        if signal in _KEYS and _KEYS[signal] not in record and items != 1:
            raise Bug(f"a {signal} line holds neither {_KEYS[signal]} nor one native event: {line[:80]!r}")
        if len(line) > MAX_LINE_BYTES and items > 1:
            raise Bug(f"a line of {items} items is {len(line)} bytes, over the limit it could be cut to")
        check_records(line, *NORMALIZER.normalize(line, ORIGIN), report=False)
