"""Prediction drift: the distribution of the model's outputs (score, label or value) moved."""

from __future__ import annotations

from typing import ClassVar

from detections.aggregations import PREDICTION_FIELDS
from detections.detectors.base import rule
from detections.detectors.distribution_drift import DistributionDrift
from detections.statistics.compare import FeatureDrift
from detections.window import Window
from mlsiem.ecs.findings import Rule


class PredictionDriftDetector(DistributionDrift):
    name = "prediction_drift"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-drift-prediction",
            "Prediction drift",
            "drift",
            "The distribution of a model's predictions moved away from its reference.",
        )
    }
    watches = "the score (numeric), label (categorical) and value distributions"

    def columns(self) -> list[str]:
        return [name for name in PREDICTION_FIELDS if name in self.setup.profile.features]

    def headline(self, window: Window, drifted: list[FeatureDrift]) -> str:
        return f"The predictions of {window.model} drifted"
