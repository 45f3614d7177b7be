"""The Elasticsearch output at the wire level: bulk body, 429 then success, per-item errors."""

from __future__ import annotations

import json
from pathlib import Path

import responses

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig
from shipper.sinks.engine import EngineSink
from shipper.sources.files import FileSource
from shipper.sources.registry import Registry
from tests.shipping import MAX_LINE_BYTES, append_lines

URL = "https://es.example:9200"
PRODUCT = {"X-Elastic-Product": "Elasticsearch"}
INFO = {
    "name": "es01",
    "version": {"number": "8.15.3", "build_flavor": "default"},
    "tagline": "You Know, for Search",
}


def _item(status: int, error: dict | None = None) -> dict:
    body: dict = {"_index": ".ds-logs-mlsiem.inference-default-000001", "status": status}
    if error:
        body["error"] = error
    return {"create": body}


@responses.activate
def test_bulk_body_retry_on_429_and_per_item_outcomes(tmp_path: Path) -> None:
    responses.add(responses.GET, URL + "/", json=INFO, headers=PRODUCT)
    bodies: list[bytes] = []
    answers = iter(
        [
            (
                429,
                {"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}, "status": 429},
            ),
            (200, None),
            (200, {"errors": False, "items": [_item(201)]}),
        ]
    )

    def bulk(request):
        bodies.append(request.body)
        status, payload = next(answers)
        if payload is None:  # one mapping error, one duplicate, one transient per-item failure, one created
            mapping_error = {"type": "document_parsing_exception", "reason": "failed to parse [source.ip]"}
            payload = {
                "errors": True,
                "items": [
                    _item(400, mapping_error),
                    _item(409),
                    _item(429, {"type": "busy", "reason": "x"}),
                    _item(201),
                ],
            }
        return status, PRODUCT, json.dumps(payload)

    responses.add_callback(responses.POST, URL + "/_bulk", callback=bulk, content_type="application/json")
    engine = Engine.connect(ConnectionSettings(url=URL, engine="elasticsearch"))
    log = tmp_path / "app.log"
    append_lines(log, range(4))
    dead = tmp_path / "dead.ndjson"
    pipeline = Pipeline(
        [FileSource([str(log)], Registry(tmp_path / "registry.json"), max_line_bytes=MAX_LINE_BYTES)],
        Normalizer(NormalizeConfig()),
        EngineSink(engine, backoff_initial=0.001, sleep=lambda _: None),
        DeadLetterWriter(dead),
        config=PipelineConfig(),
    )
    stats = pipeline.run()
    assert (stats.shipped, stats.duplicates, stats.dead_lettered) == (2, 1, 1)

    first = bodies[0].decode().splitlines()
    assert len(first) == 8 and bodies[0].endswith(b"\n")
    action, document = json.loads(first[0]), json.loads(first[1])
    assert action["create"]["_index"] == "logs-mlsiem.inference-default"
    assert action["create"]["_id"] == document["event"]["id"]
    assert bodies[1] == bodies[0]  # the 429 on the whole request: the same body again
    retried = bodies[2].decode().splitlines()
    assert len(retried) == 2 and json.loads(retried[0]) == json.loads(first[4])  # only the item that got 429

    rejected = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(rejected) == 1
    assert "document_parsing_exception" in rejected[0]["reason"] and "source.ip" in rejected[0]["reason"]
    assert json.loads(rejected[0]["raw"])["features"]["seq"] == 0  # the original line, whole
    registry = json.loads((tmp_path / "registry.json").read_text())
    assert [f["offset"] for f in registry["files"].values()] == [log.stat().st_size]
    bulk_requests = [c.request for c in responses.calls if c.request.url.endswith("/_bulk")]
    assert all(
        r.headers["content-type"].startswith("application/vnd.elasticsearch+x-ndjson") for r in bulk_requests
    )
