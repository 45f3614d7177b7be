"""The ECS layer against ECS 9.4 itself: types, namespaces, allowed values, and models vs. mappings.

ECS comes from the vendored field table (`mlsiem/ecs/ecs_fields.json`, see `mlsiem.ecs.reference`).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from mlsiem.ecs import (
    DOCUMENT_KINDS,
    DOCUMENT_MODELS,
    ECS_TYPE_DEVIATIONS,
    ECS_VERSION,
    EventCategory,
    EventKind,
    EventOutcome,
    EventType,
    fields_for,
    label_from_severity,
    mapping_for,
    nest_properties,
    severity_from_label,
)
from mlsiem.ecs.fields import CASELESS_SUBFIELD, FieldSpec
from mlsiem.ecs.reference import EcsField, ecs_fields, render

# Not in ECS 9.4 but in its next release; the only non-ECS name allowed outside `mlsiem.*`.
NEXT_ECS_FIELDS = {"gen_ai.provider.name"}
# Objects whose keys are free: the model holds a dict, the mapping an open object.
FREE_OBJECTS = {"labels", "mlsiem.features"}

T0 = "2025-03-01T12:00:00Z"
T1 = "2025-03-01T12:05:00Z"

EXAMPLES: dict[str, dict[str, Any]] = {
    "inference": {
        "@timestamp": T0,
        "message": "predict fraud-scorer",
        "tags": ["prod"],
        "labels": {"team": "risk", "shard": 3},
        "ecs": {"version": "9.4.0"},
        "data_stream": {"type": "logs", "dataset": "mlsiem.inference", "namespace": "default"},
        "event": {
            "kind": "event", "category": ["api"], "type": ["info"], "outcome": "success",
            "dataset": "mlsiem.inference", "module": "mlsiem", "action": "predict", "provider": "litellm",
            "code": "200", "id": "evt-1", "created": T0, "ingested": T1, "sequence": 7, "hash": "ab12",
            "original": '{"raw": true}', "duration": 1_500_000, "reason": "scheduled", "start": T0, "end": T1,
        },
        "service": {"name": "fraud-api", "version": "1.2.0", "environment": "prod"},
        "host": {"name": "inf-1", "ip": ["10.0.0.5", "fe80::1"]},
        "source": {"ip": "203.0.113.9"},
        "client": {"ip": "198.51.100.7"},
        "user": {"id": "u-1", "name": "alice", "group": {"id": "g-1", "name": "risk-team"}},
        "organization": {"id": "org-1", "name": "Acme"},
        "user_agent": {"original": "python-requests/2.31"},
        "http": {"request": {"method": "POST"}, "response": {"status_code": 200}},
        "url": {"path": "/v1/chat/completions"},
        "error": {"type": "Timeout", "code": "504", "message": "upstream timed out"},
        "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
        "span": {"id": "00f067aa0ba902b7"},
        "log": {"file": {"path": "/var/log/inference.jsonl"}},
        "gen_ai": {
            "provider": {"name": "openai"}, "system": "openai", "operation": {"name": "chat"},
            "request": {"model": "gpt-4o", "max_tokens": 256, "temperature": 0.2},
            "response": {"id": "chatcmpl-1", "model": "gpt-4o-2024-08-06", "finish_reasons": ["stop"]},
            "usage": {"input_tokens": 120, "output_tokens": 40},
        },
        "mlsiem": {
            "model": {"name": "fraud-scorer", "version": "7", "type": "classification"},
            "prediction": {"label": "fraud", "score": 0.93, "value": 1.0},
            "ground_truth": {"label": "fraud", "value": 1.0},
            "features": {"amount": 120.5, "country": "DE", "is_new": True, "items": 3},
            "features_dropped": 2,
            "llm": {
                "prompt": "Summarise the ticket", "completion": "The customer asks ...", "prompt_length": 20,
                "prompt_sha256": "e3b0c44298fc1c149afbf4c8996fb924", "cost_usd": 0.0012, "cache_hit": False,
                "guardrail": {"action": "allowed", "policies": ["pii"]},
            },
            "source": {"format": "litellm"},
            "log": {"offset": 4096},
        },
    },
    "pipeline": {
        "@timestamp": T0,
        "message": "model deployed",
        "tags": ["release"],
        "labels": {"ticket": "CHG-1"},
        "ecs": {"version": "9.4.0"},
        "data_stream": {"type": "logs", "dataset": "mlsiem.pipeline", "namespace": "default"},
        "event": {
            "kind": "event", "category": ["configuration"], "type": ["change"], "outcome": "success",
            "dataset": "mlsiem.pipeline", "module": "mlsiem", "action": "model_deployed", "provider": "ci",
            "code": "0", "id": "evt-2", "created": T0, "ingested": T1, "sequence": 1, "hash": "cd34",
            "original": "deployed", "duration": 9_000_000_000, "reason": "release", "start": T0, "end": T1,
        },
        "service": {"name": "fraud-api", "version": "1.2.0", "environment": "prod"},
        "host": {"name": "ci-1", "ip": ["10.0.1.2"]},
        "source": {"ip": "10.0.1.2"},
        "user": {"id": "u-2", "name": "bob", "group": {"id": "g-2", "name": "ml-platform"}},
        "error": {"type": "None", "code": "0", "message": "none"},
        "trace": {"id": "5bf92f3577b34da6a3ce929d0e0e4736"},
        "log": {"file": {"path": "/var/log/pipeline.jsonl"}},
        "mlsiem": {
            "model": {"name": "fraud-scorer", "version": "7", "type": "classification"},
            "pipeline": {"name": "fraud-train", "run_id": "run-42", "stage": "deploy"},
            "deployment": {"approved": False},
            "source": {"format": "native"},
            "log": {"offset": 128},
        },
    },
    "drift": {
        "@timestamp": T1,
        "message": "psi on amount",
        "tags": ["drift"],
        "labels": {"job": "hourly"},
        "ecs": {"version": "9.4.0"},
        "data_stream": {"type": "metrics", "dataset": "mlsiem.drift", "namespace": "default"},
        "event": {
            "kind": "metric", "category": ["api"], "type": ["info"], "outcome": "success",
            "dataset": "mlsiem.drift", "module": "mlsiem", "action": "drift_measured", "provider": "detector",
            "code": "psi", "id": "drift-1", "created": T1, "ingested": T1, "sequence": 3, "hash": "ef56",
            "original": "n/a", "duration": 2_000_000, "reason": "window closed", "start": T0, "end": T1,
        },
        "service": {"name": "fraud-api", "version": "1.2.0", "environment": "prod"},
        "mlsiem": {
            "model": {"name": "fraud-scorer", "version": "7", "type": "classification"},
            "drift": {
                "metric": "psi", "score": 0.31, "threshold": 0.2, "p_value": 0.001, "feature": "amount",
                "reference_size": 10_000, "current_size": 2_500, "drifted": True, "severity": "high",
                "window_start": T0, "window_end": T1, "baseline_id": "fraud-scorer@7",
            },
        },
    },
    "alert": {
        "@timestamp": T1,
        "message": "Prompt injection attempts from one source",
        "tags": ["atlas.aml.t0051"],
        "labels": {"rule_pack": "core"},
        "ecs": {"version": "9.4.0"},
        "event": {
            "kind": "alert", "category": ["intrusion_detection"], "type": ["indicator"], "outcome": "unknown",
            "dataset": "mlsiem.alerts", "module": "mlsiem", "action": "rule_matched", "provider": "sigma",
            "code": "llm-001", "id": "alert-1", "created": T1, "ingested": T1, "sequence": 1, "hash": "0a1b",
            "original": "n/a", "duration": 300_000_000_000, "reason": "5 injections in 5m", "start": T0,
            "end": T1, "severity": 73, "risk_score": 73.0,
        },
        "rule": {
            "id": "llm-001", "name": "Prompt injection burst", "category": "security", "ruleset": "core",
            "version": "1", "description": "Many prompt injection markers", "author": ["mlsiem"],
            "reference": "https://atlas.mitre.org/techniques/AML.T0051",
        },
        "threat": {
            "framework": "MITRE ATLAS",
            "technique": {
                "id": ["AML.T0051"], "name": ["LLM Prompt Injection"],
                "reference": ["https://atlas.mitre.org/techniques/AML.T0051"],
            },
            "tactic": {
                "id": ["AML.TA0005"], "name": ["Execution"],
                "reference": ["https://atlas.mitre.org/tactics/AML.TA0005"],
            },
        },
        "service": {"name": "chat-api", "version": "2.0.0", "environment": "prod"},
        "host": {"name": "inf-2", "ip": ["10.0.0.6"]},
        "source": {"ip": "203.0.113.9"},
        "client": {"ip": "198.51.100.7"},
        "user": {"id": "u-1", "name": "alice", "group": {"id": "g-1", "name": "risk-team"}},
        "mlsiem": {
            "alert": {
                "severity": "high", "tier": "act", "status": "open", "group_key": "source.ip=203.0.113.9",
                "occurrences": 2, "first_seen": T0, "last_seen": T1,
                "playbook": "## What it means\nRepeated probing of the decision boundary.",
            },
            "model": {"name": "support-bot", "version": "3", "type": "llm"},
            "pipeline": {"name": "bot-release", "run_id": "run-9", "stage": "serve"},
            "drift": {
                "metric": "psi", "score": 0.4, "threshold": 0.2, "p_value": 0.01, "feature": "prompt_length",
                "reference_size": 5000, "current_size": 800, "top_features": ["prompt_length", "lang"],
            },
            "evidence": {
                "query": 'source.ip:"203.0.113.9" AND event.dataset:"mlsiem.inference"',
                "event_count": 5,
                "sample_event_ids": ["evt-1", "evt-3"],
            },
            "quality": {
                "check": "missing", "feature": "prompt_length", "reference_value": "0",
                "current_value": "0.4", "p_value": 1e-20,
            },
            "anomaly": {
                "method": "isolation_forest", "score": 1.7, "outlier_share": 0.03, "expected_share": 0.01,
                "top_sources": ["203.0.113.9 (38 of 41)"],
            },
            "slo": {"name": "latency", "objective": 0.99, "burn_rate": 15.2, "window": "1h/5m"},
        },
    },
}  # fmt: skip


# ----------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def ecs() -> dict[str, EcsField]:
    """ECS 9.4's fields (all of them, trimmed to type, multi-fields and allowed values)."""
    return ecs_fields()


