"""Categorical drift: align category frequencies, chi-square / G-test of homogeneity, rare-category pooling.

The test is the 2 x K contingency test of "same distribution" between reference and current counts;
`chi_square` equals `scipy.stats.chi2_contingency` on the same table (Yates' correction at one degree
of freedom included). Categories the reference never saw are kept as their own column, so a new value
is evidence, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import chi2

UNSEEN = "__unseen__"  # current categories that the reference never had, pooled in one column
OTHER = "__other__"  # reference categories beyond the profile's cap (and current values mapped there)
MIN_EXPECTED = 5.0  # Cochran's rule: pool categories until every expected count reaches this

Lambda = Literal["pearson", "log-likelihood"]


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    p_value: float
    dof: int


@dataclass(frozen=True)
class AlignedCounts:
    """Reference and current counts over one list of categories (reference order, then UNSEEN)."""

    categories: list[str]
    reference: np.ndarray
    current: np.ndarray
    unseen: dict[str, int]  # current categories the reference never had -> count


def align(
    reference: Mapping[str, int], current: Mapping[str, int], *, reference_has_other: bool = False
) -> AlignedCounts:
    """Put both frequency tables on the reference's categories.

    Current values outside the reference go to OTHER when the reference profile was capped (they may
    be among the dropped tail), else to UNSEEN (truly new). Empty columns are left out.
    """
    categories = [k for k, v in reference.items() if v > 0]
    known = set(categories)
    unseen = {k: int(v) for k, v in current.items() if k not in known and v > 0}
    ref = np.array([reference[k] for k in categories], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in categories], dtype=np.float64)
    extra = sum(unseen.values())
    if extra:
        if reference_has_other and OTHER in known:
            cur[categories.index(OTHER)] += extra
        else:
            categories.append(UNSEEN)
            ref = np.append(ref, 0.0)
            cur = np.append(cur, float(extra))
    return AlignedCounts(categories, ref, cur, unseen)


def chi_square(
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
    lambda_: Lambda = "pearson",
    correction: bool = True,
) -> ChiSquareResult:
    """Chi-square (or G, `lambda_="log-likelihood"`) test that both rows come from one distribution.

    Columns empty on both sides are dropped. Equal to `scipy.stats.chi2_contingency(table, correction,
    lambda_)` on the table of the remaining columns.
    """
    table = np.vstack((np.asarray(reference_counts, float), np.asarray(current_counts, float)))
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof <= 0 or (table.sum(axis=1) == 0).any():
        return ChiSquareResult(0.0, 1.0, max(dof, 0))
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    observed = table
    if dof == 1 and correction:
        difference = expected - observed
        observed = observed + np.minimum(0.5, np.abs(difference)) * np.sign(difference)
    if lambda_ == "log-likelihood":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
        statistic = 2.0 * float(terms.sum())
    else:
        statistic = float(((observed - expected) ** 2 / expected).sum())
    return ChiSquareResult(statistic, float(chi2.sf(statistic, dof)), dof)


def pool_rare(
    reference_counts: np.ndarray, current_counts: np.ndarray, min_expected: float = MIN_EXPECTED
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the rarest categories into one column until every expected count is at least `min_expected`.

    The chi-square approximation is poor for small expected counts (it calls drift too often on small
    windows); pooling the tail, rarest first by the pooled frequency, keeps the test's size honest.
    A new category with enough rows stays a column of its own and still shows as drift.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    totals = ref + cur
    keep = totals > 0
    ref, cur, totals = ref[keep], cur[keep], totals[keep]
    grand = totals.sum()
    smaller_row = min(ref.sum(), cur.sum())
    if grand == 0 or ref.size <= 2:
        return ref, cur
    order = np.argsort(totals, kind="stable")
    expected = smaller_row * totals[order] / grand
    pooled = int(np.sum(expected < min_expected))  # rarest first; these must go into the pool
    if pooled == 0:
        return ref, cur
    pooled = max(pooled, 2)
    while pooled < order.size - 1 and expected[:pooled].sum() < min_expected:
        pooled += 1
    pooled = min(pooled, order.size - 1)  # keep at least two columns (one degree of freedom)
    tail, head = order[:pooled], order[pooled:]
    return np.append(ref[head], ref[tail].sum()), np.append(cur[head], cur[tail].sum())
