"""Prediction-output collapse: a model whose answers stopped varying, or whose output size ran away.

Drift tests ask whether a distribution moved; these ask whether it degenerated, which is what a broken
model or a broken serving path looks like:

- a classifier answering one class: the window's most frequent label holds at least `share_floor` of
  the predictions, the other labels together less than half their reference share, and the rise is
  significant (one-sided binomial test against the label's reference share);
- a score or regression output stuck at a constant: the window's standard deviation is below
  `ratio_floor` of the reference's and significantly so (chi-square test of the variance, one-sided);
- an LLM's output tokens collapsing to 0: the share of empty completions is at least `share_floor` and
  significantly above the reference's (binomial test);
- an LLM's output tokens exploding: the mean is at least `ratio_floor` times the reference's and
  significantly higher (z-test with the reference's spread).

Each check takes summaries (counts, mean, standard deviation), as engine aggregations return them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy.stats import binomtest, chi2, norm

CLASS_SHARE = 0.9
SPREAD_RATIO = 0.1
ZERO_SHARE = 0.2
EXPLOSION_RATIO = 3.0


@dataclass(frozen=True)
class Collapse:
    check: str  # one_class | constant_score | constant_value | empty_output | output_explosion
    statistic: float  # the window's share, spread ratio or mean ratio
    reference: float  # the reference's value of the same quantity
    p_value: float
    severity: str
    reason: str


def one_class(
    counts: Mapping[str, int], reference: Mapping[str, int], alpha: float, share_floor: float = CLASS_SHARE
) -> Collapse | None:
    """The classifier answers (almost) one class, which it did not in the reference."""
    total, reference_total = sum(counts.values()), sum(reference.values())
    if not total or not reference_total:
        return None
    label, count = max(counts.items(), key=lambda item: (item[1], item[0]))
    share = count / total
    before = reference.get(label, 0) / reference_total
    if share < share_floor or 1 - share > (1 - before) / 2:
        return None
    expected = min(max(before, 1.0 / (reference_total + 1)), 1 - 1e-12)
    p_value = float(binomtest(count, total, expected, alternative="greater").pvalue)
    if p_value > alpha:
        return None
    reason = f"{share:.0%} of {total} predictions are {label!r} (reference {before:.0%})"
    return Collapse("one_class", share, before, p_value, "high", reason)


def constant_output(
    name: str,
    n: int,
    std: float,
    reference_std: float,
    alpha: float,
    ratio_floor: float = SPREAD_RATIO,
    mean: float | None = None,
) -> Collapse | None:
    """A score or value stuck (nearly) at a constant: its spread fell below a fraction of the reference's."""
    if n < 2 or not reference_std or not math.isfinite(reference_std) or reference_std <= 0:
        return None
    ratio = max(std, 0.0) / reference_std
    if ratio >= ratio_floor:
        return None
    p_value = float(chi2.cdf((n - 1) * ratio**2, n - 1))
    if p_value > alpha:
        return None
    at = f" at {mean:.4g}" if mean is not None and math.isfinite(mean) else ""
    reason = (
        f"the prediction {name} is stuck{at}: its spread over {n} predictions is {ratio:.1%} "
        "of the reference's"
    )
    return Collapse(f"constant_{name}", ratio, 1.0, p_value, "high", reason)


def empty_output(
    n: int,
    zeros: int,
    reference_share: float,
    reference_n: int,
    alpha: float,
    share_floor: float = ZERO_SHARE,
) -> Collapse | None:
    """LLM completions collapsing to 0 output tokens."""
    if not n:
        return None
    share = zeros / n
    if share < share_floor or share <= reference_share:
        return None
    # Without a reference (a baseline from a file), half the floor stands in for the usual share.
    usual = max(reference_share, 1.0 / (reference_n + 1)) if reference_n else share_floor / 2
    expected = min(usual, 1 - 1e-12)
    p_value = float(binomtest(zeros, n, expected, alternative="greater").pvalue)
    if p_value > alpha:
        return None
    reason = f"{share:.0%} of {n} completions have 0 output tokens (reference {reference_share:.1%})"
    return Collapse("empty_output", share, reference_share, p_value, "high", reason)


def output_explosion(
    n: int,
    mean: float,
    reference_mean: float,
    reference_std: float,
    reference_n: int,
    alpha: float,
    ratio_floor: float = EXPLOSION_RATIO,
) -> Collapse | None:
    """LLM output tokens per completion running away (loops, a removed max_tokens)."""
    if not n or reference_mean <= 0 or not math.isfinite(mean):
        return None
    ratio = mean / reference_mean
    if ratio < ratio_floor:
        return None
    spread = max(reference_std, 1.0) * math.sqrt(1.0 / n + 1.0 / max(reference_n, 1))
    p_value = float(norm.sf((mean - reference_mean) / spread))
    if p_value > alpha:
        return None
    before = f"{reference_mean:.0f} in the reference"
    reason = f"output tokens per completion rose {ratio:.1f}x ({mean:.0f} vs {before})"
    return Collapse("output_explosion", ratio, 1.0, p_value, "medium", reason)
