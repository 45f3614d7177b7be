"""Service-level objectives: error budgets and multi-window burn-rate alerts (the SRE workbook's practice).

An SLO says what share of requests must be good ("99% of predictions under 100 ms": objective 0.99);
the error budget is the rest (1%). The burn rate over a window is the window's bad share divided by
the budget: 1 spends the budget exactly over the SLO period, 14.4 spends 2% of a 30-day budget in one
hour. A tier fires at a moment when the burn rate over its long window AND over its short window are
both at least its factor: the long window makes it significant, the short one makes it stop soon after
the burn stops. The defaults are the workbook's: 1h/5m at 14.4x pages, 6h/30m at 6x opens a ticket.

Input: bad and valid event counts per bucket (a `date_histogram`), oldest first; every window is a
whole number of buckets. The verdict is evaluated at every bucket end in the judged range, so a tier
fires at most one bucket after its condition is met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-9  # a burn rate equal to the factor fires despite rounding (0.144 / 0.01 = 14.399...)


@dataclass(frozen=True)
class BurnTier:
    name: str  # page | ticket
    long: int  # buckets
    short: int  # buckets
    factor: float


@dataclass(frozen=True)
class Burn:
    """A tier that fired: when first and last, and the worst long-window burn rate."""

    tier: BurnTier
    first: int  # index of the bucket whose end is the first firing moment
    last: int
    worst: int  # the bucket whose end saw the highest long-window burn rate
    burn_rate: float  # the highest long-window burn rate while firing
    short_burn_rate: float
    bad: int  # over the long window at the worst moment
    valid: int


def burn_rate(bad: float, valid: float, objective: float) -> float:
    """The bad share over the budget; 0 without valid events."""
    if valid <= 0:
        return 0.0
    return (bad / valid) / (1.0 - objective)


def _window_sums(values: np.ndarray, length: int) -> np.ndarray:
    """Sum of the `length` buckets ending at each bucket (fewer at the start)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    ends = np.arange(1, values.size + 1)
    return cumulative[ends] - cumulative[np.maximum(ends - length, 0)]


def evaluate(
    bad: Sequence[float] | np.ndarray,
    valid: Sequence[float] | np.ndarray,
    objective: float,
    tiers: Sequence[BurnTier],
    judged_from: int = 0,
    min_events: int = 1,
) -> list[Burn]:
    """The tiers that fired at some bucket end from bucket `judged_from` on, most severe (first listed)
    first. `min_events`: the short window needs that many valid events to fire."""
    if not 0 < objective < 1:
        raise ValueError(f"objective must be between 0 and 1, got {objective}")
    bad_counts, valid_counts = np.asarray(bad, dtype=np.float64), np.asarray(valid, dtype=np.float64)
    budget = 1.0 - objective
    fired = []
    for tier in tiers:
        long_bad, long_valid = _window_sums(bad_counts, tier.long), _window_sums(valid_counts, tier.long)
        short_bad, short_valid = _window_sums(bad_counts, tier.short), _window_sums(valid_counts, tier.short)
        with np.errstate(divide="ignore", invalid="ignore"):
            long_rate = np.where(long_valid > 0, long_bad / long_valid / budget, 0.0)
            short_rate = np.where(short_valid > 0, short_bad / short_valid / budget, 0.0)
        firing = (
            (long_rate >= tier.factor - TOLERANCE)
            & (short_rate >= tier.factor - TOLERANCE)
            & (short_valid >= min_events)
        )
        firing[:judged_from] = False
        moments = np.flatnonzero(firing)
        if not moments.size:
            continue
        worst = int(moments[np.argmax(long_rate[moments])])
        fired.append(
            Burn(
                tier=tier,
                first=int(moments[0]),
                last=int(moments[-1]),
                worst=worst,
                burn_rate=float(long_rate[worst]),
                short_burn_rate=float(short_rate[worst]),
                bad=int(long_bad[worst]),
                valid=int(long_valid[worst]),
            )
        )
    return fired
