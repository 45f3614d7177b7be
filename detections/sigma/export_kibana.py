"""Elastic Security detection rules (NDJSON, for the detection rules import API) from the pack.

Detection rules become `query` rules with Lucene (pySigma's Elasticsearch Lucene backend through the
pack's pipeline) and the data stream pattern of their category. Correlation rules become `esql` rules
(pySigma's ES|QL backend, extended in `convert.py`); note that ES|QL groups by fixed `date_trunc`
windows, whereas the detector job slides its windows. The ATLAS (and ATT&CK) mapping goes into `threat`
from the local table, so nothing downloads MITRE data. Building-block rules are exported with
`building_block_type: default`, which Kibana hides from the default alert views, as the detector job does.
Each rule's playbook (`sigma_rules/playbooks/`) becomes its `note`, the investigation guide Kibana shows
on the rule and in the alert details.

The export ends with the promotion rule (`promotion.py`): every alert of the detector job in
`mlsiem-alerts-*` becomes an Elastic Security alert.

Rules are exported disabled: an analyst reviews and enables them after the import.

    curl -X POST "$KIBANA/api/detection_engine/rules/_import?overwrite=true" \\
         -H 'kbn-xsrf: true' --form file=@mlsiem-rules.ndjson
"""

from __future__ import annotations

import json
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.sigma.convert import convert_pack
from detections.sigma.hits import LEVELS
from detections.sigma.pack import Pack
from detections.sigma.promotion import kibana_promotion_rule
from detections.sigma.queries import index_pattern
from mlsiem.ecs.findings import SEVERITY_SCORES
from mlsiem.errors import ConfigError

INTERVAL_MINUTES = 5


def _common(pack: Pack, rule: SigmaRule | SigmaCorrelationRule) -> dict[str, Any]:
    severity = LEVELS[rule.level.name.lower() if rule.level else "medium"]
    tags = [str(t) for t in rule.tags]
    return {
        "rule_id": str(rule.id),
        "name": rule.title,
        "description": rule.description or rule.title,
        "risk_score": SEVERITY_SCORES[severity],
        "severity": severity,
        "threat": pack.atlas.threat(tags),
        "tags": ["mlsiem", f"Rule: {rule.name}", *tags],
        "references": list(rule.references),
        "false_positives": list(rule.falsepositives),
        "author": [rule.author] if rule.author else [],
        "license": "Apache-2.0",
        "enabled": False,
        "interval": f"{INTERVAL_MINUTES}m",
        "max_signals": 100,
        "version": 1,
        "note": (pack.playbook(rule) or "")
        + (
            f"\n---\nmlsiem rule `{rule.name}` (Sigma id {rule.id}); ATLAS release {pack.atlas.release}. "
            "The detector job's alerts carry an evidence query: the rule's own query limited to the alert's "
            "group and time.\n"
        ),
    }


def kibana_rules(pack: Pack) -> list[dict[str, Any]]:
    lucene = convert_pack(pack, "lucene", rule_ids={str(r.id) for r in pack.detections})
    esql = convert_pack(pack, "esql", rule_ids={str(r.id) for r in pack.correlations})
    failed = {**lucene.errors, **esql.errors}
    if failed:
        raise ConfigError(
            "rules that do not convert for Kibana: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
        )
    out: list[dict[str, Any]] = []
    for rule in pack.detections:
        parts = [str(q) for q in lucene.results[str(rule.id)]]
        query = parts[0] if len(parts) == 1 else " OR ".join(f"({q})" for q in parts)
        body = {
            **_common(pack, rule),
            "type": "query",
            "language": "lucene",
            "query": query,
            "index": [index_pattern(pack.category(rule))],
            "from": f"now-{INTERVAL_MINUTES + 1}m",
        }
        if not pack.standalone(rule):
            body["building_block_type"] = "default"
        out.append(body)
    for rule in pack.correlations:
        look_back = int(rule.timespan.seconds // 60) + INTERVAL_MINUTES
        out.append(
            {
                **_common(pack, rule),
                "type": "esql",
                "language": "esql",
                "query": str(esql.results[str(rule.id)][0]),
                "from": f"now-{look_back}m",
            }
        )
    out.append(kibana_promotion_rule())  # the detector job's own alerts into Elastic Security's queue
    return out


def kibana_ndjson(pack: Pack) -> str:
    """The import file: one rule per line."""
    return "".join(json.dumps(rule, ensure_ascii=False, sort_keys=True) + "\n" for rule in kibana_rules(pack))
