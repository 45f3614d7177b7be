"""Playbooks: every rule has one, `rules check` insists, and they reach Kibana and the alert documents."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from detections.alerts import AlertWriter, Finding, alert_document
from detections.detectors import all_rules
from detections.playbooks import PLAYBOOKS_DIR, missing_playbooks, playbook
from detections.sigma.checks import check_pack
from detections.sigma.export_kibana import kibana_rules
from detections.sigma.pack import PACK_ROOT, load_pack
from mlsiem.adapter import Engine
from mlsiem.ecs.findings import Rule
from mlsiem.indices import alerts_alias
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

PACK = load_pack()
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SECTIONS = ("**What it means.**", "**Check first.**", "**Likely benign causes.**", "**Containment.**")
# Added with the data-quality detector: its playbook is written ahead of the rule.
DATA_QUALITY = "mlsiem-data-quality"


def test_every_detector_rule_has_a_full_playbook() -> None:
    ids = [rule.id for rule in all_rules()]
    assert missing_playbooks([*ids, DATA_QUALITY]) == []
    for rule_id in [*ids, DATA_QUALITY]:
        text = playbook(rule_id) or ""
        assert all(section in text for section in SECTIONS), rule_id
        assert "`" in text.split("**Check first.**")[1], f"{rule_id}: no pivot query"
    quality = playbook(DATA_QUALITY) or ""
    for check in ("missing", "out of the baseline's range", "constant", "categories", "schema change"):
        assert check in quality
    assert "webhook" in (playbook("mlsiem-drift-prediction") or "")


def test_playbook_look_up_is_confined_to_its_folder() -> None:
    assert playbook("../../pyproject") is None and playbook("no-such-rule") is None
    assert PLAYBOOKS_DIR.name == "playbooks" and sorted(p.stem for p in PLAYBOOKS_DIR.glob("*.md"))


def test_every_sigma_rule_has_a_playbook_and_alerting_ones_are_full() -> None:
    for rule in PACK.rules:
        text = PACK.playbook(rule)
        assert text and text.startswith(f"# {rule.title}\n"), rule.name
        if isinstance(rule, type(PACK.detections[0])) and not PACK.standalone(rule):
            assert "building block" in text
            continue
        assert all(section in text for section in SECTIONS), rule.name
        assert "mlsiem.evidence.query" in text, rule.name


def test_rules_check_fails_on_a_rule_without_a_playbook(tmp_path: Path) -> None:
    copy = tmp_path / "pack"
    shutil.copytree(PACK_ROOT, copy)
    (copy / "playbooks" / "llm_jailbreak_persona.md").unlink()
    issues = [(i.rule, i.check) for i in check_pack(load_pack(copy))]
    assert issues == [("llm_jailbreak_persona", "playbook")]
    result = CliRunner().invoke(app, ["rules", "check", "--pack", str(copy), "--json"])
    assert result.exit_code == 1
    assert [i["check"] for i in json.loads(result.output)["issues"]] == ["playbook"]


def test_kibana_rules_carry_the_playbook_as_their_note() -> None:
    by_id = {rule["rule_id"]: rule for rule in kibana_rules(PACK)}
    for rule in PACK.rules:
        note = by_id[str(rule.id)]["note"]
        assert note.startswith(PACK.playbook(rule) or "<missing>"), rule.name
        assert f"Sigma id {rule.id}" in note


def test_alert_documents_carry_the_playbook(engine: Engine, namespace: str) -> None:
    drift = Finding(
        rule=next(r for r in all_rules() if r.id == "mlsiem-drift-feature"),
        severity="high",
        reason="income drifted",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        group={"mlsiem.model.name": "credit-scorer"},
    )
    own = Finding(
        rule=Rule(id="x-1", name="x", category="security"),
        severity="low",
        reason="r",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        playbook="# Mine\n",
    )
    assert alert_document(drift)["mlsiem"]["alert"]["playbook"] == playbook("mlsiem-drift-feature")
    assert alert_document(own)["mlsiem"]["alert"]["playbook"] == "# Mine\n"
    run_setup(engine, SetupConfig(namespace=namespace))
    writer = AlertWriter(engine, namespace)
    assert writer.write(drift, refresh=True) == "created"
    found = engine.search(alerts_alias(namespace), {"query": {"term": {"rule.id": "mlsiem-drift-feature"}}})
    stored = found["hits"]["hits"][0]["_source"]["mlsiem"]["alert"]["playbook"]
    assert stored == playbook("mlsiem-drift-feature")
    mapping = engine.request("GET", f"/{alerts_alias(namespace)}/_mapping", what="mapping")
    props = next(iter(mapping.values()))["mappings"]["properties"]["mlsiem"]["properties"]["alert"]
    assert props["properties"]["playbook"] == {"type": "text", "index": False}
