import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openai
from dump import spans_json
from fake_openai import start
from opentelemetry import trace
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

server, base = start()
exporter = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "ollm-demo"}))
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument()
client = openai.OpenAI(api_key="sk-test", base_url=base, max_retries=0)
client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital of France?"}]
)
client.embeddings.create(model="text-embedding-3-small", input="capital of France")
spans = exporter.get_finished_spans()
print(json.dumps(spans_json(spans)))
server.shutdown()
