"""The YAML mapping format: the shipped KServe and classifier mappings, and clear errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsiem.errors import ConfigError
from shipper.formats.mapping_config import compile_path, load_mapping
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin
from tests.normalizing import MAPPINGS, assert_conforms, example_lines, normalize_lines, one


def mapping_config(name: str, fmt: str = "mapping") -> NormalizeConfig:
    return NormalizeConfig(format=fmt, mapping_file=MAPPINGS / name)  # type: ignore[arg-type]


def test_kserve_v1_and_v2_one_event_per_instance() -> None:
    events, rejected = normalize_lines(example_lines("mappings/kserve.jsonl"), mapping_config("kserve.yaml"))
    assert rejected == []
    assert [e.event_id for e in events] == [
        "5f2b7b0e-9d1c-4c55-a0a5-3b1b3c2d0e11-0",
        "5f2b7b0e-9d1c-4c55-a0a5-3b1b3c2d0e11-1",
        "9a0c41d2-1f7e-4bd8-9d5b-6a7e2c3f4a22-0",
    ]
    assert_conforms(events)
    first = events[0].document
    assert first["@timestamp"] == "2025-03-01T12:00:00.123456Z"
    assert first["mlsiem"]["model"] == {"name": "sklearn-iris", "type": "classification"}
    assert first["mlsiem"]["prediction"] == {"label": "versicolor"}  # class 1 through the `map`
    assert first["mlsiem"]["features"] == {
        "sepal_length": 6.8,
        "sepal_width": 2.8,
        "petal_length": 4.8,
        "petal_width": 1.4,
    }
    assert first["event"]["duration"] == 3_200_000  # latency_ms x 1e6
    assert first["service"] == {"name": "sklearn-iris", "environment": "prod"}
    assert first["source"] == {"ip": "203.0.113.9"} and first["user"] == {"name": "alice"}
    assert first["labels"]["component"] == "predictor"
    assert events[1].document["mlsiem"]["features"]["sepal_length"] == 6.0
    v2 = events[2].document
    assert v2["mlsiem"]["model"]["version"] == "v2"
    assert v2["mlsiem"]["prediction"] == {"label": "setosa"}
    assert v2["mlsiem"]["features"]["petal_width"] == 0.2


def test_classifier_mapping() -> None:
    events, rejected = normalize_lines(
        example_lines("mappings/classifier.jsonl"), mapping_config("classifier.yaml")
    )
    assert rejected == []
    assert_conforms(events)
    first = one(events, event__id="r-1001")
    assert first["mlsiem"]["prediction"] == {"label": "churn", "score": 0.83}
    assert first["mlsiem"]["features"]["autopay"] is True and first["mlsiem"]["features"]["plan"] == "pro"
    assert first["http"] == {"response": {"status_code": 200}}
    assert first["service"] == {"name": "churn-api"}
    second = one(events, event__id="r-1002")
    assert second["@timestamp"] == "2025-03-01T12:01:00.250000Z"
    assert second["mlsiem"]["ground_truth"] == {"label": "stay"}
    failed = one(events, event__id="r-1003")
    assert failed["@timestamp"] == "2025-03-01T11:01:30.000000Z"
    assert failed["event"]["outcome"] == "failure" and failed["event"]["type"] == ["error"]
    assert failed["error"] == {"message": "model timeout after 30s"}
    assert "prediction" not in failed["mlsiem"]


def test_an_empty_id_falls_back_to_the_content_id() -> None:
    line = json.loads(example_lines("mappings/classifier.jsonl")[0])
    normalizer = Normalizer(mapping_config("classifier.yaml"))
    blank = json.dumps({**line, "request_id": ""})
    [first], _ = normalizer.normalize(blank, Origin("file:x", 0))
    [again], _ = normalizer.normalize(blank, Origin("file:x", 0))
    assert first.event_id and first.event_id == again.event_id == first.document["event"]["id"]
    assert first.event_id != line["request_id"]


def test_auto_uses_the_mapping_for_lines_no_builtin_format_claims() -> None:
    lines = example_lines("mappings/classifier.jsonl")[:1] + example_lines("native.jsonl")[:1]
    events, rejected = normalize_lines(lines, mapping_config("classifier.yaml", fmt="auto"))
    assert rejected == []
    assert [e.document["mlsiem"]["source"]["format"] for e in events] == ["mapping", "native"]


def test_pipeline_mapping_and_labels(tmp_path: Path) -> None:
    mapping = tmp_path / "mlflow.yaml"
    mapping.write_text(
        "kind: pipeline\n"
        "timestamp: time\n"
        "fields:\n"
        "  event.action: {path: event, map: {promote: model_deployed}}\n"
        "  mlsiem.model.name: model\n"
        "  mlsiem.deployment.approved: approved\n"
        "  user.name: who\n"
        "  labels.stage: stage\n"
    )
    lines = [
        json.dumps(
            {
                "time": 1740830400,
                "event": "promote",
                "model": "m",
                "approved": "yes",
                "who": "bob",
                "stage": 2,
            }
        ),
        json.dumps({"time": 1740830400, "event": "Promote Now"}),
    ]
    events, rejected = normalize_lines(lines, NormalizeConfig(format="mapping", mapping_file=mapping))
    assert_conforms(events)
    doc = events[0].document
    assert doc["event"]["action"] == "model_deployed" and doc["event"]["category"] == ["configuration"]
    assert doc["mlsiem"]["deployment"] == {"approved": True}
    assert doc["labels"] == {"stage": 2}
    assert "event.action is missing or not a lower-case word" in rejected[0].reason


def test_wrong_types_and_missing_timestamps() -> None:
    lines = [
        json.dumps(
            {
                "ts": "2025-03-01T12:00:00Z",
                "request_id": "a",
                "output": {"proba": "high"},
                "http_status": 9e99,
            }
        ),
        json.dumps({"request_id": "b"}),
        json.dumps({"ts": "soon", "request_id": "c"}),
    ]
    events, rejected = normalize_lines(lines, mapping_config("classifier.yaml"))
    assert_conforms(events)
    assert (
        events[0].document["labels"]["malformed_fields"]
        == "http.response.status_code,mlsiem.prediction.score"
    )
    assert [r.reason for r in rejected] == [
        "mapping: timestamp (ts, time) is missing",
        "mapping: timestamp (ts, time) is not a time",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "timestamp: ts\nfields:\n  mlsiem.model.nme: model\n",
            "fields.mlsiem.model.nme: not a field of inference events (did you mean mlsiem.model.name?)",
        ),
        ("timestamp: ts\nfields:\n  event.id: x\n", "fields.event.id: set by mlsiem itself"),
        ("timestamp: ts\nfields:\n  user.name: a..b\n", "fields.user.name.path: path 'a..b': empty key"),
        ("timestamp: ts\nfields:\n  user.name: $row.name\n", "`$row` is not one of the explode names []"),
        ("timestamp: ts\nfields:\n  user.name: {path: a, value: b}\n", "fields.user.name: Value error, give"),
        ("kind: pipeline\ntimestamp: ts\n", "a pipeline mapping must set event.action"),
        ("fields: {}\n", "timestamp: Field required"),
        ("timestamp: ts\nkind: metrics\n", "kind: Input should be 'inference' or 'pipeline'"),
        ("timestamp: ts\nfeatures: {path: x, nmes: [a]}\n", "features.nmes: Extra inputs are not permitted"),
        ("timestamp: [ts\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping (key: value) at the top level"),
    ],
)
def test_bad_mappings_name_the_file_and_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        Normalizer(NormalizeConfig(format="mapping", mapping_file=path))
    assert str(error.value).startswith(f"mapping file {path}: ")
    assert message.replace("Value error, ", "") in str(error.value)


def test_unreadable_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mapping file .*missing.yaml: cannot read it"):
        load_mapping(tmp_path / "missing.yaml")


def test_path_syntax() -> None:
    assert compile_path('a.b[0]["c.d"].e') == ("a", "b", 0, "c.d", "e")
    assert compile_path("$row[1]") == ("$row", 1)
    for bad in ("a[0]b", "a.", ".a", "a.[0]", "a.$b", " a"):
        with pytest.raises(ValueError):
            compile_path(bad)
