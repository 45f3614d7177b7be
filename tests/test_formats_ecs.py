"""The ecs format: documents one mlsiem shipper normalized, relayed to another (edge -> aggregator)."""

from __future__ import annotations

import copy
import json
import signal
from pathlib import Path

import orjson
import pytest

from mlsiem.adapter import Engine
from mlsiem.local_engine import free_port
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Normalized, Origin
from tests.shipping import append_lines, count, exactly_once, ship_process, wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "shipper" / "examples"
RELAY = Origin("forward:mlsiem.inference")


def _edge_events(policy: str = "full", **options: object) -> list[Normalized]:
    """What an edge shipper makes of every example record of the built-in formats."""
    edge = Normalizer(NormalizeConfig(content_policy=policy, **options))  # type: ignore[arg-type]
    events: list[Normalized] = []
    for name in ("native.jsonl", "otlp-genai.jsonl", "litellm.jsonl"):
        for offset, line in enumerate((EXAMPLES / name).read_bytes().splitlines()):
            made, rejected = edge.normalize(line, Origin("file:edge", offset * 100, f"/var/log/{name}"))
            assert not rejected
            events += made
    return events


def test_relayed_documents_pass_through_with_their_ids_and_origin() -> None:
    aggregator = Normalizer(NormalizeConfig(namespace="central", content_policy="full"))
    edge_events = _edge_events()
    assert len(edge_events) > 10 and {e.kind for e in edge_events} == {"inference", "pipeline"}
    for sent in edge_events:
        relayed, rejected = aggregator.normalize(orjson.dumps(sent.document), RELAY)
        assert not rejected and len(relayed) == 1
        event = relayed[0]
        assert event.event_id == sent.event_id and event.kind == sent.kind
        expected = copy.deepcopy(sent.document)
        expected["data_stream"]["namespace"] = "central"
        assert event.document == expected  # format, file path and offset are the edge's


def test_auto_detection_and_a_fixed_format_agree() -> None:
    document = _edge_events()[0].document
    auto, _ = Normalizer(NormalizeConfig()).normalize(orjson.dumps(document), RELAY)
    fixed, _ = Normalizer(NormalizeConfig(format="ecs")).normalize(orjson.dumps(document), RELAY)
    assert auto[0].document == fixed[0].document


@pytest.mark.parametrize("policy", ["redacted", "hash", "none"])
def test_a_stricter_policy_at_the_aggregator_applies_to_relayed_text(policy: str) -> None:
    secret = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
    line = {
        "type": "inference",
        "ts": "2026-01-01T00:00:00Z",
        "model": "support-bot",
        "llm": {"provider": "openai", "prompt": f"my key is {secret}", "completion": "ok"},
        "error": {"message": f"rejected {secret}"},
    }
    edge = Normalizer(NormalizeConfig(content_policy="full", keep_original=True))
    [sent], _ = edge.normalize(orjson.dumps(line), Origin("file:edge", 0))
    assert secret in json.dumps(sent.document)
    aggregator = Normalizer(NormalizeConfig(content_policy=policy))  # type: ignore[arg-type]
    [relayed], rejected = aggregator.normalize(orjson.dumps(sent.document), RELAY)
    assert not rejected and secret not in json.dumps(relayed.document)
    llm = relayed.document["mlsiem"]["llm"]
    assert ("prompt" in llm) == (policy == "redacted")
    assert ("prompt_sha256" in llm) == (policy != "none")


def test_a_document_that_is_not_a_valid_mlsiem_document_is_dead_lettered_with_the_reason() -> None:
    document = _edge_events()[0].document
    aggregator = Normalizer(NormalizeConfig())
    broken = {**document, "mlsiem": {**document["mlsiem"], "surprise": 1}}
    events, [rejected] = aggregator.normalize(orjson.dumps(broken), RELAY)
    assert not events and rejected.reason.startswith("ecs: not a valid mlsiem inference document")
    assert "surprise" in rejected.reason
    for odd in ({**document["event"], "dataset": {"x": 1}}, {**document["event"], "dataset": ["x"]}):
        events, [rejected] = aggregator.normalize(orjson.dumps({**document, "event": odd}), RELAY)
        assert not events and not rejected.reason.startswith("internal error")
    without_stream = {k: v for k, v in document.items() if k != "data_stream"}
    [event], _ = aggregator.normalize(orjson.dumps(without_stream), RELAY)
    assert event.document["data_stream"] == {
        "type": "logs",
        "dataset": "mlsiem.inference",
        "namespace": "default",
    }
    no_id = {**document, "event": {k: v for k, v in document["event"].items() if k != "id"}}
    events, [rejected] = aggregator.normalize(orjson.dumps(no_id), RELAY)
    assert not events and "event.id" in rejected.reason


def test_the_edge_truncation_marker_is_kept_and_added_to() -> None:
    line = {
        "type": "inference",
        "ts": "2026-01-01T00:00:00Z",
        "labels": {"a": "1", "b": "2", "c": "3"},
        "llm": {"provider": "openai", "prompt": "x" * 3000},
    }
    edge = Normalizer(NormalizeConfig(content_policy="full", max_labels=2))
    [sent], _ = edge.normalize(orjson.dumps(line), Origin("file:edge", 0))
    assert sent.document["labels"]["truncated_fields"] == "labels"
    aggregator = Normalizer(NormalizeConfig(content_policy="full", max_string_chars=1024))
    [relayed], _ = aggregator.normalize(orjson.dumps(sent.document), RELAY)
    assert relayed.document["labels"]["truncated_fields"] == "labels,mlsiem.llm.prompt"
    assert len(relayed.document["mlsiem"]["llm"]["prompt"]) <= 1024


def test_edge_to_aggregator_over_fluent_forward_into_the_engine(
    tmp_path: Path, engine: Engine, namespace: str, local_engine
) -> None:
    """Two real shippers: the edge follows a file and forwards ECS documents; the aggregator receives
    them on its forward input and writes them to the engine, every event once, nothing dead-lettered."""
    port = free_port()
    aggregator_home, edge_home = tmp_path / "aggregator", tmp_path / "edge"
    aggregator = ship_process(
        aggregator_home, local_engine.url, namespace, "--listen", f"forward://127.0.0.1:{port}"
    )
    log = tmp_path / "app.jsonl"
    append_lines(log, range(300))
    edge = ship_process(
        edge_home,
        "http://127.0.0.1:9",
        "unused",
        str(log),
        "--output",
        f"fluent://127.0.0.1:{port}?require_ack=true",
    )
    try:
        _, edge_err = edge.communicate(timeout=120)
        assert edge.returncode == 0, edge_err.decode()
        wait_for(lambda: count(engine, namespace) >= 300, timeout=90)
    finally:
        aggregator.send_signal(signal.SIGTERM)
        _, aggregator_err = aggregator.communicate(timeout=60)
    assert aggregator.returncode == 0, aggregator_err.decode()
    assert count(engine, namespace) == 300 and exactly_once(engine, namespace, range(300))
    dead = list(aggregator_home.rglob("*dead-letter*"))
    assert all(path.stat().st_size == 0 for path in dead), [p.read_text()[:300] for p in dead]
    stream_docs = engine.search(f"logs-mlsiem.inference-{namespace}", {"size": 1})["hits"]["hits"]
    assert stream_docs[0]["_source"]["mlsiem"]["source"]["format"] == "native"
    assert stream_docs[0]["_source"]["log"]["file"]["path"] == str(log)
