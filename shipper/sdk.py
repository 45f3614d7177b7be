"""The Python SDK for inference services: record predictions, LLM calls and pipeline steps.

Writes the native format (docs/formats.md) to a JSON-lines file that `mlsiem ship` follows, or sends
it to a Fluentd / Fluent Bit / `mlsiem ship --listen` forward endpoint through `fluent-logger`:

    from shipper.sdk import MlsiemLogger
    telemetry = MlsiemLogger("/var/log/mlsiem/inference.jsonl", service="fraud-api")
    telemetry.prediction("fraud-scorer", version="7", features={"amount": 120.5}, label="fraud",
                         score=0.93, latency_ms=12.4, user="alice", source_ip="203.0.113.9")
    telemetry.llm_call("openai", "gpt-4o", input_tokens=120, output_tokens=40, prompt=messages,
                       completion=text, finish_reasons=["stop"], cost_usd=0.0012)
    telemetry.pipeline("model_deployed", model="fraud-scorer", version="7", actor="bob", approved=True)

Every event gets a uuid4 `id` and its timestamp when it is created, so shipping the same line twice
never makes a second document. File writes are thread-safe and line-atomic (one `write(2)` per line
on an O_APPEND descriptor): several threads or processes can share one file. The SDK never raises
into the service for a telemetry problem it can survive: a failed fluent send is counted in
`failed` and reported once through the `shipper.sdk` logger (fluent-logger keeps unsent events in
its buffer and retries them with the next send).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

_log = logging.getLogger(__name__)

# Keys of the native format a logging record may carry in `extra=` (see MlsiemHandler).
NATIVE_KEYS = (
    "model", "model_version", "model_type", "features", "prediction", "ground_truth", "latency_ms",
    "user", "user_id", "source_ip", "client_ip", "trace_id", "span_id", "service", "environment", "host",
    "outcome", "error", "labels", "tags", "http", "llm", "action", "pipeline", "run_id", "stage",
    "approved", "actor", "duration_ms",
)  # fmt: skip
_CLAIMING_KEYS = ("model", "llm", "features", "prediction", "action")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if value is not None}


def _current_trace() -> tuple[str | None, str | None]:
    """The active OpenTelemetry span's ids, when OpenTelemetry is installed and a span is recording."""
    try:
        from opentelemetry import trace  # type: ignore[import-not-found]
    except ImportError:
        return None, None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class Writer(Protocol):
    def send(self, kind: str, event: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class FileWriter:
    """Appends one JSON line per event; safe across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._lock = threading.Lock()

    def send(self, kind: str, event: dict[str, Any]) -> None:
        data = (json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            if self._fd is None:
                raise ValueError(f"telemetry file {self.path} is closed")
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class FluentWriter:
    """Sends each event with tag `<tag_prefix>.<kind>` (e.g. `mlsiem.inference`) over the forward protocol."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 24224, tag_prefix: str = "mlsiem", **options: Any
    ):
        from fluent import sender

        self.sender = sender.FluentSender(tag_prefix, host=host, port=port, **options)
        self.failed = 0

    def send(self, kind: str, event: dict[str, Any]) -> None:
        if not self.sender.emit(kind, event):
            self.failed += 1
            if self.failed == 1:
                _log.warning(
                    "mlsiem telemetry: fluent send failed (%s); retried with the next event",
                    self.sender.last_error,
                )
            self.sender.clear_last_error()

    def close(self) -> None:
        self.sender.close()