def mapping_leaves(properties: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapped field (objects with sub-properties are descended into, open objects are leaves)."""
    for name, body in properties.items():
        path = f"{prefix}{name}"
        if body.get("properties"):
            yield from mapping_leaves(body["properties"], f"{path}.")
        else:
            yield path, body


def multi_fields(properties: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, body in mapping_leaves(properties):
        for sub, sub_body in body.get("fields", {}).items():
            yield path, sub, sub_body


def _types_in(annotation: Any) -> Iterator[Any]:
    """Unwrap Optional, unions, Annotated and list[...] down to the element types."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _types_in(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            yield from _types_in(arg)
    else:
        yield annotation


def model_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted names of every field the model can emit, by alias."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        found = list(_types_in(info.annotation))
        submodels = [t for t in found if isinstance(t, type) and issubclass(t, BaseModel)]
        for submodel in submodels:
            paths |= model_paths(submodel, f"{path}.")
        if not submodels:
            paths.add(path)
    return paths


def document_paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in FREE_OBJECTS:
            paths |= document_paths(value, f"{path}.")
        else:
            paths.add(path)
    return paths


def dotted_keys(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, list):
        return [key for item in value for key in dotted_keys(item, prefix)]
    if not isinstance(value, dict):
        return []
    found = [f"{prefix}{key}" for key in value if "." in key]
    for key, item in value.items():
        found += dotted_keys(item, f"{prefix}{key}.")
    return found


# ------------------------------------------------------------------------------------ mapping vs ECS


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_ecs_fields_have_ecs_types(ecs: dict[str, EcsField], kind: str) -> None:
    wrong = []
    for path, body in mapping_leaves(mapping_for(kind)["properties"]):
        if path not in ecs and path not in ECS_TYPE_DEVIATIONS:
            continue
        expected = ECS_TYPE_DEVIATIONS[path][1] if path in ECS_TYPE_DEVIATIONS else ecs[path]["type"]
        if body.get("type", "object") != expected:
            wrong.append(f"{path}: mapped {body.get('type', 'object')}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_deviations_name_real_ecs_fields(ecs: dict[str, EcsField]) -> None:
    for path, (ecs_type, our_type, reason) in ECS_TYPE_DEVIATIONS.items():
        assert reason, path
        if path in NEXT_ECS_FIELDS:
            assert path not in ecs, f"{path} is in this ECS release now: drop the deviation"
            continue
        assert path in ecs, f"{path} is not an ECS field, it cannot deviate from ECS"
        assert ecs[path]["type"] == ecs_type, f"{path}: ECS type is {ecs[path]['type']}, not {ecs_type}"
        assert our_type != ecs_type, f"{path}: not a deviation"


def test_deviations_are_used() -> None:
    """A listed deviation that no mapping contains is stale."""
    mapped = {path for kind in DOCUMENT_KINDS for path in fields_for(kind)}
    assert set(ECS_TYPE_DEVIATIONS) <= mapped


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_non_ecs_fields_are_namespaced(ecs: dict[str, EcsField], kind: str) -> None:
    stray = [
        path
        for path, _ in mapping_leaves(mapping_for(kind)["properties"])
        if path not in ecs and path not in NEXT_ECS_FIELDS and not path.startswith(("mlsiem.", "labels."))
    ]
    assert not stray, f"fields outside ECS must live under mlsiem.*: {stray}"


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_multi_fields_are_ecs_multi_fields(ecs: dict[str, EcsField], kind: str) -> None:
    """ECS's own multi-fields, plus our lowercase `caseless` keyword that detection rules match on.
    Fields under `mlsiem.*` are the project's own namespace: their multi-fields are not ECS's to say."""
    for path, sub, body in multi_fields(mapping_for(kind)["properties"]):
        if path.startswith("mlsiem."):
            continue
        declared = dict(ecs.get(path, {}).get("multi_fields", {}))
        declared[CASELESS_SUBFIELD] = "keyword"
        assert declared.get(sub) == body["type"], f"{path}.{sub}: not an ECS multi-field of that type"


def test_no_engine_specific_types() -> None:
    """`flattened` is Elasticsearch-only, `flat_object` OpenSearch-only."""
    for kind in DOCUMENT_KINDS:
        for path, body in mapping_leaves(mapping_for(kind)["properties"]):
            assert body.get("type") not in {"flattened", "flat_object", "constant_keyword"}, path


def test_mapping_shape() -> None:
    for kind in DOCUMENT_KINDS:
        mapping = mapping_for(kind)
        assert mapping["dynamic"] is False
        assert mapping["properties"]["labels"] == {"type": "object", "dynamic": True}
        has_features = any(
            "mlsiem.features" in next(iter(t.values()))["path_match"] for t in mapping["dynamic_templates"]
        )
        assert has_features == (kind == "inference")
    features = mapping_for("inference")["properties"]["mlsiem"]["properties"]["features"]
    assert features == {"type": "object", "dynamic": True}
    with pytest.raises(ValueError, match="unknown document kind"):
        mapping_for("nope")  # type: ignore[arg-type]


def test_nest_properties_rejects_collisions() -> None:
    with pytest.raises(ValueError, match="leaf"):
        nest_properties({"a": FieldSpec("keyword"), "a.b": FieldSpec("keyword")})


# ------------------------------------------------------------------------------------ models vs mapping


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_model_fields_are_mapped(kind: str) -> None:
    leaves = {path for path, _ in mapping_leaves(mapping_for(kind)["properties"])}
    produced = model_paths(DOCUMENT_MODELS[kind])
    assert not produced - leaves, f"{kind}: the model emits unmapped fields {sorted(produced - leaves)}"
    assert not leaves - produced, f"{kind}: mapped fields no model field emits {sorted(leaves - produced)}"


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_round_trip_gives_nested_documents(kind: str) -> None:
    model = DOCUMENT_MODELS[kind]
    doc = model.model_validate(EXAMPLES[kind]).to_document()
    assert not dotted_keys(doc), f"dotted keys in {kind} document: {dotted_keys(doc)}"
    assert document_paths(doc) == model_paths(model), "the example must populate every field"
    assert doc["@timestamp"].endswith("Z")
    assert model.model_validate(doc).to_document() == doc


# --------------------------------------------------------------------------------------- allowed values


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("event.kind", EventKind),
        ("event.category", EventCategory),
        ("event.type", EventType),
        ("event.outcome", EventOutcome),
    ],
)
def test_literals_are_ecs_allowed_values(ecs: dict[str, EcsField], field: str, literal: Any) -> None:
    allowed = set(ecs[field]["allowed_values"])
    assert set(typing.get_args(literal)) == allowed


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
@pytest.mark.parametrize(
    ("field", "value"), [("kind", "bogus"), ("category", ["bogus"]), ("outcome", "maybe")]
)
def test_models_reject_values_outside_ecs(kind: str, field: str, value: Any) -> None:
    example = {**EXAMPLES[kind], "event": {**EXAMPLES[kind]["event"], field: value}}
    with pytest.raises(ValidationError):
        DOCUMENT_MODELS[kind].model_validate(example)


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("inference", ("mlsiem", "model", "type"), "forest"),
        ("inference", ("mlsiem", "llm", "guardrail", "action"), "maybe"),
        ("alert", ("mlsiem", "alert", "severity"), "urgent"),
        ("alert", ("rule", "category"), "misc"),
        ("alert", ("event", "severity"), 50),
        ("alert", ("event", "severity"), 21),  # valid tier, but not the one of `high`
        ("inference", ("event", "kind"), "alert"),
        ("inference", ("event", "surprise"), 1),
    ],
)
def test_models_enforce_design_enumerations(kind: str, path: tuple[str, ...], value: Any) -> None:
    example = _with(EXAMPLES[kind], path, value)
    with pytest.raises(ValidationError):
        DOCUMENT_MODELS[kind].model_validate(example)


