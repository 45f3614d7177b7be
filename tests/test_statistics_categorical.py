"""Categorical drift statistics and Benjamini-Hochberg, against scipy and as properties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra.numpy import arrays

from detections.statistics.categorical import OTHER, UNSEEN, align, chi_square, pool_rare
from detections.statistics.multiple_testing import benjamini_hochberg


@pytest.mark.parametrize("k", [2, 3, 8])
@pytest.mark.parametrize("lambda_", ["pearson", "log-likelihood"])
@pytest.mark.parametrize("correction", [True, False])
def test_chi_square_equals_scipy_chi2_contingency(k: int, lambda_: str, correction: bool) -> None:
    rng = np.random.default_rng(k)
    reference, current = rng.integers(1, 400, k), rng.integers(1, 90, k)
    ours = chi_square(reference, current, lambda_=lambda_, correction=correction)  # type: ignore[arg-type]
    theirs = st.chi2_contingency(np.vstack((reference, current)), correction=correction, lambda_=lambda_)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)
    assert ours.dof == theirs.dof


def test_chi_square_drops_columns_empty_on_both_sides() -> None:
    ours = chi_square(np.array([10, 0, 5]), np.array([3, 0, 9]))
    theirs = st.chi2_contingency(np.array([[10, 5], [3, 9]]))
    assert ours.statistic == pytest.approx(theirs.statistic) and ours.dof == 1


def test_unseen_categories_form_their_own_column() -> None:
    aligned = align({"a": 50, "b": 30}, {"a": 10, "c": 7, "d": 3})
    assert aligned.categories == ["a", "b", UNSEEN]
    assert aligned.reference.tolist() == [50, 30, 0] and aligned.current.tolist() == [10, 0, 10]
    assert aligned.unseen == {"c": 7, "d": 3}
    assert chi_square(aligned.reference, aligned.current).p_value < 1e-4


def test_unknown_values_go_to_other_when_the_profile_was_capped() -> None:
    aligned = align({"a": 50, OTHER: 20}, {"a": 10, "zz": 4}, reference_has_other=True)
    assert aligned.categories == ["a", OTHER] and aligned.current.tolist() == [10, 4]


def test_pool_rare_reaches_the_minimum_expected_count_and_keeps_totals() -> None:
    reference = np.array([4000, 3000, 1500, 1000, 300, 150, 50])
    current = np.array([12, 9, 5, 3, 1, 0, 0])
    pooled_reference, pooled_current = pool_rare(reference, current)
    assert pooled_reference.sum() == reference.sum() and pooled_current.sum() == current.sum()
    expected = current.sum() * (pooled_reference + pooled_current) / (reference.sum() + current.sum())
    assert expected.min() >= 5.0 and pooled_reference.size >= 2


p_value_arrays = arrays(np.float64, hs.integers(1, 60), elements=hs.floats(0.0, 1.0))


@settings(max_examples=200, deadline=None)
@given(p_value_arrays)
def test_benjamini_hochberg_equals_scipy_and_is_monotone(p: np.ndarray) -> None:
    adjusted = benjamini_hochberg(p)
    np.testing.assert_allclose(adjusted, st.false_discovery_control(p, method="bh"), rtol=1e-12, atol=1e-15)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= -1e-15)  # same order as the raw p-values
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1.0)


def test_benjamini_hochberg_leaves_untested_features_out() -> None:
    adjusted = benjamini_hochberg(np.array([0.01, np.nan, 0.04]))
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], st.false_discovery_control([0.01, 0.04]))
