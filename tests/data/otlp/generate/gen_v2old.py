"""openai-v2 instrumentation: span + log records, 4 calls (one failing)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dump import logs_json, spans_json
from fake_openai import start
from opentelemetry import _events, _logs, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

try:
    from opentelemetry.sdk._logs.export import InMemoryLogExporter
except ImportError:
    from opentelemetry.sdk._logs.export.in_memory_log_exporter import InMemoryLogExporter
import contextlib

import openai
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._events import EventLoggerProvider

server, base = start()
resource = Resource.create({"service.name": "support-bot"})
spans = InMemorySpanExporter()
tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tp)
logs = InMemoryLogExporter()
lp = LoggerProvider(resource=resource)
lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
_logs.set_logger_provider(lp)
_events.set_event_logger_provider(EventLoggerProvider(lp))
OpenAIInstrumentor().instrument()
client = openai.OpenAI(api_key="sk-test", base_url=base, max_retries=0)
for _ in range(3):
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
with contextlib.suppress(openai.InternalServerError):
    client.chat.completions.create(model="broken-model", messages=[{"role": "user", "content": "Hello?"}])
print(json.dumps(spans_json(spans.get_finished_spans())))
print(json.dumps(logs_json(logs.get_finished_logs())))
server.shutdown()
