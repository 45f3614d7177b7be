"""What a rule found in a window: one `Hit` per rule, group and burst, carrying all an alert needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.sigma.atlas import Atlas, AtlasRef
from mlsiem.ecs.findings import SeverityLabel

RuleKind = Literal["detection", "correlation"]
MISSING = "(none)"

# Sigma levels -> the four alert severity tiers (`SeverityLabel`); "informational" has no tier of its own.
LEVELS: dict[str, SeverityLabel] = {
    "informational": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


@dataclass(frozen=True)
class RuleInfo:
    """The rule fields an alert copies (`rule.*`, `threat.*`, severity)."""

    id: str
    name: str
    title: str
    kind: RuleKind
    level: str
    severity: SeverityLabel
    description: str
    references: tuple[str, ...]
    author: str | None
    tags: tuple[str, ...]
    techniques: tuple[AtlasRef, ...]
    tactics: tuple[AtlasRef, ...]
    correlation_type: str | None = None
    playbook: str | None = None  # the rule's investigation guide (Markdown)

    @classmethod
    def of(
        cls, rule: SigmaRule | SigmaCorrelationRule, atlas: Atlas, playbook: str | None = None
    ) -> RuleInfo:
        tags = tuple(str(t) for t in rule.tags)
        techniques, tactics = atlas.for_tags(list(tags))
        level = rule.level.name.lower() if rule.level else "medium"
        correlation = isinstance(rule, SigmaCorrelationRule)
        return cls(
            id=str(rule.id),
            name=rule.name or str(rule.id),
            title=rule.title,
            kind="correlation" if correlation else "detection",
            level=level,
            severity=LEVELS[level],
            description=rule.description or rule.title,
            references=tuple(rule.references),
            author=rule.author,
            tags=tags,
            techniques=tuple(techniques),
            tactics=tuple(tactics),
            correlation_type=rule.type.name.lower() if correlation else None,
            playbook=playbook,
        )


@dataclass(frozen=True)
class Hit:
    """One rule matching for one group in the evaluated window.

    `group` maps ECS field names to the group's values (None where the events had no value), ready to be
    copied onto the alert; `group_key` is its stable string form. `evidence_query` is a Lucene query
    string that finds the matching events of this group and burst in `evidence_index`.
    """

    rule: RuleInfo
    group: dict[str, Any]
    event_count: int
    first_seen: datetime
    last_seen: datetime
    window_start: datetime
    window_end: datetime
    sample_event_ids: tuple[str, ...]
    evidence_query: str
    evidence_index: str
    value: float | None = None  # the measured aggregate of a correlation (count, distinct values, sum)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def group_key(self) -> str:
        return group_key(self.group)

    @property
    def fingerprint(self) -> str:
        """Stable id of (rule, group, window): re-running the same window gives the same value."""
        raw = f"{self.rule.id}|{self.group_key}|{self.window_start.isoformat()}|{self.window_end.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def group_key(group: dict[str, Any]) -> str:
    if not group:
        return "*"
    return "|".join(f"{k}={MISSING if v is None else v}" for k, v in group.items())


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def epoch(moment: datetime) -> float:
    return moment.timestamp()
