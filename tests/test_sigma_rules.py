"""Every rule of the pack against its example events on the real engine, and the executor's hits.

All examples are indexed once into one namespace (module fixture); each rule is then one test.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from detections.sigma.executor import Executor, run_pack
from detections.sigma.pack import load_pack
from detections.sigma.queries import lucene
from detections.sigma.rule_tests import ExampleIndex, check_correlation, check_detection, index_examples
from mlsiem.adapter import Engine
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

PACK = load_pack()
RULE_NAMES = [r.name for r in PACK.rules]


@pytest.fixture(scope="module")
def setup(engine: Engine) -> tuple[Executor, ExampleIndex]:
    namespace = "sigma" + uuid.uuid4().hex[:8]
    run_setup(engine, SetupConfig(namespace=namespace))
    executor = Executor(engine, PACK)
    return executor, index_examples(engine, PACK, namespace)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_matches_exactly_its_positives(
    engine: Engine, setup: tuple[Executor, ExampleIndex], name: str
) -> None:
    executor, plan = setup
    rule = PACK.rule(name)
    if rule in PACK.correlations:
        result = check_correlation(engine, executor, plan, rule)  # type: ignore[arg-type]
    else:
        result = check_detection(engine, executor, plan, rule)  # type: ignore[arg-type]
    assert result.ok, result.problems
    assert result.checked >= 2


def _evidence(engine: Engine, index: str, query: str) -> list[dict[str, Any]]:
    body = {"size": 100, "sort": [{"@timestamp": "asc"}], "query": lucene(query)}
    return engine.search(index, body)["hits"]["hits"]


def test_detection_hits_carry_what_the_alert_needs(
    engine: Engine, setup: tuple[Executor, ExampleIndex]
) -> None:
    _executor, plan = setup
    rule = PACK.rule("llm_prompt_injection_direct")
    slot = plan.detections[str(rule.id)]
    result = run_pack(
        engine, plan.namespace, slot.start, slot.end, pack=PACK, rules=["llm_prompt_injection_direct"]
    )
    assert not result.errors
    hits = sorted(result.hits, key=lambda h: h.group["user.name"])
    assert [h.group for h in hits] == [
        {"user.name": "alice", "source.ip": "198.51.100.10"},
        {"user.name": "mallory", "source.ip": "198.51.100.10"},
    ]
    hit = hits[0]
    assert hit.rule.id == str(rule.id) and hit.rule.name == "llm_prompt_injection_direct"
    assert hit.rule.severity == "high" and hit.rule.kind == "detection"
    assert hit.rule.references and hit.rule.description.startswith("A prompt contains")
    assert [(t.id, t.name) for t in hit.rule.techniques] == [
        ("AML.T0051", "LLM Prompt Injection"),
        ("AML.T0051.000", "LLM Prompt Injection: Direct"),
    ]
    assert [(t.id, t.name) for t in hit.rule.tactics] == [("AML.TA0005", "Execution")]
    assert hit.event_count == 1 and hit.sample_event_ids == ("llm_prompt_injection_direct:pos:0",)
    assert hit.first_seen == hit.last_seen == slot.start
    assert hit.group_key == "user.name=alice|source.ip=198.51.100.10"
    assert (
        hit.fingerprint
        == run_pack(
            engine, plan.namespace, slot.start, slot.end, pack=PACK, rules=["llm_prompt_injection_direct"]
        )
        .hits[0]
        .fingerprint
    )
    found = _evidence(engine, hit.evidence_index, hit.evidence_query)
    assert [h["_source"]["event"]["id"] for h in found] == list(hit.sample_event_ids)


def test_correlation_hits_and_their_evidence(engine: Engine, setup: tuple[Executor, ExampleIndex]) -> None:
    executor, plan = setup
    rule = PACK.rule("llm_repeated_guardrail_blocks")
    slot = plan.scenarios[str(rule.id)][0]
    result = executor.run(plan.namespace, slot.start, slot.end, rules=[str(rule.id)])
    assert not result.errors and len(result.hits) == 1
    hit = result.hits[0]
    assert hit.group == {"user.name": "mallory"}
    assert hit.rule.kind == "correlation" and hit.rule.correlation_type == "event_count"
    assert hit.event_count == 5 and hit.value == 5
    assert hit.first_seen == slot.start and hit.last_seen == slot.start + timedelta(minutes=4)
    assert len(hit.sample_event_ids) == 5
    found = _evidence(engine, hit.evidence_index, hit.evidence_query)
    assert [h["_source"]["event"]["id"] for h in found] == list(hit.sample_event_ids)
    assert {h["_source"]["user"]["name"] for h in found} == {"mallory"}


def test_a_burst_is_reported_once_across_consecutive_runs(
    engine: Engine, setup: tuple[Executor, ExampleIndex]
) -> None:
    """Windows read one timespan back, but a burst belongs to the run in which its last event falls."""
    executor, plan = setup
    rule = PACK.rule("llm_repeated_guardrail_blocks")
    slot = plan.scenarios[str(rule.id)][0]
    cut = slot.start + timedelta(minutes=2)  # in the middle of the burst
    first = executor.run(plan.namespace, slot.start - timedelta(hours=1), cut, rules=[str(rule.id)])
    second = executor.run(plan.namespace, cut, slot.end + timedelta(minutes=5), rules=[str(rule.id)])
    assert first.hits == [] and [h.group for h in second.hits] == [{"user.name": "mallory"}]
    assert second.hits[0].first_seen == slot.start  # the look-back saw the part before the cut


def test_full_run_skips_building_blocks(engine: Engine, setup: tuple[Executor, ExampleIndex]) -> None:
    executor, plan = setup
    block = PACK.rule("llm_guardrail_blocked")
    slot = plan.detections[str(block.id)]
    result = executor.run(plan.namespace, slot.start, slot.end)
    assert not result.errors
    assert result.rules_run == sum(PACK.standalone(r) for r in PACK.detections) + len(PACK.correlations)
    assert all(h.rule.name != "llm_guardrail_blocked" for h in result.hits)
    assert executor.run_detection(block, plan.namespace, slot.start, slot.end)  # it does match on its own


def test_run_rejects_bad_windows(engine: Engine, setup: tuple[Executor, ExampleIndex]) -> None:
    from mlsiem.errors import ConfigError

    executor, plan = setup
    slot = plan.detections[str(PACK.detections[0].id)]
    with pytest.raises(ConfigError, match="not before"):
        executor.run(plan.namespace, slot.end, slot.start)
    with pytest.raises(ConfigError, match="time zone"):
        executor.run(plan.namespace, slot.start.replace(tzinfo=None), slot.end)
    with pytest.raises(ConfigError, match="namespace"):
        executor.run("Bad-NS", slot.start, slot.end)


# ------------------------------------------------------------------ exports, run on the same examples


def _labels(engine: Engine, index: str, query: dict[str, Any], rule_name: str) -> set[str]:
    body = {
        "size": 200,
        "query": {"bool": {"filter": [query, {"prefix": {"labels.mlsiem_example": f"{rule_name}:"}}]}},
    }
    return {h["_source"]["labels"]["mlsiem_example"] for h in engine.search(index, body)["hits"]["hits"]}


def test_kibana_lucene_rules_run_and_match_exactly_the_positives(
    engine: Engine, setup: tuple[Executor, ExampleIndex]
) -> None:
    from detections.sigma.export_kibana import kibana_rules

    _, plan = setup
    rules = {r["rule_id"]: r for r in kibana_rules(PACK)}
    for rule in PACK.detections:
        exported = rules[str(rule.id)]
        assert exported["language"] == "lucene" and exported["type"] == "query"
        index = exported["index"][0].replace("*", plan.namespace)
        matched = _labels(engine, index, lucene(exported["query"]), rule.name)
        assert matched == plan.detections[str(rule.id)].positives, rule.name


def _at(moment: Any) -> str:
    return str(int(moment.timestamp() * 1000))


def _render(search: dict[str, Any], period_end: Any, namespace: str) -> tuple[str, dict[str, Any]]:
    import json

    body = json.loads(json.dumps(search["query"]).replace("{{period_end}}", _at(period_end)))
    return ",".join(i.replace("*", namespace) for i in search["indices"]), body


def test_detection_monitors_fire_on_the_positives_only(
    engine: Engine, setup: tuple[Executor, ExampleIndex]
) -> None:
    from detections.sigma.export_opensearch import monitors

    _, plan = setup
    exported = monitors(PACK)
    for rule in PACK.detections:
        monitor = exported[rule.name]
        assert monitor["monitor_type"] == "query_level_monitor"
        slot = plan.detections[str(rule.id)]
        search = monitor["inputs"][0]["search"]
        # the positives sit at the start of the rule's slot, the negatives ten minutes later
        index, body = _render(search, slot.start + timedelta(seconds=299), plan.namespace)
        assert engine.search(index, body)["hits"]["total"]["value"] == len(slot.positives), rule.name
        index, body = _render(search, slot.start + timedelta(seconds=900), plan.namespace)
        assert engine.search(index, body)["hits"]["total"]["value"] == 0, rule.name


def test_correlation_monitors_select_the_firing_groups(
    engine: Engine, setup: tuple[Executor, ExampleIndex]
) -> None:
    """The bucket-level trigger's condition, run as a bucket_selector on the monitor's own search."""
    from detections.sigma.export_opensearch import monitors

    _, plan = setup
    exported = monitors(PACK)
    for rule in PACK.correlations:
        monitor = exported[rule.name]
        trigger = monitor["triggers"][0]["bucket_level_trigger"]
        condition = trigger["condition"]
        assert condition["parent_bucket_path"] == "composite_agg"
        for slot in plan.scenarios[str(rule.id)]:
            index, body = _render(monitor["inputs"][0]["search"], slot.end, plan.namespace)
            selector = {
                "bucket_selector": {"buckets_path": condition["buckets_path"], "script": condition["script"]}
            }
            body["aggregations"]["composite_agg"].setdefault("aggs", {})["trigger"] = selector
            buckets = engine.search(index, body)["aggregations"]["composite_agg"]["buckets"]
            fired = sorted(sorted(b["key"].items()) for b in buckets)
            expected = sorted(sorted((k, str(v)) for k, v in g.items()) for g in slot.fires)
            assert [[(k, str(v)) for k, v in f] for f in fired] == expected, (rule.name, slot.name)


# ------------------------------------------------------------------------------------ mlsiem rules test


def test_cli_rules_test_passes_and_cleans_up(engine: Engine, local_engine: Any) -> None:
    from typer.testing import CliRunner

    from cli import app

    args = ["rules", "test", "--url", local_engine.url, "--json"]
    args += ["--rule", "llm_prompt_injection_direct", "--rule", "llm_cost_harvesting"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [(r["rule"], r["ok"]) for r in report["results"]] == [
        ("llm_prompt_injection_direct", True),
        ("llm_cost_harvesting", True),
    ]
    assert not engine.exists(f"/_data_stream/logs-mlsiem.inference-{report['namespace']}")


def test_cli_rules_test_fails_on_a_wrong_example(local_engine: Any, tmp_path: Any) -> None:
    import shutil

    import yaml
    from typer.testing import CliRunner

    from cli import app
    from detections.sigma.pack import PACK_ROOT

    pack = tmp_path / "pack"
    shutil.copytree(PACK_ROOT, pack)
    examples = pack / "tests" / "llm_guardrail_blocked.yaml"
    data = yaml.safe_load(examples.read_text())
    data["negatives"].append({"mlsiem.llm.guardrail.action": "blocked"})  # a "negative" that matches
    examples.write_text(yaml.safe_dump(data))
    args = [
        "rules",
        "test",
        "--url",
        local_engine.url,
        "--pack",
        str(pack),
        "--rule",
        "llm_guardrail_blocked",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "negatives that matched" in result.output and "0 passed, 1 failed" in result.output
