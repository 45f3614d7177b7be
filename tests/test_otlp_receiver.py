"""The OTLP receiver's protocol: bodies, encodings, answers, limits, auth, TLS, backpressure.

Real parts: the receivers as `build` assembles them from a shipper config, a real pipeline, and real
clients (`requests` for raw HTTP bodies, `grpcio` stubs, the OpenTelemetry exporters). The output is
`file:` here (these tests are about the receiver, not the engine); tests/test_otlp_receiver_engine.py
ships into the real engine.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
import requests
from google.protobuf.json_format import MessageToDict
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from mlsiem.errors import ConfigError
from mlsiem.local_engine import free_port
from shipper.build import build
from shipper.config import config_from
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline
from shipper.records import Origin
from shipper.sources.otlp_decode import OtlpDecodeError, decode_body
from tests.shipping import wait_for
from tests.tls_proxy import issue_certificate, make_authority

T0 = 1_765_000_000_000_000_000  # ns


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def genai_spans(
    seqs: range, *, genai: bool = True, pad: int = 0, service: str = "chat-api"
) -> ExportTraceServiceRequest:
    """A request of one chat span per seq (as the GenAI instrumentations send them)."""
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.extend(
        [_kv("service.name", service), _kv("deployment.environment.name", "prod")]
    )
    scope = resource.scope_spans.add()
    scope.scope.name = "opentelemetry.instrumentation.openai_v2"
    for seq in seqs:
        span = scope.spans.add(
            trace_id=seq.to_bytes(16, "big"),
            span_id=(seq + 1).to_bytes(8, "big"),
            name="chat gpt-4o-mini" if genai else f"GET /health {seq}",
            kind=3,
            start_time_unix_nano=T0 + seq * 1_000_000,
            end_time_unix_nano=T0 + seq * 1_000_000 + 250_000_000,
        )
        if genai:
            span.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv("gen_ai.request.temperature", 0.2),
                    _kv("gen_ai.response.id", f"chatcmpl-{seq}"),
                    _kv("gen_ai.usage.input_tokens", 10 + seq),
                    _kv("gen_ai.usage.output_tokens", 20 + seq),
                    _kv("server.address", "api.openai.com"),
                ]
            )
            span.attributes.append(
                KeyValue(
                    key="gen_ai.response.finish_reasons",
                    value=AnyValue(array_value={"values": [AnyValue(string_value="stop")]}),
                )
            )
        if pad:
            span.attributes.append(_kv("padding", "x" * pad))
        span.status.code = 0
    return request


def genai_logs(seqs: range) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource = request.resource_logs.add()
    resource.resource.attributes.append(_kv("service.name", "chat-api"))
    scope = resource.scope_logs.add()
    for seq in seqs:
        record = scope.log_records.add(
            time_unix_nano=T0 + seq,
            observed_time_unix_nano=T0 + seq,
            severity_number=9,
            trace_id=seq.to_bytes(16, "big"),
            span_id=(seq + 1).to_bytes(8, "big"),
            event_name="gen_ai.client.inference.operation.details",
        )
        record.body.string_value = f"call {seq}"
        record.attributes.extend(
            [
                _kv("gen_ai.operation.name", "chat"),
                _kv("gen_ai.request.model", "gpt-4o-mini"),
                _kv("gen_ai.usage.input_tokens", seq),
            ]
        )
    return request


def collector_line(request: Any) -> bytes:
    """What the Collector's file exporter writes for `request`: protobuf's JSON mapping (the official
    one, independent of the receiver's own converter) with ids in hex."""
    data = MessageToDict(request, use_integers_for_enums=True)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId"):
                    node[key] = base64.b64decode(value).hex()
                else:
                    fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(data)
    return orjson.dumps(data)


# ------------------------------------------------------------------------------------------ fixtures


@contextlib.contextmanager
def running(tmp_path: Path, receivers: list[dict[str, Any]], **sections: Any) -> Iterator[Pipeline]:
    """A shipper with these OTLP receivers (port 0 unless given) writing to `tmp_path/out.ndjson`."""
    raw: dict[str, Any] = {
        "inputs": {"otlp": receivers},
        "output": {"to": f"file:{tmp_path / 'out.ndjson'}", "dead_letter": str(tmp_path / "dead.ndjson")},
        "pipeline": {"flush_interval": 0.05},
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
        runner.join(timeout=30)
        pipeline.sink.close()
        assert not runner.is_alive()


def documents(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "out.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dead.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def post(
    port: int, body: bytes, path: str = "/v1/traces", scheme: str = "http", **kwargs: Any
) -> requests.Response:
    headers = {"Content-Type": "application/x-protobuf", **kwargs.pop("headers", {})}
    return requests.post(
        f"{scheme}://127.0.0.1:{port}{path}", data=body, headers=headers, timeout=30, **kwargs
    )


def status_of(response: requests.Response) -> status_pb2.Status:
    if response.headers["Content-Type"] == "application/json":
        return status_pb2.Status(**{k: v for k, v in response.json().items() if k in ("code", "message")})
    return status_pb2.Status.FromString(response.content)


def _without_run_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A document minus what depends on when and from where it was read."""
    doc = json.loads(json.dumps(document))
    doc["event"].pop("ingested", None)
    doc.pop("log", None)
    doc.get("mlsiem", {}).pop("log", None)
    return doc


# ------------------------------------------------------------------------------------------ decoding


def test_the_decoder_writes_what_the_collector_file_exporter_writes() -> None:
    for request, signal_name in ((genai_spans(range(5)), "traces"), (genai_logs(range(4)), "logs")):
        decoded = decode_body(signal_name, request.SerializeToString(), False, 1 << 20)  # type: ignore[arg-type]
        assert decoded.items == (5 if signal_name == "traces" else 4)
        assert [orjson.loads(line) for line, _ in decoded.lines] == [orjson.loads(collector_line(request))]
        from_json = decode_body(signal_name, collector_line(request), True, 1 << 20)  # type: ignore[arg-type]
        assert from_json.lines == decoded.lines  # an OTLP/JSON body (hex ids) decodes the same


def test_the_receiver_and_the_file_path_make_identical_documents(tmp_path: Path) -> None:
    spans, logs = genai_spans(range(6)), genai_logs(range(3))
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0"}]) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        assert post(port, spans.SerializeToString()).status_code == 200
        assert post(port, logs.SerializeToString(), "/v1/logs").status_code == 200
    received = [_without_run_fields(doc) for doc in documents(tmp_path)]
    normalizer = Normalizer(NormalizeConfig())
    from_file = []
    for offset, line in enumerate((collector_line(spans), collector_line(logs))):
        events, rejected = normalizer.normalize(line, Origin("file:abc", offset, "/var/log/otel/export.json"))
        assert not rejected
        from_file += [_without_run_fields(event.document) for event in events]
    assert len(received) == len(from_file) == 9
    for doc in received + from_file:  # log records have no id of their own: their hash takes the origin
        if doc["event"]["id"] != f"{doc['trace']['id']}-{doc['span']['id']}":
            doc["event"].pop("id")
    assert received == from_file


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
@pytest.mark.parametrize("compress", [False, True])
def test_protobuf_and_json_bodies_plain_and_gzip(tmp_path: Path, content_type: str, compress: bool) -> None:
    request = genai_spans(range(20))
    body = request.SerializeToString() if content_type.endswith("protobuf") else collector_line(request)
    headers = {"Content-Type": content_type}
    if compress:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0"}]) as pipeline:
        response = post(pipeline.sources[0].port, body, headers=headers)  # type: ignore[attr-defined]
        assert response.status_code == 200, response.content
        assert response.headers["Content-Type"] == content_type
        if content_type.endswith("json"):
            assert response.json() == {}  # no partial_success: everything taken
        else:
            assert (
                ExportTraceServiceResponse.FromString(response.content).HasField("partial_success") is False
            )
        docs = documents(tmp_path)  # answered means delivered: no waiting here
    assert sorted(doc["gen_ai"]["usage"]["input_tokens"] for doc in docs) == list(range(10, 30))
    assert {doc["event"]["id"] for doc in docs} == {
        f"{seq.to_bytes(16, 'big').hex()}-{(seq + 1).to_bytes(8, 'big').hex()}" for seq in range(20)
    }


def test_rejected_records_come_back_in_partial_success(tmp_path: Path) -> None:
    """A request cut into lines under max_line_bytes: the one span too large for a line is dead-lettered
    and reported; the others ship. A request without GenAI content is rejected whole, with its count."""
    request = genai_spans(range(10))
    request.resource_spans[0].scope_spans[0].spans.extend(
        genai_spans(range(10, 11), pad=8000).resource_spans[0].scope_spans[0].spans
    )
    normalize = {"max_line_bytes": 4096}
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0"}], normalize=normalize) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        answer = ExportTraceServiceResponse.FromString(post(port, request.SerializeToString()).content)
        assert answer.partial_success.rejected_spans == 1
        assert "line too long" in answer.partial_success.error_message
        plain = genai_spans(range(100, 103), genai=False)
        response = post(port, collector_line(plain), headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        assert response.json()["partialSuccess"]["rejectedSpans"] == "3"
        assert "none with GenAI attributes" in response.json()["partialSuccess"]["errorMessage"]
    assert len(documents(tmp_path)) == 10
    reasons = [entry["reason"] for entry in dead_letters(tmp_path)]
    assert len(reasons) == 2 and "line too long" in reasons[0] and "GenAI" in reasons[1]


def test_bad_requests_get_clear_answers(tmp_path: Path) -> None:
    settings = {"listen": "otlp://127.0.0.1:0", "max_body_mb": 0.1}
    with running(tmp_path, [settings]) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        bad = post(port, b"\xff\xff\xff not protobuf")
        assert bad.status_code == 400 and "ExportTraceServiceRequest" in status_of(bad).message
        bad_json = post(port, b'{"resourceSpans": 7}', headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 400 and status_of(bad_json).code == 3
        assert post(port, b"", "/v1/other").status_code == 404
        assert requests.get(f"http://127.0.0.1:{port}/v1/traces", timeout=10).status_code == 405
        text = post(port, b"x", headers={"Content-Type": "text/plain"})
        assert text.status_code == 415 and "application/x-protobuf" in status_of(text).message
        deflate = post(port, b"x", headers={"Content-Encoding": "br"})
        assert deflate.status_code == 415
        too_large = post(port, genai_spans(range(1000)).SerializeToString())
        assert too_large.status_code == 413 and "over the limit" in status_of(too_large).message
        bomb = gzip.compress(b"\0" * (80 << 20))
        assert len(bomb) < 0.1 * (1 << 20)
        answer = post(port, bomb, headers={"Content-Encoding": "gzip"})
        assert answer.status_code == 413 and "expands over" in status_of(answer).message
        assert post(port, b"\x1f\x8b garbage", headers={"Content-Encoding": "gzip"}).status_code == 400
        # after all that, the receiver still takes a good request
        assert post(port, genai_spans(range(2)).SerializeToString()).status_code == 200
    assert len(documents(tmp_path)) == 2 and not dead_letters(tmp_path)


def test_metrics_requests_are_counted_and_dropped(tmp_path: Path) -> None:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="gen_ai.client.token.usage")
    for tokens in (10, 20, 30):
        metric.histogram.data_points.add(count=1, sum=tokens)
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0"}], metrics={}) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        assert post(port, request.SerializeToString(), "/v1/metrics").status_code == 200
        registry = pipeline.metrics.registry  # type: ignore[union-attr]
        dropped = registry.get_sample_value(
            "mlsiem_shipper_otlp_metric_points_dropped_total", {"metric": "gen_ai.client.token.usage"}
        )
        requests_ok = registry.get_sample_value(
            "mlsiem_shipper_otlp_requests_total", {"transport": "http", "signal": "metrics", "outcome": "ok"}
        )
    assert dropped == 3 and requests_ok == 1
    assert documents(tmp_path) == []


# ------------------------------------------------------------------------------------------ auth and TLS


def test_bearer_token_and_basic_auth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token, password = "s3cret-token-value", "pa55-w0rd-value"
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "users").write_text(f"# users\nshipper:{password}\n")
    settings = {
        "listen": "otlp://127.0.0.1:0",
        "token_file": str(tmp_path / "token"),
        "users_file": str(tmp_path / "users"),
    }
    body = genai_spans(range(3)).SerializeToString()
    caplog.set_level(logging.WARNING, "mlsiem.shipper.otlp")
    with running(tmp_path, [settings]) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        missing = post(port, body)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = post(port, body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and status_of(wrong).message == "wrong bearer token"
        assert post(port, body, auth=("shipper", "wrong")).status_code == 401
        assert post(port, body, headers={"Authorization": "Digest x"}).status_code == 401
        assert post(port, body, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert post(port, body, auth=("shipper", password)).status_code == 200
        failures = pipeline.metrics.registry.get_sample_value("mlsiem_shipper_otlp_auth_failures_total")  # type: ignore[union-attr]
    assert failures == 4
    docs = documents(
        tmp_path
    )  # the same spans twice: the file has both, the engine would keep one (same ids)
    assert len(docs) == 6 and len({doc["event"]["id"] for doc in docs}) == 3
    logged = caplog.text
    assert "wrong bearer token" in logged and token not in logged and password not in logged


def test_grpc_auth_and_answers(tmp_path: Path) -> None:
    token = "grpc-token-value"
    env = {"MLSIEM_TEST_OTLP_TOKEN": token}
    settings = {"listen": "otlp+grpc://127.0.0.1:0", "token_env": "MLSIEM_TEST_OTLP_TOKEN"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        with running(tmp_path, [settings]) as pipeline:
            port = pipeline.sources[0].port  # type: ignore[attr-defined]
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = trace_service_pb2_grpc.TraceServiceStub(channel)
                with pytest.raises(grpc.RpcError) as refused:
                    stub.Export(
                        genai_spans(range(2)), metadata=[("authorization", "Bearer nope")], timeout=10
                    )
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                good = [("authorization", f"Bearer {token}")]
                answer = stub.Export(genai_spans(range(2)), metadata=good, timeout=10)
                assert not answer.HasField("partial_success")
                plain = stub.Export(genai_spans(range(5, 7), genai=False), metadata=good, timeout=10)
                assert plain.partial_success.rejected_spans == 2
                gzipped = stub.Export(
                    genai_spans(range(10, 12)), metadata=good, timeout=10, compression=grpc.Compression.Gzip
                )
                assert not gzipped.HasField("partial_success")
    assert len(documents(tmp_path)) == 4


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("otlp-pki")
    ca = make_authority(root, "otlp-ca")
    (root / "client").mkdir()
    server_cert, server_key = issue_certificate(ca, root)
    client_cert, client_key = issue_certificate(ca, root / "client", "client")
    return {
        "ca": ca.pem_path,
        "cert": server_cert,
        "key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
    }


def test_http_over_tls_and_mutual_tls(tmp_path: Path, pki: dict[str, Path]) -> None:
    tls = {"cert_file": str(pki["cert"]), "key_file": str(pki["key"]), "client_ca_file": str(pki["ca"])}
    body = genai_spans(range(2)).SerializeToString()
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0", "tls": tls}]) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        with pytest.raises(requests.exceptions.ConnectionError):
            post(port, body, scheme="https", verify=str(pki["ca"]))  # no client certificate
        with pytest.raises(requests.exceptions.ConnectionError):
            post(port, body, scheme="http")  # plain HTTP on a TLS port
        client = (str(pki["client_cert"]), str(pki["client_key"]))
        assert post(port, body, scheme="https", verify=str(pki["ca"]), cert=client).status_code == 200
        failures = pipeline.metrics.registry.get_sample_value("mlsiem_shipper_otlp_auth_failures_total")  # type: ignore[union-attr]
    assert failures == 2
    assert len(documents(tmp_path)) == 2


def test_grpc_exporter_over_mutual_tls(tmp_path: Path, pki: dict[str, Path]) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    tls = {"cert_file": str(pki["cert"]), "key_file": str(pki["key"]), "client_ca_file": str(pki["ca"])}
    with running(tmp_path, [{"listen": "otlp+grpc://127.0.0.1:0", "tls": tls}]) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        credentials = grpc.ssl_channel_credentials(
            pki["ca"].read_bytes(), pki["client_key"].read_bytes(), pki["client_cert"].read_bytes()
        )
        exporter = OTLPSpanExporter(endpoint=f"localhost:{port}", credentials=credentials, timeout=10)
        spans = _sdk_spans(3)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
        anonymous = OTLPSpanExporter(
            endpoint=f"localhost:{port}",
            credentials=grpc.ssl_channel_credentials(pki["ca"].read_bytes()),
            timeout=2,
        )
        assert anonymous.export(spans) == SpanExportResult.FAILURE
        anonymous.shutdown()
    assert len(documents(tmp_path)) == 3


def _sdk_spans(n: int) -> list[Any]:
    """Finished SDK spans with GenAI attributes (what a BatchSpanProcessor hands its exporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for seq in range(n):
        with tracer.start_as_current_span(
            "chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": seq}
        ):
            pass
    return list(memory.get_finished_spans())


# ------------------------------------------------------------------------------------------ backpressure


def test_a_full_spool_answers_503_and_unavailable_with_retry_after(tmp_path: Path) -> None:
    """The engine is away (a port nobody listens on) and the spool holds 1 MiB: once it is full, the
    receivers refuse at once with a retry hint, instead of taking what they could not keep."""
    dead_engine = f"http://127.0.0.1:{free_port()}"
    receivers = [{"listen": "otlp://127.0.0.1:0"}, {"listen": "otlp+grpc://127.0.0.1:0"}]
    sections = {
        "output": {"to": "opensearch", "url": dead_engine, "retry_seconds": 0.1, "setup": False},
        "spool": {"dir": str(tmp_path / "spool"), "max_mb": 1},
        "pipeline": {"batch_bytes": 64 << 10, "flush_interval": 0.05},
    }
    with running(tmp_path, receivers, **sections) as pipeline:
        http_port, grpc_port = (source.port for source in pipeline.sources)  # type: ignore[attr-defined]
        answers = []
        for seq in range(300):
            body = genai_spans(range(seq * 10, seq * 10 + 10)).SerializeToString()
            response = post(http_port, body)
            answers.append(response.status_code)
            if response.status_code == 503:
                break
        assert answers[0] == 200 and answers[-1] == 503, answers
        assert response.headers["Retry-After"] == "5" and "behind" in status_of(response).message
        assert pipeline.stats.spooled == 10 * (len(answers) - 1)  # every 200 is on disk
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel, pytest.raises(grpc.RpcError) as busy:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(genai_spans(range(5)), timeout=10)
        assert busy.value.code() == grpc.StatusCode.UNAVAILABLE
        retry = dict(busy.value.trailing_metadata())["google.rpc.retryinfo-bin"]
        from google.rpc.error_details_pb2 import RetryInfo

        assert RetryInfo.FromString(retry).retry_delay.seconds == 5


def test_over_the_rate_answers_429(tmp_path: Path) -> None:
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0", "rate_items": 10}]) as pipeline:
        port = pipeline.sources[0].port  # type: ignore[attr-defined]
        assert post(port, genai_spans(range(10)).SerializeToString()).status_code == 200
        throttled = post(port, genai_spans(range(10, 20)).SerializeToString())
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert len(documents(tmp_path)) == 10


# ------------------------------------------------------------------------------------------ configuration


def test_listen_urls_and_settings_are_validated_with_clear_messages() -> None:
    with pytest.raises(ConfigError, match=r"inputs\.otlp\.0\.listen: expected otlp://HOST:PORT"):
        config_from({"inputs": {"otlp": [{"listen": "http://127.0.0.1:4318"}]}})
    with pytest.raises(ConfigError, match=r"inputs\.otlp\.0\.max_body_mb"):
        config_from({"inputs": {"otlp": [{"listen": "otlp://127.0.0.1:4318", "max_body_mb": 0}]}})
    with pytest.raises(ConfigError, match=r"two receivers listen on 127\.0\.0\.1:4318"):
        config_from({"inputs": {"otlp": [{"listen": "otlp://127.0.0.1:4318"}, {"listen": "otlp://:4318"}]}})
    config = config_from(
        {
            "inputs": {
                "forward": {},
                "otlp": [{"listen": "otlp://0.0.0.0"}, {"listen": "otlp+grpc://127.0.0.1"}],
            }
        }
    )
    assert [r.listen for r in config.inputs.otlp] == ["otlp://0.0.0.0", "otlp+grpc://127.0.0.1"]
    with pytest.raises(OtlpDecodeError, match="not JSON"):
        decode_body("traces", b"{", True, 1 << 20)


def test_exposed_receiver_without_auth_warns(tmp_path: Path) -> None:
    warnings: list[str] = []
    config = config_from(
        {
            "inputs": {"otlp": [{"listen": f"otlp://0.0.0.0:{free_port()}"}]},
            "output": {"to": f"file:{tmp_path / 'out.ndjson'}", "dead_letter": str(tmp_path / "dead.ndjson")},
        }
    )
    pipeline = build(config, warn=warnings.append)
    for source in pipeline.sources:
        source.close()
    assert len(warnings) == 1 and "without authentication" in warnings[0]


def test_mlsiem_ship_listens_on_forward_http_and_grpc_at_once(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    out = tmp_path / "out.ndjson"
    (tmp_path / "token").write_text("cli-token\n")
    bearer = {"Authorization": "Bearer cli-token"}
    env = {**os.environ, "MLSIEM_HOME": str(tmp_path / "home")}
    command = [
        sys.executable, "-m", "mlsiem", "ship", "--no-progress", "--output", f"file:{out}",
        "--listen", f"forward://127.0.0.1:{ports[0]}",
        "--listen", f"otlp://127.0.0.1:{ports[1]}",
        "--listen", f"otlp+grpc://127.0.0.1:{ports[2]}",
        "--otlp-token-file", str(tmp_path / "token"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        wait_for(lambda: _accepts(ports[1]) and _accepts(ports[2]), timeout=60)
        assert post(ports[1], genai_spans(range(3)).SerializeToString()).status_code == 401
        assert post(ports[1], genai_spans(range(3)).SerializeToString(), headers=bearer).status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{ports[2]}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            stub.Export(
                genai_spans(range(3, 5)), metadata=[("authorization", "Bearer cli-token")], timeout=10
            )
        assert len(out.read_text().splitlines()) == 5
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert b"5 shipped" in stdout


def _accepts(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def test_an_unreachable_grpc_receiver_port_gives_a_config_error(tmp_path: Path) -> None:
    with running(tmp_path, [{"listen": "otlp://127.0.0.1:0"}]) as pipeline:
        taken = pipeline.sources[0].port  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match=rf"--listen otlp://127.0.0.1:{taken}: cannot listen"):
            build(
                config_from(
                    {
                        "inputs": {"otlp": [{"listen": f"otlp://127.0.0.1:{taken}"}]},
                        "output": {"to": f"file:{tmp_path / 'x'}"},
                    }
                )
            )
    time.sleep(0)


def test_unusable_tls_files_are_named_in_the_error(tmp_path: Path) -> None:
    from shipper.sources.otlp_settings import OtlpTls

    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    tls = OtlpTls(cert_file=tmp_path / "cert.pem", key_file=tmp_path / "key.pem")
    with pytest.raises(ConfigError, match=r"inputs\.otlp\.tls: .*cert\.pem / .*key\.pem: cannot use them"):
        tls.server_context()
