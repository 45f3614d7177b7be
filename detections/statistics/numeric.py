"""Numeric drift statistics: two-sample Kolmogorov-Smirnov (exact from samples, or from bin counts with
an error bound) and the Wasserstein distance normalized by the reference spread.

PSI and Jensen-Shannon work on counts and live in `divergence`. Everything here takes numpy arrays and
returns numbers; sorted inputs are expected where the name says so (sorting once is the costly part).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.stats import kstwo, kstwobign

EXACT_MAX_N = 10_000  # as scipy.stats.ks_2samp(method="auto"): exact p-values up to this sample size


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float
    error_bound: float = 0.0  # the exact statistic lies in [statistic, statistic + error_bound]


def _run_ranks(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element of a sorted array (last axis): #values < it and #values <= it, ties included."""
    n = sorted_values.shape[-1]
    position = np.broadcast_to(np.arange(n), sorted_values.shape)
    change = sorted_values[..., 1:] != sorted_values[..., :-1]
    edge = np.ones((*sorted_values.shape[:-1], 1), dtype=bool)
    starts = np.concatenate((edge, change), axis=-1)
    ends = np.concatenate((change, edge), axis=-1)
    below = np.maximum.accumulate(np.where(starts, position, 0), axis=-1)
    upto = np.flip(np.minimum.accumulate(np.flip(np.where(ends, position + 1, n), -1), axis=-1), -1)
    return below, upto


def ks_statistic(sorted_reference: np.ndarray, sorted_current: np.ndarray) -> np.ndarray:
    """sup |F_ref - F_cur| from two sorted samples; `sorted_current` may be a batch (rows = windows).

    The supremum of two step functions is reached at a current point (right value) or just before one
    (left limit), so evaluating at the current sample alone is enough: O(n log m).
    """
    m = sorted_reference.size
    n = sorted_current.shape[-1]
    below = np.searchsorted(sorted_reference, sorted_current, side="left")
    upto = below.copy()
    tied = sorted_reference[np.minimum(below, m - 1)] == sorted_current  # a reference value equals it
    if tied.any():
        upto[tied] = np.searchsorted(sorted_reference, sorted_current[tied], side="right")
    if sorted_current.ndim == 1 and not np.any(sorted_current[1:] == sorted_current[:-1]):
        cur_below, cur_upto = np.arange(n), np.arange(1, n + 1)
    else:
        cur_below, cur_upto = _run_ranks(sorted_current)
    up = np.max(cur_upto / n - upto / m, axis=-1)
    down = np.max(below / m - cur_below / n, axis=-1)
    return np.clip(np.maximum(up, down), 0.0, 1.0)


def _outside_square(n: int, h: int) -> float:
    """P(D >= h/n) for two samples of equal size n (Drion/Gnedenko-Korolyuk, Horner form)."""
    p = 0.0
    k = n // h
    while k >= 0:
        term = 1.0
        for j in range(h):
            term = (n - k * h - j) * term / (n + k * h + j + 1)
        p = term * (1.0 - p)
        k -= 1
    return 2.0 * p


