"""Fuzz target: the record formats through the one entry point, `Normalizer.normalize(raw, origin)`.

Each input is one raw record (a JSON line) and goes through seven normalizers, so every format parser
sees every input: `auto` (with a mapping, keeping the original), `native`, `otlp` (all spans and log
records, not only GenAI ones), `litellm`, `mapping` (the KServe example mapping), `ecs` (relayed
documents, under the `hash` policy) and `auto` without a mapping; a record that decodes to an object
also goes in as a dict (the SDK's path). The contract: never raise, every non-blank record becomes
events or a `Rejected` with a reason (never the normalizer's "internal error" safety net), a rejected
record is kept whole, and every event validates against its ECS model and serializes. An input
counts as reported-bad when the `auto` normalizer rejects it (the fixed-format ones reject other
formats' records by design).

Seeds: the example files of every format (OTLP both as spans and as logs) and lines of the demo
scenario generator (classifier, pipeline, LiteLLM proxy, OTLP agent, incidents included), and the ECS
documents an edge shipper makes of a few of them (what a relay receives).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from demo.scenario import Rates, ScenarioConfig, generate
from fuzz.checks import check_records
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin

EXAMPLES = Path(__file__).resolve().parents[2] / "shipper" / "examples"
MAPPINGS = EXAMPLES / "mappings"


def _scenario_lines(per_file: int = 12) -> list[bytes]:
    rates = Rates(classifier_per_hour=100, llm_per_hour=100, agent_per_hour=20, pipeline_runs_per_hour=1)
    _, files = generate(ScenarioConfig(seed=3, hours=1, rates=rates))
    lines: list[bytes] = []
    for emitted in files.values():
        incidents = [e for e in emitted if e.incident is not None]
        ordinary = [e for e in emitted if e.incident is None]
        for group in (incidents, ordinary):
            step = max(1, len(group) // (per_file // 2))
            lines += [orjson.dumps(e.record) for e in group[::step][: per_file // 2]]
    return lines


def _example_lines() -> list[bytes]:
    names = (
        "native.jsonl",
        "otlp-genai.jsonl",
        "litellm.jsonl",
        "mappings/classifier.jsonl",
        "mappings/kserve.jsonl",
    )
    return [line for name in names for line in (EXAMPLES / name).read_bytes().splitlines() if line.strip()]


def _relayed(lines: list[bytes]) -> list[bytes]:
    edge = Normalizer(NormalizeConfig(content_policy="full", keep_original=True))
    documents = [e.document for line in lines for e in edge.normalize(line, Origin("file:edge", 7, "/x"))[0]]
    return [orjson.dumps(d) for d in documents[::4]]


SEEDS: list[bytes] = _example_lines() + _scenario_lines()
SEEDS += _relayed(SEEDS)

NORMALIZERS = (
    Normalizer(NormalizeConfig(mapping_file=MAPPINGS / "classifier.yaml", keep_original=True)),
    Normalizer(NormalizeConfig(format="native", content_policy="full")),
    Normalizer(NormalizeConfig(format="otlp", otlp_genai_only=False, content_policy="hash")),
    Normalizer(NormalizeConfig(format="litellm", content_policy="none")),
    Normalizer(NormalizeConfig(format="mapping", mapping_file=MAPPINGS / "kserve.yaml")),
    Normalizer(NormalizeConfig(format="ecs", content_policy="hash")),
    Normalizer(NormalizeConfig(max_depth=8, max_line_bytes=4096)),
)
ORIGIN = Origin("file:fuzz", 0, "/var/log/fuzz.jsonl")


def fuzz_one(data: bytes) -> None:
    data = data.replace(b"\n", b" ")  # one record is one line (a file source splits at newlines)
    for index, normalizer in enumerate(NORMALIZERS):
        events, rejected = normalizer.normalize(data, ORIGIN)
        check_records(data, events, rejected, report=index == 0)  # fixed formats refuse the others
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if record.__class__ is dict:
        events, rejected = NORMALIZERS[0].normalize(record, Origin("sdk"))
        check_records(record, events, rejected, report=False)