def _with(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    if len(path) == 1:
        return {**doc, path[0]: value}
    return {**doc, path[0]: _with(doc[path[0]], path[1:], value)}


# ---------------------------------------------------------------------------------------- behaviour


def test_times_become_utc_with_z() -> None:
    local = datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    doc = DOCUMENT_MODELS["inference"](
        timestamp=local, event={"ingested": datetime(2025, 3, 1, 12, 0)}
    ).to_document()
    assert doc["@timestamp"] == "2025-03-01T12:00:00Z"
    assert doc["event"]["ingested"] == "2025-03-01T12:00:00Z"
    assert doc["event"]["dataset"] == "mlsiem.inference" and doc["event"]["category"] == ["api"]


def test_free_objects_are_cleaned() -> None:
    event = DOCUMENT_MODELS["inference"].model_validate(
        {
            "@timestamp": T0,
            "labels": {"k8s.pod": "a"},
            "mlsiem": {"features": {"user.age": 31, "missing": None, "nan": float("nan"), "ok": "x"}},
        }
    )
    doc = event.to_document()
    assert doc["labels"] == {"k8s_pod": "a"}
    assert doc["mlsiem"]["features"] == {"user_age": 31.0, "ok": "x"}


def test_alert_severity_filled_from_label() -> None:
    example = {**EXAMPLES["alert"], "event": {"kind": "alert", "category": ["api"]}}
    assert DOCUMENT_MODELS["alert"].model_validate(example).to_document()["event"]["severity"] == 73


def test_severity_helpers() -> None:
    assert [severity_from_label(x) for x in ("low", "medium", "high", "critical")] == [21, 47, 73, 99]
    assert [label_from_severity(x) for x in (0, 21, 22, 47, 73, 74, 99, 100)] == [
        "low", "low", "medium", "medium", "high", "critical", "critical", "critical",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        severity_from_label("urgent")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- the vendored table


def test_vendored_ecs_table_is_the_release_the_code_targets(ecs: dict[str, EcsField]) -> None:
    """The whole release (not only the mapped fields), with its source and licence named."""
    document = json.loads(resources.files("mlsiem.ecs").joinpath("ecs_fields.json").read_text("utf-8"))
    assert document["ecs_version"] == ECS_VERSION
    assert "elastic/ecs" in document["source"] and "Apache License 2.0" in document["license"]
    assert len(ecs) > 2000  # ECS 9.4 defines 2605 fields
    assert ecs["@timestamp"] == {"type": "date"}
    assert ecs["gen_ai.response.finish_reasons"]["type"] == "nested"
    assert "gen_ai.provider.name" not in ecs  # the next release's field: see NEXT_ECS_FIELDS


def test_vendored_table_is_what_the_generator_writes(ecs: dict[str, EcsField]) -> None:
    """Regenerating from the same fields gives the committed file byte for byte (no hand edits)."""
    committed = resources.files("mlsiem.ecs").joinpath("ecs_fields.json").read_text("utf-8")
    assert render(ecs) == committed
