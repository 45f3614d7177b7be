"""LiteLLM's OpenTelemetry callback: a chat and an embedding call, sync and async."""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litellm
from dump import spans_json
from fake_openai import start
from litellm.integrations.opentelemetry import OpenTelemetry, OpenTelemetryConfig
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

server, base = start()
exporter = InMemorySpanExporter()
otel = OpenTelemetry(config=OpenTelemetryConfig(exporter=exporter))
litellm.callbacks = [otel]
meta = {"user_api_key_user_id": "u-42", "user_api_key_team_id": "team-a"}
litellm.completion(
    model="openai/gpt-4o-mini",
    api_base=base,
    api_key="sk-test",
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    metadata=dict(meta),
)
litellm.embedding(
    model="openai/text-embedding-3-small",
    api_base=base,
    api_key="sk-test",
    input=["capital of France"],
    metadata=dict(meta),
)


async def calls_async() -> None:
    await litellm.acompletion(
        model="openai/gpt-4o-mini",
        api_base=base,
        api_key="sk-test",
        messages=[{"role": "user", "content": "And of Italy?"}],
        metadata=dict(meta),
    )
    await litellm.aembedding(
        model="openai/text-embedding-3-small",
        api_base=base,
        api_key="sk-test",
        input=["capital of Italy"],
        metadata=dict(meta),
    )
    await asyncio.sleep(5)


asyncio.run(calls_async())
time.sleep(5)
print(json.dumps(spans_json(exporter.get_finished_spans())))
server.shutdown()
