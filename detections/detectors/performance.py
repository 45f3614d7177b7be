"""Performance drop on labelled traffic: accuracy, macro F1 (classifiers); MAE, RMSE (regression).

Applies when the baseline recorded the reference performance (`accuracy`/`confusion` or `mae`/`mse` in
its metadata, from labelled events). One search gets the confusion matrix and the error statistics;
the judgement is `statistics.performance`, the same functions and defaults as `mlsiem gate`'s
performance check, so a window judged here and the same rows judged offline give the same numbers.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field, model_validator

from detections.aggregations import (
    labelled_request,
    parse_absolute_errors,
    parse_confusion,
    parse_squared_errors,
)
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics import performance
from detections.statistics.compare import SEVERITY_ORDER
from detections.statistics.performance import DEFAULTS, ErrorStats, MetricChange, PerformanceThresholds
from detections.window import Window
from mlsiem.ecs.findings import Evidence, Rule


class PerformanceTuning(Tuning):
    """The performance check's knobs, shared by the detector's `tuning:` and the gate's `performance:`."""

    watch_drop: float = Field(DEFAULTS.watch_drop, gt=0, lt=1, description="points: the watch tier starts")
    practical_drop: float = Field(
        DEFAULTS.practical_drop, gt=0, lt=1, description="points: the act tier starts"
    )
    watch_ratio: float = Field(DEFAULTS.watch_ratio, gt=1, description="error ratio: the watch tier starts")
    practical_ratio: float = Field(DEFAULTS.practical_ratio, gt=1, description="error ratio: act starts")
    min_labelled: int = Field(DEFAULTS.min_labelled, ge=2)
    accuracy_steps: tuple[float, float] = DEFAULTS.drop_steps  # points lost at which high, critical start
    error_steps: tuple[float, float] = DEFAULTS.ratio_steps  # error ratio at which high, critical start

    @model_validator(mode="after")
    def _floors_in_order(self) -> PerformanceTuning:
        if self.watch_drop > self.practical_drop or self.watch_ratio > self.practical_ratio:
            raise ValueError(
                "the watch tier's floor (watch_drop, watch_ratio) must not exceed the act tier's"
            )
        return self

    def thresholds(self) -> PerformanceThresholds:
        return PerformanceThresholds(
            watch_drop=self.watch_drop,
            practical_drop=self.practical_drop,
            watch_ratio=self.watch_ratio,
            practical_ratio=self.practical_ratio,
            drop_steps=self.accuracy_steps,
            ratio_steps=self.error_steps,
            min_labelled=self.min_labelled,
        )


def reference_confusion(metadata: dict[str, str]) -> dict[tuple[str, str], int] | None:
    """The baseline's confusion matrix, when it recorded one."""
    if "confusion" not in metadata:
        return None
    return {(str(p), str(t)): int(n) for p, t, n in json.loads(metadata["confusion"])}


def classification(
    metadata: dict[str, str],
    current: dict[tuple[str, str], int],
    alpha: float,
    thresholds: PerformanceThresholds,
) -> list[MetricChange]:
    """Accuracy and macro F1 against the baseline's matrix; accuracy alone against an older baseline."""
    reference = reference_confusion(metadata)
    if reference is not None:
        return performance.classification_changes(reference, current, alpha=alpha, thresholds=thresholds)
    n = int(metadata.get("accuracy_n", "1000"))
    correct, labelled = performance.accuracy_of(current)
    if labelled < thresholds.min_labelled:
        return []
    change = performance.compare_accuracy((round(float(metadata["accuracy"]) * n), n), (correct, labelled))
    return performance.judge([change], alpha, thresholds)


def regression(
    metadata: dict[str, str],
    current: tuple[ErrorStats, ErrorStats | None],
    alpha: float,
    thresholds: PerformanceThresholds,
) -> list[MetricChange]:
    """MAE (and RMSE when the baseline has squared errors) against the baseline's error statistics."""
    n = int(metadata.get("mae_n", "1000"))
    absolute = ErrorStats(float(metadata["mae"]), float(metadata.get("mae_std", "0")), n)
    squared = (
        ErrorStats(float(metadata["mse"]), float(metadata.get("mse_std", "0")), n)
        if "mse" in metadata
        else None
    )
    return performance.regression_changes((absolute, squared), current, alpha=alpha, thresholds=thresholds)


class PerformanceDetector(Detector):
    name = "performance"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-performance-drop",
            "Performance drop",
            "performance",
            "Accuracy or macro F1 (or a regression model's error) on labelled traffic left the baseline.",
        )
    }
    Tuning: ClassVar[type[PerformanceTuning]] = PerformanceTuning
    tuning: PerformanceTuning
    watches = (
        "classifiers: accuracy (two-proportion z-test) and macro F1 (delta-method z-test) on labelled "
        "predictions vs the baseline; regression: MAE and RMSE (Welch t-tests); watch from a 2-point "
        "loss (errors +10%), act from 5 points (errors +25%)"
    )
    computed_with = "nested `terms` (a confusion matrix); `extended_stats` over scripts"

    def applies(self) -> bool:
        metadata = self.setup.profile.metadata
        return "accuracy" in metadata or "mae" in metadata

    def request(self, window: Window) -> dict[str, Any]:
        return labelled_request(window)

    def changes(self, response: dict[str, Any]) -> list[MetricChange]:
        """Every metric's comparison with the baseline (tiered or not), from the labelled search."""
        metadata = self.setup.profile.metadata
        thresholds, alpha = self.tuning.thresholds(), self.setup.alpha
        changes: list[MetricChange] = []
        matrix = parse_confusion(response)
        if "accuracy" in metadata and matrix:
            changes.extend(classification(metadata, matrix, alpha, thresholds))
        errors = parse_absolute_errors(response)
        if "mae" in metadata and errors is not None:
            changes.extend(regression(metadata, (errors, parse_squared_errors(response)), alpha, thresholds))
        return changes

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        judgement = Judgement()
        changes = self.changes(response)
        worse = [c for c in changes if c.tier is not None]
        if not worse:
            return judgement
        worst = max(worse, key=lambda c: SEVERITY_ORDER.index(c.severity))
        field = "value" if worst.metric in performance.LOWER_IS_BETTER else "label"
        query = window.lucene() + f" AND _exists_:mlsiem.ground_truth.{field}"
        reason = (
            f"Performance of {window.model} fell ({worst.tier}): "
            + "; ".join(c.describe() for c in worse)
            + "."
        )
        evidence = Evidence(query=query, event_count=worst.current_n)
        judgement.findings.append(
            self.finding(window, worst.severity, reason, evidence=evidence, tier=worst.tier)
        )
        return judgement
