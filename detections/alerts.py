"""Findings become alerts: one document per rule, group and suppression period, updated in place.

The alert `_id` is a hash of (rule id, group key, suppression bucket), where the bucket is the start of
the suppression period the window falls in. Re-running a window therefore never makes a second alert,
and later windows of the same group within the period update `occurrences`, `last_seen` and `event.end`
instead. The update is one scripted upsert, so the engine applies it atomically; a window at or before
the alert's recorded `event.end` is a re-run and changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from detections.playbooks import playbook
from mlsiem.adapter import Engine
from mlsiem.ecs.findings import (
    Alert,
    AlertDrift,
    AlertEventFields,
    AlertInfo,
    AlertTier,
    Anomaly,
    Evidence,
    MlsiemAlert,
    Quality,
    Rule,
    SeverityLabel,
    Slo,
    Threat,
    severity_from_label,
)
from mlsiem.indices import alerts_alias
from mlsiem.timefmt import iso

# Alert document fields that a group-by value may fill, by their ECS / mlsiem name.
_GROUP_FIELDS = {
    "source.ip",
    "client.ip",
    "user.name",
    "user.id",
    "host.name",
    "service.name",
    "mlsiem.model.name",
    "mlsiem.model.version",
    "user_agent.original",
    "user.group.name",
}

_UPDATE_SCRIPT = """
if (ctx._source.event.end != null && params.end.compareTo(ctx._source.event.end) <= 0) {
  ctx.op = 'none';
} else {
  ctx._source.mlsiem.alert.occurrences += 1;
  ctx._source.mlsiem.alert.last_seen = params.last_seen;
  ctx._source.event.end = params.end;
  ctx._source.event.reason = params.reason;
  if (params.severity_rank > params.ranks[ctx._source.mlsiem.alert.severity]) {
    ctx._source.mlsiem.alert.severity = params.severity;
    ctx._source.event.severity = params.severity_score;
    ctx._source.event.risk_score = params.risk_score;
  }
  if (params.tier == 'act') {
    ctx._source.mlsiem.alert.tier = 'act';
  }
  if (params.evidence_count != null) {
    ctx._source.mlsiem.evidence.event_count =
        (ctx._source.mlsiem.evidence.event_count == null ? 0 : ctx._source.mlsiem.evidence.event_count)
        + params.evidence_count;
  }
}
"""
_RANKS = {"low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass
class Finding:
    """What a detector found in one window: everything the alert needs."""

    rule: Rule
    severity: SeverityLabel
    reason: str
    window_start: datetime
    window_end: datetime
    group: dict[str, str] = field(default_factory=dict)  # ECS / mlsiem field -> value
    threat: Threat | None = None
    drift: AlertDrift | None = None
    evidence: Evidence | None = None
    quality: Quality | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    risk_score: float | None = None
    suppression: timedelta = timedelta(hours=1)
    tier: AlertTier | None = None  # statistical detectors: "watch" (certain, small) or "act"
    playbook: str | None = None  # Markdown; default: the detector rule's playbook (detections/playbooks/)
    anomaly: Anomaly | None = None
    slo: Slo | None = None

    @property
    def group_key(self) -> str:
        return "|".join(f"{k}={v}" for k, v in sorted(self.group.items())) or "-"

    @property
    def bucket(self) -> datetime:
        seconds = max(1, int(self.suppression.total_seconds()))
        epoch = int(self.window_start.timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, UTC)

    @property
    def alert_id(self) -> str:
        key = f"{self.rule.id}\x1f{self.group_key}\x1f{self.bucket.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def _nest(path: str, value: str) -> dict[str, Any]:
    node: dict[str, Any] = {}
    cursor = node
    parts = path.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def alert_document(finding: Finding) -> dict[str, Any]:
    """The alert as first written (validated by the ECS model), group-by values in their ECS fields."""
    # Attacks on the model or its pipeline are intrusion detection; drift and operations are API findings.
    category = "intrusion_detection" if finding.rule.category in ("security", "pipeline") else "api"
    score = severity_from_label(finding.severity)
    alert = Alert(
        **{"@timestamp": finding.window_end},
        event=AlertEventFields(
            id=finding.alert_id,
            category=[category],
            type=["indicator"] if category == "intrusion_detection" else ["info"],
            severity=score,
            risk_score=finding.risk_score if finding.risk_score is not None else float(score),
            reason=finding.reason,
            start=finding.window_start,
            end=finding.window_end,
        ),
        rule=finding.rule,
        threat=finding.threat,
        mlsiem=MlsiemAlert(
            alert=AlertInfo(
                severity=finding.severity,
                tier=finding.tier,
                group_key=finding.group_key,
                first_seen=finding.first_seen or finding.window_start,
                last_seen=finding.last_seen or finding.window_end,
                playbook=finding.playbook or playbook(finding.rule.id),
            ),
            drift=finding.drift,
            evidence=finding.evidence,
            quality=finding.quality,
            anomaly=finding.anomaly,
            slo=finding.slo,
        ),
    )
    document = alert.to_document()
    document["event"]["end"] = iso(finding.window_end)  # one format, so the update script can compare
    for path, value in finding.group.items():
        if path in _GROUP_FIELDS:
            _merge(document, _nest(path, value))
    return document


class AlertWriter:
    """Writes findings into `mlsiem-alerts-<namespace>` with suppression: created, updated or unchanged."""

    def __init__(self, engine: Engine, namespace: str = "default") -> None:
        self.engine = engine
        self.alias = alerts_alias(namespace)

    def write(self, finding: Finding, refresh: bool = False) -> str:
        document = alert_document(finding)
        evidence_count = finding.evidence.event_count if finding.evidence else None
        params = {
            "end": iso(finding.window_end),
            "last_seen": iso(finding.last_seen or finding.window_end),
            "reason": finding.reason,
            "severity": finding.severity,
            "severity_rank": _RANKS[finding.severity],
            "severity_score": severity_from_label(finding.severity),
            "risk_score": document["event"]["risk_score"],
            "ranks": _RANKS,
            "evidence_count": evidence_count,
            "tier": finding.tier,
        }
        body = {
            "script": {"lang": "painless", "source": _UPDATE_SCRIPT, "params": params},
            "upsert": document,
        }
        result = self.engine.request(
            "POST",
            f"/{self.alias}/_update/{finding.alert_id}",
            body=body,
            params={"refresh": "true" if refresh else "false", "retry_on_conflict": 5},
            what=f"write alert {finding.rule.id}",
        )
        return {"created": "created", "updated": "updated", "noop": "unchanged"}.get(
            result.get("result"), "unchanged"
        )
