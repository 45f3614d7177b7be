"""Performance drift where ground truth is present: pure statistics on a confusion matrix or errors.

Classifiers: accuracy and macro F1 from a confusion matrix ((predicted, true) -> count), against the
baseline's accuracy by a one-sided two-proportion z-test AND a practical drop (default 5 points).
Regression: the mean absolute error, against the baseline's by a one-sided Welch z-test AND a
practical rise (default 1.25x)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm


@dataclass
class PerformanceDrop:
    accuracy: float
    baseline_accuracy: float
    labelled: int
    p_value: float
    macro_f1: float

    def reason(self, model: str) -> str:
        return (
            f"Accuracy of {model} fell to {self.accuracy:.1%} on {self.labelled} labelled predictions "
            f"(baseline {self.baseline_accuracy:.1%}, macro F1 {self.macro_f1:.2f})."
        )


def macro_f1(matrix: dict[tuple[str, str], int]) -> float:
    labels = {label for pair in matrix for label in pair}
    scores = []
    for label in labels:
        tp = matrix.get((label, label), 0)
        fp = sum(n for (p, t), n in matrix.items() if p == label and t != label)
        fn = sum(n for (p, t), n in matrix.items() if t == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores) if scores else math.nan


def detect(
    matrix: dict[tuple[str, str], int],
    baseline_accuracy: float,
    baseline_n: int,
    alpha: float = 0.01,
    practical_drop: float = 0.05,
    min_labelled: int = 30,
) -> PerformanceDrop | None:
    n = sum(matrix.values())
    if n < min_labelled:
        return None
    accuracy = sum(v for (p, t), v in matrix.items() if p == t) / n
    pooled = (accuracy * n + baseline_accuracy * baseline_n) / (n + baseline_n)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n + 1 / max(baseline_n, 1)))
    p_value = float(norm.sf((baseline_accuracy - accuracy) / se))
    if baseline_accuracy - accuracy >= practical_drop and p_value < alpha:
        return PerformanceDrop(accuracy, baseline_accuracy, n, p_value, macro_f1(matrix))
    return None


@dataclass
class ErrorRise:
    mae: float
    baseline_mae: float
    labelled: int
    p_value: float

    def reason(self, model: str) -> str:
        return (
            f"Mean absolute error of {model} rose to {self.mae:.3g} on {self.labelled} labelled predictions "
            f"(baseline {self.baseline_mae:.3g}, {self.mae / max(self.baseline_mae, 1e-12):.1f}x)."
        )


def detect_regression(
    current: tuple[float, float, int],
    baseline: tuple[float, float, int],
    alpha: float = 0.01,
    practical_ratio: float = 1.25,
    min_labelled: int = 30,
) -> ErrorRise | None:
    """MAE above the baseline's by a practical ratio AND by a one-sided Welch z-test."""
    mae, sd, n = current
    base, base_sd, base_n = baseline
    if n < min_labelled:
        return None
    se = math.sqrt(sd * sd / n + base_sd * base_sd / max(base_n, 1)) or 1e-12
    p_value = float(norm.sf((mae - base) / se))
    if mae >= base * practical_ratio and p_value < alpha:
        return ErrorRise(mae, base, n, p_value)
    return None
