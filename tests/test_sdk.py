"""The Python SDK: what it writes normalizes back into the expected events; the logging handler; fluent."""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import msgpack

from shipper.normalizer import Normalizer
from shipper.records import Origin
from shipper.sdk import FluentWriter, MlsiemHandler, MlsiemLogger
from tests.normalizing import assert_conforms, normalize_lines


def read_back(path: Path) -> list[dict[str, Any]]:
    events, rejected = normalize_lines(path.read_text().splitlines())
    assert rejected == []
    assert_conforms(events)
    return [e.document for e in events]


def test_calls_write_native_lines_that_normalize_back(tmp_path: Path) -> None:
    path = tmp_path / "telemetry" / "inference.jsonl"
    with MlsiemLogger(
        path, service="fraud-api", service_version="1.4.0", environment="prod", host="inf-1"
    ) as sdk:
        prediction_id = sdk.prediction(
            "fraud-scorer",
            version="7",
            model_type="classification",
            features={"amount": 120.5, "country": "DE", "new": True},
            label="fraud",
            score=0.93,
            latency_ms=12.4,
            user="alice",
            source_ip="203.0.113.9",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            span_id="00f067aa0ba902b7",
        )
        llm_id = sdk.llm_call(
            "openai",
            "gpt-4o",
            input_tokens=120,
            output_tokens=40,
            prompt=[{"role": "user", "content": "call me on +1 415 555 0100"}],
            completion="Sure.",
            finish_reasons=["stop"],
            cost_usd=0.0012,
            guardrail_action="allowed",
            guardrail_policies=["pii"],
            latency_ms=950,
            user="bob",
        )
        pipeline_id = sdk.pipeline(
            "model_deployed", model="fraud-scorer", version="8", pipeline="release", run_id="r-9", actor="ann"
        )
    prediction, llm, pipeline = read_back(path)
    assert prediction["event"]["id"] == prediction_id
    assert prediction["service"] == {"name": "fraud-api", "version": "1.4.0", "environment": "prod"}
    assert prediction["host"] == {"name": "inf-1"}
    assert prediction["mlsiem"]["model"] == {"name": "fraud-scorer", "version": "7", "type": "classification"}
    assert prediction["mlsiem"]["features"] == {"amount": 120.5, "country": "DE", "new": True}
    assert prediction["mlsiem"]["prediction"] == {"label": "fraud", "score": 0.93}
    assert prediction["event"]["duration"] == 12_400_000
    assert prediction["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert prediction["span"]["id"] == "00f067aa0ba902b7"
    assert llm["event"]["id"] == llm_id
    assert llm["gen_ai"]["usage"] == {"input_tokens": 120, "output_tokens": 40}
    assert llm["mlsiem"]["llm"]["prompt"] == "call me on [REDACTED:phone_number]"
    assert llm["mlsiem"]["llm"]["guardrail"] == {"action": "allowed", "policies": ["pii"]}
    assert llm["mlsiem"]["model"] == {"name": "gpt-4o", "type": "llm"}
    assert llm["user"] == {"name": "bob"}
    assert pipeline["event"]["id"] == pipeline_id and pipeline["event"]["action"] == "model_deployed"
    assert pipeline["user"] == {"name": "ann"} and "deployment" not in pipeline["mlsiem"]
    assert len({prediction_id, llm_id, pipeline_id}) == 3


def test_threads_share_one_file_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    sdk = MlsiemLogger(path)
    big = {f"feature_{i}": "v" * 50 for i in range(150)}  # ~10 kB lines, beyond one pipe buffer

    def record(worker: int) -> None:
        for index in range(100):
            sdk.prediction("m", features=big | {"worker": worker, "index": index}, label="x")

    threads = [threading.Thread(target=record, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sdk.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 800
    seen = {(json.loads(line)["features"]["worker"], json.loads(line)["features"]["index"]) for line in lines}
    assert len(seen) == 800


def test_logging_handler(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    sdk = MlsiemLogger(path, service="scoring")
    logger = logging.getLogger("tests.sdk.handler")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = MlsiemHandler(sdk)
    logger.addHandler(handler)
    try:
        logger.info(
            "scored %s", "tx-1", extra={"model": "fraud", "features": {"amount": 5}, "prediction": 0.2}
        )
        logger.info("no telemetry here")  # not an event
        try:
            raise TimeoutError("feature store timed out")
        except TimeoutError:
            logger.exception("scoring failed", extra={"model": "fraud"})
        logger.warning("deployed", extra={"action": "model_deployed", "model": "fraud", "actor": "dan"})
    finally:
        logger.removeHandler(handler)
        sdk.close()
    scored, failed, deployed = read_back(path)
    assert scored["message"] == "scored tx-1"
    assert scored["mlsiem"]["prediction"] == {"value": 0.2} and scored["service"] == {"name": "scoring"}
    assert failed["event"]["outcome"] == "failure"
    assert failed["error"] == {"type": "TimeoutError", "message": "feature store timed out"}
    assert deployed["event"]["dataset"] == "mlsiem.pipeline" and deployed["user"] == {"name": "dan"}


class ForwardReceiver:
    """A tiny TCP msgpack receiver (the forward protocol's message mode): enough to see what arrives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.messages: list[Any] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        unpacker = msgpack.Unpacker(raw=False)
        with connection:
            while chunk := connection.recv(65536):
                unpacker.feed(chunk)
                self.messages.extend(unpacker)

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.server.close()


def test_fluent_sending_arrives_as_forward_messages() -> None:
    receiver = ForwardReceiver()
    sdk = MlsiemLogger(FluentWriter("127.0.0.1", receiver.port), service="chat")
    event_id = sdk.llm_call("anthropic", "claude-3-5-sonnet", input_tokens=5, output_tokens=2, prompt="hi")
    sdk.pipeline("training_started", model="m")
    sdk.close()
    receiver.close()
    assert [message[0] for message in receiver.messages] == ["mlsiem.inference", "mlsiem.pipeline"]
    tag, _time, record = receiver.messages[0]
    events, rejected = Normalizer().normalize(record, Origin(f"forward:{tag}"))  # a decoded dict
    assert rejected == []
    assert_conforms(events)
    assert events[0].event_id == event_id
    assert events[0].document["gen_ai"]["provider"]["name"] == "anthropic"


def test_failed_fluent_sends_are_counted_not_raised() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    writer = FluentWriter("127.0.0.1", port, timeout=0.5)
    sdk = MlsiemLogger(writer)
    sdk.prediction("m", label="x")  # nobody listens: kept in fluent-logger's buffer, counted
    assert writer.failed == 1
    sdk.close()
