"""A quick slice of the fuzzing (fuzz/README.md) for CI: every target in fuzz/targets/ over its seeds
plus mutated inputs from a fixed seed, zero failures allowed; property tests of the normalizer and the
YAML file reader; and the hostile files the long fuzz runs found, one regression test each."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detections.config import load_config
from fuzz.checks import check_records
from fuzz.emit import billion_laughs
from fuzz.harness import load_targets, run_target
from mlsiem.errors import ConfigError
from mlsiem.yamlfile import parse_yaml, read_yaml
from shipper.formats.mapping_config import load_mapping
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin
from tests.normalizing import MAPPINGS

TARGETS = load_targets()
# Mutated inputs per target: a few seconds each on a quiet machine (the Sigma target loads a pack per input).
INPUTS = {"formats": 1500, "mapping_files": 800, "detector_config": 800, "sigma_files": 60}
DEFAULT_INPUTS = 1500
BUDGET_SECONDS = 20.0  # a safety net on a loaded machine; the counts above normally finish first
MIN_MUTATED = 20  # even on a loaded machine, this many mutated inputs after the seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_its_seeds_and_mutations(name: str, tmp_path: Path) -> None:
    module = TARGETS[name]
    assert module.SEEDS and all(isinstance(seed, bytes) for seed in module.SEEDS)
    stats = run_target(
        name,
        module,
        len(module.SEEDS) + INPUTS.get(name, DEFAULT_INPUTS),
        seed=20261125,
        time_limit=10.0,
        findings=tmp_path,
        time_budget=BUDGET_SECONDS,
    )
    failures = "\n".join(p.with_suffix(".txt").read_text() for p in stats.saved)
    assert stats.failures == 0, failures
    assert stats.inputs >= len(module.SEEDS) + MIN_MUTATED
    if name != "forward":
        assert stats.ok > 0 and stats.reported > 0, stats.row()  # both outcomes were exercised


# -- properties of the normalizer ---------------------------------------------------------------------

NORMALIZER = Normalizer(NormalizeConfig(mapping_file=MAPPINGS / "classifier.yaml", keep_original=True))
KEYS = st.sampled_from(
    ["type", "ts", "model", "features", "prediction", "call_type", "startTime", "resourceSpans", "x", ""]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_become_events_or_a_reason(data: bytes) -> None:
    line = data.replace(b"\n", b" ")
    check_records(line, *NORMALIZER.normalize(line, Origin("file:test", 0)), report=False)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_becomes_events_or_a_reason(text: str) -> None:
    events, rejected = NORMALIZER.normalize(text, Origin("stdin"))
    check_records(text, events, rejected, report=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["inference", "pipeline", "other"]),
    st.dictionaries(KEYS | st.text(max_size=8), JSON_VALUES, max_size=8),
)
def test_records_of_any_shape_become_events_or_a_reason(kind: str, record: dict[str, Any]) -> None:
    record = {"type": kind, **record} if kind != "other" else record
    check_records(record, *NORMALIZER.normalize(record, Origin("sdk")), report=False)


def test_sdk_record_with_an_integer_beyond_64_bits_is_accounted_for() -> None:
    for record in ({"type": -(2**64)}, {"type": "inference", "ts": 1, "model": {"name": "m"}, "x": 2**70}):
        events, rejected = NORMALIZER.normalize(record, Origin("sdk"))
        check_records(record, events, rejected, report=False)


# -- properties of the YAML file reader ---------------------------------------------------------------

YAML_TEXT = st.text(alphabet=string.printable + "&*!|>-?:{}[]é\u2028", max_size=200)


@settings(max_examples=300, deadline=None)
@given(YAML_TEXT)
def test_yaml_text_loads_or_is_a_config_error_naming_the_file(text: str) -> None:
    try:
        parse_yaml(text, "test file t.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("test file t.yaml: ") and len(str(exc)) > len("test file t.yaml: ")


# -- regressions: hostile files the fuzz runs found ---------------------------------------------------

HOSTILE_FILES = {
    "not UTF-8": b"kind: inference\ntimestamp: ts\x93\n",
    "30 February": b"kind: inference\ntimestamp: 2026-02-30\n",
    "integer over 4300 digits": b"kind: inference\ntimestamp: " + b"1" * 5000 + b"\n",
    "tag the constructor cannot take": b"kind: !!bool maybe\ntimestamp: ts\n",
    "timestamp tag on text": b"kind: inference\ntimestamp: !!timestamp soon\n",
    "billion laughs": b"kind: inference\ntimestamp: ts\nfields: " + billion_laughs(9).encode() + b"\n",
    "self-reference": b"kind: inference\ntimestamp: &a [ts, *a]\n",
    "deep nesting": b"kind: inference\ntimestamp: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "python object tag": b"kind: !!python/object/apply:os.system [true]\ntimestamp: ts\n",
    "120,000 values": b"kind: inference\ntimestamp: ts\nx: [" + b"[]," * 120_000 + b"]\n",
    "25,000 one-key mappings": b"kind: inference\ntimestamp: ts\nx:\n" + b"  - name: s\n" * 25_000,
    "larger than 1 MiB": b"kind: inference\ntimestamp: ts\ndescription: " + b"x" * (1024 * 1024) + b"\n",
}


@pytest.mark.parametrize("problem", sorted(HOSTILE_FILES))
def test_hostile_mapping_file_is_a_config_error_naming_it(problem: str, tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_bytes(HOSTILE_FILES[problem])
    with pytest.raises(ConfigError, match=f"mapping file {path}: ."):
        load_mapping(path)


@pytest.mark.parametrize("problem", sorted(HOSTILE_FILES))
def test_hostile_detector_config_is_a_config_error_naming_it(problem: str, tmp_path: Path) -> None:
    path = tmp_path / "detect.yaml"
    path.write_bytes(HOSTILE_FILES[problem].replace(b"kind:", b"models:").replace(b"timestamp:", b"window:"))
    with pytest.raises(ConfigError, match=f"detector config {path}: ."):
        load_config(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"namespace: ' '\n", "namespace: .*namespace ' ' is not valid"),
        (b"1: x\n", "1: Keys should be strings"),
        (b"window: 99999999999999999999d\n", "window: .*is not a duration"),
        (b"window: 20s\nbucket: 15s\n", "window .* must hold at least two buckets"),
    ],
)
def test_detector_config_errors_name_the_file(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "detect.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"detector config {path}: {message}"):
        load_config(path)


def test_aliases_that_stay_small_still_load(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_bytes(b"base: &b {a: 1}\none: *b\ntwo: *b\n")
    assert read_yaml(path, "test file") == {"base": {"a": 1}, "one": {"a": 1}, "two": {"a": 1}}


# -- regressions: hostile rule pack files -------------------------------------------------------------

BARE_STRING_RULE = b"""title: Bare string in a condition
id: 5b0f7a52-0a51-4d43-9d0e-8f3c2c9f4f01
name: fuzz_bare_string
status: experimental
description: A selection the Lucene backend cannot express.
author: mlsiem
date: '2026-11-25'
tags: [atlas.aml.t0051]
logsource: {product: mlsiem, category: llm}
detection:
  selection: prompt|contains:] <|endoftext|>
  condition: selection
