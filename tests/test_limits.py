"""Input limits: just under a limit passes intact, just over is cut (and marked) or dead-lettered with
the reason, and every cut or refusal is counted (stats, `--json`, Prometheus)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.normalize_cmd import normalize_config
from mlsiem.adapter import Engine
from mlsiem.ecs import InferenceEvent
from mlsiem.ecs.fields import mapping_for
from mlsiem.errors import ConfigError
from mlsiem.indices import inference_stream
from mlsiem.local_engine import LocalEngine
from mlsiem.templates import SetupConfig
from shipper.deadletter import DeadLetterWriter
from shipper.metrics import BoundedLabel, ShipperMetrics
from shipper.normalize.limits import DYNAMIC_FIELDS_BUDGET, LimitCounts, cut_text, too_many_fields
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig
from shipper.records import Normalized, Origin, Rejected
from shipper.sinks.file import FileSink
from shipper.sources.files import FileSource
from shipper.sources.registry import Registry
from tests.shipping import MAX_LINE_BYTES, ship_process

ORIGIN = Origin("test", 0, None)


def native(**extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "inference",
        "ts": "2026-11-25T10:00:00Z",
        "model": {"name": "credit-scorer", "version": "3", "type": "classification"},
        "prediction": {"label": "approve", "score": 0.5},
    }
    record.update(extra)
    return record


def llm(prompt: str) -> dict[str, Any]:
    return {
        "type": "inference",
        "ts": "2026-11-25T10:00:00Z",
        "model": {"name": "support-bot", "type": "llm"},
        "llm": {"provider": "openai", "model": "gpt-4o", "prompt": prompt, "completion": "ok"},
    }


def run(config: NormalizeConfig, raw: Any) -> tuple[list[Normalized], list[Rejected], LimitCounts]:
    events, rejected = Normalizer(config).normalize(raw, ORIGIN)
    counts = LimitCounts()
    counts.observe(events, rejected)
    return events, rejected, counts


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def cut_fields(event: Normalized) -> str | None:
    return (event.document.get("labels") or {}).get("truncated_fields")


# ------------------------------------------------------------------------------ limits that refuse


def test_line_length_at_the_limit_passes_one_byte_over_is_dead_lettered() -> None:
    config = NormalizeConfig(max_line_bytes=2048)
    base = line(native(user="x"))
    exact = base.replace(b'"user":"x"', b'"user":"' + b"x" * (2048 - len(base) + 1) + b'"')
    assert len(exact) == 2048
    events, rejected, counts = run(config, exact)
    assert len(events) == 1 and not rejected and counts.over_limit == {}
    over = exact.replace(b'"user":"', b'"user":"x')
    events, rejected, counts = run(config, over)
    assert (
        not events and rejected[0].reason == "line too long: 2049 bytes, the limit is 2048 (max_line_bytes)"
    )
    assert rejected[0].raw == over.decode()  # kept whole
    assert counts.over_limit == {"max_line_bytes": 1}


def nested(depth: int) -> dict[str, Any]:
    """A native record whose `labels` value nests so the whole record is `depth` levels deep."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return native(extra=value)


def test_depth_at_the_limit_passes_one_over_is_dead_lettered_from_bytes_and_from_dicts() -> None:
    config = NormalizeConfig(max_depth=8)
    for raw in (line(nested(8)), nested(8)):
        events, rejected, counts = run(config, raw)
        assert len(events) == 1 and not rejected and counts.over_limit == {}
    for raw in (line(nested(9)), nested(9)):
        events, rejected, counts = run(config, raw)
        assert not events and rejected[0].reason == "nested deeper than 8 levels (max_depth)"
        assert counts.over_limit == {"max_depth": 1}


def wide(fields: int) -> dict[str, Any]:
    """A native record with exactly `fields` distinct leaf fields."""
    record = native()
    base = next(n for n in range(64) if too_many_fields(record, n) is None)  # the fields it already has
    record["extra"] = {f"f{i}": i for i in range(fields - base)}
    assert too_many_fields(record, fields - 1) == fields and too_many_fields(record, fields) is None
    return record


