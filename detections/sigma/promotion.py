"""Promotion of the detector job's alerts into the SIEM's own alert queue.

The detector job writes drift, data-quality, performance, operational and Sigma alerts to
`mlsiem-alerts-<namespace>`. Analysts triage in the SIEM's alert views, so the exports carry one more
rule each:

* Kibana: a query rule over `mlsiem-alerts-*` (`event.kind:alert`) that takes severity, risk score
  and rule name from each alert (`severity_mapping`, `risk_score_mapping`, `rule_name_override`), as
  Elastic's own rules for external alerts do: every mlsiem alert becomes an Elastic Security alert.
* OpenSearch: a document-level Alerting monitor over `mlsiem-alerts-*` with one query and one trigger per
  severity tier. Document-level monitors remember which documents they have seen, so each new alert (or
  an update of one, when a repeat raises its count) fires once. The triggers carry a notification action
  whose channel id is a placeholder to replace.
"""

from __future__ import annotations

from typing import Any

from mlsiem.ecs.findings import SEVERITY_SCORES

ALERTS_PATTERN = "mlsiem-alerts-*"
PROMOTION_QUERY = "event.kind:alert"
PROMOTION_RULE_ID = "0c5b7c1e-4f0e-4b8e-9d57-5a3f1c2e8b64"
LOOK_BACK = "now-2h"  # a window (1h by default) is judged after it closes: its alerts carry its end time
CHANNEL_PLACEHOLDER = "REPLACE_WITH_NOTIFICATION_CHANNEL_ID"
MONITOR_SEVERITY = {"critical": "1", "high": "2", "medium": "3", "low": "4"}
PROMOTION_NOTE = """# mlsiem alert

An alert of the mlsiem detector job (drift, data quality, performance, operations, or the Sigma pack for
attacks on AI systems), promoted from `mlsiem-alerts-*`.

**Check first.** The alert document's `mlsiem.alert.playbook` is the investigation guide of the rule that
fired (what it means, the pivot queries, benign causes, containment). `mlsiem.evidence.query` finds the
events behind it: paste it into Timeline or Discover on `logs-mlsiem.*`. `event.reason` says what was
measured; `threat.*` names the MITRE ATLAS techniques and tactics.
"""


def kibana_promotion_rule() -> dict[str, Any]:
    """The Kibana detection rule (import format) that turns every mlsiem alert into a Security alert."""
    return {
        "rule_id": PROMOTION_RULE_ID,
        "name": "mlsiem alert",
        "description": (
            "Generates an Elastic Security alert for each alert the mlsiem detector job writes to "
            "mlsiem-alerts-* (model drift, data quality, performance, operations and the Sigma pack for "
            "attacks on AI systems), with the alert's own severity, risk score and rule name."
        ),
        "type": "query",
        "language": "lucene",
        "query": PROMOTION_QUERY,
        "index": [ALERTS_PATTERN],
        "risk_score": SEVERITY_SCORES["medium"],
        "severity": "medium",
        "severity_mapping": [
            {"field": "event.severity", "operator": "equals", "value": str(score), "severity": label}
            for label, score in SEVERITY_SCORES.items()
        ],
        "risk_score_mapping": [{"field": "event.risk_score", "operator": "equals", "value": ""}],
        "rule_name_override": "rule.name",
        "tags": ["mlsiem", "Promotion: mlsiem alerts"],
        "threat": [],
        "references": [],
        "false_positives": ["As those of the mlsiem rule named in the alert"],
        "author": ["mlsiem"],
        "license": "Apache-2.0",
        "enabled": False,
        "interval": "5m",
        "from": LOOK_BACK,
        "max_signals": 1000,
        "version": 1,
        "note": PROMOTION_NOTE,
    }


def _action(label: str) -> dict[str, Any]:
    return {
        "name": f"notify: mlsiem {label} alert",
        "destination_id": CHANNEL_PLACEHOLDER,
        "subject_template": {"source": f"mlsiem {label} alert", "lang": "mustache"},
        "message_template": {
            "source": (
                f"{{{{ctx.monitor.name}}}}: new or updated mlsiem {label} alert(s) in {ALERTS_PATTERN}, "
                "documents {{#ctx.alerts}}{{related_doc_ids}} {{/ctx.alerts}}. Open them in Discover; "
                "each carries mlsiem.alert.playbook and mlsiem.evidence.query."
            ),
            "lang": "mustache",
        },
        "throttle_enabled": False,
        "action_execution_policy": {"action_execution_scope": {"per_alert": {"actionable_alerts": ["NEW"]}}},
    }


def monitor_query(label: str) -> str:
    return f'{PROMOTION_QUERY} AND mlsiem.alert.severity:"{label}"'


def opensearch_promotion_monitor() -> dict[str, Any]:
    """The document-level Alerting monitor over `mlsiem-alerts-*` (disabled; set the channel id first)."""
    labels = list(SEVERITY_SCORES)
    return {
        "type": "monitor",
        "monitor_type": "doc_level_monitor",
        "name": "mlsiem alerts",
        "enabled": False,
        "schedule": {"period": {"interval": 5, "unit": "MINUTES"}},
        "inputs": [
            {
                "doc_level_input": {
                    "description": "every alert the mlsiem detector job writes",
                    "indices": [ALERTS_PATTERN],
                    "queries": [
                        {
                            "id": f"mlsiem-{label}",
                            "name": label,
                            "query": monitor_query(label),
                            "tags": [label],
                        }
                        for label in labels
                    ],
                }
            }
        ],
        "triggers": [
            {
                "document_level_trigger": {
                    "name": f"mlsiem {label} alert",
                    "severity": MONITOR_SEVERITY[label],
                    "condition": {"script": {"source": f"query[tag={label}]", "lang": "painless"}},
                    "actions": [_action(label)],
                }
            }
            for label in labels
        ],
    }
