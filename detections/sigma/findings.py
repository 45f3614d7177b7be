"""Sigma hits become findings for the alert writer: `rule.*` from the rule, `threat.*` from its ATLAS
tags, the group's values in their ECS fields, and the evidence query that finds the matching events."""

from __future__ import annotations

from datetime import timedelta

from detections.alerts import Finding
from detections.sigma.hits import Hit
from mlsiem.ecs.findings import Evidence, Rule, Threat, ThreatEntry

RULESET = "mlsiem sigma pack"


def _entry(refs: tuple) -> ThreatEntry | None:
    if not refs:
        return None
    return ThreatEntry(
        id=[r.id for r in refs], name=[r.name for r in refs], reference=[r.reference for r in refs]
    )


def hit_finding(hit: Hit, suppression: timedelta) -> Finding:
    info = hit.rule
    category = "pipeline" if "pipeline" in hit.evidence_index else "security"
    rule = Rule(
        id=info.id,
        name=info.title,
        category=category,
        ruleset=RULESET,
        description=info.description,
        reference=info.references[0] if info.references else None,
        author=[info.author] if info.author else None,
    )
    threat = None
    if info.techniques or info.tactics:
        threat = Threat(technique=_entry(info.techniques), tactic=_entry(info.tactics))
    group = {k: str(v) for k, v in hit.group.items() if v is not None}
    who = ", ".join(f"{k} {v}" for k, v in group.items()) or "all sources"
    reason = (
        f"{info.title}: {hit.event_count} matching event(s) from {who} "
        f"between {hit.first_seen:%H:%M:%S} and {hit.last_seen:%H:%M:%S} UTC."
    )
    return Finding(
        rule=rule,
        severity=info.severity,
        reason=reason,
        window_start=hit.window_start,
        window_end=hit.window_end,
        group=group,
        threat=threat,
        first_seen=hit.first_seen,
        last_seen=hit.last_seen,
        suppression=suppression,
        playbook=info.playbook,
        evidence=Evidence(
            query=hit.evidence_query,
            event_count=hit.event_count,
            sample_event_ids=list(hit.sample_event_ids) or None,
        ),
    )