def test_field_count_at_the_limit_passes_one_over_is_dead_lettered() -> None:
    config = NormalizeConfig(max_fields=100)
    for raw in (line(wide(100)), wide(100)):
        events, rejected, counts = run(config, raw)
        assert len(events) == 1 and not rejected and counts.over_limit == {}
    for raw in (line(wide(101)), wide(101)):
        events, rejected, counts = run(config, raw)
        assert not events
        assert rejected[0].reason == "too many fields: more than 100 distinct leaf fields (max_fields)"
        assert counts.over_limit == {"max_fields": 1}


def test_array_elements_share_their_paths_so_a_big_batch_is_not_wide() -> None:
    spans = [
        {"traceId": f"{i:032x}", "attributes": [{"key": "k", "value": {"intValue": i}}]} for i in range(500)
    ]
    record = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    assert too_many_fields(record, 16) is None
    assert too_many_fields({"a": [1, 2, {"b": 1}, {"c": [1]}], "d": {}}, 4) is None  # a, a.b, a.c, d
    assert too_many_fields({"a": [1, 2, {"b": 1}, {"c": [1]}], "d": {}}, 3) == 4


# ------------------------------------------------------------------------------ limits that cut


def test_features_at_the_cap_pass_intact_one_more_keeps_the_first_names_in_sorted_order() -> None:
    config = NormalizeConfig(max_features=10)
    names = [f"f{i:02d}" for i in range(11)]
    events, _, counts = run(config, line(native(features={n: 1.0 for n in reversed(names[:10])})))
    assert sorted(events[0].document["mlsiem"]["features"]) == names[:10]
    assert cut_fields(events[0]) is None and counts.truncated == {}
    events, rejected, counts = run(config, line(native(features={n: 1.0 for n in reversed(names)})))
    mlsiem = events[0].document["mlsiem"]
    assert not rejected
    assert sorted(mlsiem["features"]) == names[:10] and mlsiem["features_dropped"] == 1
    assert cut_fields(events[0]) == "mlsiem.features"
    assert counts.truncated == {"max_features": 1}
    InferenceEvent.model_validate(events[0].document)


def test_labels_at_the_cap_pass_intact_one_more_keeps_the_first_names_in_sorted_order() -> None:
    config = NormalizeConfig(max_labels=5)
    events, _, counts = run(config, line(native(labels={f"l{i}": "v" for i in range(5)})))
    assert len(events[0].document["labels"]) == 5 and counts.truncated == {}
    events, _, counts = run(config, line(native(labels={f"l{i}": "v" for i in reversed(range(6))})))
    labels = events[0].document["labels"]
    assert labels == {**{f"l{i}": "v" for i in range(5)}, "truncated_fields": "labels"}
    assert counts.truncated == {"max_labels": 1}
    InferenceEvent.model_validate(events[0].document)


def test_a_prompt_at_the_limit_passes_intact_one_character_more_is_cut_after_redaction() -> None:
    config = NormalizeConfig(max_string_chars=1024)
    events, _, counts = run(config, line(llm("p" * 1024)))
    assert events[0].document["mlsiem"]["llm"]["prompt"] == "p" * 1024 and counts.truncated == {}
    events, _, counts = run(config, line(llm("p" * 1025)))
    document = events[0].document
    assert document["mlsiem"]["llm"]["prompt"] == "p" * 1024
    assert document["mlsiem"]["llm"]["prompt_length"] == 1025  # the original's length and hash stay
    assert cut_fields(events[0]) == "mlsiem.llm.prompt"
    assert counts.truncated == {"max_string_chars": 1}
    InferenceEvent.model_validate(document)


