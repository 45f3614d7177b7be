"""The Sigma rule pack on disk: coverage, validation (pySigma's and ours), ATLAS table, offline use."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from detections.sigma.atlas import Atlas, AtlasTable, technique_id_from_tag
from detections.sigma.checks import check_pack
from detections.sigma.convert import QueryBook, convert_pack
from detections.sigma.correlate import CorrelationPlan
from detections.sigma.docs_table import DOCS_FILE, docs_current, render, rules_table
from detections.sigma.examples import load_examples, to_document
from detections.sigma.pack import PACK_ROOT, load_pack
from mlsiem.ecs.fields import CASELESS_NORMALIZER, CASELESS_SUBFIELD, mapping_for
from mlsiem.errors import ConfigError
from mlsiem.templates import LOWERCASE_NORMALIZER

SIGMA = Path(sys.executable).with_name("sigma")

# The techniques the pack must cover (the issue's list), by ATLAS id.
REQUIRED_TECHNIQUES = {
    "AML.T0024", "AML.T0040", "AML.T0043", "AML.T0015", "AML.T0051", "AML.T0051.000", "AML.T0051.001",
    "AML.T0054", "AML.T0068", "AML.T0056", "AML.T0069", "AML.T0057", "AML.T0029", "AML.T0034", "AML.T0046",
    "AML.T0053", "AML.T0013", "AML.T0014",
}  # fmt: skip


@pytest.fixture(scope="module")
def pack():  # type: ignore[no-untyped-def]
    return load_pack()


def _techniques(pack) -> set[str]:  # type: ignore[no-untyped-def]
    return {tid for rule in pack.rules for t in rule.tags if (tid := technique_id_from_tag(str(t)))}


def test_pack_size_and_coverage(pack) -> None:  # type: ignore[no-untyped-def]
    assert len(pack.detections) >= 25
    assert len(pack.correlations) >= 8
    techniques = _techniques(pack)
    assert len({t for t in techniques if t.count(".") == 1}) >= 15, sorted(techniques)
    assert techniques >= REQUIRED_TECHNIQUES, sorted(REQUIRED_TECHNIQUES - techniques)
    categories = {pack.category(r) for r in pack.detections}
    assert categories == {"llm", "inference", "pipeline"}
    correlation_types = {c.type.name.lower() for c in pack.correlations}
    assert {"event_count", "value_count", "temporal"} <= correlation_types
    actions = {
        str(v)
        for r in pack.detections
        if pack.category(r) == "pipeline"
        for d in r.detection.detections.values()
        for item in d.detection_items
        if getattr(item, "field", None) == "action"
        for v in item.value
    }
    assert {
        "model_deployed",
        "logging_config_changed",
        "guardrail_changed",
        "data_validation_failed",
    } <= actions


def test_every_rule_has_the_metadata_analysts_need(pack) -> None:  # type: ignore[no-untyped-def]
    for rule in pack.rules:
        for attr in ("id", "title", "description", "author", "date", "level", "falsepositives", "references"):
            assert getattr(rule, attr), f"{rule.name}: {attr}"
        if rule in pack.detections:
            assert rule.logsource.product == "mlsiem"
            assert rule.logsource.category in ("inference", "llm", "pipeline")


def test_our_checks_find_no_issue(pack) -> None:  # type: ignore[no-untyped-def]
    assert check_pack(pack) == []


def test_sigma_cli_check_reports_zero_issues() -> None:
    """The real sigma-cli over the whole pack, with the project's validation config."""
    result = subprocess.run(
        [str(SIGMA), "check", "-c", str(PACK_ROOT / "validation.yaml"), str(PACK_ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found 0 errors, 0 condition errors and 0 issues." in result.stdout


def test_sigma_cli_converts_with_the_pipeline() -> None:
    result = subprocess.run(
        [str(SIGMA), "convert", "-t", "opensearch_lucene", "-p", str(PACK_ROOT / "pipelines" / "mlsiem.yaml"),
         str(PACK_ROOT / "rules" / "llm" / "llm_prompt_injection_direct.yml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mlsiem.llm.prompt.caseless:(*ignore\\ previous\\ instructions*" in result.stdout


def test_pipeline_targets_caseless_fields_with_lowercased_values(pack) -> None:  # type: ignore[no-untyped-def]
    book = QueryBook(pack, "opensearch")
    query = book.query(str(pack.rule("llm_system_prompt_extraction").id))
    assert query.startswith("mlsiem.llm.prompt.caseless:(")
    finish = book.query(str(pack.rule("llm_safety_finish_reason").id))
    assert "gen_ai.response.finish_reasons.caseless:(content_filter OR safety" in finish
    # exact vocabulary fields stay on the keyword itself
    assert book.query(str(pack.rule("llm_guardrail_blocked").id)) == "mlsiem.llm.guardrail.action:blocked"
    # Elasticsearch's Lucene backend gives the same queries for these rules
    es = QueryBook(pack, "elasticsearch")
    assert es.query(str(pack.rule("llm_guardrail_blocked").id)) == "mlsiem.llm.guardrail.action:blocked"


def test_caseless_subfields_use_the_index_normalizer() -> None:
    assert CASELESS_NORMALIZER == LOWERCASE_NORMALIZER
    prompt = mapping_for("inference")["properties"]["mlsiem"]["properties"]["llm"]["properties"]["prompt"]
    assert prompt["type"] == "text"
    assert prompt["fields"][CASELESS_SUBFIELD] == {
        "type": "keyword",
        "ignore_above": 8191,
        "normalizer": LOWERCASE_NORMALIZER,
    }
    agent = mapping_for("inference")["properties"]["user_agent"]["properties"]["original"]
    assert agent["type"] == "keyword" and set(agent["fields"]) == {"text", CASELESS_SUBFIELD}


def test_every_pipeline_target_is_a_mapped_field(pack) -> None:  # type: ignore[no-untyped-def]
    leaves: set[str] = set()

    def walk(props: dict, prefix: str = "") -> None:
        for name, body in props.items():
            if "properties" in body:
                walk(body["properties"], f"{prefix}{name}.")
            else:
                leaves.add(f"{prefix}{name}")
                leaves.update(f"{prefix}{name}.{sub}" for sub in body.get("fields", {}))

    for kind in ("inference", "pipeline"):
        walk(mapping_for(kind)["properties"])
    assert set(pack.field_map.values()) <= leaves, sorted(set(pack.field_map.values()) - leaves)


def test_esql_conversion_covers_every_correlation(pack) -> None:  # type: ignore[no-untyped-def]
    conversion = convert_pack(pack, "esql")
    assert not conversion.errors
    cost = conversion.results[str(pack.rule("llm_cost_harvesting").id)][0]
    assert cost.startswith("from logs-mlsiem.inference-*")
    assert "stats value_sum=sum(mlsiem.llm.cost_usd) by timebucket, user.name" in cost
    assert cost.endswith("| where value_sum >= 50")
    ordered = conversion.results[str(pack.rule("pipeline_deploy_after_validation_failure").id)][0]
    assert "first_seen=min(first_ts), last_seen=max(last_ts) by timebucket, mlsiem.model.name" in ordered
    assert ordered.endswith("and first_seen < last_seen")
    lucene = convert_pack(pack, "opensearch_lucene")
    assert set(lucene.errors) == {str(c.id) for c in pack.correlations}


def test_building_blocks_follow_the_generate_flag(pack) -> None:  # type: ignore[no-untyped-def]
    assert not pack.standalone(pack.rule("llm_guardrail_blocked"))  # only in a generate: false correlation
    assert pack.standalone(pack.rule("llm_prompt_injection_direct"))  # in a generate: true correlation
    assert pack.standalone(pack.rule("llm_secret_in_prompt"))  # in no correlation
    assert sum(pack.standalone(r) for r in pack.detections) >= 25


def test_docs_table_is_current(pack) -> None:  # type: ignore[no-untyped-def]
    assert docs_current(pack, DOCS_FILE), "run `mlsiem rules export --target docs`"
    table = rules_table(pack)
    assert table.count("\n") == len(pack.rules) + 2
    assert (
        "| `llm_prompt_injection_direct` | llm | AML.T0051 LLM Prompt Injection; AML.T0051.000 LLM " in table
    )
    stale = render(DOCS_FILE.read_text(), "| stale |\n")
    assert stale != DOCS_FILE.read_text()


# ------------------------------------------------------------------------------------------- ATLAS


def test_atlas_table_names_and_tactics(pack) -> None:  # type: ignore[no-untyped-def]
    atlas = pack.atlas
    assert atlas.technique("AML.T0051.000").name == "LLM Prompt Injection: Direct"
    assert [t.name for t in atlas.tactics_of("AML.T0051.000")] == ["Execution"]
    assert [t.id for t in atlas.tactics_of("AML.T0054")] == ["AML.TA0012", "AML.TA0007"]  # release order
    techniques, tactics = atlas.for_tags(["atlas.aml.t0024.002", "attack.t1552", "atlas.aml.t0040"])
    assert [t.id for t in techniques] == ["AML.T0024.002", "AML.T0040"]
    assert [t.name for t in tactics] == ["Exfiltration", "AI Model Access"]
    threat = atlas.threat(["atlas.aml.t0051", "atlas.aml.t0051.000", "attack.execution", "attack.t1059"])
    assert threat[0]["framework"] == "MITRE ATLAS"
    assert threat[0]["technique"][0]["subtechnique"] == [
        {
            "id": "AML.T0051.000",
            "name": "Direct",
            "reference": "https://atlas.mitre.org/techniques/AML.T0051.000/",
        }
    ]
    assert threat[1]["framework"] == "MITRE ATT&CK" and threat[1]["tactic"]["id"] == "TA0002"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tactics": {"AML.TA0005": "Execution", "TA5": "bad"}}, "not of the form AML.TA0000"),
        ({"techniques": {"AML.T0051.000": {"name": "Direct"}}}, "needs its parent"),
        (
            {"techniques": {"AML.T0051": {"name": "LLM Prompt Injection", "tactics": ["AML.TA0099"]}}},
            "unknown tactics",
        ),
        ({"techniques": {"AML.T0051": {"name": "LLM Prompt Injection"}}}, "lists no tactic"),
    ],
)
def test_atlas_table_rejects_inconsistent_data(change: dict, message: str) -> None:
    base = {"release": "x", "url": "u", "tactics": {"AML.TA0005": "Execution"}, "techniques": {}}
    with pytest.raises(ValueError, match=message):
        AtlasTable.model_validate({**base, **change})


def test_atlas_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "atlas.yaml"
    bad.write_text("release: 1\ntactics: [not, a, map]\n")
    with pytest.raises(ConfigError, match=str(bad)):
        Atlas.load(bad)


# ---------------------------------------------------------------------------------- broken packs


@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(PACK_ROOT, target)
    return target


def _edit(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def test_checks_catch_broken_rules(pack_copy: Path) -> None:
    rules = pack_copy / "rules"
    _edit(rules / "llm" / "llm_jailbreak_persona.yml", lambda d: d.__setitem__("tags", ["atlas.aml.t9999"]))
    _edit(
        rules / "pipeline" / "pipeline_guardrail_removed.yml",
        lambda d: d["detection"]["selection"].__setitem__("event_type", "Deletion"),
    )
    _edit(rules / "llm" / "llm_expensive_request.yml", lambda d: d.__setitem__("falsepositives", []))
    (pack_copy / "tests" / "llm_refusal_completion.yaml").unlink()
    _edit(
        pack_copy / "tests" / "llm_guardrail_blocked.yaml",
        lambda d: d["positives"].append({"mlsiem.llm.guardrail.action": "maybe"}),
    )
    issues = {(i.rule, i.check) for i in check_pack(load_pack(pack_copy))}
    assert ("llm_jailbreak_persona", "atlas") in issues
    assert ("pipeline_guardrail_removed", "values") in issues
    assert ("llm_expensive_request", "metadata") in issues
    assert ("llm_refusal_completion", "examples") in issues
    assert ("llm_guardrail_blocked", "examples") in issues


def test_unknown_field_fails_the_conversion(pack_copy: Path) -> None:
    _edit(
        pack_copy / "rules" / "llm" / "llm_expensive_request.yml",
        lambda d: d["detection"].__setitem__("selection", {"cost_dollars|gte": 5}),
    )
    issues = check_pack(load_pack(pack_copy))
    assert any(i.rule == "llm_expensive_request" and "cost_dollars" in i.message for i in issues)


def test_a_rule_that_does_not_parse_is_named(pack_copy: Path) -> None:
    (pack_copy / "rules" / "llm" / "broken_rule_file.yml").write_text("title: x\ndetection: [\n")
    with pytest.raises(ConfigError, match="broken_rule_file"):
        load_pack(pack_copy)


def test_rules_sharing_an_id_or_without_one_are_refused_with_both_files_named(pack_copy: Path) -> None:
    llm = pack_copy / "rules" / "llm"
    twin = yaml.safe_load((llm / "llm_jailbreak_persona.yml").read_text())["id"]
    _edit(llm / "llm_expensive_request.yml", lambda d: d.__setitem__("id", twin))
    _edit(llm / "llm_refusal_completion.yml", lambda d: d.pop("id"))
    with pytest.raises(ConfigError) as caught:
        load_pack(pack_copy)
    message = str(caught.value)
    assert f"llm_jailbreak_persona.yml: id {twin} is already the id of the rule in" in message
    assert "llm_expensive_request.yml" in message
    assert "llm_refusal_completion.yml: the rule has no id" in message


def test_a_field_mapping_without_fields_is_refused_naming_the_pipeline(pack_copy: Path) -> None:
    pipeline = pack_copy / "pipelines" / "mlsiem.yaml"
    _edit(pipeline, lambda d: d["transformations"][0].__setitem__("mapping", None))
    with pytest.raises(ConfigError, match=r"mlsiem\.yaml: field_name_mapping needs a field `mapping`"):
        load_pack(pack_copy)


@pytest.mark.parametrize("target", [5, True, {"a": 1}, [7]])
def test_a_field_mapped_to_something_other_than_field_names_is_refused(pack_copy: Path, target) -> None:  # type: ignore[no-untyped-def]
    pipeline = pack_copy / "pipelines" / "mlsiem.yaml"
    _edit(pipeline, lambda d: d["transformations"][0]["mapping"].__setitem__("user", target))
    with pytest.raises(ConfigError, match="is not a field name or a list of field names"):
        load_pack(pack_copy)


def test_a_correlation_condition_field_that_is_not_a_name_is_refused(pack_copy: Path) -> None:
    burst = pack_copy / "correlations" / "llm_prompt_injection_burst.yml"
    _edit(burst, lambda d: d["correlation"]["condition"].__setitem__("field", {"a": 1}))
    pack = load_pack(pack_copy)
    correlation = next(r for r in pack.correlations if r.name == "llm_prompt_injection_burst")
    with pytest.raises(ConfigError, match="is not a field name"):
        CorrelationPlan(pack, QueryBook(pack, "opensearch"), correlation, "default")


def test_example_scenarios_timed_beyond_a_week_are_refused(pack_copy: Path) -> None:
    examples = pack_copy / "tests" / "llm_prompt_injection_burst.yaml"
    _edit(examples, lambda d: d["scenarios"][0]["events"][0].__setitem__("at", 1e300))
    with pytest.raises(ConfigError, match=r"llm_prompt_injection_burst\.yaml"):
        load_examples(examples, correlation=True)


def test_binary_and_set_values_in_a_rule_are_refused(pack_copy: Path) -> None:
    rule = pack_copy / "rules" / "llm" / "llm_expensive_request.yml"
    rule.write_text(rule.read_text().replace("references:\n", "references:\n- !!binary aGVsbG8=\n", 1))
    with pytest.raises(ConfigError, match=r"llm_expensive_request\.yml: a !!binary value has no place"):
        load_pack(pack_copy)


def test_rule_values_longer_than_8192_characters_and_lists_over_2000_are_refused(pack_copy: Path) -> None:
    rule = pack_copy / "rules" / "llm" / "llm_expensive_request.yml"
    _edit(rule, lambda d: d.__setitem__("description", "x" * 8193))
    with pytest.raises(ConfigError, match=r"a text of 8193 characters \(at most 8192"):
        load_pack(pack_copy)
    _edit(rule, lambda d: d.__setitem__("description", "x" * 8192))
    load_pack(pack_copy)
    _edit(rule, lambda d: d.__setitem__("falsepositives", ["x"] * 2001))
    with pytest.raises(ConfigError, match=r"a list of 2001 values \(at most 2000\)"):
        load_pack(pack_copy)


def test_an_example_field_that_is_both_a_value_and_an_object_is_refused() -> None:
    fields = {"gen_ai": "openai", "gen_ai.operation.name": "chat"}
    with pytest.raises(ConfigError, match=r"gen_ai is a value and also the object of gen_ai\.operation"):
        to_document("llm", fields, datetime(2026, 1, 1, tzinfo=UTC), "example:1")
    with pytest.raises(ConfigError, match="is an object"):
        to_document("llm", {"gen_ai.system": "x", "gen_ai": "y"}, datetime(2026, 1, 1, tzinfo=UTC), "e:2")


# ------------------------------------------------------------------------------------------ offline


def test_validation_conversion_and_exports_need_no_network(pack, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Nothing on these paths downloads MITRE (or any) data: every non-local connection fails loudly."""
    real_connect = socket.socket.connect

    def local_only(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    import sigma.data.mitre_attack as mitre

    monkeypatch.setattr(mitre, "_load_mitre_attack_data", lambda: pytest.fail("MITRE ATT&CK data was loaded"))
    from detections.sigma.export_kibana import kibana_rules
    from detections.sigma.export_opensearch import monitors, security_analytics_requests

    assert check_pack(pack) == []
    assert len(kibana_rules(pack)) == len(pack.rules) + 1  # and the promotion rule
    assert len(monitors(pack)) == len(pack.rules) + 1  # and the promotion monitor
    assert security_analytics_requests(pack)
