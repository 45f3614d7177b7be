"""Performance change where ground truth is present: one comparison function per metric, pure.

The detector job (counts from engine aggregations) and the offline gate (columns from two files) call
the same functions, with the same defaults (`DEFAULTS`), so both paths give the same numbers.

Every comparison is decided like drift: a change statistically certain at `alpha` (a two-sided test;
Benjamini-Hochberg across the metrics of one comparison) that is a loss of at least a practical size.
Only a loss is a finding, so unchanged data gives at most alpha/2 false calls: the 1% bound holds with
a margin at every size (a one-sided test at alpha would sit exactly at 1%). Two tiers:
- `watch` (severity low): significant and at least a small loss (2 points of accuracy, macro F1 or
  ROC AUC; an error up 10%);
- `act` (medium, high, critical by size): significant and a large loss (5 points; an error up 25%).

The tests: accuracy by the pooled two-proportion z-test; macro F1 by a z-test whose standard errors
come from the delta method on each confusion matrix (deterministic and O(labels^2): counts, not rows;
it agrees with a multinomial bootstrap, tests/test_performance_statistics.py); ROC AUC by DeLong's
variance of each AUC (independent samples); MAE and RMSE by Welch's t-test on the absolute and the
squared errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from detections.statistics.decision import DEFAULT_ALPHA, Severity, Tier
from detections.statistics.multiple_testing import benjamini_hochberg

Confusion = Mapping[tuple[str, str], int]  # (predicted, true) -> count
LOWER_IS_BETTER = ("mae", "rmse")


@dataclass(frozen=True)
class PerformanceThresholds:
    """The practical floors of both tiers and the severity steps: the one place of these defaults."""

    watch_drop: float = 0.02  # accuracy / macro F1 / ROC AUC points: the `watch` tier starts
    practical_drop: float = 0.05  # ... the `act` tier starts
    watch_ratio: float = 1.10  # MAE / RMSE over the reference's: the `watch` tier starts
    practical_ratio: float = 1.25  # ... the `act` tier starts
    drop_steps: tuple[float, float] = (0.10, 0.20)  # a loss of points at which high, critical start
    ratio_steps: tuple[float, float] = (1.5, 2.0)  # an error ratio at which high, critical start
    min_labelled: int = 30  # fewer labelled rows on either side: no verdict


DEFAULTS = PerformanceThresholds()


@dataclass
class MetricChange:
    """One metric on the reference and the current data, its one-sided test and its verdict."""

    metric: str  # accuracy | macro_f1 | roc_auc | mae | rmse
    reference: float
    current: float
    reference_n: int
    current_n: int
    test: str  # z_two_proportion | z_delta | z_delong | welch_t
    statistic: float
    p_value: float
    adjusted_p_value: float = math.nan
    tier: Tier | None = None
    severity: Severity = "none"

    @property
    def change(self) -> float:
        return self.current - self.reference

    @property
    def ratio(self) -> float:
        return self.current / self.reference if self.reference > 0 else math.inf

    @property
    def worse(self) -> bool:
        return self.tier is not None

    def describe(self) -> str:
        """'accuracy fell 0.942 -> 0.912 (-3.0 points, p=1.2e-06)'"""
        if self.metric in LOWER_IS_BETTER:
            change = f"x{self.ratio:.2f}"
            verb = "rose" if self.change > 0 else "fell"
        else:
            change = f"{100 * self.change:+.1f} points"
            verb = "fell" if self.change < 0 else "rose"
        return (
            f"{self.metric} {verb} {self.reference:.4g} -> {self.current:.4g} ({change}, "
            f"p={self.adjusted_p_value:.2g}, {self.current_n} labelled rows)"
        )


def _z_test(metric: str, reference: float, current: float, se: float) -> tuple[float, float]:
    """z (positive for a loss: a fall; for errors, a rise) and its two-sided p-value."""
    loss = current - reference if metric in LOWER_IS_BETTER else reference - current
    if not se > 0:
        return (math.copysign(math.inf, loss) if loss else 0.0), (0.0 if loss else 1.0)
    z = loss / se
    return z, float(2 * norm.sf(abs(z)))


def _decide(change: MetricChange, alpha: float, thresholds: PerformanceThresholds) -> None:
    """Tier and severity from the adjusted p-value and the size of the loss."""
    change.tier, change.severity = None, "none"
    if not change.adjusted_p_value < alpha:
        return
    if change.metric in LOWER_IS_BETTER:
        size, watch, act, steps = (
            change.ratio,
            thresholds.watch_ratio,
            thresholds.practical_ratio,
            (thresholds.ratio_steps),
        )
    else:
        size, watch, act, steps = (
            -change.change,
            thresholds.watch_drop,
            thresholds.practical_drop,
            (thresholds.drop_steps),
        )
    if size >= act:
        change.tier = "act"
        change.severity = "critical" if size >= steps[1] else "high" if size >= steps[0] else "medium"
    elif size >= watch:
        change.tier, change.severity = "watch", "low"


def judge(
    changes: list[MetricChange], alpha: float = DEFAULT_ALPHA, thresholds: PerformanceThresholds = DEFAULTS
) -> list[MetricChange]:
    """Benjamini-Hochberg across the metrics of one comparison, then each metric's tier."""
    adjusted = benjamini_hochberg(np.array([c.p_value for c in changes]))
    for change, p in zip(changes, adjusted, strict=True):
        change.adjusted_p_value = float(p)
        _decide(change, alpha, thresholds)
    return changes