def test_a_cut_never_leaves_half_a_secret_or_half_a_marker() -> None:
    config = NormalizeConfig(max_string_chars=1024)
    secret = "sk-proj-" + "a1B2" * 12
    prompt = "p" * 1010 + " " + secret + " tail"  # the secret, and then its marker, straddle the cut
    events, _, _ = run(config, line(llm(prompt)))
    kept = events[0].document["mlsiem"]["llm"]["prompt"]
    assert kept == "p" * 1010 + " "  # cut before the marker: neither half a secret nor half a marker
    assert cut_text("ab [REDACTED:email] cd", 10) == "ab "
    assert cut_text("ab [REDACTED:email] cd", 19) == "ab [REDACTED:email]"
    assert cut_text("ab [REDACTED:email] cd", 18) == "ab "
    assert cut_text("ab [x] cd", 5) == "ab [x"


def test_a_megabyte_prompt_and_other_long_strings_are_cut_and_marked() -> None:
    config = NormalizeConfig()
    record = llm("word " * 190_000)  # with the user name, just under the 1 MiB line limit
    record["user"] = "u" * 70_000
    events, rejected, counts = run(config, line(record))
    document = events[0].document
    assert not rejected and len(document["mlsiem"]["llm"]["prompt"]) == 65_536
    assert document["user"]["name"] == "u" * 65_536
    assert cut_fields(events[0]) == "mlsiem.llm.prompt,user.name"
    assert counts.truncated == {"max_string_chars": 1}


def test_a_decoded_record_is_cut_without_changing_the_callers_dict() -> None:
    features = {"note": "n" * 2000, "x": 1.0}
    record = native(features=features)
    events, _, _ = run(NormalizeConfig(max_string_chars=1024), record)
    assert events[0].document["mlsiem"]["features"]["note"] == "n" * 1024
    assert features["note"] == "n" * 2000


def test_the_marker_cannot_be_forged_by_an_input_label() -> None:
    events, _, counts = run(
        NormalizeConfig(), line(native(labels={"truncated_fields": "features", "team": "a"}))
    )
    labels = events[0].document["labels"]
    assert "truncated_fields" not in labels and labels["team"] == "a"
    assert labels["malformed_fields"] == "labels.truncated_fields"
    assert counts.truncated == {}


# ------------------------------------------------------------------------------ configuration


def test_limits_are_validated_with_messages_naming_the_option() -> None:
    with pytest.raises(ConfigError, match=r"--max-labels: Input should be less than or equal to 1500"):
        normalize_config(max_labels=5000)
    with pytest.raises(
        ConfigError, match=r"--max-string-chars: Input should be greater than or equal to 1024"
    ):
        normalize_config(max_string_chars=10)
    with pytest.raises(ConfigError, match=r"max_features \(1000\) \+ max_labels \(600\) may be at most 1500"):
        normalize_config(max_features=1000, max_labels=600)


def test_the_shipper_cuts_before_the_engine_field_limit_would_reject() -> None:
    """Declared fields + every dynamic field one event may add stay under the template's limit."""

    def count(properties: dict[str, Any]) -> int:
        total = 0
        for spec in properties.values():
            total += 1 + len(spec.get("fields", {})) + count(spec.get("properties", {}))
        return total

    declared = count(mapping_for("inference")["properties"])
    assert declared + DYNAMIC_FIELDS_BUDGET + 2 < SetupConfig().total_fields_limit


# ------------------------------------------------------------------------------ counted everywhere


def limit_lines() -> list[bytes]:
    """One record per limit, each just over it under the defaults, plus one clean record."""
    return [
        line(native(features={f"f{i:03d}": float(i) for i in range(201)})),  # max_features
        line(native(labels={f"l{i:03d}": "v" for i in range(101)})),  # max_labels
        line(llm("x" * 65_537)),  # max_string_chars
        line(nested(65)),  # max_depth
        line(wide(1001)),  # max_fields
        line(native(user="u" * (1 << 20))),  # max_line_bytes
        line(native()),
    ]


EXPECTED_TRUNCATED = {"max_features": 1, "max_labels": 1, "max_string_chars": 1}
EXPECTED_OVER = {"max_depth": 1, "max_fields": 1, "max_line_bytes": 1}


