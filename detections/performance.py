"""Performance drift where ground truth is present: accuracy, precision, recall and F1 from a confusion
matrix counted by the engine (nested `terms` on the predicted and the true label), compared with the
baseline's accuracy by a one-sided two-proportion z-test AND a practical drop (default 5 points)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from detections.windows import Window
from mlsiem.adapter import Engine


def confusion(engine: Engine, index: str, window: Window) -> dict[tuple[str, str], int]:
    body = {
        "size": 0,
        "query": window.query(
            {"exists": {"field": "mlsiem.ground_truth.label"}},
            {"exists": {"field": "mlsiem.prediction.label"}},
        ),
        "aggs": {
            "p": {
                "terms": {"field": "mlsiem.prediction.label", "size": 200},
                "aggs": {"t": {"terms": {"field": "mlsiem.ground_truth.label", "size": 200}}},
            }
        },
    }
    buckets = engine.search(index, body)["aggregations"]["p"]["buckets"]
    return {(str(p["key"]), str(t["key"])): int(t["doc_count"]) for p in buckets for t in p["t"]["buckets"]}


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
