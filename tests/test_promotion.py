"""The promotion rule (Kibana) and monitor (OpenSearch) over the detector job's alerts.

The alerts are written by the detector job's own writer on the real engine; the Kibana rule's Lucene
query and the monitor's per-severity queries then run there as query_string queries, and the rule's
severity, risk-score and rule-name mappings are applied to what they find.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detections.alerts import AlertWriter, Finding
from detections.detectors import all_rules
from detections.sigma.export_kibana import kibana_rules
from detections.sigma.export_opensearch import monitors
from detections.sigma.pack import load_pack
from detections.sigma.promotion import (
    ALERTS_PATTERN,
    CHANNEL_PLACEHOLDER,
    PROMOTION_RULE_ID,
    opensearch_promotion_monitor,
)
from mlsiem.adapter import Engine
from mlsiem.ecs.findings import SEVERITY_SCORES, Rule, Threat, ThreatEntry
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SIGMA_RULE = Rule(id="3f1c0b2e-0000-4000-8000-000000000001", name="LLM Jailbreak", category="security")


def _findings() -> list[Finding]:
    by_id = {rule.id: rule for rule in all_rules()}
    rules = [by_id["mlsiem-drift-feature"], by_id["mlsiem-ops-latency"], by_id["mlsiem-performance-drop"]]
    rules.append(SIGMA_RULE)
    out = []
    for i, (rule, severity) in enumerate(zip(rules, SEVERITY_SCORES, strict=True)):
        out.append(
            Finding(
                rule=rule,
                severity=severity,
                reason=f"{rule.name} in window {i}",
                window_start=T0 + timedelta(hours=i),
                window_end=T0 + timedelta(hours=i + 1),
                group={"mlsiem.model.name": "credit-scorer", "source.ip": f"198.51.100.{i + 1}"},
                threat=Threat(technique=ThreatEntry(id=["AML.T0054"], name=["LLM Jailbreak"]))
                if rule is SIGMA_RULE
                else None,
            )
        )
    return out


def _search(engine: Engine, namespace: str, query: str) -> list[dict]:
    index = ALERTS_PATTERN.replace("*", namespace)
    body = {"size": 100, "query": {"query_string": {"query": query}}}
    return [h["_source"] for h in engine.search(index, body)["hits"]["hits"]]


def _field(document: dict, path: str) -> object:
    value: object = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def test_promotion_rule_turns_every_detector_alert_into_a_security_alert(
    engine: Engine, namespace: str
) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    writer = AlertWriter(engine, namespace)
    for finding in _findings():
        assert writer.write(finding, refresh=True) == "created"
    # an event that is not an alert, in the same namespace's event stream, must not be promoted
    engine.request(
        "POST",
        f"/logs-mlsiem.inference-{namespace}/_doc",
        body={"@timestamp": T0.isoformat(), "event": {"kind": "event"}, "message": "event.kind:alert"},
        params={"refresh": "true"},
    )
    rule = next(r for r in kibana_rules(load_pack()) if r["rule_id"] == PROMOTION_RULE_ID)
    assert rule["index"] == [ALERTS_PATTERN] and rule["language"] == "lucene" and rule["type"] == "query"
    promoted = _search(engine, namespace, rule["query"])
    assert sorted(a["rule"]["name"] for a in promoted) == sorted(f.rule.name for f in _findings())
    everything = engine.search(f"*-{namespace}", {"query": {"query_string": {"query": rule["query"]}}})
    assert everything["hits"]["total"]["value"] == len(promoted)  # the event stream's document is not
    for alert in promoted:
        severities = [
            m["severity"]
            for m in rule["severity_mapping"]
            if str(_field(alert, m["field"])) == m["value"] and m["operator"] == "equals"
        ]
        assert severities == [alert["mlsiem"]["alert"]["severity"]]
        (risk,) = rule["risk_score_mapping"]
        assert 0 <= float(_field(alert, risk["field"])) <= 100  # type: ignore[arg-type]
        assert _field(alert, rule["rule_name_override"]) == alert["rule"]["name"]
    assert {m["value"] for m in rule["severity_mapping"]} == {"21", "47", "73", "99"}


def test_promotion_monitor_notifies_once_per_severity_tier(engine: Engine, namespace: str) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    writer = AlertWriter(engine, namespace)
    for finding in _findings():
        writer.write(finding, refresh=True)
    monitor = opensearch_promotion_monitor()
    assert monitors(load_pack())["mlsiem_alerts"] == monitor
    assert monitor["monitor_type"] == "doc_level_monitor" and monitor["enabled"] is False
    doc_input = monitor["inputs"][0]["doc_level_input"]
    assert doc_input["indices"] == [ALERTS_PATTERN]
    for query in doc_input["queries"]:
        found = _search(engine, namespace, query["query"])
        assert [a["mlsiem"]["alert"]["severity"] for a in found] == [query["name"]], query
    for query in doc_input["queries"]:  # common-utils' DocLevelQuery refuses these characters in both
        assert not set(" []{}()") & set(query["name"] + "".join(query["tags"])), query
    tags = {q["tags"][0] for q in doc_input["queries"]}
    for trigger in (t["document_level_trigger"] for t in monitor["triggers"]):
        tag = trigger["condition"]["script"]["source"].removeprefix("query[tag=").removesuffix("]")
        assert tag in tags
        (action,) = trigger["actions"]
        assert action["destination_id"] == CHANNEL_PLACEHOLDER
        assert "{{ctx.monitor.name}}" in action["message_template"]["source"]
    assert [t["document_level_trigger"]["severity"] for t in monitor["triggers"]] == ["4", "3", "2", "1"]