def test_pipeline_counts_in_stats_and_prometheus(tmp_path: Path) -> None:
    log = tmp_path / "in.jsonl"
    log.write_bytes(b"\n".join(limit_lines()) + b"\n")
    metrics = ShipperMetrics()
    sink = FileSink(tmp_path / "out.ndjson")
    pipeline = Pipeline(
        [FileSource([str(log)], Registry(tmp_path / "registry.json"), max_line_bytes=MAX_LINE_BYTES)],
        Normalizer(NormalizeConfig()),
        sink,
        DeadLetterWriter(tmp_path / "dead.ndjson"),
        config=PipelineConfig(flush_interval=0.1),
        metrics=metrics,
    )
    stats = pipeline.run()
    sink.close()
    assert (stats.records, stats.shipped, stats.dead_lettered) == (7, 4, 3)
    assert stats.truncated == EXPECTED_TRUNCATED and stats.over_limit == EXPECTED_OVER
    assert stats.as_dict()["truncated"] == EXPECTED_TRUNCATED
    sample = metrics.registry.get_sample_value
    for limit in EXPECTED_TRUNCATED:
        assert sample("mlsiem_shipper_events_truncated_total", {"limit": limit}) == 1.0
    for limit in EXPECTED_OVER:
        assert sample("mlsiem_shipper_records_over_limit_total", {"limit": limit}) == 1.0


def test_metric_labels_from_data_are_capped() -> None:
    label = BoundedLabel(cap=3)
    assert [label(v) for v in ("a", "b", "a", "c", "d", "e", "b")] == [
        "a",
        "b",
        "a",
        "c",
        "other",
        "other",
        "b",
    ]


def test_normalize_json_summary_counts_each_limit(tmp_path: Path) -> None:
    log = tmp_path / "in.jsonl"
    log.write_bytes(b"\n".join(limit_lines()) + b"\n")
    dead = tmp_path / "dead.ndjson"
    command = [sys.executable, "-m", "mlsiem", "normalize", str(log), "--dead-letter", str(dead), "--json"]
    done = subprocess.run(command, capture_output=True, check=True, timeout=120)
    summary = json.loads(done.stderr)
    assert (summary["records"], summary["events"], summary["dead_lettered"]) == (7, 4, 3)
    assert summary["truncated"] == EXPECTED_TRUNCATED and summary["over_limit"] == EXPECTED_OVER
    assert len(done.stdout.splitlines()) == 4
    reasons = [json.loads(row)["reason"] for row in dead.read_text().splitlines()]
    assert [r[r.rindex("(") :] for r in reasons] == ["(max_depth)", "(max_fields)", "(max_line_bytes)"]


def test_ship_to_the_engine_stores_the_cut_event_marked_and_reports_the_counts(
    tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str
) -> None:
    log = tmp_path / "in.jsonl"
    log.write_bytes(b"\n".join(limit_lines()) + b"\n")
    dead = tmp_path / "dead.ndjson"
    proc = ship_process(tmp_path, local_engine.url, namespace, str(log), "--json", "--dead-letter", str(dead))
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert (summary["records"], summary["shipped"], summary["dead_lettered"]) == (7, 4, 3)
    assert summary["truncated"] == EXPECTED_TRUNCATED and summary["over_limit"] == EXPECTED_OVER
    stream = inference_stream(namespace)
    engine.refresh(stream)
    body = {"size": 10, "query": {"term": {"labels.truncated_fields": "mlsiem.features"}}}
    hits = engine.search(stream, body)["hits"]["hits"]
    assert len(hits) == 1
    source = hits[0]["_source"]
    assert len(source["mlsiem"]["features"]) == 200 and source["mlsiem"]["features_dropped"] == 1
    assert "f200" not in source["mlsiem"]["features"] and "f199" in source["mlsiem"]["features"]
    cut = engine.search(stream, {"size": 10, "query": {"exists": {"field": "labels.truncated_fields"}}})
    assert sorted(h["_source"]["labels"]["truncated_fields"] for h in cut["hits"]["hits"]) == [
        "labels",
        "mlsiem.features",
        "mlsiem.llm.prompt",
    ]
