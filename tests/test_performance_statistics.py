"""The performance statistics: values against scikit-learn, variances against brute force and the
bootstrap, tiers, and power for the goals (a 3-point accuracy drop on 5,000 rows, an MAE rise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score

from detections.detectors.performance import PerformanceTuning
from detections.statistics import performance as perf
from detections.statistics.performance import DEFAULTS, ErrorStats


def classifier(rng: np.random.Generator, n: int, accuracy: float, classes: int = 2) -> tuple[np.ndarray, ...]:
    """(predicted, true, score of class 1): a classifier right with probability `accuracy`."""
    true = rng.integers(0, classes, n)
    right = rng.random(n) < accuracy
    predicted = np.where(right, true, (true + rng.integers(1, classes, n)) % classes)
    score = np.clip(np.where(true == 1, 0.65, 0.35) + rng.normal(0, 0.2, n), 0, 1).round(2)  # ties
    return predicted.astype(str), true.astype(str), score


def test_accuracy_and_macro_f1_equal_sklearn() -> None:
    rng = np.random.default_rng(1)
    for classes in (2, 3, 5):
        predicted, true, _ = classifier(rng, 2_000, 0.8, classes)
        matrix = perf.confusion(predicted, true)
        correct, n = perf.accuracy_of(matrix)
        assert (correct, n) == (int((predicted == true).sum()), 2_000)
        assert perf.macro_f1(matrix) == pytest.approx(f1_score(true, predicted, average="macro"), abs=1e-12)


def test_roc_auc_equals_sklearn_and_delong_variance_equals_brute_force() -> None:
    rng = np.random.default_rng(2)
    _, true, score = classifier(rng, 400, 0.9)
    positive = true == "1"
    auc, variance = perf.auc_delong(score, positive)
    assert auc == pytest.approx(roc_auc_score(positive, score), abs=1e-12)
    x, y = score[positive], score[~positive]
    kernel = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])  # DeLong's structural components
    v10, v01 = kernel.mean(axis=1), kernel.mean(axis=0)
    assert variance == pytest.approx(v10.var(ddof=1) / x.size + v01.var(ddof=1) / y.size, rel=1e-9)


def test_macro_f1_delta_method_agrees_with_the_bootstrap() -> None:
    """Resampling rows is drawing the matrix's cells from a multinomial: 4,000 draws, vectorized."""
    rng = np.random.default_rng(3)
    for classes, n in ((2, 300), (4, 2_000), (6, 10_000)):
        predicted, true, _ = classifier(rng, n, 0.75, classes)
        matrix = perf.confusion(predicted, true)
        cells, k = perf._matrix_array(matrix)
        draws = rng.multinomial(n, cells.ravel() / n, size=4_000).reshape(-1, k, k)
        bootstrap = perf._macro_f1(draws).std(ddof=1)
        assert perf.macro_f1_se(matrix) == pytest.approx(bootstrap, rel=0.08)


def test_mae_and_rmse_equal_sklearn_and_welch_matches_scipy() -> None:
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(4)
    true = rng.normal(100, 20, 500)
    ref_pred, cur_pred = true + rng.normal(0, 1, 500), true[:400] + rng.normal(0.1, 1.2, 400)
    (ref_abs, ref_sq), (cur_abs, cur_sq) = (
        perf.regression_errors(true, ref_pred),
        perf.regression_errors(true[:400], cur_pred),
    )
    mae = perf.compare_mae(ref_abs, cur_abs)
    assert mae.current == pytest.approx(mean_absolute_error(true[:400], cur_pred))
    rmse = perf.compare_rmse(ref_sq, cur_sq)
    assert rmse.reference == pytest.approx(math.sqrt(np.mean((ref_pred - true) ** 2)))
    welch = ttest_ind(np.abs(cur_pred - true[:400]), np.abs(ref_pred - true), equal_var=False)
    assert mae.statistic == pytest.approx(welch.statistic, rel=1e-9)
    assert mae.p_value == pytest.approx(welch.pvalue, rel=1e-6)


def test_three_point_accuracy_drop_on_5000_rows_is_called_and_the_same_accuracy_is_not() -> None:
    reference = (round(0.942 * 5_000), 5_000)
    drop = perf.judge([perf.compare_accuracy(reference, (round(0.912 * 5_000), 5_000))])[0]
    assert drop.tier == "watch" and drop.severity == "low" and drop.p_value < 1e-6
    same = perf.judge([perf.compare_accuracy(reference, (round(0.940 * 5_000), 5_000))])[0]
    assert same.tier is None and same.severity == "none"
    rise = perf.judge([perf.compare_accuracy(reference, (round(0.99 * 5_000), 5_000))])[0]
    assert rise.p_value < 1e-6 and rise.tier is None  # a significant improvement is no finding


@pytest.mark.parametrize(
    ("current", "tier", "severity"),
    [
        (0.93, None, "none"),
        (0.91, "watch", "low"),
        (0.88, "act", "medium"),
        (0.82, "act", "high"),
        (0.70, "act", "critical"),
    ],
)
def test_tiers_and_severity_by_the_size_of_a_significant_drop(
    current: float, tier: str | None, severity: str
) -> None:
    change = perf.judge([perf.compare_accuracy((9_500, 10_000), (round(current * 10_000), 10_000))])[0]
    assert (change.tier, change.severity) == (tier, severity)  # 0.93: significant but under 2 points


def test_regression_mae_rise_is_called_by_tier() -> None:
    rng = np.random.default_rng(5)
    true = rng.normal(100, 20, 3_000)
    reference = perf.regression_errors(true, true + rng.normal(0, 1.0, 3_000))
    for scale, tier in ((1.0, None), (1.15, "watch"), (1.4, "act")):
        current = perf.regression_errors(true, true + rng.normal(0, scale, 3_000))
        changes = perf.regression_changes(reference, current)
        by_metric = {c.metric: c for c in changes}
        assert by_metric["mae"].tier == tier, (scale, by_metric["mae"].describe())
    assert by_metric["rmse"].tier == "act" and "rmse rose" in by_metric["rmse"].describe()


def test_too_few_labelled_rows_give_no_verdict() -> None:
    matrix = {("a", "a"): 20, ("b", "a"): 9}
    assert perf.classification_changes(matrix, {("a", "a"): 1, ("b", "a"): 28}) == []
    few = ErrorStats(1.0, 1.0, 29)
    assert perf.regression_changes((few, None), (ErrorStats(5.0, 1.0, 1000), None)) == []


def test_the_detector_tuning_defaults_are_the_statistics_defaults() -> None:
    assert PerformanceTuning().thresholds() == DEFAULTS
