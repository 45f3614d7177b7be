"""Calibration and power of the tiered drift decision, by simulation.

Under no drift, windows of 30 to 1,000,000 rows must give at most 1% false drift calls per
feature-window AT EITHER TIER, shown with a one-sided 95% Clopper-Pearson upper bound, on normal,
skewed (lognormal) and discrete (Poisson) features and on categorical ones. Windows up to a few
thousand rows run the exact sample path (sorted windows against the reference's samples), big ones the
binned path (counts on the profile's percentile bins and the window's mean, as the engine returns
them). Each block of windows gets a freshly drawn reference, since the rate conditional on one
reference varies. The small-window decision is evaluated vectorized with the production pieces; a
test checks that it equals `compare`'s decision window by window.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta, chi2, norm

from detections.statistics import DecisionRule, NumericCounts, build_profile, compare
from detections.statistics import categorical as cat
from detections.statistics.binning import bin_counts, coarse_groups, merge_counts
from detections.statistics.compare import BINS_TEST_MIN_ROWS, MEAN_TEST_MIN_ROWS
from detections.statistics.decision import WATCH_CERTAINTY
from detections.statistics.divergence import js_distance, psi
from detections.statistics.numeric import ks_pvalue, ks_statistic, spread

RULE = DecisionRule()
ALPHA = RULE.alpha
CATEGORY_SHARES = np.array([0.30, 0.25, 0.15, 0.12, 0.10, 0.08])
DISTRIBUTIONS = {
    "normal": lambda rng, size, shift=0.0, scale=1.0: rng.normal(shift, scale, size=size),
    "lognormal": lambda rng, size, shift=0.0, scale=1.0: rng.lognormal(shift, scale, size=size),
    "poisson": lambda rng, size, shift=0.0, scale=1.0: rng.poisson(3.0 + shift, size=size).astype(float),
}


def upper_bound(calls: int, windows: int, confidence: float = 0.95) -> float:
    return float(beta.ppf(confidence, calls + 1, windows - calls))


def batch_counts(windows: np.ndarray, edges: np.ndarray) -> np.ndarray:
    index = np.searchsorted(edges, windows, side="right")
    rows, bins = windows.shape[0], edges.size + 1
    offsets = (index + np.arange(rows)[:, None] * bins).ravel()
    return np.bincount(offsets, minlength=rows * bins).reshape(rows, bins)


def batch_wasserstein(reference: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """W1 of each sorted window against the sorted reference: the quantile functions on one grid."""
    m, n = reference.size, windows.shape[1]
    grid = np.unique(np.concatenate((np.arange(1, m + 1) * n, np.arange(1, n + 1) * m)))
    widths = np.diff(np.concatenate(([0], grid))) / (n * m)
    ref_index, cur_index = (grid + n - 1) // n - 1, (grid + m - 1) // m - 1
    return np.abs(reference[ref_index][None, :] - windows[:, cur_index]) @ widths


def batch_pearson(reference: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """P-values of the 2 x K chi-square homogeneity test per window (no empty columns, dof > 1)."""
    table_ref = np.broadcast_to(reference, windows.shape).astype(float)
    totals = table_ref + windows
    assert (totals > 0).all()
    grand = totals.sum(axis=1, keepdims=True)
    expected_ref = table_ref.sum(axis=1, keepdims=True) * totals / grand
    expected_cur = windows.sum(axis=1, keepdims=True) * totals / grand
    statistic = ((table_ref - expected_ref) ** 2 / expected_ref).sum(axis=1) + (
        (windows - expected_cur) ** 2 / expected_cur
    ).sum(axis=1)
    return chi2.sf(statistic, windows.shape[1] - 1)


def numeric_calls(profile, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(called at any tier, called `act`) per window of the exact sample path, as `compare` decides."""
    feature, reference = profile.features["x"], profile.samples["x"]
    m, n = reference.size, windows.shape[1]
    edges, reference_fine = np.asarray(feature.edges), np.asarray(feature.bin_counts)
    starts = coarse_groups(reference_fine)
    reference_coarse = merge_counts(reference_fine, starts)
    current_coarse = merge_counts(batch_counts(windows, edges), starts)
    tests = [ks_pvalue(ks_statistic(reference, windows), m, n)]
    if n >= BINS_TEST_MIN_ROWS:
        expected = n * reference_coarse / m
        assert expected.min() >= cat.MIN_EXPECTED  # no pooling: the vectorized test is compare's
        tests.append(batch_pearson(reference_coarse, current_coarse))
    if n >= MEAN_TEST_MIN_ROWS:
        standard_error = feature.std * math.sqrt(1 / n + 1 / m)
        tests.append(2 * norm.sf(np.abs(windows.mean(axis=1) - feature.mean) / standard_error))
    p_value = np.minimum(1.0, len(tests) * np.min(tests, axis=0))
    dof = np.count_nonzero(reference_coarse + current_coarse, axis=1) - 1
    act_threshold = np.array([RULE.threshold("psi", None, m, n, int(d)) for d in dof])
    watch_threshold = np.array([RULE.watch_threshold("wasserstein", m, n, int(d)) for d in dof])
    act = (p_value <= ALPHA) & (psi(reference_coarse, current_coarse) >= act_threshold)
    distance = batch_wasserstein(reference, windows) / spread(feature.std, feature.iqr)
    watch = (p_value <= ALPHA / WATCH_CERTAINTY) & (distance >= watch_threshold)
    return act | watch, act


