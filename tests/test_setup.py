"""`mlsiem setup` against the real local OpenSearch engine."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mlsiem.adapter import Engine
from mlsiem.indices import BASELINES_INDEX, STATE_INDEX, alerts_alias, data_streams
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig, build_templates

NOW = "2026-11-25T12:00:00.000Z"

DOCUMENTS: dict[str, dict[str, Any]] = {
    "inference": {
        "@timestamp": NOW,
        "event": {
            "kind": "event",
            "category": ["api"],
            "type": ["access"],
            "outcome": "success",
            "dataset": "mlsiem.inference",
            "duration": 12_500_000,
            "id": "inf-1",
        },
        "source": {"ip": "10.1.2.3"},
        "user": {"name": "alice"},
        "http": {"response": {"status_code": 200}},
        "gen_ai": {"usage": {"input_tokens": 812, "output_tokens": 64}, "request": {"temperature": 0.2}},
        "mlsiem": {
            "model": {"name": "credit-scorer", "version": "3", "type": "classification"},
            "prediction": {"label": "approve", "score": 0.91},
            "features": {"income": 52000, "age": 41.5, "region": "north"},
        },
    },
    "pipeline": {
        "@timestamp": NOW,
        "event": {
            "kind": "event",
            "category": ["configuration"],
            "type": ["change"],
            "dataset": "mlsiem.pipeline",
            "action": "model_deployed",
            "id": "pipe-1",
        },
        "user": {"name": "deployer"},
        "mlsiem": {
            "model": {"name": "credit-scorer", "version": "3"},
            "deployment": {"approved": False},
            "pipeline": {"name": "train-credit", "run_id": "r-17", "stage": "deploy"},
        },
    },
    "drift": {
        "@timestamp": NOW,
        "event": {"kind": "metric", "dataset": "mlsiem.drift"},
        "mlsiem": {
            "model": {"name": "credit-scorer", "version": "3"},
            "drift": {
                "metric": "psi",
                "score": 0.31,
                "threshold": 0.2,
                "p_value": 0.0001,
                "feature": "income",
                "reference_size": 10000,
                "current_size": 500,
            },
        },
    },
    "alert": {
        "@timestamp": NOW,
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection"],
            "dataset": "mlsiem.alerts",
            "severity": 73,
            "risk_score": 73.0,
            "reason": "One client sent 5000 probing requests.",
            "id": "al-1",
        },
        "rule": {"id": "r-1", "name": "Model extraction by probing", "category": "security"},
        "threat": {
            "framework": "MITRE ATLAS",
            "technique": {"id": ["AML.T0024"], "name": ["Exfiltration via AI Inference API"]},
        },
        "source": {"ip": "203.0.113.9"},
        "mlsiem": {
            "alert": {
                "severity": "high",
                "status": "open",
                "occurrences": 2,
                "group_key": "203.0.113.9",
                "first_seen": NOW,
                "last_seen": NOW,
            }
        },
    },
}

EXPECTED_TYPES = {
    "inference": {
        "@timestamp": "date",
        "event.duration": "long",
        "source.ip": "ip",
        "gen_ai.usage.input_tokens": "integer",
        "mlsiem.prediction.score": "double",
        "mlsiem.features.income": "double",
        "mlsiem.features.age": "double",
        "mlsiem.features.region": "keyword",
        "mlsiem.model.name": "keyword",
        "http.response.status_code": "long",
    },
    "pipeline": {"mlsiem.deployment.approved": "boolean", "event.action": "keyword", "user.name": "keyword"},
    "drift": {
        "mlsiem.drift.score": "double",
        "mlsiem.drift.reference_size": "long",
        "mlsiem.drift.feature": "keyword",
    },
    "alert": {
        "event.severity": "long",
        "event.risk_score": "float",
        "source.ip": "ip",
        "mlsiem.alert.occurrences": "long",
        "mlsiem.alert.first_seen": "date",
        "threat.technique.id": "keyword",
    },
}


def _field_types(engine: Engine, index: str, fields: list[str]) -> dict[str, str]:
    caps = engine.request("GET", f"/{index}/_field_caps", params={"fields": ",".join(fields)})["fields"]
    return {name: next(iter(types)) for name, types in caps.items() if name in fields}


NS = "setuptest"  # this module's own namespace: its data streams and alias are new to the session


@pytest.fixture(scope="module")
def installed(engine: Engine) -> list:
    return [run_setup(engine, SetupConfig(namespace=NS)), run_setup(engine, SetupConfig(namespace=NS))]


def test_setup_twice_second_run_changes_nothing(installed: list) -> None:
    first, second = installed
    created = {a.name for a in first if a.action == "created"}
    assert created >= {f"logs-mlsiem.inference-{NS}", f"metrics-mlsiem.drift-{NS}", f"mlsiem-alerts-{NS}"}
    # Shared templates may already exist from an earlier test in the session: then they are unchanged.
    assert {a.action for a in first} <= {"created", "unchanged", "skipped"}
    assert all(a.action in ("unchanged", "skipped") for a in second), [a for a in second if a.changed]


def test_lifecycle_is_skipped_on_a_node_without_ism(installed: list, engine: Engine) -> None:
    assert not engine.has_lifecycle_management()
    policies = [a for a in installed[0] if a.kind == "lifecycle policy"]
    assert {a.name for a in policies} == {"mlsiem-logs", "mlsiem-metrics", "mlsiem-alerts"}
    assert {a.action for a in policies} == {"skipped"}


@pytest.mark.parametrize("kind", ["inference", "pipeline", "drift", "alert"])
def test_one_document_of_each_kind_reads_back_with_mapped_types(
    installed: list, engine: Engine, kind: str
) -> None:
    target = alerts_alias(NS) if kind == "alert" else data_streams(NS)[kind]
    doc_id = f"{kind}-roundtrip"
    assert engine.create_document(target, doc_id, DOCUMENTS[kind], refresh=True)
    assert not engine.create_document(
        target, doc_id, DOCUMENTS[kind], refresh=True
    )  # op_type create: no twin
    hits = engine.search(target, {"query": {"ids": {"values": [doc_id]}}})["hits"]["hits"]
    assert len(hits) == 1 and hits[0]["_source"] == DOCUMENTS[kind]
    expected = EXPECTED_TYPES[kind]
    assert _field_types(engine, target, list(expected)) == expected


def test_mapped_types_behave(installed: list, engine: Engine) -> None:
    stream = data_streams(NS)["inference"]
    engine.create_document(stream, "inference-roundtrip", DOCUMENTS["inference"], refresh=True)
    by_cidr = {"query": {"term": {"source.ip": "10.1.0.0/16"}}}
    assert engine.search(stream, by_cidr)["hits"]["total"]["value"] >= 1
    by_range = {"query": {"range": {"mlsiem.features.income": {"gte": 50000, "lte": 60000}}}}
    assert engine.search(stream, by_range)["hits"]["total"]["value"] >= 1


def test_numeric_features_answer_every_query_the_detectors_send(engine: Engine, namespace: str) -> None:
    """Ranges (the outliers detector's pre-filter), terms, exists and the drift and data-quality
    aggregations on a numeric feature, on the real engine."""
    run_setup(engine, SetupConfig(namespace=namespace))
    stream = data_streams(namespace)["inference"]
    for i, income in enumerate((31000.5, 52000, 75000)):
        doc = {**DOCUMENTS["inference"], "event": {**DOCUMENTS["inference"]["event"], "id": f"f-{i}"}}
        doc["mlsiem"] = {**doc["mlsiem"], "features": {"income": income, "region": "north"}}
        assert engine.create_document(stream, f"f-{i}", doc)
    assert engine.create_document(stream, "f-none", {"@timestamp": NOW, "event": {"id": "f-none"}})
    engine.refresh(stream)
    mapped = engine.mapping(stream)
    features = next(iter(mapped.values()))["mappings"]["properties"]["mlsiem"]["properties"]["features"]
    assert features["properties"]["income"] == {"type": "double", "ignore_malformed": True}
    assert features["properties"]["region"]["type"] == "keyword"

    def hits(query: dict[str, Any]) -> int:
        return engine.count(stream, query)

    field = "mlsiem.features.income"
    assert hits({"range": {field: {"gte": 50000, "lte": 60000}}}) == 1
    assert hits({"term": {field: 75000}}) == 1
    assert hits({"exists": {"field": field}}) == 3
    assert hits({"query_string": {"query": f"{field}:>40000"}}) == 2
    aggs = {
        "stats": {"stats": {"field": field}},
        "bins": {"range": {"field": field, "ranges": [{"to": 50000}, {"from": 50000}]}},
        "missing": {"missing": {"field": field}},
    }
    answer = engine.search(stream, {"size": 0, "aggs": aggs})["aggregations"]
    assert (answer["stats"]["count"], answer["stats"]["min"], answer["stats"]["max"]) == (3, 31000.5, 75000)
    assert [b["doc_count"] for b in answer["bins"]["buckets"]] == [1, 2]
    assert answer["missing"]["doc_count"] == 1


def test_events_become_searchable_without_an_explicit_refresh(engine: Engine, namespace: str) -> None:
    """No `refresh_interval` is set (the engine's default: 1s while searched, none while idle), and a
    reader still sees new events within seconds without asking for a refresh."""
    run_setup(engine, SetupConfig(namespace=namespace))
    stream = data_streams(namespace)["inference"]
    settings = engine.request("GET", f"/{stream}/_settings", params={"flat_settings": "true"})
    for index in settings.values():
        assert "index.refresh_interval" not in index["settings"]
    assert engine.count(stream) == 0  # a search first: the shard is active, as under the detector job
    assert engine.create_document(stream, "fresh-1", DOCUMENTS["inference"])
    deadline = time.monotonic() + 10
    while engine.count(stream) == 0:
        assert time.monotonic() < deadline, "a new event was not searchable within 10 s"
        time.sleep(0.2)


def test_an_explicit_refresh_interval_is_installed_as_given() -> None:
    templates = {t.name: t.body for t in build_templates(SetupConfig(refresh_interval="5s"), None)}
    assert templates["mlsiem-settings"]["template"]["settings"]["index"]["refresh_interval"] == "5s"
    default = {t.name: t.body for t in build_templates(SetupConfig(), None)}
    assert "refresh_interval" not in default["mlsiem-settings"]["template"]["settings"]["index"]


def test_baselines_and_state_indices_exist(installed: list, engine: Engine) -> None:
    for index in (BASELINES_INDEX, STATE_INDEX):
        assert engine.exists(f"/{index}")
    doc = {
        "@timestamp": NOW,
        "mlsiem": {"model": {"name": "m", "version": "1"}},
        "profile": {"bins": [1, 2, 3]},
    }
    engine.index_document(BASELINES_INDEX, "m-1", doc, refresh=True)
    assert engine.get_document(BASELINES_INDEX, "m-1")["_source"] == doc


def test_a_namespace_of_its_own(engine: Engine, namespace: str) -> None:
    actions = run_setup(engine, SetupConfig(namespace=namespace))
    created = {a.name for a in actions if a.action == "created"}
    assert created >= {f"logs-mlsiem.inference-{namespace}", f"mlsiem-alerts-{namespace}"}
    assert engine.exists(f"/_alias/mlsiem-alerts-{namespace}")


def test_a_changed_template_is_updated_in_place(installed: list, engine: Engine) -> None:
    """A stored template from an older release (different body and fingerprint) is replaced, and the live
    data stream gets the current mapping back without losing its documents."""
    path = "/_component_template/mlsiem-drift-mappings"
    stored = engine.request("GET", path)["component_templates"][0]["component_template"]
    old = {
        "template": {"mappings": {"properties": {"@timestamp": {"type": "date"}}}},
        "_meta": {**stored["_meta"], "mlsiem_fingerprint": "older-release"},
    }
    engine.request("PUT", path, body=old)
    actions = {(a.kind, a.name): a.action for a in run_setup(engine, SetupConfig(namespace=NS))}
    assert actions[("component template", "mlsiem-drift-mappings")] == "updated"
    assert actions[("data stream", f"metrics-mlsiem.drift-{NS}")] == "updated"
    restored = engine.request("GET", path)["component_templates"][0]["component_template"]
    assert restored == stored
    again = run_setup(engine, SetupConfig(namespace=NS))
    assert all(a.action in ("unchanged", "skipped") for a in again)
