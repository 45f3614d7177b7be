"""Multivariate drift: the joint structure of the features changed (PCA reconstruction error).

Needs raw vectors, so it asks for a bounded random sample of the window (`multivariate_sample` rows):
its cost does not grow with the window's events.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detections.aggregations import parse_sample, sample_request, total_events
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics.decision import MULTIVARIATE_PRACTICAL
from detections.statistics.multivariate import multivariate_drift, reconstruction_errors
from detections.window import Window
from mlsiem.ecs.findings import AlertDrift, Evidence, Rule, SeverityLabel


class MultivariateTuning(Tuning):
    practical: float = Field(MULTIVARIATE_PRACTICAL, gt=0, description="relative rise of the mean error")
    severity: SeverityLabel = "medium"


class MultivariateDetector(Detector):
    name = "multivariate"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-drift-multivariate",
            "Multivariate drift",
            "drift",
            "The joint structure of the features changed (PCA reconstruction error).",
        )
    }
    Tuning: ClassVar[type[MultivariateTuning]] = MultivariateTuning
    tuning: MultivariateTuning
    watches = "PCA reconstruction error of the joint feature vector"
    computed_with = "a bounded random sample (`function_score` + `random_score`)"

    def applies(self) -> bool:
        return self.setup.profile.multivariate is not None

    def request(self, window: Window) -> dict[str, Any]:
        model = self.setup.profile.multivariate
        assert model is not None
        return sample_request(window, model.features, self.setup.multivariate_sample)

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        model = self.setup.profile.multivariate
        assert model is not None
        sample = parse_sample(response, model.features)
        rows = min((v.size for v in sample.values()), default=0)
        if rows < self.setup.min_window_events:
            return Judgement()
        errors = reconstruction_errors(model, sample)
        verdict = multivariate_drift(model, errors, self.setup.alpha, self.tuning.practical)
        if not verdict.drifted:
            return Judgement()
        reason = (
            f"The joint feature structure of {window.model} changed: PCA reconstruction error "
            f"{verdict.score:.2f} > {verdict.threshold:.2f}."
        )
        drift = AlertDrift(
            metric="pca_reconstruction",
            score=verdict.score,
            threshold=verdict.threshold,
            p_value=verdict.p_value,
            current_size=rows,
        )
        evidence = Evidence(query=window.lucene(), event_count=total_events(response))
        return Judgement(
            findings=[self.finding(window, self.tuning.severity, reason, drift=drift, evidence=evidence)]
        )