# Classification -------------------------------------------------------------------------------------


def confusion(predicted: np.ndarray, true: np.ndarray) -> dict[tuple[str, str], int]:
    """The confusion matrix of two label arrays as (predicted, true) -> count."""
    names, codes = np.unique(np.concatenate([predicted, true]).astype(str), return_inverse=True)
    n = len(predicted)
    return confusion_of_codes(codes[:n], codes[n:], names)


def confusion_of_codes(
    predicted: np.ndarray, true: np.ndarray, names: np.ndarray
) -> dict[tuple[str, str], int]:
    """The confusion matrix of per-row class codes into `names` (one `bincount`)."""
    k = len(names)
    counts = np.bincount(predicted * k + true, minlength=k * k).reshape(k, k)
    rows, cols = np.nonzero(counts)
    return {(str(names[p]), str(names[t])): int(counts[p, t]) for p, t in zip(rows, cols, strict=True)}


def accuracy_of(matrix: Confusion) -> tuple[int, int]:
    """(correct, labelled)."""
    return sum(n for (p, t), n in matrix.items() if p == t), sum(matrix.values())


def compare_accuracy(reference: tuple[int, int], current: tuple[int, int]) -> MetricChange:
    """Accuracy, (correct, labelled) on each side, by the pooled two-proportion z-test for a fall."""
    (ref_correct, ref_n), (cur_correct, cur_n) = reference, current
    ref_acc, cur_acc = ref_correct / ref_n, cur_correct / cur_n
    pooled = (ref_correct + cur_correct) / (ref_n + cur_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_n + 1 / cur_n))
    z, p = _z_test("accuracy", ref_acc, cur_acc, se)
    return MetricChange("accuracy", ref_acc, cur_acc, ref_n, cur_n, "z_two_proportion", z, p)


def _matrix_array(matrix: Confusion) -> tuple[np.ndarray, int]:
    """A K x K count array (rows predicted, columns true) over the labels of `matrix`."""
    labels = sorted({label for pair in matrix for label in pair})
    index = {label: i for i, label in enumerate(labels)}
    array = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for (p, t), n in matrix.items():
        array[index[p], index[t]] += n
    return array, len(labels)


