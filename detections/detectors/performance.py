"""Performance drop on labelled traffic: accuracy (classifiers) or mean absolute error (regression).

Applies when the baseline recorded the reference performance (`accuracy` or `mae` in its metadata,
from labelled events or a labelled file). One search gets both the confusion matrix and the error
statistics; the judgement is `statistics.performance`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detections.aggregations import labelled_request, parse_absolute_errors, parse_confusion
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics import performance
from detections.window import Window
from mlsiem.ecs.findings import Evidence, Rule, SeverityLabel


class PerformanceTuning(Tuning):
    practical_drop: float = Field(0.05, gt=0, lt=1, description="accuracy points that matter")
    practical_ratio: float = Field(1.25, gt=1, description="MAE ratio to the baseline that matters")
    min_labelled: int = Field(30, ge=1)
    accuracy_steps: tuple[float, float] = (0.1, 0.2)  # accuracy loss at which medium, high start
    error_steps: tuple[float, float] = (1.5, 2.0)  # MAE ratio at which medium, high start


def _tier(value: float, steps: tuple[float, float]) -> SeverityLabel:
    return "high" if value >= steps[1] else "medium" if value >= steps[0] else "low"


class PerformanceDetector(Detector):
    name = "performance"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-performance-drop",
            "Performance drop",
            "performance",
            "Accuracy (or the error of a regression model) on labelled traffic left the baseline.",
        )
    }
    Tuning: ClassVar[type[PerformanceTuning]] = PerformanceTuning
    tuning: PerformanceTuning
    watches = (
        "classifiers: accuracy / macro F1 on labelled predictions vs the baseline (one-sided z-test and a "
        "5-point practical drop); regression: mean absolute error (Welch z-test and a 1.25x practical rise)"
    )
    computed_with = "nested `terms` (a confusion matrix); `extended_stats` over a script"

    def applies(self) -> bool:
        metadata = self.setup.profile.metadata
        return "accuracy" in metadata or "mae" in metadata

    def request(self, window: Window) -> dict[str, Any]:
        return labelled_request(window)

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        judgement = Judgement()
        metadata = self.setup.profile.metadata
        tuning = self.tuning
        if "accuracy" in metadata:
            drop = performance.detect(
                parse_confusion(response),
                float(metadata["accuracy"]),
                int(metadata.get("accuracy_n", "1000")),
                self.setup.alpha,
                practical_drop=tuning.practical_drop,
                min_labelled=tuning.min_labelled,
            )
            if drop is not None:
                query = window.lucene() + " AND _exists_:mlsiem.ground_truth.label"
                severity = _tier(drop.baseline_accuracy - drop.accuracy, tuning.accuracy_steps)
                evidence = Evidence(query=query, event_count=drop.labelled)
                judgement.findings.append(
                    self.finding(window, severity, drop.reason(window.model), evidence=evidence)
                )
        current = parse_absolute_errors(response)
        if "mae" in metadata and current is not None:
            baseline = (
                float(metadata["mae"]),
                float(metadata.get("mae_std", "0")),
                int(metadata.get("mae_n", "1000")),
            )
            rise = performance.detect_regression(
                current,
                baseline,
                self.setup.alpha,
                practical_ratio=tuning.practical_ratio,
                min_labelled=tuning.min_labelled,
            )
            if rise is not None:
                query = window.lucene() + " AND _exists_:mlsiem.ground_truth.value"
                severity = _tier(rise.mae / max(rise.baseline_mae, 1e-12), tuning.error_steps)
                evidence = Evidence(query=query, event_count=rise.labelled)
                judgement.findings.append(
                    self.finding(window, severity, rise.reason(window.model), evidence=evidence)
                )
        return judgement
