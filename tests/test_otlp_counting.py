"""One GenAI call is one counted inference event, however many spans and log records its client sends.

Real openai-v2 output (tests/data/otlp/README.md): 2.1b0 sends a span per call plus `gen_ai.user.message`
/ `gen_ai.choice` log records; 2.4b0 in `span_and_event` mode a span plus a
`gen_ai.client.inference.operation.details` record repeating the usage. The log records become
`event.kind: enrichment` documents, which the dashboards' panels and the detectors' requests leave out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dashboards.spec import load_spec
from detections.aggregations import parse_series, series_request
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.normalizer import NormalizeConfig
from shipper.records import Normalized
from tests.normalizing import assert_conforms, normalize_lines
from tests.test_normalize_engine import bulk_create

DATA = Path(__file__).resolve().parent / "data" / "otlp"
OLD, NEW = "openai-v2-2.1b0.jsonl", "openai-v2-2.4b0-span-and-event.jsonl"


def normalized(name: str, namespace: str = "default") -> list[Normalized]:
    events, rejected = normalize_lines(
        (DATA / name).read_text().splitlines(), NormalizeConfig(namespace=namespace), source=f"file:{name}"
    )
    assert rejected == []
    assert_conforms(events)
    return events


def kinds(events: list[Normalized]) -> list[tuple[str, str]]:
    return sorted((e.document["event"]["kind"], e.document["event"].get("action", "")) for e in events)


def test_log_records_of_a_call_are_enrichment() -> None:
    old = normalized(OLD)
    assert kinds(old) == sorted(
        [("event", "chat")] * 4
        + [("enrichment", "gen_ai.user.message")] * 4
        + [("enrichment", "gen_ai.choice")] * 3
    )
    calls = [e.document for e in old if e.document["event"]["kind"] == "event"]
    assert sum(d["event"]["outcome"] == "failure" for d in calls) / len(calls) == 1 / 4  # not 1/11
    choice = next(e.document for e in old if e.document["event"].get("action") == "gen_ai.choice")
    call = next(d for d in calls if d["span"]["id"] == choice["span"]["id"])
    assert choice["trace"]["id"] == call["trace"]["id"]  # linked to its call
    assert choice["mlsiem"]["llm"]["completion"] == "Paris is the capital of France."  # content kept

    new = normalized(NEW)
    assert kinds(new) == sorted(
        [("event", "chat")] * 4 + [("enrichment", "gen_ai.client.inference.operation.details")] * 4
    )
    calls = [e.document for e in new if e.document["event"]["kind"] == "event"]
    tokens = sum(d["gen_ai"].get("usage", {}).get("input_tokens", 0) for d in calls)
    everything = sum(e.document["gen_ai"].get("usage", {}).get("input_tokens", 0) for e in new)
    assert (tokens, everything) == (3 * 14, 2 * 3 * 14)  # the details record repeats the usage


def test_a_log_record_without_a_span_is_the_call() -> None:
    line = (DATA / NEW).read_text().splitlines()[1]  # the log records
    no_span = line.replace('"spanId": "', '"spanIdWas": "')
    events, rejected = normalize_lines([no_span])
    assert rejected == [] and len(events) == 4
    assert {e.document["event"]["kind"] for e in events} == {"event"}


def _window(events: list[Normalized], model: str) -> Window:
    stamps = [datetime.fromisoformat(e.document["@timestamp"][:26] + "+00:00") for e in events]
    return Window(model, None, min(stamps) - timedelta(minutes=1), max(stamps) + timedelta(minutes=1))


def _count(engine: Engine, namespace: str, query: str) -> int:
    body: dict[str, Any] = {
        "size": 0,
        "track_total_hits": True,
        "query": {"query_string": {"query": query or "*"}},
    }
    return engine.search(inference_stream(namespace), body)["hits"]["total"]["value"]


def test_dashboards_and_detectors_count_calls_on_the_real_engine(engine: Engine, namespace: str) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    old, new = normalized(OLD, namespace), normalized(NEW, namespace)
    results = bulk_create(engine, namespace, old + new)
    assert [r.get("error") for r in results if r["status"] != 201] == []
    assert engine.count(inference_stream(namespace)) == 11 + 8

    spec = load_spec().visualizations
    requests = spec["ops_requests"]
    assert _count(engine, namespace, requests.query) == 8  # 4 calls in each file
    failed = next(f.query for f in requests.buckets[0].filters if f.label == "failed")
    assert _count(engine, namespace, f"({requests.query}) AND ({failed})") == 2
    assert _count(engine, namespace, spec["ops_errors_by_model"].query) == 2
    assert _count(engine, namespace, spec["llm_usage_by_model"].query) == 8
    assert _count(engine, namespace, spec["llm_finish_reasons"].query) == 6  # the 6 successful calls

    # the operational detector's request (requests, failures, tokens per bucket) on 2.4b0's model
    window = _window(old + new, "gpt-4o-mini-2024-07-18")
    series = parse_series(
        engine.search(inference_stream(namespace), series_request(window, timedelta(hours=1)))
    )
    assert series["request_rate"].sum() == 3 + 3  # the successful calls of both files, once each
    assert series["token_usage"][series["request_rate"] > 0].sum() == 2 * 3 * (14 + 7)
    broken = _window(old + new, "broken-model")
    series = parse_series(
        engine.search(inference_stream(namespace), series_request(broken, timedelta(hours=1)))
    )
    assert (series["request_rate"].sum(), series["failures"].sum()) == (2, 2)
