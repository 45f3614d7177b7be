"""Numeric drift statistics against scipy, and their properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon

from detections.statistics.binning import bin_counts, coarse_groups, merge_counts, quantile_edges
from detections.statistics.divergence import js_distance, psi
from detections.statistics.numeric import (
    ks_binned,
    ks_exact,
    ks_pvalue,
    ks_statistic,
    wasserstein,
    wasserstein_binned,
)

SIZES = [
    (7, 13),
    (30, 30),
    (30, 10_000),
    (50, 73),
    (400, 1_000),
    (1_000, 999),
    (3_000, 20_000),
    (50_000, 80_000),
]


@pytest.mark.parametrize(("n", "m"), SIZES)
@pytest.mark.parametrize("shift", [0.0, 0.15])
def test_ks_statistic_and_p_value_equal_scipy(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n * 7 + m)
    reference, current = np.sort(rng.normal(size=m)), np.sort(rng.normal(shift, 1.0, size=n))
    ours = ks_exact(reference, current)
    theirs = st.ks_2samp(reference, current)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-6, abs=1e-12)


def test_ks_with_ties_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    reference, current = (
        np.sort(rng.integers(0, 6, 500).astype(float)),
        np.sort(rng.integers(0, 7, 120).astype(float)),
    )
    ours, theirs = ks_exact(reference, current), st.ks_2samp(reference, current)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-6, abs=1e-12)


def test_ks_batch_of_windows_equals_one_by_one() -> None:
    rng = np.random.default_rng(4)
    reference = np.sort(rng.normal(size=2_000))
    windows = np.sort(rng.normal(size=(25, 40)), axis=1)
    batch = ks_statistic(reference, windows)
    single = [st.ks_2samp(reference, w).statistic for w in windows]
    np.testing.assert_allclose(batch, single, atol=1e-12)
    np.testing.assert_allclose(
        ks_pvalue(batch, 2_000, 40), [st.ks_2samp(reference, w).pvalue for w in windows], atol=1e-10
    )


def test_large_sample_p_values_follow_scipy_in_the_tail() -> None:
    """Above 10,000 values scipy uses Kolmogorov's distribution at n_eff; so do we (fast tail)."""
    for d in (0.001, 0.003):  # the second lies in the tail branch (2 * smirnov)
        ours = float(ks_pvalue(d, 1_000_000, 1_000_000)[0])
        theirs = float(st.kstwo.sf(d, 500_000))
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize(("n", "m"), [(30, 1_000), (500, 500), (2_000, 50_000)])
def test_wasserstein_equals_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    reference, current = np.sort(rng.normal(size=m)), np.sort(rng.standard_t(3, size=n))
    assert wasserstein(reference, current) == pytest.approx(
        st.wasserstein_distance(reference, current), rel=1e-9
    )


def test_binned_wasserstein_approximates_exact() -> None:
    rng = np.random.default_rng(5)
    reference, current = np.sort(rng.normal(size=50_000)), np.sort(rng.normal(0.3, 1.2, size=20_000))
    edges = quantile_edges(reference)
    binned = wasserstein_binned(
        edges,
        bin_counts(reference, edges, assume_sorted=True),
        bin_counts(current, edges, assume_sorted=True),
        reference[0],
        reference[-1],
        current.mean() - reference.mean(),
    )
    assert binned == pytest.approx(wasserstein(reference, current), rel=0.1)


def test_bins_are_left_closed_like_an_engine_range_aggregation() -> None:
    edges = np.array([1.0, 2.0, 3.0])
    values = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 7.0])
    expected = [1, 2, 1, 2]  # (-inf,1) [1,2) [2,3) [3,inf)
    assert bin_counts(values, edges).tolist() == expected
    assert bin_counts(np.sort(values), edges, assume_sorted=True).tolist() == expected


def test_quantile_edges_of_a_discrete_feature_sit_on_its_values() -> None:
    values = np.sort(np.repeat([0.0, 1.0, 2.0], [500, 300, 200]))
    edges = quantile_edges(values)
    assert edges.tolist() == [0.0, 1.0, 2.0]
    counts = bin_counts(values, edges, assume_sorted=True)
    assert counts.tolist() == [0, 500, 300, 200]
    assert merge_counts(counts, coarse_groups(counts)).sum() == 1000


counts_vectors = (
    hs.integers(2, 12)
    .flatmap(
        lambda k: hs.tuples(
            arrays(np.int64, k, elements=hs.integers(0, 500)),
            arrays(np.int64, k, elements=hs.integers(0, 500)),
        )
    )
    .filter(lambda pair: pair[0].sum() > 0 and pair[1].sum() > 0)
)


@settings(max_examples=200, deadline=None)
@given(counts_vectors)
def test_psi_is_nonnegative_symmetric_and_zero_for_identical(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    assert psi(a, b) >= 0.0
    assert psi(a, b) == pytest.approx(psi(b, a), rel=1e-9, abs=1e-12)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(psi(a, b))


@settings(max_examples=200, deadline=None)
@given(counts_vectors)
def test_js_distance_is_in_unit_interval_and_equals_scipy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    value = float(js_distance(a, b))
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(jensenshannon(a, b, base=2), abs=1e-7)
    assert float(js_distance(a, a)) == pytest.approx(0.0, abs=1e-7)


samples = hs.tuples(
    arrays(np.float64, hs.integers(5, 300), elements=hs.floats(-1e3, 1e3)),
    arrays(np.float64, hs.integers(5, 300), elements=hs.floats(-1e3, 1e3)),
    hs.integers(3, 40),
)


@settings(max_examples=150, deadline=None)
@given(samples)
def test_binned_ks_brackets_the_exact_statistic(data: tuple[np.ndarray, np.ndarray, int]) -> None:
    reference, current, bins = np.sort(data[0]), np.sort(data[1]), data[2]
    edges = quantile_edges(reference, np.arange(1, bins) / bins)
    binned = ks_binned(bin_counts(reference, edges), bin_counts(current, edges))
    exact = ks_exact(reference, current)
    assert binned.statistic <= exact.statistic + 1e-12
    assert exact.statistic <= binned.statistic + binned.error_bound + 1e-12
    assert binned.p_value >= exact.p_value - 1e-9  # conservative


def test_binned_ks_error_bound_is_small_on_percentile_bins() -> None:
    rng = np.random.default_rng(6)
    reference, current = np.sort(rng.normal(size=100_000)), np.sort(rng.normal(0.05, 1, size=100_000))
    edges = quantile_edges(reference)
    binned = ks_binned(
        bin_counts(reference, edges, assume_sorted=True), bin_counts(current, edges, assume_sorted=True)
    )
    assert binned.error_bound <= 0.015
    assert abs(binned.statistic - ks_exact(reference, current).statistic) <= binned.error_bound
