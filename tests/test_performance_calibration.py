"""Calibration of the performance check by simulation: on unchanged data (the same model on a new
sample) it calls a loss in at most 1% of comparisons, shown with a one-sided 95% Clopper-Pearson upper
bound, at every size from 30 to 10^5 labelled rows. The production functions decide every comparison;
the data are drawn vectorized (confusion matrices as multinomial counts: the same as drawing rows)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from detections.statistics import performance as perf

WINDOWS = 3_000


def upper_bound(calls: int, windows: int, confidence: float = 0.95) -> float:
    return float(beta.ppf(confidence, calls + 1, windows - calls))


def _matrix(counts: np.ndarray, k: int) -> dict[tuple[str, str], int]:
    return {(str(p), str(t)): int(counts[p * k + t]) for p in range(k) for t in range(k) if counts[p * k + t]}


@pytest.mark.parametrize(
    ("n", "cells"),
    [
        (30, (0.55, 0.05, 0.04, 0.36)),  # binary, 91% accurate
        (100, (0.55, 0.05, 0.04, 0.36)),
        (1_000, (0.65, 0.01, 0.02, 0.32)),  # binary, 97% accurate
        (10_000, (0.40, 0.05, 0.05, 0.05, 0.20, 0.03, 0.02, 0.04, 0.16)),  # three classes, 76%
        (100_000, (0.55, 0.05, 0.04, 0.36)),
    ],
)
def test_accuracy_and_macro_f1_false_calls_at_most_1_percent(n: int, cells: tuple[float, ...]) -> None:
    rng = np.random.default_rng(n)
    k = round(len(cells) ** 0.5)
    shares = np.asarray(cells) / sum(cells)
    reference = rng.multinomial(n, shares, size=WINDOWS)
    current = rng.multinomial(n, shares, size=WINDOWS)
    calls = sum(
        any(c.tier for c in perf.classification_changes(_matrix(r, k), _matrix(c, k)))
        for r, c in zip(reference, current, strict=True)
    )
    assert upper_bound(calls, WINDOWS) <= 0.01, f"{calls} false calls in {WINDOWS} comparisons of {n} rows"


@pytest.mark.parametrize("n", [30, 3_000])
def test_roc_auc_false_calls_at_most_1_percent(n: int) -> None:
    rng = np.random.default_rng(n)
    positive = rng.random((2, WINDOWS, n)) < 0.3
    scores = (np.where(positive, 0.62, 0.38) + rng.normal(0, 0.2, positive.shape)).round(2)  # with ties
    calls = 0
    for i in range(WINDOWS):
        change = perf.judge(
            [perf.compare_auc((scores[0, i], positive[0, i]), (scores[1, i], positive[1, i]))]
        )
        calls += change[0].tier is not None
    assert upper_bound(calls, WINDOWS) <= 0.01, f"{calls} false calls in {WINDOWS} comparisons of {n} rows"


@pytest.mark.parametrize("n", [30, 100, 1_000, 10_000])
def test_mae_and_rmse_false_calls_at_most_1_percent(n: int) -> None:
    """Heavy-ish tails (t with 5 degrees of freedom): squared errors are skewed, the hard case for Welch."""
    rng = np.random.default_rng(n)
    calls = 0
    for block in np.array_split(np.arange(WINDOWS), max(1, WINDOWS * n // 2_000_000)):
        errors = rng.standard_t(5, size=(2, block.size, n))
        absolute, squared = np.abs(errors), errors * errors
        for i in range(block.size):
            reference = (perf.ErrorStats.of(absolute[0, i]), perf.ErrorStats.of(squared[0, i]))
            current = (perf.ErrorStats.of(absolute[1, i]), perf.ErrorStats.of(squared[1, i]))
            calls += any(c.tier for c in perf.regression_changes(reference, current))
    assert upper_bound(calls, WINDOWS) <= 0.01, f"{calls} false calls in {WINDOWS} comparisons of {n} rows"


def test_power_three_point_accuracy_drop_on_5000_rows_is_called_in_95_percent() -> None:
    rng = np.random.default_rng(7)
    windows = 400
    reference = rng.multinomial(5_000, (0.471, 0.029, 0.029, 0.471), size=windows)  # 94.2%
    current = rng.multinomial(5_000, (0.456, 0.044, 0.044, 0.456), size=windows)  # 91.2%
    calls = sum(
        any(c.tier for c in perf.classification_changes(_matrix(r, 2), _matrix(c, 2)))
        for r, c in zip(reference, current, strict=True)
    )
    assert calls / windows >= 0.95
