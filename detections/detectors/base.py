"""What a detector is: its rules, its tuning, one engine request per window and a pure judgement.

A detector module declares a `Detector` subclass with
- `name`: the key in the configuration (`detectors: [feature_drift, ...]`, `tuning: {feature_drift: ...}`);
- `rules`: the alert rules it raises (most have one; the operational detector has one per series);
- `Tuning`: a pydantic model of its knobs, every default in that one place;
- `request(window)`: the one search body it needs for a window (aggregations, or a bounded sample);
- `judge(window, response)`: pure, response in, findings and drift metrics out.

Separating the request from the judgement keeps the statistics testable without an engine and lets
the runner send the requests of many detectors (or models) together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from detections.alerts import Finding
from detections.statistics.profile import ReferenceProfile
from detections.window import Window
from mlsiem.ecs.findings import Evidence, Rule, SeverityLabel

RULESET = "mlsiem detectors"


class Tuning(BaseModel):
    """Base of every detector's knobs: unknown keys are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ModelSetup:
    """What every detector of one model shares: the model, its baseline and the job-wide settings."""

    name: str
    version: str | None
    features: list[str]  # the watched input features (the baseline's, minus the prediction fields)
    profile: ReferenceProfile
    baseline_id: str
    alpha: float = 0.01
    suppression: timedelta = timedelta(hours=6)
    bucket: timedelta = timedelta(minutes=5)
    arl0: float = 500.0
    multivariate_sample: int = 2000
    min_window_events: int = 50


@dataclass
class Judgement:
    """A detector's verdict on one window."""

    findings: list[Finding] = field(default_factory=list)
    metrics: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (_id, drift metric doc)
    notes: list[str] = field(default_factory=list)


def rule(rule_id: str, name: str, category: str, description: str) -> Rule:
    return Rule(id=rule_id, name=name, category=category, ruleset=RULESET, description=description)  # type: ignore[arg-type]


class Detector(ABC):
    name: ClassVar[str]
    rules: ClassVar[dict[str, Rule]]
    Tuning: ClassVar[type[Tuning]] = Tuning
    # For the documentation table: what it watches and which engine features compute it.
    watches: ClassVar[str]
    computed_with: ClassVar[str]

    def __init__(self, setup: ModelSetup, tuning: Tuning | None = None) -> None:
        self.setup = setup
        self.tuning = tuning if tuning is not None else self.Tuning()

    def applies(self) -> bool:
        """Whether the baseline has what this detector needs (a detector that does not apply is skipped)."""
        return True

    @abstractmethod
    def request(self, window: Window) -> dict[str, Any]:
        """The one search body this detector needs for the window (it must track the total hits)."""

    @abstractmethod
    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        """Findings (and drift metrics) from the response: no I/O."""

    def finding(
        self,
        window: Window,
        severity: SeverityLabel,
        reason: str,
        *,
        key: str | None = None,
        evidence: Evidence | None = None,
        **extra: Any,
    ) -> Finding:
        """An alert finding of this detector's rule (`key` picks one of several) grouped by the model."""
        group = {"mlsiem.model.name": window.model}
        if window.version:
            group["mlsiem.model.version"] = window.version
        return Finding(
            rule=self.rules[key or self.name],
            severity=severity,
            reason=reason,
            window_start=window.start,
            window_end=window.end,
            group=group,
            evidence=evidence or Evidence(query=window.lucene()),
            suppression=self.setup.suppression,
            **extra,
        )
