"""Calibration and power of the drift decision, by simulation.

Under no drift, windows of 30 to 1,000,000 rows must give at most 1% false drift calls per
feature-window, shown with a one-sided 95% Clopper-Pearson upper bound. Small windows run the exact
sample path (sorted windows against a sorted reference), big ones the binned path (multinomial counts
on the profile's percentile bins, as the engine's range aggregation would return them). Each block of
windows gets a freshly drawn reference, since the rate conditional on one reference varies.
The decision is evaluated vectorized with the production pieces: `DecisionRule.threshold`, PSI/JS on
the same bins, and the test's critical value (p <= alpha <=> statistic >= critical value).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.stats import beta, norm

from detections.statistics import DecisionRule, build_profile, compare
from detections.statistics import categorical as cat
from detections.statistics.binning import bin_counts, coarse_groups, merge_counts, quantile_edges
from detections.statistics.divergence import js_distance, psi
from detections.statistics.numeric import ks_binned_statistic, ks_pvalue, ks_statistic

RULE = DecisionRule()
ALPHA = RULE.alpha
CATEGORY_SHARES = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])


def upper_bound(calls: int, windows: int, confidence: float = 0.95) -> float:
    return float(beta.ppf(confidence, calls + 1, windows - calls))


@functools.cache
def ks_critical(n_reference: int, n_current: int) -> float:
    """Smallest KS statistic with p <= alpha (p decreases with the statistic): bisection."""
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if ks_pvalue(middle, n_reference, n_current)[0] <= ALPHA:
            high = middle
        else:
            low = middle
    return high


def batch_counts(windows: np.ndarray, edges: np.ndarray) -> np.ndarray:
    index = np.searchsorted(edges, windows, side="right")
    rows, bins = windows.shape[0], edges.size + 1
    offsets = (index + np.arange(rows)[:, None] * bins).ravel()
    return np.bincount(offsets, minlength=rows * bins).reshape(rows, bins)


def numeric_calls(rng: np.random.Generator, n: int, windows: int, shift: float, m: int) -> np.ndarray:
    """Drift calls (bool per window) for windows of n rows from N(shift, 1) against N(0, 1)."""
    reference = np.sort(rng.normal(size=m))
    edges = quantile_edges(reference)
    reference_fine = bin_counts(reference, edges, assume_sorted=True)
    starts = coarse_groups(reference_fine)
    reference_coarse = merge_counts(reference_fine, starts)
    threshold = RULE.threshold("psi", None, m, n, starts.size - 1)
    if n <= 2_000:  # exact sample path
        current = np.sort(rng.normal(shift, 1.0, size=(windows, n)), axis=1)
        statistic = ks_statistic(reference, current)
        current_fine = batch_counts(current, edges)
    else:  # binned path: counts on the profile's bins from the true distribution
        bounds = np.concatenate(([-np.inf], edges, [np.inf]))
        shares = np.diff(norm.cdf(bounds - shift))
        current_fine = rng.multinomial(n, shares, size=windows)
        statistic, _ = ks_binned_statistic(reference_fine, current_fine)
    score = psi(reference_coarse, merge_counts(current_fine, starts))
    return (score >= threshold) & (statistic >= ks_critical(m, n))


@pytest.mark.parametrize(
    ("n", "blocks", "windows", "m"),
    [
        (30, 4, 600, 5_000),  # exact KS p-values (both samples <= 10,000)
        (30, 4, 600, 50_000),
        (50, 4, 600, 50_000),
        (100, 4, 600, 50_000),
        (200, 4, 600, 50_000),
        (500, 4, 500, 50_000),
        (1_000, 4, 400, 100_000),
        (10_000, 4, 600, 200_000),
        (100_000, 4, 600, 1_000_000),
        (1_000_000, 4, 600, 1_000_000),
    ],
)
def test_numeric_false_drift_rate_is_at_most_one_percent(n: int, blocks: int, windows: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    calls = sum(int(numeric_calls(rng, n, windows, 0.0, m).sum()) for _ in range(blocks))
    total = blocks * windows
    assert upper_bound(calls, total) <= 0.01, f"{calls} false calls in {total} windows of {n} rows"


def test_half_sigma_shift_is_caught_in_95_percent_of_500_row_windows() -> None:
    rng = np.random.default_rng(500)
    calls = numeric_calls(rng, 500, 1_000, 0.5, 50_000)
    assert calls.mean() >= 0.95
    assert beta.ppf(0.05, calls.sum(), 1_000 - calls.sum() + 1) >= 0.95 or calls.all()


def test_a_practically_irrelevant_shift_at_a_million_rows_is_not_drift() -> None:
    rng = np.random.default_rng(2)
    m = n = 1_000_000
    calls = numeric_calls(rng, n, 200, 0.02, m)
    assert not calls.any()
    # ...although the shift is highly significant: KS alone would flag every window.
    reference, current = np.sort(rng.normal(size=m)), np.sort(rng.normal(0.02, 1.0, size=n))
    assert ks_statistic(reference, current) >= ks_critical(m, n)


def test_the_vectorized_decision_is_compare_s_decision() -> None:
    rng = np.random.default_rng(9)
    reference = rng.normal(size=5_000)
    profile = build_profile({"x": reference}, keep_samples=True)
    edges = np.asarray(profile.features["x"].edges)
    starts = coarse_groups(np.asarray(profile.features["x"].bin_counts))
    for shift in (0.0, 0.3, 0.6):
        for _ in range(5):
            window = np.sort(rng.normal(shift, 1.0, size=80))
            result = compare(profile, {"x": window}).features[0]
            score = psi(
                merge_counts(np.asarray(profile.features["x"].bin_counts), starts),
                merge_counts(bin_counts(window, edges), starts),
            )
            manual = score >= result.threshold and ks_statistic(profile.samples["x"], window) >= ks_critical(
                5_000, 80
            )
            assert result.drifted == bool(manual)


def categorical_calls(
    rng: np.random.Generator, n: int, windows: int, shares: np.ndarray, m: int
) -> np.ndarray:
    reference = rng.multinomial(m, CATEGORY_SHARES).astype(float)
    current = rng.multinomial(n, shares, size=windows)
    score = js_distance(reference, current)
    threshold = RULE.threshold("js", None, m, n, CATEGORY_SHARES.size - 1)
    calls = np.zeros(windows, dtype=bool)
    for i in np.flatnonzero(score >= threshold):  # the test only matters where the effect passes
        calls[i] = cat.chi_square(*cat.pool_rare(reference, current[i])).p_value <= ALPHA
    return calls


@pytest.mark.parametrize("n", [30, 50, 100, 500, 10_000, 1_000_000])
def test_categorical_false_drift_rate_is_at_most_one_percent(n: int) -> None:
    rng = np.random.default_rng(n)
    blocks, windows = 4, 750
    calls = sum(int(categorical_calls(rng, n, windows, CATEGORY_SHARES, 50_000).sum()) for _ in range(blocks))
    assert upper_bound(calls, blocks * windows) <= 0.01, f"{calls} false calls in {blocks * windows} windows"


def test_categorical_shift_is_caught_in_95_percent_of_500_row_windows() -> None:
    shifted = np.array([0.20, 0.25, 0.20, 0.15, 0.12, 0.08])  # the top category loses 15 points
    assert float(js_distance(CATEGORY_SHARES, shifted)) > 0.15
    calls = categorical_calls(np.random.default_rng(1), 500, 1_000, shifted, 50_000)
    assert calls.mean() >= 0.95
