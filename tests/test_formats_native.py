"""The native format (what the SDK writes): sample lines to the expected ECS documents."""

from __future__ import annotations

import json

from shipper.normalizer import NormalizeConfig
from tests.normalizing import assert_conforms, example_lines, get, normalize_lines, one


def test_example_file_gives_the_expected_documents() -> None:
    events, rejected = normalize_lines(example_lines("native.jsonl"))
    assert rejected == []
    assert len(events) == 6
    assert_conforms(events)

    fraud = one(events, event__id="0b9d6c1e-3a52-4c7e-9b1a-6f0f2b8c1d01")
    assert fraud["@timestamp"] == "2025-03-01T12:00:00.250000Z"
    assert fraud["event"]["dataset"] == "mlsiem.inference"
    assert fraud["data_stream"] == {"type": "logs", "dataset": "mlsiem.inference", "namespace": "default"}
    assert fraud["mlsiem"]["model"] == {"name": "fraud-scorer", "version": "7", "type": "classification"}
    assert fraud["mlsiem"]["features"] == {
        "amount": 120.5,
        "country": "DE",
        "is_new_customer": True,
        "items": 3,
    }
    assert fraud["mlsiem"]["prediction"] == {"label": "fraud", "score": 0.93}
    assert fraud["event"]["duration"] == 12_400_000
    assert fraud["event"]["outcome"] == "success"
    assert fraud["user"] == {"id": "u-1", "name": "alice"}
    assert fraud["source"]["ip"] == "203.0.113.9"
    assert fraud["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert fraud["span"]["id"] == "00f067aa0ba902b7"
    assert fraud["service"] == {"name": "fraud-api", "version": "1.4.0", "environment": "prod"}
    assert fraud["host"] == {"name": "inf-1"}
    assert fraud["mlsiem"]["source"] == {"format": "native"}
    assert fraud["log"]["file"]["path"] == "/var/log/test.jsonl"
    assert fraud["mlsiem"]["log"]["offset"] == 0

    llm = one(events, event__id="0b9d6c1e-3a52-4c7e-9b1a-6f0f2b8c1d02")
    assert llm["gen_ai"]["provider"]["name"] == llm["gen_ai"]["system"] == "openai"
    assert llm["gen_ai"]["usage"] == {"input_tokens": 812, "output_tokens": 64}
    assert llm["gen_ai"]["request"] == {"model": "gpt-4o", "max_tokens": 512, "temperature": 0.2}
    assert llm["gen_ai"]["response"]["finish_reasons"] == ["stop"]
    assert llm["mlsiem"]["model"] == {"name": "gpt-4o", "type": "llm"}
    assert llm["mlsiem"]["llm"]["guardrail"] == {"action": "blocked", "policies": ["prompt-injection"]}
    assert llm["event"]["type"] == ["denied"]
    assert "[REDACTED:email]" in llm["mlsiem"]["llm"]["prompt"]
    assert "evil@example.com" not in json.dumps(llm)

    regression = one(events, event__id="0b9d6c1e-3a52-4c7e-9b1a-6f0f2b8c1d03")
    assert regression["@timestamp"] == "2025-03-01T12:01:00.500000Z"  # epoch seconds
    assert regression["mlsiem"]["prediction"] == {"value": 412000.0}
    assert regression["mlsiem"]["ground_truth"] == {"value": 398000.0}
    assert regression["event"]["outcome"] == "failure" and regression["event"]["type"] == ["error"]
    assert regression["error"] == {"type": "Timeout", "code": "504", "message": "feature store timed out"}


def test_pipeline_events() -> None:
    events, _ = normalize_lines(example_lines("native.jsonl"))
    trained = one(events, event__action="training_completed")
    assert trained["event"]["dataset"] == "mlsiem.pipeline"
    assert trained["data_stream"]["dataset"] == "mlsiem.pipeline"
    assert trained["event"]["category"] == ["process"] and trained["event"]["type"] == ["end"]
    assert trained["event"]["outcome"] == "success"
    assert trained["event"]["duration"] == 3_600_000_000_000
    assert trained["mlsiem"]["pipeline"] == {"name": "fraud-train", "run_id": "run-42", "stage": "train"}
    assert trained["labels"] == {"dataset_version": "2025-02"}

    deployed = one(events, event__action="model_deployed")
    assert deployed["event"]["category"] == ["configuration"] and deployed["event"]["type"] == ["change"]
    assert deployed["mlsiem"]["deployment"] == {"approved": False}
    assert deployed["user"] == {"name": "mallory"}  # `actor` is the user
    assert deployed["service"] == {"environment": "prod"}
    assert "outcome" not in deployed["event"]

    failed = one(events, event__action="data_validation_failed")
    assert failed["event"]["outcome"] == "failure"
    assert failed["mlsiem"]["pipeline"] == {"name": "fraud-train", "run_id": "run-42", "stage": "validate"}


def test_short_forms_and_unknown_actions() -> None:
    lines = [
        {
            "type": "inference",
            "ts": "2025-03-01T12:00:00+02:00",
            "model": "m",
            "prediction": "yes",
            "user": "u",
        },
        {"type": "inference", "ts": 1740830400123, "model": "m", "prediction": True, "ground_truth": "no"},
        {"type": "pipeline", "ts": "2025-03-01T12:00:00Z", "action": "feature_store_changed"},
        {"type": "pipeline", "ts": "2025-03-01T12:00:00Z", "action": "shadow_test"},
    ]
    events, rejected = normalize_lines(lines)
    assert rejected == []
    assert_conforms(events)
    first, second, changed, other = (e.document for e in events)
    assert first["@timestamp"] == "2025-03-01T10:00:00.000000Z"  # converted to UTC
    assert first["mlsiem"]["prediction"] == {"label": "yes"} and first["user"] == {"name": "u"}
    assert second["@timestamp"] == "2025-03-01T12:00:00.123000Z"  # epoch milliseconds
    assert second["mlsiem"]["prediction"] == {"label": "true"}
    assert second["mlsiem"]["ground_truth"] == {"label": "no"}
    assert (changed["event"]["category"], changed["event"]["type"]) == (["configuration"], ["change"])
    assert (other["event"]["category"], other["event"]["type"]) == (["process"], ["info"])


def test_wrong_types_cost_the_field_not_the_event() -> None:
    line = {
        "type": "inference",
        "ts": "2025-03-01T12:00:00Z",
        "model": {"name": "m", "type": "tree"},  # not an allowed model type
        "prediction": {"label": "a", "score": "high"},
        "latency_ms": -5,
        "user": ["not", "a", "user"],
        "outcome": "meh",
        "llm": {"provider": "p", "input_tokens": 2**40, "output_tokens": "12", "cache_hit": "maybe"},
    }
    events, rejected = normalize_lines([line])
    assert rejected == []
    assert_conforms(events)
    doc = events[0].document
    assert doc["mlsiem"]["model"] == {"name": "m", "type": "llm"}  # the bad type is replaced by the default
    assert doc["mlsiem"]["prediction"] == {"label": "a"}
    assert doc["gen_ai"]["usage"] == {"output_tokens": 12}  # "12" is read, 2**40 is out of integer range
    assert "duration" not in doc["event"]
    assert set(doc["labels"]["malformed_fields"].split(",")) == {
        "mlsiem.model.type",
        "mlsiem.prediction.score",
        "event.duration",
        "user.name",
        "event.outcome",
        "gen_ai.usage.input_tokens",
        "mlsiem.llm.cache_hit",
    }


def test_features_keep_types_cap_and_count() -> None:
    features = {f"f{i}": i for i in range(250)} | {
        "flag": True,
        "nested": {"a": 1},
        "list": [1, 2],
        "gone": None,
    }
    line = {"type": "inference", "ts": "2025-03-01T12:00:00Z", "model": "m", "features": features}
    events, _ = normalize_lines([line], NormalizeConfig(max_features=200))
    mlsiem = events[0].document["mlsiem"]
    assert len(mlsiem["features"]) == 200
    assert mlsiem["features"]["f0"] == 0 and mlsiem["features"]["f199"] == 199
    assert mlsiem["features_dropped"] == 50 + 1 + 2  # beyond the cap, the bool, nested + list
    events, _ = normalize_lines([{**line, "features": {"a.b": 1.5, "flag": False, "c": "x"}}])
    assert events[0].document["mlsiem"]["features"] == {"a_b": 1.5, "flag": False, "c": "x"}
    assert_conforms(events)


def test_records_without_what_they_need_are_rejected_with_the_reason() -> None:
    cases = {
        '{"type": "inference", "model": "m"}': "native: no timestamp",
        '{"type": "inference", "ts": "yesterday"}': "native: `ts` is not a time",
        '{"type": "pipeline", "ts": "2025-03-01T12:00:00Z"}': "native: pipeline record needs an `action`",
        '{"type": "pipeline", "ts": "2025-03-01T12:00:00Z", "action": "Drop Table"}': "needs an `action`",
    }
    events, rejected = normalize_lines(list(cases), NormalizeConfig(format="native"))
    assert events == []
    for (line, reason), record in zip(cases.items(), rejected, strict=True):
        assert reason in record.reason
        assert record.raw == line
    assert get({"a": {"b": 1}}, "a.b") == 1
