"""The SDK's OpenTelemetry mode: `MlsiemLogger(OtelWriter(...))` exports OTLP (the SDK's batch
processors and the standard OTLP/HTTP exporter) to mlsiem's receiver, into the real engine."""

from __future__ import annotations

from pathlib import Path

from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream, pipeline_stream
from mlsiem.installer import run_setup
from mlsiem.local_engine import LocalEngine, free_port
from mlsiem.templates import SetupConfig
from shipper.sdk import MlsiemLogger
from shipper.sdk_otel import OtelWriter
from tests.test_otlp_receiver_engine import shipping


def _search(engine: Engine, stream: str) -> list[dict]:
    engine.refresh(stream)
    return [hit["_source"] for hit in engine.search(stream, {"size": 100})["hits"]["hits"]]


def test_llm_calls_predictions_and_pipeline_steps_arrive_once_with_their_fields(
    engine: Engine, local_engine: LocalEngine, namespace: str, tmp_path: Path
) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    port = free_port()
    with shipping(local_engine.url, namespace, tmp_path, [{"listen": f"otlp://127.0.0.1:{port}"}]):
        writer = OtelWriter(f"http://127.0.0.1:{port}", resource={"service.name": "sdk-otel"})
        telemetry = MlsiemLogger(writer, service="sdk-otel")
        for tokens in (100, 200):
            telemetry.llm_call(
                "openai",
                "gpt-4o",
                input_tokens=tokens,
                output_tokens=7,
                finish_reasons=["stop"],
                temperature=0.3,
                response_model="gpt-4o-2024-08-06",
                latency_ms=850,
                user_id="u-1",
                prompt="What is our refund policy?",
                completion="Thirty days.",
            )
        telemetry.llm_call(
            "openai", "gpt-4o", input_tokens=5, error={"type": "RateLimitError"}, outcome="failure"
        )
        ids = [
            telemetry.prediction(
                "fraud-scorer", version="7", features={"amount": 120.5}, label="fraud", score=0.93
            ),
            telemetry.prediction(
                "fraud-scorer", version="7", features={"amount": 9.0}, label="ok", score=0.1
            ),
        ]
        telemetry.pipeline("model_deployed", model="fraud-scorer", version="7", actor="bob", approved=True)
        telemetry.close()  # flushes: every export has been answered (delivered) once this returns
        inference = _search(engine, inference_stream(namespace))
        pipeline = _search(engine, pipeline_stream(namespace))
    calls = [doc for doc in inference if doc.get("gen_ai")]
    assert sorted(doc["gen_ai"]["usage"]["input_tokens"] for doc in calls) == [5, 100, 200]
    ok = next(doc for doc in calls if doc["gen_ai"]["usage"]["input_tokens"] == 100)
    assert ok["gen_ai"]["provider"]["name"] == "openai" and ok["gen_ai"]["operation"]["name"] == "chat"
    assert ok["gen_ai"]["request"]["temperature"] == 0.3 and ok["gen_ai"]["response"]["finish_reasons"] == [
        "stop"
    ]
    assert ok["event"]["duration"] == 850_000_000 and ok["event"]["outcome"] == "success"
    assert ok["user"]["id"] == "u-1" and ok["service"]["name"] == "sdk-otel"
    assert "refund" in ok["mlsiem"]["llm"]["prompt"]
    failed = next(doc for doc in calls if doc["gen_ai"]["usage"]["input_tokens"] == 5)
    assert failed["event"]["outcome"] == "failure" and failed["error"]["type"] == "RateLimitError"
    predictions = [doc for doc in inference if doc.get("mlsiem", {}).get("prediction")]
    assert sorted(doc["event"]["id"] for doc in predictions) == sorted(ids)
    fraud = next(doc for doc in predictions if doc["mlsiem"]["prediction"]["label"] == "fraud")
    assert fraud["mlsiem"]["model"]["name"] == "fraud-scorer" and fraud["mlsiem"]["model"]["version"] == "7"
    assert fraud["mlsiem"]["features"]["amount"] == 120.5 and fraud["mlsiem"]["prediction"]["score"] == 0.93
    assert len(inference) == 5
    assert [doc["event"]["action"] for doc in pipeline] == ["model_deployed"]
    assert pipeline[0]["user"]["name"] == "bob"
