"""Many features at once: Benjamini-Hochberg false-discovery-rate control across features."""

from __future__ import annotations

import numpy as np


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (`scipy.stats.false_discovery_control(p, method="bh")`), NaN left as NaN.

    A feature is a discovery at level q when its adjusted p-value is <= q; across all features of a
    window the expected share of false calls among the calls is then at most q. NaN marks a feature
    that was not tested (no values in the window) and does not count among the tests.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    values = p[tested]
    m = values.size
    if m == 0:
        return adjusted
    order = np.argsort(values)
    ranked = values[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(ranked[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.clip(monotone, 0.0, 1.0)
    adjusted[tested] = result
    return adjusted
