"""The SDK's OpenTelemetry mode: `MlsiemLogger` events exported as OTLP to mlsiem's receiver.

    from shipper.sdk import MlsiemLogger
    from shipper.sdk_otel import OtelWriter
    telemetry = MlsiemLogger(OtelWriter("http://127.0.0.1:4318"), service="chat-api")
    telemetry.llm_call("openai", "gpt-4o", input_tokens=120, output_tokens=40, latency_ms=812)
    telemetry.prediction("fraud-scorer", version="7", label="fraud", score=0.93)

A thin writer over the OpenTelemetry API, exported with the standard OTLP/HTTP exporter through the
SDK's batch processors (`pip install mlsiem[otel]`), or through providers the application already
has. An LLM call becomes a GenAI client span (`{operation} {model}`, the GenAI semantic-convention
attributes: `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.*`, `gen_ai.response.*`,
`gen_ai.usage.*`, the messages in `gen_ai.input.messages` / `gen_ai.output.messages`), so any OTLP
backend understands it; its document id is `<trace id>-<span id>`, not the id `llm_call` returns.
Predictions of classic models and pipeline steps have no OpenTelemetry convention: they go as log
records with the event name `mlsiem.event` whose body is the native event (docs/formats.md), which
mlsiem's receiver hands to the native format (their ids are the SDK's).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Final

NATIVE_EVENT: Final = "mlsiem.event"
SCOPE: Final = "mlsiem.sdk"


class OtelWriter:
    """A `shipper.sdk.Writer` that records through OpenTelemetry; `close()` flushes and shuts down
    the providers it made itself (never the application's)."""

    def __init__(
        self,
        endpoint: str = "http://127.0.0.1:4318",
        *,
        headers: Mapping[str, str] | None = None,
        tracer_provider: Any = None,
        logger_provider: Any = None,
        resource: Mapping[str, Any] | None = None,
    ) -> None:
        self._owned: list[Any] = []
        if tracer_provider is None or logger_provider is None:
            from opentelemetry.sdk.resources import Resource

            made = Resource.create(dict(resource or {}))
        if tracer_provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            tracer_provider = TracerProvider(resource=made)
            exporter = OTLPSpanExporter(
                endpoint=endpoint.rstrip("/") + "/v1/traces", headers=dict(headers or {})
            )
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
            self._owned.append(tracer_provider)
        if logger_provider is None:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

            logger_provider = LoggerProvider(resource=made)
            exporter = OTLPLogExporter(
                endpoint=endpoint.rstrip("/") + "/v1/logs", headers=dict(headers or {})
            )
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
            self._owned.append(logger_provider)
        self._providers = (tracer_provider, logger_provider)
        self._tracer = tracer_provider.get_tracer(SCOPE)
        self._logger = logger_provider.get_logger(SCOPE)

    def send(self, kind: str, event: dict[str, Any]) -> None:
        llm = event.get("llm")
        if kind == "inference" and isinstance(llm, dict):
            self._llm_span(event, llm)
        else:
            self._logger.emit(
                event_name=NATIVE_EVENT, body=_otel_value(event), attributes={"mlsiem.kind": kind}
            )

    def _llm_span(self, event: dict[str, Any], llm: dict[str, Any]) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        operation = llm.get("operation") or "chat"
        attributes = _clean(
            {
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": llm.get("provider"),
                "gen_ai.request.model": llm.get("model"),
                "gen_ai.request.temperature": llm.get("temperature"),
                "gen_ai.request.max_tokens": llm.get("max_tokens"),
                "gen_ai.response.id": llm.get("response_id"),
                "gen_ai.response.model": llm.get("response_model"),
                "gen_ai.response.finish_reasons": llm.get("finish_reasons"),
                "gen_ai.usage.input_tokens": llm.get("input_tokens"),
                "gen_ai.usage.output_tokens": llm.get("output_tokens"),
                "gen_ai.input.messages": _messages(llm.get("prompt"), "user"),
                "gen_ai.output.messages": _messages(llm.get("completion"), "assistant"),
                "user.id": (event.get("user") or {}).get("id"),
                "user.name": (event.get("user") or {}).get("name"),
                "client.address": event.get("source_ip"),
            }
        )
        end = time.time_ns()
        latency = event.get("latency_ms")
        start = end - int(latency * 1e6) if isinstance(latency, int | float) and latency >= 0 else end
        span = self._tracer.start_span(
            f"{operation} {llm.get('model')}", kind=SpanKind.CLIENT, attributes=attributes, start_time=start
        )
        error = event.get("error")
        if error is not None or event.get("outcome") == "failure":
            kind = error.get("type") if isinstance(error, dict) else None
            span.set_attribute("error.type", str(kind or "error"))
            message = error.get("message") if isinstance(error, dict) else error
            span.set_status(Status(StatusCode.ERROR, str(message) if message else None))
        span.end(end_time=end)

    def close(self) -> None:
        for provider in self._providers:
            provider.force_flush()
        for provider in self._owned:
            provider.shutdown()


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}


def _messages(content: Any, role: str) -> str | None:
    """Prompt or completion as the GenAI convention's message list (JSON text), or None."""
    if content is None:
        return None
    if isinstance(content, str):
        content = [{"role": role, "parts": [{"type": "text", "content": content}]}]
    return json.dumps(content, ensure_ascii=False, default=str)


def _otel_value(value: Any) -> Any:
    """A native event as an OpenTelemetry log body (maps, lists and scalars; anything else as text)."""
    if isinstance(value, Mapping):
        return {str(key): _otel_value(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_otel_value(item) for item in value]
    if value is None or isinstance(value, str | bool | int | float | bytes):
        return value
    return str(value)