def draw(distribution: str, rng: np.random.Generator, shape, shift: float = 0.0, scale: float = 1.0):
    return DISTRIBUTIONS[distribution](rng, shape, shift, scale)


@pytest.mark.parametrize("distribution", list(DISTRIBUTIONS))
@pytest.mark.parametrize("n", [30, 100, 300, 1_000])
def test_numeric_false_calls_at_any_tier_are_at_most_one_percent(distribution: str, n: int) -> None:
    rng = np.random.default_rng(n + len(distribution))
    blocks, windows, m = 6, 700, 20_000
    calls = 0
    for _ in range(blocks):
        profile = build_profile({"x": draw(distribution, rng, m)}, keep_samples=True, multivariate=False)
        called, _ = numeric_calls(profile, np.sort(draw(distribution, rng, (windows, n)), axis=1))
        calls += int(called.sum())
    total = blocks * windows
    assert upper_bound(calls, total) <= 0.01, f"{calls} false calls in {total} windows of {n} rows"


@pytest.mark.parametrize("n", [10_000, 100_000, 1_000_000])
def test_binned_path_false_calls_at_any_tier_are_at_most_one_percent(n: int) -> None:
    """The engine's path: counts on the fine bins and the window's mean, through `compare` itself."""
    rng = np.random.default_rng(n)
    calls, total = 0, 0
    for _ in range(3):
        profile = build_profile({"x": rng.normal(size=1_000_000)}, multivariate=False)
        edges = np.asarray(profile.features["x"].edges)
        shares = np.diff(norm.cdf(np.concatenate(([-np.inf], edges, [np.inf]))))
        for counts in rng.multinomial(n, shares, size=250):
            mean = float(rng.normal(0.0, 1.0 / math.sqrt(n)))
            result = compare(profile, {"x": NumericCounts(counts, 0, mean)}).features[0]
            calls += result.drifted
            total += 1
    assert upper_bound(calls, total) <= 0.01, f"{calls} false calls in {total} windows"


def test_the_vectorized_decision_is_compare_s_decision() -> None:
    rng = np.random.default_rng(9)
    profile = build_profile({"x": rng.normal(size=20_000)}, keep_samples=True, multivariate=False)
    seen = set()
    for n in (60, 150, 600):
        for shift in (0.0, 0.15, 0.3, 0.6):
            windows = np.sort(rng.normal(shift, 1.0, size=(12, n)), axis=1)
            called, act = numeric_calls(profile, windows)
            for row, window in enumerate(windows):
                result = compare(profile, {"x": window}).features[0]
                assert result.drifted == bool(called[row]), (n, shift, row)
                assert (result.tier == "act") == bool(act[row]), (n, shift, row)
                seen.add(result.tier)
    assert seen == {None, "watch", "act"}  # all three outcomes were exercised


def categorical_calls(
    rng: np.random.Generator, n: int, windows: int, shares: np.ndarray, m: int
) -> np.ndarray:
    reference = rng.multinomial(m, CATEGORY_SHARES).astype(float)
    current = rng.multinomial(n, shares, size=windows)
    score = js_distance(reference, current)
    dof = CATEGORY_SHARES.size - 1
    act, watch = RULE.threshold("js", None, m, n, dof), RULE.watch_threshold("js", m, n, dof)
    calls = np.zeros(windows, dtype=bool)
    for i in np.flatnonzero(score >= min(act, watch)):  # the test only matters where the effect passes
        p_value = cat.chi_square(*cat.pool_rare(reference, current[i])).p_value
        calls[i] = (p_value <= ALPHA and score[i] >= act) or (
            p_value <= ALPHA / WATCH_CERTAINTY and score[i] >= watch
        )
    return calls