def _macro_f1(counts: np.ndarray) -> np.ndarray:
    """Macro F1 of (..., K, K) count arrays: the mean F1 over the labels that occur in each."""
    tp = np.diagonal(counts, axis1=-2, axis2=-1).astype(np.float64)
    predicted, true = counts.sum(axis=-1), counts.sum(axis=-2)
    denominator = predicted + true  # 2tp + fp + fn
    present = denominator > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=present)
    return f1.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def macro_f1(matrix: Confusion) -> float:
    """The unweighted mean of the per-label F1 scores (labels predicted or true at least once)."""
    array, k = _matrix_array(matrix)
    return float(_macro_f1(array)) if k else math.nan


def macro_f1_se(matrix: Confusion) -> float:
    """The delta-method standard error of macro F1 under multinomial sampling of the matrix's cells.

    Macro F1 = mean over labels k of 2 p_kk / (r_k + c_k) (r: predicted shares, c: true shares); its
    gradient g over the cell shares p gives Var = (sum p g^2 - (sum p g)^2) / n.
    """
    array, k = _matrix_array(matrix)
    n = int(array.sum())
    if k == 0 or n == 0:
        return math.nan
    p = array / n
    diagonal = np.diag(p)
    denominator = p.sum(axis=1) + p.sum(axis=0)
    present = denominator > 0
    safe = np.where(present, denominator, 1.0)
    # d F1_k / d (r_k + c_k), and d F1_k / d p_kk beyond that (p_kk is in both r_k and c_k)
    via_margin = np.where(present, -2 * diagonal / safe**2, 0.0)
    direct = np.where(present, 2 / safe, 0.0)
    gradient = via_margin[:, None] + via_margin[None, :]  # cell (i, j) is in r_i and in c_j
    gradient[np.diag_indices(k)] += direct
    gradient /= max(int(present.sum()), 1)
    mean = float((p * gradient).sum())
    variance = float((p * gradient**2).sum()) - mean * mean
    return math.sqrt(max(variance, 0.0) / n)


def compare_macro_f1(reference: Confusion, current: Confusion) -> MetricChange:
    """Macro F1 by a z-test on the difference, each side's standard error by the delta method."""
    ref_f1, cur_f1 = macro_f1(reference), macro_f1(current)
    se = math.hypot(macro_f1_se(reference), macro_f1_se(current))
    z, p = _z_test("macro_f1", ref_f1, cur_f1, se)
    ref_n, cur_n = sum(reference.values()), sum(current.values())
    return MetricChange("macro_f1", ref_f1, cur_f1, ref_n, cur_n, "z_delta", z, p)


def auc_delong(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """ROC AUC and DeLong's variance of it (ties count one half; two sorts and binary searches).

    DeLong's components: per positive, the share of negatives it outranks (V10); per negative, the
    share of positives that outrank it (V01). AUC = mean(V10); Var = var(V10)/m + var(V01)/n.
    """
    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    x, y = np.sort(scores[positive]), np.sort(scores[~positive])
    m, n = x.size, y.size
    if m == 0 or n == 0:
        return math.nan, math.nan
    below, not_above = np.searchsorted(y, x, "left"), np.searchsorted(y, x, "right")
    v10 = (below + not_above) / (2 * n)  # below + half of the ties
    under, not_over = np.searchsorted(x, y, "left"), np.searchsorted(x, y, "right")
    v01 = ((m - not_over) + (m - under)) / (2 * m)  # above + half of the ties
    auc = float(v10.mean())
    variance = (v10.var(ddof=1) if m > 1 else 0.0) / m + (v01.var(ddof=1) if n > 1 else 0.0) / n
    return auc, float(variance)


def compare_auc(
    reference: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray]
) -> MetricChange:
    """ROC AUC, (scores, is-positive) on each side, by a z-test with DeLong's variances."""
    ref_auc, ref_var = auc_delong(*reference)
    cur_auc, cur_var = auc_delong(*current)
    z, p = _z_test("roc_auc", ref_auc, cur_auc, math.sqrt(ref_var + cur_var))
    if math.isnan(ref_auc) or math.isnan(cur_auc):
        z, p = math.nan, math.nan
    return MetricChange("roc_auc", ref_auc, cur_auc, len(reference[0]), len(current[0]), "z_delong", z, p)


