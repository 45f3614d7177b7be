"""Feature drift: the model's input features no longer follow their reference distributions."""

from __future__ import annotations

from typing import ClassVar

from detections.detectors.base import rule
from detections.detectors.distribution_drift import DistributionDrift
from detections.statistics.compare import FeatureDrift
from detections.window import Window
from mlsiem.ecs.findings import Rule


class FeatureDriftDetector(DistributionDrift):
    name = "feature_drift"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-drift-feature",
            "Feature drift",
            "drift",
            "Input features of a model no longer follow its reference distribution.",
        )
    }
    watches = "every feature against its reference (PSI / JS, KS or chi-square, BH across features)"

    def columns(self) -> list[str]:
        return self.setup.features

    def headline(self, window: Window, drifted: list[FeatureDrift]) -> str:
        plural = "s" if len(drifted) != 1 else ""
        return f"{len(drifted)} feature{plural} of {window.model} drifted"
