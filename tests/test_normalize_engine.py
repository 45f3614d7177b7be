"""Every format's documents into the REAL engine: accepted as they are, mapped with the right types, and
re-sending the same lines creates no second document."""

from __future__ import annotations

from typing import Any

import orjson

from mlsiem.adapter import Engine
from mlsiem.indices import data_streams
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.normalizer import NormalizeConfig
from shipper.records import Normalized
from tests.normalizing import MAPPINGS, example_lines, normalize_lines


def all_formats(namespace: str) -> list[Normalized]:
    """The example files of every format, normalized for one namespace (keep_original on, to map it too)."""
    auto = NormalizeConfig(namespace=namespace, mapping_file=MAPPINGS / "classifier.yaml", keep_original=True)
    kserve = NormalizeConfig(namespace=namespace, format="mapping", mapping_file=MAPPINGS / "kserve.yaml")
    events, rejected = normalize_lines(
        example_lines("native.jsonl")
        + example_lines("otlp-genai.jsonl")
        + example_lines("litellm.jsonl")
        + example_lines("mappings/classifier.jsonl"),
        auto,
    )
    kserve_events, kserve_rejected = normalize_lines(example_lines("mappings/kserve.jsonl"), kserve)
    assert rejected == kserve_rejected == []
    return events + kserve_events


def bulk_create(engine: Engine, namespace: str, events: list[Normalized]) -> list[dict[str, Any]]:
    streams = data_streams(namespace)
    body = b"".join(
        orjson.dumps({"create": {"_index": streams[event.kind], "_id": event.event_id}})
        + b"\n"
        + orjson.dumps(event.document)
        + b"\n"
        for event in events
    )
    return [item["create"] for item in engine.bulk(body, refresh=True)["items"]]


def field_types(engine: Engine, index: str, fields: list[str]) -> dict[str, str]:
    caps = engine.request("GET", f"/{index}/_field_caps", params={"fields": ",".join(fields)})["fields"]
    leaves = {name: next(iter(types)) for name, types in caps.items()}
    return {name: kind for name, kind in leaves.items() if kind != "object"}


def test_every_format_round_trips_with_the_right_types(engine: Engine, namespace: str) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    events = all_formats(namespace)
    results = bulk_create(engine, namespace, events)
    assert [r.get("error") for r in results if r["status"] != 201] == []
    streams = data_streams(namespace)
    inference = [e for e in events if e.kind == "inference"]
    assert engine.count(streams["inference"]) == len(inference) == 17
    assert engine.count(streams["pipeline"]) == 3

    for event in (events[0], inference[-1], next(e for e in events if e.kind == "pipeline")):
        hits = engine.search(streams[event.kind], {"query": {"term": {"event.id": event.event_id}}})["hits"][
            "hits"
        ]
        assert [hit["_id"] for hit in hits] == [event.event_id]
        assert hits[0]["_source"] == event.document

    types = field_types(
        engine,
        streams["inference"],
        [
            "@timestamp", "event.duration", "event.original", "source.ip", "gen_ai.usage.input_tokens",
            "gen_ai.request.temperature", "gen_ai.response.finish_reasons", "mlsiem.features.amount",
            "mlsiem.features.plan", "mlsiem.features.autopay", "mlsiem.features.sepal_length",
            "mlsiem.llm.prompt", "mlsiem.llm.prompt_length", "mlsiem.llm.cost_usd", "mlsiem.llm.cache_hit",
            "mlsiem.prediction.score", "mlsiem.log.offset", "labels.server_address", "labels.server_port",
            "labels.malformed_fields", "trace.id", "http.response.status_code",
        ],
    )  # fmt: skip
    assert types == {
        "@timestamp": "date",
        "event.duration": "long",
        "event.original": "keyword",
        "source.ip": "ip",
        "gen_ai.usage.input_tokens": "integer",
        "gen_ai.request.temperature": "double",
        "gen_ai.response.finish_reasons": "keyword",
        "mlsiem.features.amount": "double",
        "mlsiem.features.plan": "keyword",
        "mlsiem.features.autopay": "keyword",
        "mlsiem.features.sepal_length": "double",
        "mlsiem.llm.prompt": "text",
        "mlsiem.llm.prompt_length": "long",
        "mlsiem.llm.cost_usd": "double",
        "mlsiem.llm.cache_hit": "boolean",
        "mlsiem.prediction.score": "double",
        "mlsiem.log.offset": "long",
        "labels.server_address": "keyword",
        "labels.server_port": "keyword",
        "trace.id": "keyword",
        "http.response.status_code": "long",
    }  # no labels.malformed_fields: the examples are clean
    pipeline_types = field_types(engine, streams["pipeline"], ["mlsiem.deployment.approved", "event.action"])
    assert pipeline_types == {"mlsiem.deployment.approved": "boolean", "event.action": "keyword"}

    # nanosecond timestamps (OTLP) are accepted and searchable (at the `date` type's millisecond precision)
    found = engine.search(
        streams["inference"],
        {
            "query": {
                "range": {
                    "@timestamp": {"gte": "2025-03-01T12:00:00.123Z", "lte": "2025-03-01T12:00:00.124Z"}
                }
            }
        },
    )["hits"]["hits"]
    assert "otlp" in {hit["_source"]["mlsiem"]["source"]["format"] for hit in found}


def test_resending_the_same_lines_creates_nothing(engine: Engine, namespace: str) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    first = bulk_create(engine, namespace, all_formats(namespace))
    again = bulk_create(engine, namespace, all_formats(namespace))  # normalized anew: same ids
    assert {r["status"] for r in first} == {201}
    assert {r["status"] for r in again} == {409}
    streams = data_streams(namespace)
    assert engine.count(streams["inference"]) + engine.count(streams["pipeline"]) == len(first)
