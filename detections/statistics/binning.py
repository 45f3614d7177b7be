"""Quantile bins of a reference sample, and the counts of any sample on them.

Bins are left-closed, `[e_i, e_{i+1})`, with open outer bins `(-inf, e_1)` and `[e_k, +inf)`. That is
the convention of an OpenSearch/Elasticsearch `range` aggregation (`from` inclusive, `to` exclusive), so
the counts the detector job gets from the engine and the counts computed here from raw values are the
same numbers, and every statistic that works on counts gives the same answer on both paths.

A profile keeps fine edges (the reference percentiles 1..99); PSI and Jensen-Shannon use about ten
groups of them of equal reference mass (the classic decile bins), KS and Wasserstein use all of them.
"""

from __future__ import annotations

import numpy as np

FINE_QUANTILES = np.arange(1, 100) / 100.0
COARSE_BINS = 10


def quantile_edges(sorted_values: np.ndarray, quantiles: np.ndarray = FINE_QUANTILES) -> np.ndarray:
    """Distinct edges at the given quantiles of an already sorted, NaN-free sample.

    Edges are observed values (the inverted-CDF quantile), so a discrete feature gets edges on its
    values and ties never split; repeated edges collapse into one.
    """
    n = sorted_values.size
    if n == 0:
        return np.empty(0)
    index = np.clip(np.ceil(quantiles * n).astype(np.int64) - 1, 0, n - 1)
    return np.unique(sorted_values[index]).astype(np.float64)


def bin_counts(values: np.ndarray, edges: np.ndarray, *, assume_sorted: bool = False) -> np.ndarray:
    """Counts of `values` (NaN-free) in the `len(edges) + 1` bins the edges define."""
    if assume_sorted:
        below = np.searchsorted(values, edges, side="left")  # values < each edge
        return np.diff(np.concatenate(([0], below, [values.size]))).astype(np.int64)
    index = np.searchsorted(edges, values, side="right")
    return np.bincount(index, minlength=edges.size + 1).astype(np.int64)


def coarse_groups(reference_counts: np.ndarray, target: int = COARSE_BINS) -> np.ndarray:
    """Start indices of about `target` groups of fine bins with equal reference mass.

    A group boundary sits on the fine edge whose reference CDF is nearest each `k / target`; groups
    that would be empty (a discrete feature has few distinct edges) disappear. Use with `merge_counts`.
    """
    counts = np.asarray(reference_counts, dtype=np.float64)
    total = counts.sum()
    if counts.size <= 1 or total <= 0:
        return np.zeros(1, dtype=np.int64)
    cdf_at_edges = np.cumsum(counts)[:-1] / total  # share below fine edge j (edge between bin j, j+1)
    cuts = {0}
    for k in range(1, target):
        edge = int(np.argmin(np.abs(cdf_at_edges - k / target)))
        cuts.add(edge + 1)
    return np.array(sorted(cuts), dtype=np.int64)


def merge_counts(counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum fine-bin counts (last axis; a batch of windows is fine) into the groups from `coarse_groups`."""
    return np.add.reduceat(np.asarray(counts), starts, axis=-1)