def _inside_paths(n_small: int, n_large: int, h: np.ndarray) -> np.ndarray:
    """P(D < h/lcm) for each h: lattice paths that stay strictly inside the band (Hodges' inside method).

    One row per step of the smaller sample; each row is the cumulative sum of the previous one inside
    the band, rescaled to avoid overflow, so all thresholds are computed together with numpy.
    """
    g = math.gcd(n_small, n_large)
    step_small, step_large = n_large // g, n_small // g
    columns = np.arange(n_large + 1, dtype=np.int64)
    limit = h[:, None]
    widest = int(h.max())
    paths = (columns * step_large < limit).astype(np.float64)
    log_scale = np.zeros(h.size)
    # The band only moves right: columns left of it are never read again and columns right of it are
    # still zero, so each row rewrites just its band (the work per row is the band, not the row).
    for row in range(1, n_small + 1):
        centre = row * step_small
        lo, hi = max(0, (centre - widest) // step_large), min(n_large, (centre + widest) // step_large + 1)
        inside = np.abs(centre - columns[lo : hi + 1] * step_large) < limit
        fresh = np.cumsum(paths[:, lo : hi + 1] * inside, axis=1)
        fresh *= inside
        peak = fresh.max(axis=1)
        scale = np.where(peak > 0, peak, 1.0)
        fresh /= scale[:, None]
        log_scale += np.log(scale)
        paths[:, lo : hi + 1] = fresh
    log_total = (
        special.gammaln(n_small + n_large + 1) - special.gammaln(n_small + 1) - special.gammaln(n_large + 1)
    )
    end = paths[:, -1]
    with np.errstate(divide="ignore"):
        return np.where(end > 0, np.exp(np.log(end) + log_scale - log_total), 0.0)


def _smirnov_sf(n: float, x: float) -> float:
    """One-sided P(D+ >= x) for n values (Birnbaum-Tingey sum, in logs: every term is positive)."""
    j = np.arange(0, math.floor(n * (1.0 - x)) + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        terms = (
            special.gammaln(n + 1)
            - special.gammaln(j + 1)
            - special.gammaln(n - j + 1)
            + (n - j) * np.log1p(-x - j / n)
            + (j - 1) * np.log(x + j / n)
            + math.log(x)
        )
    return float(np.exp(special.logsumexp(terms)))


def _kolmogorov_sf(x: float, n: float) -> float:
    """`scipy.stats.kstwo.sf(x, n)`, with its slow large-n tail branch (2 * smirnov) done in numpy.

    Below 1e-12 (where no decision can change) Stephens' corrected asymptotic value is returned.
    """
    root = math.sqrt(n)
    if x <= 0.0:
        return 1.0
    tail = float(kstwobign.sf(x * (root + 0.12 + 0.11 / root)))
    if tail < 1e-12:
        return tail
    if n > 140 and n * x * x >= 2.2 and x < 0.5:
        return min(1.0, 2.0 * _smirnov_sf(n, x))
    return float(np.clip(kstwo.sf(x, n), 0.0, 1.0))


def _kolmogorov_sf_many(d: np.ndarray, n: float) -> np.ndarray:
    """`_kolmogorov_sf` of many statistics: scipy's distributions called once per branch, not per value
    (the same numbers: scipy evaluates arrays element by element)."""
    root = math.sqrt(n)
    p = np.ones(d.size)
    positive = d > 0.0
    tail = np.asarray(kstwobign.sf(d * (root + 0.12 + 0.11 / root)), dtype=np.float64).reshape(d.shape)
    done = positive & (tail < 1e-12)
    p[done] = tail[done]
    smirnov = positive & ~done & (n > 140) & (n * d * d >= 2.2) & (d < 0.5)
    for i in np.flatnonzero(smirnov):
        p[i] = min(1.0, 2.0 * _smirnov_sf(n, float(d[i])))
    exact = positive & ~done & ~smirnov
    if exact.any():
        p[exact] = np.clip(np.asarray(kstwo.sf(d[exact], n), dtype=np.float64), 0.0, 1.0)
    return p


def ks_pvalue(statistic: float | np.ndarray, n: int, m: int) -> np.ndarray:
    """Two-sided p-value of the two-sample KS statistic, as `scipy.stats.ks_2samp(method="auto")`.

    Exact (lattice paths) when both samples have at most 10,000 values, else Smirnov's asymptotic
    distribution at `n_eff = n*m/(n+m)`. Vectorized over the statistic.
    """
    d = np.atleast_1d(np.asarray(statistic, dtype=np.float64))
    if max(n, m) > EXACT_MAX_N:
        return _kolmogorov_sf_many(d, float(np.round(n * m / (n + m))))
    g = math.gcd(n, m)
    lcm = (n // g) * m
    h = np.round(d * lcm).astype(np.int64)
    p = np.ones_like(d)
    unique_h, index = np.unique(h, return_inverse=True)
    positive = unique_h > 0
    values = np.ones(unique_h.size)
    if n == m:
        values[positive] = [_outside_square(n, int(k)) for k in unique_h[positive]]
    elif positive.any():
        small, large = sorted((n, m))
        values[positive] = 1.0 - _inside_paths(small, large, unique_h[positive])
    p = values[index.reshape(-1)]
    return np.clip(p, 0.0, 1.0)


def ks_exact(sorted_reference: np.ndarray, sorted_current: np.ndarray) -> KsResult:
    """Two-sample KS from the samples themselves (sorted): statistic and p-value equal scipy's."""
    a, b = (sorted_current, sorted_reference)
    if a.size > b.size:  # evaluate at the smaller sample's points (same statistic, less work)
        a, b = b, a
    d = float(ks_statistic(b, a))
    return KsResult(d, float(ks_pvalue(d, sorted_reference.size, sorted_current.size)[0]))


def ks_binned_statistic(
    reference_counts: np.ndarray, current_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The KS statistic at the bin edges (a lower bound of the exact one) and an upper bound.

    Batches of windows work along the leading axes. Inside a bin each CDF can rise by at most that
    bin's share, so the largest gap there is bounded by the gaps at its two edges plus those shares.
    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    r_share = r / r.sum(axis=-1, keepdims=True)
    c_share = c / c.sum(axis=-1, keepdims=True)
    gap = np.cumsum(c_share, axis=-1) - np.cumsum(r_share, axis=-1)
    gap = np.concatenate((np.zeros_like(gap[..., :1]), gap[..., :-1], np.zeros_like(gap[..., :1])), axis=-1)
    lower = np.max(np.abs(gap), axis=-1)
    rise_up = np.minimum(gap[..., :-1] + c_share, gap[..., 1:] + r_share)  # max of F_cur - F_ref in a bin
    rise_down = np.minimum(-gap[..., :-1] + r_share, -gap[..., 1:] + c_share)
    upper = np.minimum(1.0, np.maximum(lower, np.maximum(rise_up.max(axis=-1), rise_down.max(axis=-1))))
    return lower, upper


def ks_binned(reference_counts: np.ndarray, current_counts: np.ndarray) -> KsResult:
    """KS from counts on the same bins, with a bound on how far the exact statistic can be.

    At the bin edges both CDFs are known, so the statistic there is a lower bound of the exact one
    (`ks_binned_statistic`). The p-value uses the lower bound, so it is conservative: never more
    significant than the exact test on the raw values would be.
    """
    lower, upper = ks_binned_statistic(reference_counts, current_counts)
    m, n = int(np.sum(reference_counts)), int(np.sum(current_counts))
    d = float(lower)
    return KsResult(d, float(ks_pvalue(d, m, n)[0]), float(upper) - d)


def ks_binned_many(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[KsResult]:
    """`ks_binned` of many (reference, current) count pairs: the p-values of pairs with the same sizes
    come from one vectorized `ks_pvalue` call (the exact test's cost is per row of the smaller sample,
    so the features of one window share it), with the same numbers as one call each."""
    bounds = [ks_binned_statistic(r, c) for r, c in pairs]
    sizes = [(int(np.sum(r)), int(np.sum(c))) for r, c in pairs]
    p_values = np.empty(len(pairs))
    for m, n in set(sizes):
        members = [i for i, size in enumerate(sizes) if size == (m, n)]
        p_values[members] = ks_pvalue(np.array([float(bounds[i][0]) for i in members]), m, n)
    return [
        KsResult(float(lower), float(p), float(upper) - float(lower))
        for (lower, upper), p in zip(bounds, p_values, strict=True)
    ]


def spread(std: float, iqr: float) -> float:
    """The reference spread that normalizes distances: the standard deviation, else IQR/1.349, else 1."""
    if std > 0 and math.isfinite(std):
        return std
    if iqr > 0:
        return iqr / 1.349
    return 1.0


def wasserstein(sorted_reference: np.ndarray, sorted_current: np.ndarray) -> float:
    """W1 = integral of |F_ref(x) - F_cur(x)| dx from two sorted samples, in the data's units.

    Equal sizes: the mean absolute difference of the sorted values. Otherwise both CDFs are evaluated
    on the merged values (two sorted runs: the stable sort merges them in linear time).
    """
    m, n = sorted_reference.size, sorted_current.size
    if m == n:
        return float(np.mean(np.abs(sorted_reference - sorted_current)))
    merged = np.sort(np.concatenate((sorted_reference, sorted_current)), kind="stable")
    widths = np.diff(merged)
    points = merged[:-1]
    reference_cdf = np.searchsorted(sorted_reference, points, side="right") / m
    current_cdf = np.searchsorted(sorted_current, points, side="right") / n
    return float(np.sum(widths * np.abs(reference_cdf - current_cdf)))


def wasserstein_binned(
    edges: np.ndarray,
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
    low: float,
    high: float,
    mean_difference: float | None = None,
) -> float:
    """W1 approximated from counts on fine bins (trapezoids of the CDF gap between edges).

    The open outer bins are closed at the reference minimum and maximum (`low`, `high`); when the
    current mean is known, `|mean difference|` is a lower bound of W1 and is used if larger.
    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    gap = np.abs(np.cumsum(c / c.sum())[:-1] - np.cumsum(r / r.sum())[:-1])  # at each edge
    points = np.concatenate(([min(low, edges[0])], edges, [max(high, edges[-1])]))
    gaps = np.concatenate(([0.0], gap, [0.0]))
    area = float(np.sum(np.diff(points) * (gaps[:-1] + gaps[1:]) / 2.0))
    if mean_difference is not None and math.isfinite(mean_difference):
        area = max(area, abs(mean_difference))
    return area