class MlsiemLogger:
    """Records inference telemetry in the native format; give a file path or a writer (e.g. FluentWriter)."""

    def __init__(
        self,
        target: str | Path | Writer,
        *,
        service: str | None = None,
        service_version: str | None = None,
        environment: str | None = None,
        host: str | None = None,
    ) -> None:
        self.writer: Writer = FileWriter(target) if isinstance(target, str | Path) else target
        self._context = _clean(
            {
                "service": _clean({"name": service, "version": service_version, "environment": environment})
                or None,
                "host": host,
            }
        )

    def emit(self, kind: str, event: dict[str, Any]) -> str:
        """Write one event of the native format (`kind`: inference or pipeline); returns its id."""
        event_id = str(uuid.uuid4())
        trace_id, span_id = event.get("trace_id"), event.get("span_id")
        if trace_id is None:
            trace_id, span_id = _current_trace()
        record = {"type": kind, "id": event_id, "ts": _now(), **self._context, **_clean(event)}
        if trace_id is not None:
            record["trace_id"] = trace_id
        if span_id is not None:
            record["span_id"] = span_id
        self.writer.send(kind, record)
        return event_id

    def prediction(
        self,
        model: str,
        *,
        version: str | None = None,
        model_type: str | None = None,
        features: Mapping[str, Any] | None = None,
        label: str | bool | None = None,
        score: float | None = None,
        value: float | None = None,
        ground_truth: str | float | None = None,
        latency_ms: float | None = None,
        user: str | None = None,
        user_id: str | None = None,
        source_ip: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        outcome: str | None = None,
        error: str | Mapping[str, Any] | None = None,
        labels: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
    ) -> str:
        """One prediction of a classic model; returns the event id."""
        prediction = _clean({"label": label, "score": score, "value": value}) or None
        return self.emit(
            "inference",
            {
                "model": _clean({"name": model, "version": version, "type": model_type}),
                "features": dict(features) if features is not None else None,
                "prediction": prediction,
                "ground_truth": ground_truth,
                "latency_ms": latency_ms,
                "user": _clean({"name": user, "id": user_id}) or None,
                "source_ip": source_ip,
                "trace_id": trace_id,
                "span_id": span_id,
                "outcome": outcome,
                "error": dict(error) if isinstance(error, Mapping) else error,
                "labels": dict(labels) if labels is not None else None,
                "tags": list(tags) if tags is not None else None,
            },
        )

    def llm_call(
        self,
        provider: str,
        model: str,
        *,
        operation: str = "chat",
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        prompt: str | Sequence[Mapping[str, Any]] | None = None,
        completion: str | Sequence[Mapping[str, Any]] | None = None,
        finish_reasons: Sequence[str] | None = None,
        cost_usd: float | None = None,
        cache_hit: bool | None = None,
        guardrail_action: str | None = None,
        guardrail_policies: Sequence[str] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_id: str | None = None,
        response_model: str | None = None,
        latency_ms: float | None = None,
        user: str | None = None,
        user_id: str | None = None,
        source_ip: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        outcome: str | None = None,
        error: str | Mapping[str, Any] | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> str:
        """One LLM call; the prompt/completion text is kept, redacted or hashed by the shipper's policy."""
        guardrail = _clean(
            {"action": guardrail_action, "policies": list(guardrail_policies) if guardrail_policies else None}
        )
        llm = _clean(
            {
                "provider": provider,
                "model": model,
                "operation": operation,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "prompt": [dict(m) for m in prompt]
                if prompt is not None and not isinstance(prompt, str)
                else prompt,
                "completion": (
                    [dict(m) for m in completion]
                    if completion is not None and not isinstance(completion, str)
                    else completion
                ),
                "finish_reasons": list(finish_reasons) if finish_reasons is not None else None,
                "cost_usd": cost_usd,
                "cache_hit": cache_hit,
                "guardrail": guardrail or None,
                "temperature": temperature,
                "max_tokens": max_tokens,
                "response_id": response_id,
                "response_model": response_model,
            }
        )
        return self.emit(
            "inference",
            {
                "model": {"name": model, "type": "embedding" if operation == "embeddings" else "llm"},
                "llm": llm,
                "latency_ms": latency_ms,
                "user": _clean({"name": user, "id": user_id}) or None,
                "source_ip": source_ip,
                "trace_id": trace_id,
                "span_id": span_id,
                "outcome": outcome,
                "error": dict(error) if isinstance(error, Mapping) else error,
                "labels": dict(labels) if labels is not None else None,
            },
        )

    def pipeline(
        self,
        action: str,
        *,
        model: str | None = None,
        version: str | None = None,
        pipeline: str | None = None,
        run_id: str | None = None,
        stage: str | None = None,
        approved: bool | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        message: str | None = None,
        duration_ms: float | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> str:
        """One ML pipeline step: model_registered, model_deployed, training_started, ..."""
        return self.emit(
            "pipeline",
            {
                "action": action,
                "model": _clean({"name": model, "version": version}) or None,
                "pipeline": _clean({"name": pipeline, "run_id": run_id, "stage": stage}) or None,
                "approved": approved,
                "user": actor,
                "outcome": outcome,
                "message": message,
                "duration_ms": duration_ms,
                "labels": dict(labels) if labels is not None else None,
            },
        )

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> MlsiemLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MlsiemHandler(logging.Handler):
    """A `logging.Handler` that turns log records carrying native keys into telemetry events.

    `log.info("scored", extra={"model": "fraud", "features": {...}, "prediction": 0.93})` becomes one
    inference event (`message` = the log message); `extra={"action": "model_deployed", ...}` a pipeline
    event. Records without any of model / llm / features / prediction / action are not telemetry and
    are ignored. A record at ERROR or above marks the event as failed (the exception, if any, becomes
    `error`).
    """

    def __init__(self, telemetry: MlsiemLogger, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.telemetry = telemetry

    def emit(self, record: logging.LogRecord) -> None:
        try:
            values = {key: getattr(record, key) for key in NATIVE_KEYS if hasattr(record, key)}
            if not any(key in values for key in _CLAIMING_KEYS):
                return
            kind = "pipeline" if "action" in values else "inference"
            values["message"] = record.getMessage()
            if record.levelno >= logging.ERROR:
                values.setdefault("outcome", "failure")
                if record.exc_info and record.exc_info[1] is not None and "error" not in values:
                    exc = record.exc_info[1]
                    values["error"] = {"type": type(exc).__name__, "message": str(exc)}
            self.telemetry.emit(kind, values)
        except Exception:
            self.handleError(record)