@pytest.mark.parametrize("n", [30, 100, 500, 2_000, 10_000, 1_000_000])
def test_categorical_false_calls_at_any_tier_are_at_most_one_percent(n: int) -> None:
    rng = np.random.default_rng(n)
    blocks, windows = 4, 750
    calls = sum(int(categorical_calls(rng, n, windows, CATEGORY_SHARES, 50_000).sum()) for _ in range(blocks))
    assert upper_bound(calls, blocks * windows) <= 0.01, f"{calls} false calls in {blocks * windows} windows"


def _moved(points: float) -> np.ndarray:
    """The top category gains `points`, taken from the next two."""
    shares = CATEGORY_SHARES.copy()
    shares[0] += points
    shares[1:3] -= points / 2
    return shares


def test_moderate_changes_are_called_at_some_tier_in_at_least_90_percent() -> None:
    """The goal: moderate mean shifts (0.2-0.4 sigma), spread changes and 5-10 point category moves,
    at 500 to 6,000 rows against a 50,000-row reference: at least 90% called, at some tier."""
    rng = np.random.default_rng(14)
    profile = build_profile({"x": rng.normal(size=50_000)}, keep_samples=True, multivariate=False)
    rates = {}
    for n in (500, 1_000, 2_000, 6_000):
        for shift, scale in ((0.2, 1.0), (0.3, 1.0), (0.4, 1.0), (0.0, 0.8), (0.0, 1.25)):
            windows = np.sort(rng.normal(shift, scale, size=(100, n)), axis=1)
            rates[(n, f"mean {shift} sd {scale}")] = float(numeric_calls(profile, windows)[0].mean())
        for points in (0.05, 0.07, 0.10):
            calls = categorical_calls(rng, n, 100, _moved(points), 50_000)
            rates[(n, f"category +{points:.0%}")] = float(calls.mean())
    overall = float(np.mean(list(rates.values())))
    assert overall >= 0.9, rates
    assert all(rate >= 0.95 for (n, _), rate in rates.items() if n >= 6_000), rates


def test_the_issue_s_misses_are_now_called() -> None:
    """A +0.29 sigma shift (PSI about 0.08) and a spread shrinking to 0.8 sigma, at 5,000 rows: watch."""
    rng = np.random.default_rng(3)
    profile = build_profile({"x": rng.normal(size=50_000)}, keep_samples=True, multivariate=False)
    shifted = compare(profile, {"x": rng.normal(0.29, 1.0, 5_000)}).features[0]
    assert shifted.metrics["psi"] < 0.1 and shifted.tier == "watch" and shifted.severity == "low"
    narrow = compare(profile, {"x": rng.normal(0.0, 0.8, 5_000)}).features[0]
    assert narrow.tier in ("watch", "act")
    large = compare(profile, {"x": rng.normal(0.6, 1.0, 5_000)}).features[0]
    assert large.tier == "act" and large.severity in ("medium", "high", "critical")


def test_a_steady_drift_at_the_act_threshold_is_called_in_every_window() -> None:
    """JS hovering at 0.09-0.11 for five windows: each is called (watch or act), none is missed."""
    rng = np.random.default_rng(5)
    profile = build_profile(
        {"c": np.array(["a"] * 30_000 + ["b"] * 70_000, dtype=object)}, multivariate=False
    )
    for _ in range(5):
        window = np.where(rng.random(5_000) < 0.43, "a", "b").astype(object)  # 30% -> 43%: JS ~0.1
        result = compare(profile, {"c": window}).features[0]
        assert 0.08 < result.score < 0.12 and result.tier in ("watch", "act")


def test_a_practically_irrelevant_shift_at_a_million_rows_is_not_drift_at_any_tier() -> None:
    rng = np.random.default_rng(2)
    profile = build_profile({"x": rng.normal(size=1_000_000)}, multivariate=False)
    edges = np.asarray(profile.features["x"].edges)
    for _ in range(20):
        window = rng.normal(0.02, 1.0, size=1_000_000)
        counts = NumericCounts(bin_counts(window, edges), 0, float(window.mean()))
        result = compare(profile, {"x": counts}).features[0]
        assert result.tier is None and result.p_value < ALPHA  # certain, but far below every floor
