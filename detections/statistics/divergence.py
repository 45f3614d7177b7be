"""Divergences between two frequency vectors: PSI and Jensen-Shannon.

Both take counts (not proportions) on the same bins or categories, last axis; leading axes are a batch
(many windows at once). They serve numeric features (on quantile bins) and categorical ones alike.
"""

from __future__ import annotations

import numpy as np

PSI_SMOOTHING = 0.5  # pseudo-count per bin (Jeffreys prior): an empty bin never gives log(0)


def _proportions(counts: np.ndarray, smoothing: float) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    return counts / counts.sum(axis=-1, keepdims=True)


def psi(
    reference_counts: np.ndarray, current_counts: np.ndarray, smoothing: float = PSI_SMOOTHING
) -> np.ndarray:
    """Population stability index, `sum((c - r) * ln(c / r))` on smoothed bin shares.

    The same pseudo-count is added to every bin of both sides, so PSI stays symmetric, is zero for
    equal counts, and is finite when a bin is empty. Under no drift `n_eff * PSI` is about chi-square
    with `bins - 1` degrees of freedom (`n_eff = n*m/(n+m)`), which `decision` uses to calibrate.
    """
    r = _proportions(reference_counts, smoothing)
    c = _proportions(current_counts, smoothing)
    return np.maximum(np.sum((c - r) * np.log(c / r), axis=-1), 0.0)


def js_distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the two frequency vectors.

    The square root of the JS divergence, as `scipy.spatial.distance.jensenshannon(p, q, base=2)`; a
    category or bin present on one side only is fine (the mixture is positive there).
    """
    p = np.asarray(reference_counts, dtype=np.float64)
    q = np.asarray(current_counts, dtype=np.float64)
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    divergence = np.clip((kl_p.sum(axis=-1) + kl_q.sum(axis=-1)) / 2.0, 0.0, 1.0)
    return np.sqrt(divergence)
