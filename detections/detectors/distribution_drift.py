"""The shared machinery of the two distribution-drift detectors (features and predictions).

Both count the window on the reference profile's bins (or categories) with one aggregation request,
compare the counts with the profile (`statistics.compare`: effect size and test, Benjamini-Hochberg
across the detector's columns), write one drift metric per column and raise one alert per window
naming the worst columns.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from detections.aggregations import distributions_request, parse_distributions, total_events
from detections.detectors.base import Detector, Judgement, Tuning
from detections.statistics.compare import FeatureDrift, compare
from detections.statistics.decision import DecisionRule, Metric
from detections.window import Window
from mlsiem.ecs.findings import (
    AlertDrift,
    DriftMeasurement,
    DriftMetric,
    Evidence,
    MlsiemDrift,
    ModelInfo,
    SeverityLabel,
)

_SEVERITIES: tuple[SeverityLabel, ...] = ("low", "medium", "high", "critical")


class DriftTuning(Tuning):
    """Which effect size decides and its practical thresholds (defaults: `statistics.decision`)."""

    numeric_metric: Metric = "psi"
    categorical_metric: Literal["js", "psi"] = "js"
    practical: dict[Metric, float] = Field(
        default_factory=dict, description="practical threshold per metric (default PSI 0.1, JS 0.1, ...)"
    )
    feature_practical: dict[str, float] = Field(
        default_factory=dict, description="per feature, in its metric's units"
    )
    watch: bool = Field(True, description="also alert certain but small changes (the watch tier, low)")

    @field_validator("practical", "feature_practical")
    @classmethod
    def _positive(cls, values: dict[str, float]) -> dict[str, float]:
        for name, value in values.items():
            if not value > 0:
                raise ValueError(f"threshold for {name!r} must be > 0, got {value}")
        return values

    def decision_rule(self, alpha: float) -> DecisionRule:
        defaults = DecisionRule().practical
        return DecisionRule(
            alpha=alpha,
            numeric_metric=self.numeric_metric,
            categorical_metric=self.categorical_metric,
            practical={**defaults, **self.practical},
            feature_practical=dict(self.feature_practical),
            watch=self.watch,
        )


def _worst(drifts: list[FeatureDrift]) -> SeverityLabel:
    ranks = [_SEVERITIES.index(d.severity) for d in drifts if d.severity in _SEVERITIES]
    return _SEVERITIES[max(ranks)] if ranks else "low"


def metric_document(window: Window, baseline_id: str, drift: FeatureDrift) -> tuple[str, dict[str, Any]]:
    """One model x feature x window measurement, with an id that makes a re-run write nothing new."""
    metric = DriftMetric(
        **{"@timestamp": window.end},
        mlsiem=MlsiemDrift(
            model=ModelInfo(name=window.model, version=window.version),
            drift=DriftMeasurement(
                metric=drift.metric,
                score=drift.score,
                threshold=drift.threshold,
                p_value=None if math.isnan(drift.adjusted_p_value) else drift.adjusted_p_value,
                feature=drift.feature,
                reference_size=drift.reference_size,
                current_size=drift.current_size,
                drifted=drift.drifted,
                severity=drift.severity,
                window_start=window.start,
                window_end=window.end,
                baseline_id=baseline_id,
            ),
        ),
    )
    key = f"{window.model}\x1f{window.version}\x1f{drift.feature}\x1f{window.start.isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32], metric.to_document()


class DistributionDrift(Detector):
    """Base of feature and prediction drift: `columns()` says which profile columns to watch."""

    Tuning: ClassVar[type[DriftTuning]] = DriftTuning
    computed_with = "`range` on the profile's quantile edges, `terms`, `missing`, `avg`"
    tuning: DriftTuning

    def columns(self) -> list[str]:
        raise NotImplementedError

    def applies(self) -> bool:
        return bool(self.columns())

    def request(self, window: Window) -> dict[str, Any]:
        return distributions_request(window, self.setup.profile, self.columns())

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        names = self.columns()
        current = parse_distributions(response, self.setup.profile, names)
        rule = self.tuning.decision_rule(self.setup.alpha)
        report = compare(self.setup.profile, current, rule=rule, features=names)
        judgement = Judgement()
        judgement.metrics = [
            metric_document(window, self.setup.baseline_id, d) for d in report.features if d.test != "none"
        ]
        drifted = sorted(report.drifted, key=lambda d: d.strength)
        if drifted:
            evidence = Evidence(query=window.lucene(), event_count=total_events(response))
            judgement.findings.append(self._finding(window, drifted, evidence))
        return judgement

    def headline(self, window: Window, drifted: list[FeatureDrift]) -> str:
        raise NotImplementedError

    def _finding(self, window: Window, drifted: list[FeatureDrift], evidence: Evidence) -> Any:
        top = drifted[0]
        tier = "act" if top.tier == "act" else "watch"
        metric, score, threshold = top.decided_by
        p_value = top.adjusted_p_value
        shown = "< 1e-12" if p_value < 1e-12 else f"{p_value:.2g}"
        headline = self.headline(window, drifted)
        if tier == "watch":
            headline += " slightly (watch: certain, below the practical threshold)"
        reason = (
            f"{headline}; worst {top.feature} ({metric} {score:.3f} > {threshold:.3f}, adjusted p {shown})."
        )
        drift = AlertDrift(
            metric=metric,
            score=score,
            threshold=threshold,
            p_value=top.adjusted_p_value,
            feature=top.feature,
            top_features=[d.feature for d in drifted[:10]],
            reference_size=top.reference_size,
            current_size=top.current_size,
        )
        return self.finding(window, _worst(drifted), reason, drift=drift, evidence=evidence, tier=tier)
