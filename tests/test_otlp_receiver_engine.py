"""The OTLP receiver with real clients into the real engine: every call arrives once, with its fields.

Clients: the OpenTelemetry SDK's BatchSpanProcessor / BatchLogRecordProcessor with the standard OTLP
exporters (HTTP/protobuf and gRPC), and the official GenAI instrumentation
(`opentelemetry-instrumentation-openai-v2`) over the real `openai` client talking to a local fake
OpenAI server (answers shaped like the real API). The engine is the session's local OpenSearch; an
outage is a TCP relay in front of it that stops accepting and cuts its connections, then comes back.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.local_engine import LocalEngine, free_port
from mlsiem.templates import SetupConfig
from shipper.build import build
from shipper.config import config_from
from shipper.pipeline import Pipeline
from tests.shipping import count, wait_for


@contextlib.contextmanager
def shipping(
    engine_url: str, namespace: str, tmp_path: Path, receivers: list[dict], **sections: Any
) -> Iterator[Pipeline]:
    raw: dict[str, Any] = {
        "inputs": {"otlp": receivers},
        "normalize": {"namespace": namespace},
        "output": {"url": engine_url, "dead_letter": str(tmp_path / "dead.ndjson")},
        "spool": {"dir": str(tmp_path / "spool")},
        "pipeline": {"flush_interval": 0.1},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    pipeline = build(config_from(raw))
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    try:
        yield pipeline
    finally:
        pipeline.stop()
        runner.join(timeout=60)
        assert not runner.is_alive()


def documents(engine: Engine, namespace: str) -> list[dict[str, Any]]:
    stream = inference_stream(namespace)
    engine.refresh(stream)
    hits = engine.search(stream, {"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _tracing(exporter: Any, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=200, max_export_batch_size=64)
    )
    return provider


def _genai_spans(provider: TracerProvider, seqs: range) -> None:
    tracer = provider.get_tracer("mlsiem.tests")
    for seq in seqs:
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": seq,
            "gen_ai.usage.output_tokens": 2 * seq,
        }
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
            pass


def _sums(docs: list[dict[str, Any]]) -> tuple[int, int]:
    return len(docs), sum(doc["gen_ai"]["usage"]["input_tokens"] for doc in docs)


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_batch_processors_deliver_every_span_and_log_record_once(
    engine: Engine, local_engine: LocalEngine, namespace: str, tmp_path: Path, transport: str
) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    port = free_port()
    scheme = "otlp" if transport == "http" else "otlp+grpc"
    with shipping(local_engine.url, namespace, tmp_path, [{"listen": f"{scheme}://127.0.0.1:{port}"}]):
        if transport == "http":
            exporter: Any = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
        else:
            exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True)
        tracing = _tracing(exporter, "batch-" + transport)
        _genai_spans(tracing, range(300))
        tracing.shutdown()  # flushes: every export has been answered once this returns
        if transport == "http":
            logging_provider = LoggerProvider(resource=Resource.create({"service.name": "batch-logs"}))
            logging_provider.add_log_record_processor(
                BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs"))
            )
            logger = logging_provider.get_logger("mlsiem.tests")
            for seq in range(20):
                logger.emit(
                    body=f"record {seq}",
                    attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 1000 + seq},
                    event_name="gen_ai.client.inference.operation.details",
                )
            logging_provider.shutdown()
        stored = documents(engine, namespace)  # answered means delivered: nothing to wait for
    spans = [doc for doc in stored if doc["service"]["name"] == "batch-" + transport]
    assert _sums(spans) == (300, sum(range(300)))
    assert len({doc["event"]["id"] for doc in spans}) == 300
    first = next(doc for doc in spans if doc["gen_ai"]["usage"]["input_tokens"] == 7)
    assert (
        first["gen_ai"]["request"]["model"] == "gpt-4o-mini"
        and first["gen_ai"]["usage"]["output_tokens"] == 14
    )
    assert first["event"]["id"] == f"{first['trace']['id']}-{first['span']['id']}"
    assert first["mlsiem"]["source"]["format"] == "otlp"
    if transport == "http":
        logs = [doc for doc in stored if doc["service"]["name"] == "batch-logs"]
        assert _sums(logs) == (20, sum(range(1000, 1020)))


# ------------------------------------------------------------------------------------------ openai-v2


class _FakeOpenAI(BaseHTTPRequestHandler):
    """`POST /v1/chat/completions` as the real API answers it; a prompt containing "fail" gets a 400."""

    protocol_version = "HTTP/1.1"
    calls = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        prompt = body["messages"][-1]["content"]
        if "fail" in prompt:
            status, answer = (
                400,
                {"error": {"message": "bad prompt", "type": "invalid_request_error", "code": "bad"}},
            )
        else:
            status = 200
            answer = {
                "id": f"chatcmpl-{type(self).calls}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Paris."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt),
                    "completion_tokens": 3,
                    "total_tokens": len(prompt) + 3,
                },
                "system_fingerprint": "fp_test",
            }
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_v2_instrumentation_calls_arrive_once_with_their_fields(
    engine: Engine, local_engine: LocalEngine, namespace: str, tmp_path: Path, fake_openai: str
) -> None:
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    run_setup(engine, SetupConfig(namespace=namespace))
    port = free_port()
    with shipping(local_engine.url, namespace, tmp_path, [{"listen": f"otlp://127.0.0.1:{port}"}]):
        tracing = _tracing(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"), "openai-app")
        logging_provider = LoggerProvider()
        logging_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs"))
        )
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=tracing, logger_provider=logging_provider)
        try:
            client = openai.OpenAI(base_url=fake_openai, api_key="sk-test", max_retries=0)
            prompts = ["capital of France?", "and of Italy?", "please fail", "and of Spain?"]
            for prompt in prompts:
                with contextlib.suppress(openai.BadRequestError):
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], temperature=0.1
                    )
        finally:
            instrumentor.uninstrument()
            tracing.shutdown()
            logging_provider.shutdown()
        stored = documents(engine, namespace)
    calls = [doc for doc in stored if doc["event"]["id"] == f"{doc['trace']['id']}-{doc['span']['id']}"]
    assert len(calls) == 4 and len({doc["trace"]["id"] for doc in calls}) == 4
    by_outcome = {doc["event"]["outcome"]: doc for doc in calls}
    assert sorted(doc["event"]["outcome"] for doc in calls) == ["failure", "success", "success", "success"]
    ok = by_outcome["success"]
    assert ok["gen_ai"]["operation"]["name"] == "chat"
    assert ok["gen_ai"]["request"]["model"] == "gpt-4o-mini" and ok["gen_ai"]["request"]["temperature"] == 0.1
    assert ok["gen_ai"]["response"]["model"] == "gpt-4o-mini-2024-07-18"
    assert ok["gen_ai"]["response"]["finish_reasons"] == ["stop"]
    assert ok["gen_ai"]["usage"]["output_tokens"] == 3
    assert ok["service"]["name"] == "openai-app" and ok["mlsiem"]["model"]["type"] == "llm"
    assert sorted(
        doc["gen_ai"]["usage"]["input_tokens"] for doc in calls if "usage" in doc["gen_ai"]
    ) == sorted(len(p) for p in prompts if "fail" not in p)
    assert by_outcome["failure"]["error"]["type"]


# ------------------------------------------------------------------------------------------ engine outage


class Relay:
    """A TCP relay to the engine that can go away (refuse, cut every connection) and come back."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(): no more connections
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_engine_outage_mid_run_the_exporters_retries_deliver_everything_once(
    engine: Engine, local_engine: LocalEngine, namespace: str, tmp_path: Path
) -> None:
    """No spool: while the engine is away, requests wait `ack_timeout`, then get 503 + Retry-After; the
    exporter resends them; when the engine is back, what was taken and what was resent land once."""
    run_setup(engine, SetupConfig(namespace=namespace))
    relay = Relay(int(local_engine.url.rsplit(":", 1)[1].rstrip("/")))
    relay.up()
    port = free_port()
    receiver = {"listen": f"otlp://127.0.0.1:{port}", "ack_timeout": 1.5, "retry_after": 1}
    sections = {
        "spool": {"enabled": False},
        "output": {"url": f"http://127.0.0.1:{relay.port}", "retry_seconds": 1},
    }
    with shipping(local_engine.url, namespace, tmp_path, [receiver], **sections) as pipeline:
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=30)
        tracing = _tracing(exporter, "outage")
        _genai_spans(tracing, range(0, 200))
        tracing.force_flush()
        relay.down()
        _genai_spans(tracing, range(200, 400))
        answered = pipeline.metrics.registry.get_sample_value  # type: ignore[union-attr]
        labels = {"transport": "http", "signal": "traces", "outcome": "timeout"}
        wait_for(lambda: (answered("mlsiem_shipper_otlp_requests_total", labels) or 0) >= 2, timeout=60)
        relay.up()  # the exports met the outage (503 answers); the exporter is retrying them
        _genai_spans(tracing, range(400, 600))
        tracing.shutdown()
        wait_for(lambda: count(engine, namespace) >= 600, timeout=60)
        time.sleep(1)
        stats = pipeline.stats
        stored = documents(engine, namespace)

    relay.down()
    assert _sums(stored) == (600, sum(range(600)))
    assert len({doc["event"]["id"] for doc in stored}) == 600
    assert stats.shipped == 600 and stats.duplicates >= 1 and stats.dead_lettered == 0  # resent, kept once
