"""Multivariate drift: the joint distribution of the features changed (reconstruction error, mean shift).

Needs raw vectors, so it asks for a bounded random sample of the window (`multivariate_sample` rows),
categorical features included: its cost does not grow with the window's events. The features are
those of the baseline's multivariate model (chosen when the baseline was built: identifiers,
timestamps, predictions and labels left out). The statistics are the offline path's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from detections.aggregations import parse_sample, sample_request, total_events
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics.multivariate import ERROR_FLOORS, MEAN_FLOORS, encode, multivariate_drift
from detections.window import Window
from mlsiem.ecs.findings import AlertDrift, Evidence, Rule


class MultivariateTuning(Tuning):
    error_floors: tuple[float, float] = Field(
        ERROR_FLOORS, description="watch and act floors of |relative change| of the mean reconstruction error"
    )
    mean_floors: tuple[float, float] = Field(
        MEAN_FLOORS, description="watch and act floors of the mean vector's Mahalanobis distance"
    )

    @model_validator(mode="after")
    def _ordered(self) -> MultivariateTuning:
        for name, (watch, act) in (("error_floors", self.error_floors), ("mean_floors", self.mean_floors)):
            if not 0 < watch <= act:
                raise ValueError(f"{name}: need 0 < watch <= act, got [{watch}, {act}]")
        return self


class MultivariateDetector(Detector):
    name = "multivariate"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-drift-multivariate",
            "Multivariate drift",
            "drift",
            "The joint distribution of the features changed (PCA reconstruction error or mean vector).",
        )
    }
    Tuning: ClassVar[type[MultivariateTuning]] = MultivariateTuning
    tuning: MultivariateTuning
    watches = "PCA reconstruction error (two-sided) and mean vector (Hotelling) of the encoded feature rows"
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
        sample = parse_sample(response, model.features, model.categories)
        rows = min((v.size for v in sample.values()), default=0)
        if rows < self.setup.min_window_events:
            return Judgement()
        verdict = multivariate_drift(
            model, encode(model, sample), self.setup.alpha, self.tuning.error_floors, self.tuning.mean_floors
        )
        if not verdict.drifted or verdict.severity == "none":
            return Judgement()
        reason = (
            f"The joint feature distribution of {window.model} changed ({verdict.tier}): {verdict.reason}."
        )
        score, threshold = verdict.effect
        drift = AlertDrift(
            metric=verdict.metric or "reconstruction_error",
            score=score,
            threshold=threshold,
            p_value=verdict.p_value,
            current_size=rows,
        )
        evidence = Evidence(query=window.lucene(), event_count=total_events(response))
        return Judgement(
            findings=[
                self.finding(
                    window,
                    verdict.severity,
                    reason,
                    drift=drift,
                    evidence=evidence,
                    tier=verdict.tier,  # type: ignore[arg-type]
                )
            ]
        )
