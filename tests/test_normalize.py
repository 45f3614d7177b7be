"""The normalizer's contract: ids, limits, reasons, content policies, configuration, dead letters."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer, raw_too_deep
from shipper.records import Origin, Rejected
from tests.normalizing import MAPPINGS, assert_conforms, example_lines, normalize_lines

LINE = json.dumps(
    {"type": "pipeline", "ts": "2025-03-01T12:00:00Z", "action": "model_registered", "model": "m"}
)
ALL_EXAMPLES = (
    example_lines("native.jsonl")
    + example_lines("otlp-genai.jsonl")
    + example_lines("litellm.jsonl")
    + example_lines("mappings/classifier.jsonl")
)


def test_every_example_conforms_to_the_ecs_models_under_every_policy() -> None:
    for policy in ("full", "redacted", "hash", "none"):
        config = NormalizeConfig(content_policy=policy, mapping_file=MAPPINGS / "classifier.yaml")
        events, rejected = normalize_lines(ALL_EXAMPLES, config)
        assert rejected == []
        assert len(events) == 6 + 5 + 3 + 3
        assert_conforms(events)


def test_ids_are_deterministic() -> None:
    normalizer = Normalizer()
    first, _ = normalizer.normalize(LINE, Origin("file:a", 10))
    again, _ = Normalizer().normalize(LINE.encode(), Origin("file:a", 10))  # str or bytes: same id
    elsewhere, _ = normalizer.normalize(LINE, Origin("file:a", 99))
    other_file, _ = normalizer.normalize(LINE, Origin("file:b", 10))
    assert first[0].event_id == again[0].event_id
    assert first[0].document == again[0].document  # the whole document is deterministic too
    assert len({first[0].event_id, elsewhere[0].event_id, other_file[0].event_id}) == 3
    with_id = json.loads(LINE) | {"id": "evt-7"}
    own, _ = normalizer.normalize(json.dumps(with_id), Origin("file:a", 10))
    moved, _ = normalizer.normalize(json.dumps(with_id), Origin("stdin"))
    assert own[0].event_id == moved[0].event_id == "evt-7"  # the record's own id wins
    long_id, _ = normalizer.normalize(json.dumps(with_id | {"id": "x" * 600}), Origin("stdin"))
    assert long_id[0].event_id.startswith("h") and len(long_id[0].event_id) == 33


def test_common_fields() -> None:
    events, _ = normalize_lines(
        [LINE], NormalizeConfig(namespace="prod"), source="file:x", path="/logs/p.jsonl"
    )
    doc = events[0].document
    assert doc["ecs"] == {"version": "9.4.0"}
    assert doc["data_stream"] == {"type": "logs", "dataset": "mlsiem.pipeline", "namespace": "prod"}
    assert doc["event"]["dataset"] == "mlsiem.pipeline" and doc["event"]["module"] == "mlsiem"
    assert doc["log"] == {"file": {"path": "/logs/p.jsonl"}}
    assert doc["mlsiem"]["log"] == {"offset": 0} and doc["mlsiem"]["source"] == {"format": "native"}
    assert "ingested" not in doc["event"] and "original" not in doc["event"]
    assert events[0].kind == "pipeline"


def test_keep_original_is_redacted_unless_the_policy_is_full() -> None:
    line = json.dumps({"type": "inference", "ts": 1, "llm": {"prompt": "mail a@b.co"}})
    redacted, _ = normalize_lines([line], NormalizeConfig(keep_original=True))
    full, _ = normalize_lines([line], NormalizeConfig(keep_original=True, content_policy="full"))
    assert redacted[0].document["event"]["original"] == line.replace("a@b.co", "[REDACTED:email]")
    assert full[0].document["event"]["original"] == line
    assert_conforms(redacted + full)
    with pytest.raises(ValidationError, match="keep_original would store the prompts"):
        NormalizeConfig(keep_original=True, content_policy="hash")


def test_rejections_say_what_is_wrong() -> None:
    normalizer = Normalizer(NormalizeConfig(max_line_bytes=2048, max_depth=8))
    origin = Origin("file:x", 0)
    cases = {
        '{"type": "inference", "ts": 1,': "not JSON: unexpected end of data: line 1 column 31 (char 30)",
        '{"a": 1 "b": 2}': "not JSON: unexpected character, expected ',' or '}': line 1 column 9 (char 8)",
        "[1, 2]": "not a JSON object: the line holds an array",
        '"text"': "not a JSON object: the line holds a string",
        "null": "not a JSON object: the line holds null",
        '{"x": 1}': "format not recognised (keys: x)",
        "x" * 3000: "line too long: 3000 bytes, the limit is 2048 (max_line_bytes)",
        '{"type": "inference", "a": ' + "[" * 9 + "]" * 9 + "}": "nested deeper than 8 levels (max_depth)",
    }
    for line, reason in cases.items():
        events, rejected = normalizer.normalize(line, origin)
        assert events == []
        assert reason in rejected[0].reason, (line[:40], rejected[0].reason)
        assert rejected[0].raw == line and rejected[0].origin == origin
    assert normalizer.normalize("   ", origin) == ([], [])  # a blank line is no record
    ok, rejected = normalizer.normalize(
        '{"type": "inference", "ts": 1, "a": ' + "[" * 6 + "]" * 6 + "}", origin
    )
    assert len(ok) == 1 and rejected == []


def test_dict_records_from_the_forward_protocol() -> None:
    normalizer = Normalizer()
    record = {"type": "inference", "ts": "2025-03-01T12:00:00Z", "model": "m", 7: "non-string key"}
    events, rejected = normalizer.normalize(record, Origin("forward:mlsiem.inference"))
    assert rejected == [] and events[0].document["mlsiem"]["model"] == {"name": "m"}
    again, _ = normalizer.normalize(dict(record), Origin("forward:mlsiem.inference"))
    assert again[0].event_id == events[0].event_id
    events, rejected = normalizer.normalize(
        {"type": "pipeline", "ts": 1, "blob": b"\xff"}, Origin("forward:x")
    )
    assert events == [] and "needs an `action`" in rejected[0].reason and '"blob":"b' in rejected[0].raw
    nested: dict = {}
    node = nested
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    _, rejected = normalizer.normalize({"type": "inference", "ts": 1, "deep": nested}, Origin("forward:x"))
    assert "nested deeper than 64 levels" in rejected[0].reason


def test_undecodable_bytes_survive_in_the_rejection(tmp_path: Path) -> None:
    raw = b'{"type": "inference", "model": "\xff\xfe"}'
    _, rejected = Normalizer().normalize(raw, Origin("file:x", 5, "/x.jsonl"))
    assert "not JSON" in rejected[0].reason
    with DeadLetterWriter(tmp_path / "dead.ndjson") as letters:
        letters.write_all(rejected)
    line = json.loads((tmp_path / "dead.ndjson").read_text())
    assert line["raw"].encode("utf-8", "surrogateescape") == raw  # nothing lost
    assert (line["source"], line["offset"], line["path"]) == ("file:x", 5, "/x.jsonl")
    assert line["reason"] == rejected[0].reason and line["@timestamp"].endswith("Z")


def test_dead_letter_file_is_private_and_line_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dead.ndjson"
    writer = DeadLetterWriter(path)
    big = "y" * 200_000

    def write_many(tag: str) -> None:
        for index in range(50):
            writer.write(Rejected(f"reason {tag}{index}", big + tag, Origin("stdin")))

    threads = [threading.Thread(target=write_many, args=(tag,)) for tag in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    writer.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 200 == writer.count
    assert all(json.loads(line)["raw"] == big + json.loads(line)["reason"][7] for line in lines)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="format `mapping` needs mapping_file"):
        NormalizeConfig(format="mapping")
    with pytest.raises(ValidationError, match="mapping_file is only used with format"):
        NormalizeConfig(format="otlp", mapping_file=Path("x.yaml"))
    with pytest.raises(ValidationError, match="namespace 'Bad' is not valid"):
        NormalizeConfig(namespace="Bad")
    with pytest.raises(
        ValidationError, match="Input should be 'auto', 'native', 'otlp', 'litellm', 'mapping' or 'ecs'"
    ):
        NormalizeConfig(format="csv")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="content_policy"):
        NormalizeConfig(content_policy="some")  # type: ignore[arg-type]


def test_never_raises_even_on_a_bug() -> None:
    normalizer = Normalizer()

    def broken(record: dict, ctx: object) -> list:
        raise KeyError("sk-proj-ABCDEFGHIJKLMNOPQRSTUV")

    normalizer._converters["native"] = broken  # a converter bug must not stop the stream
    events, rejected = normalizer.normalize(LINE, Origin("stdin"))
    assert events == []
    assert rejected[0].reason == "internal error while normalizing: KeyError: '[REDACTED:openai_key]'"
    assert rejected[0].raw == LINE
    assert normalizer.normalize(12, Origin("stdin"))[1][0].reason == "not a record: int"  # type: ignore[arg-type]


def too_deep(value: Any, limit: int) -> bool:
    """The reference: whether objects/arrays nest deeper than `limit`, by walking the structure."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for item in node.values() if isinstance(node, dict) else node:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return False


def test_depth_on_the_raw_bytes_matches_the_structure() -> None:
    samples = [
        {"a": "]]]}}}", "b": [[{"c": '\\"[['}]]},
        [[[[]]], {"x": [[[["]"]]]]}],
        {"k[": {"\\": {"\\\\": ['"']}}},
    ]
    for value in samples:
        for encoded in (json.dumps(value).encode(), json.dumps(value, indent=2).encode()):
            for limit in range(1, 8):
                assert raw_too_deep(encoded, limit) == too_deep(value, limit), (encoded, limit)