level: low
"""


def test_rule_the_backend_cannot_express_is_a_config_error(tmp_path: Path) -> None:
    from detections.sigma.convert import convert_pack
    from detections.sigma.pack import load_pack

    TARGETS["sigma_files"].build_pack(tmp_path)
    (tmp_path / "rules" / "llm" / "fuzz_rule.yml").write_bytes(BARE_STRING_RULE)
    with pytest.raises(ConfigError, match="converting the pack to esql: String value expressions"):
        convert_pack(load_pack(tmp_path), "esql")  # as the Kibana export does


def test_pipeline_field_mapping_to_nothing_is_a_config_error(tmp_path: Path) -> None:
    from detections.sigma.pack import load_pack

    TARGETS["sigma_files"].build_pack(tmp_path)
    pipeline = tmp_path / "pipelines" / "mlsiem.yaml"
    pipeline.write_text(pipeline.read_text().replace("mapping:\n", "mapping:\n      prompt_x: null\n", 1))
    with pytest.raises(ConfigError, match=f"processing pipeline {pipeline}: field mapping 'prompt_x'"):
        load_pack(tmp_path)


def test_rule_with_a_number_as_condition_is_a_config_error(tmp_path: Path) -> None:
    from detections.sigma.pack import load_pack

    TARGETS["sigma_files"].build_pack(tmp_path)
    rule = tmp_path / "rules" / "llm" / "fuzz_rule.yml"
    rule.write_bytes(BARE_STRING_RULE.replace(b"condition: selection", b"condition: 1"))
    with pytest.raises(ConfigError, match=f"Sigma rule file {rule}: detection.condition must be text, not"):
        load_pack(tmp_path)


def test_sdk_record_larger_than_max_line_bytes_is_refused_like_a_line() -> None:
    record = {"type": "inference", "ts": 1, "model": {"name": "m"}, "note": "1234 5678 " * 120_000}
    events, rejected = NORMALIZER.normalize(record, Origin("sdk"))
    assert not events and rejected[0].reason.startswith("record too long: ")
    assert rejected[0].reason.endswith("(max_line_bytes)")