def classification_changes(
    reference: Confusion,
    current: Confusion,
    *,
    scores: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    alpha: float = DEFAULT_ALPHA,
    thresholds: PerformanceThresholds = DEFAULTS,
) -> list[MetricChange]:
    """Accuracy, macro F1 and (with `scores`: reference and current (score, is-positive)) ROC AUC,
    judged together; empty below `min_labelled` labelled rows on either side."""
    if min(sum(reference.values()), sum(current.values())) < thresholds.min_labelled:
        return []
    changes = [
        compare_accuracy(accuracy_of(reference), accuracy_of(current)),
        compare_macro_f1(reference, current),
    ]
    if scores is not None:
        changes.append(compare_auc(*scores))
    return judge(changes, alpha, thresholds)


# Regression ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorStats:
    """Mean, standard deviation and count of per-row errors (absolute or squared)."""

    mean: float
    std: float
    count: int

    @classmethod
    def of(cls, values: np.ndarray) -> ErrorStats:
        values = np.asarray(values, dtype=np.float64)
        return cls(float(values.mean()), float(values.std()), int(values.size))


def regression_errors(true: np.ndarray, predicted: np.ndarray) -> tuple[ErrorStats, ErrorStats]:
    """(absolute, squared) error statistics of the rows with both values."""
    error = np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    error = error[np.isfinite(error)]
    return ErrorStats.of(np.abs(error)), ErrorStats.of(error * error)


def _welch(reference: ErrorStats, current: ErrorStats) -> tuple[float, float]:
    """Welch's t-test of the mean error (positive for a rise), two-sided."""
    a, b = reference.std**2 / max(reference.count - 1, 1), current.std**2 / max(current.count - 1, 1)
    se = math.sqrt(a + b)
    if not se > 0:
        return _z_test("mae", reference.mean, current.mean, 0.0)
    dof = (a + b) ** 2 / (
        (a * a / max(reference.count - 1, 1) if a else 0.0)
        + (b * b / max(current.count - 1, 1) if b else 0.0)
    )
    statistic = (current.mean - reference.mean) / se
    return statistic, float(2 * student_t.sf(abs(statistic), dof))


def compare_mae(reference: ErrorStats, current: ErrorStats) -> MetricChange:
    """Mean absolute error, by Welch's t-test on the absolute errors."""
    statistic, p = _welch(reference, current)
    return MetricChange(
        "mae", reference.mean, current.mean, reference.count, current.count, "welch_t", statistic, p
    )


def compare_rmse(reference: ErrorStats, current: ErrorStats) -> MetricChange:
    """Root mean squared error, by Welch's t-test on the squared errors (the test is of the MSE)."""
    statistic, p = _welch(reference, current)
    return MetricChange(
        "rmse",
        math.sqrt(reference.mean),
        math.sqrt(current.mean),
        reference.count,
        current.count,
        "welch_t",
        statistic,
        p,
    )


def regression_changes(
    reference: tuple[ErrorStats, ErrorStats | None],
    current: tuple[ErrorStats, ErrorStats | None],
    *,
    alpha: float = DEFAULT_ALPHA,
    thresholds: PerformanceThresholds = DEFAULTS,
) -> list[MetricChange]:
    """MAE and (when both sides have squared errors) RMSE, judged together; (absolute, squared) stats."""
    if min(reference[0].count, current[0].count) < thresholds.min_labelled:
        return []
    changes = [compare_mae(reference[0], current[0])]
    if reference[1] is not None and current[1] is not None:
        changes.append(compare_rmse(reference[1], current[1]))
    return judge(changes, alpha, thresholds)
