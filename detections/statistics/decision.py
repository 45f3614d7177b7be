"""The drift decision: a relevant effect that is also significant for these window sizes, in two tiers.

A feature drifts only when its test (KS or chi-square) is significant at `alpha` after
Benjamini-Hochberg across features, and its effect size reaches a threshold that is the larger of a
practical floor and the score that noise alone reaches with probability `alpha` for these sample
sizes (the score's null distribution scales with `1/n_eff`). Two tiers, as model monitoring practice
has them (a yellow "investigate" before a red "act"):
- `act`: the decision metric (PSI or JS by default) reaches its practical threshold (PSI 0.1, JS 0.1):
  a change that matters to the model owner. Severity medium, high or critical by the effect.
- `watch`: below that, but the watch effect reaches a small floor: the distribution moved by at least
  0.1 reference standard deviations (Wasserstein; PSI's deciles hardly see a spread change), or a
  categorical JS distance of 0.03 (about a 4-point share move). Statistically certain, practically
  small: investigate. Severity low.

Fixed thresholds are what makes naive tools wrong at both ends: on 50 rows the noise in PSI or
Wasserstein alone passes 0.1 most of the time, and on a million rows any test is significant for a
shift nobody cares about. Condition 2 bounds the false calls by `alpha` whatever the size; condition 1
keeps negligible effects out and makes the reported threshold honest for small windows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.stats import chi2, kstwo

Metric = Literal["psi", "js", "ks", "wasserstein"]
Severity = Literal["none", "low", "medium", "high", "critical"]

METRICS: tuple[Metric, ...] = ("psi", "js", "ks", "wasserstein")
DEFAULT_ALPHA = 0.01
# First value: the default practical threshold; then the starts of medium, high, critical.
SEVERITY_STEPS: dict[str, tuple[float, float, float, float]] = {
    "psi": (0.1, 0.25, 0.5, 1.0),  # the industry's 0.1 "moderate" / 0.25 "significant" bands
    "js": (0.1, 0.2, 0.3, 0.5),
    "ks": (0.1, 0.2, 0.3, 0.5),
    "wasserstein": (0.1, 0.25, 0.5, 1.0),  # in reference standard deviations
}
Tier = Literal["watch", "act"]
# The watch tier's effect: how far the distribution moved, whatever the decision metric.
WATCH_METRIC: dict[str, Metric] = {"numeric": "wasserstein", "categorical": "js"}
WATCH_PRACTICAL: dict[str, float] = {"wasserstein": 0.1, "js": 0.03, "psi": 0.02, "ks": 0.05}
# A watch call must be more certain than an act call: its test at alpha / WATCH_CERTAINTY.
WATCH_CERTAINTY = 3.0

# Upper quantiles of sqrt(n_eff) * W1 / sigma under no drift, Gaussian data (simulated, 4000 runs at
# n_eff 100..2000; stable in n). alpha -> quantile; interpolated in log(alpha).
_W1_NULL = ((0.001, 3.38), (0.005, 2.98), (0.01, 2.73), (0.05, 2.14), (0.1, 1.89))


def effective_size(n_reference: int, n_current: int) -> float:
    """n*m/(n+m): how much information two samples carry about their difference."""
    if n_reference <= 0 or n_current <= 0:
        return 0.0
    return n_reference * n_current / (n_reference + n_current)


# The quantiles depend on a few integers only: a job judging thousands of features asks for the same
# ones again and again (scipy's distribution calls cost far more than the arithmetic around them).
@functools.lru_cache(maxsize=4096)
def _chi2_isf(alpha: float, dof: int) -> np.float64:
    return chi2.isf(alpha, dof)


@functools.lru_cache(maxsize=4096)
def _kstwo_isf(alpha: float, n: int) -> float:
    return float(kstwo.isf(alpha, n))


def null_critical_value(metric: str, n_reference: int, n_current: int, dof: int, alpha: float) -> float:
    """The score that noise alone exceeds with probability about `alpha` at these sample sizes.

    PSI: `chi2(dof) / n_eff` (PSI is Jeffreys' divergence); JS distance: `sqrt(chi2(dof) / (8 n_eff
    ln 2))`; KS: Smirnov's distribution at n_eff; Wasserstein: a Gaussian reference's simulated
    quantile over sqrt(n_eff). Approximations for the reported threshold; the test controls the rate.
    """
    n_eff = effective_size(n_reference, n_current)
    if n_eff <= 0:
        return math.inf
    dof = max(dof, 1)
    if metric == "psi":
        return float(_chi2_isf(alpha, dof) / n_eff)
    if metric == "js":
        return float(math.sqrt(_chi2_isf(alpha, dof) / (8.0 * n_eff * math.log(2.0))))
    if metric == "ks":
        return _kstwo_isf(alpha, max(1, round(n_eff)))
    if metric == "wasserstein":
        alphas, quantiles = zip(*_W1_NULL, strict=True)
        q = float(np.interp(math.log(alpha), np.log(alphas), quantiles))
        return q / math.sqrt(n_eff)
    raise ValueError(f"unknown drift metric {metric!r}; expected one of {METRICS}")


@dataclass(frozen=True)
class DecisionRule:
    """Which score decides, at which practical thresholds, at which significance level."""

    alpha: float = DEFAULT_ALPHA
    numeric_metric: Metric = "psi"
    categorical_metric: Literal["js", "psi"] = "js"
    practical: dict[str, float] = field(default_factory=lambda: {m: s[0] for m, s in SEVERITY_STEPS.items()})
    feature_practical: dict[str, float] = field(default_factory=dict)  # per feature, in its metric's units
    watch: bool = True  # the watch tier (certain but small changes); False: only `act` calls
    watch_practical: dict[str, float] = field(default_factory=lambda: dict(WATCH_PRACTICAL))

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        for name, value in {**self.practical, **self.feature_practical, **self.watch_practical}.items():
            if not value >= 0.0:
                raise ValueError(f"threshold for {name!r} must be >= 0, got {value}")

    def practical_threshold(self, metric: str, feature: str | None = None) -> float:
        if feature is not None and feature in self.feature_practical:
            return self.feature_practical[feature]
        return self.practical.get(metric, SEVERITY_STEPS[metric][0])

    def threshold(
        self, metric: str, feature: str | None, n_reference: int, n_current: int, dof: int
    ) -> float:
        """The calibrated threshold: practical, raised to the noise level of these sample sizes."""
        practical = self.practical_threshold(metric, feature)
        return max(practical, null_critical_value(metric, n_reference, n_current, dof, self.alpha))

    def watch_threshold(self, metric: str, n_reference: int, n_current: int, dof: int) -> float:
        """The watch tier's calibrated threshold: its small floor, raised to the noise level."""
        floor = self.watch_practical.get(metric, WATCH_PRACTICAL[metric])
        noise = null_critical_value(metric, n_reference, n_current, dof, self.alpha / WATCH_CERTAINTY)
        return max(floor, noise)

    def drifted(self, score: float, threshold: float, adjusted_p_value: float) -> bool:
        """The `act` tier's condition (kept for callers that need only the top tier)."""
        return bool(score >= threshold and adjusted_p_value <= self.alpha)

    def tier(
        self,
        score: float,
        threshold: float,
        watch_score: float,
        watch_threshold: float,
        adjusted_p_value: float,
    ) -> Tier | None:
        """`act`, `watch` or None: significance first, then the effect decides the tier."""
        if not adjusted_p_value <= self.alpha:
            return None
        if score >= threshold:
            return "act"
        certain = adjusted_p_value <= self.alpha / WATCH_CERTAINTY
        if self.watch and certain and watch_score >= watch_threshold:
            return "watch"
        return None


def severity(metric: str, score: float, practical: float, tier: Tier | None) -> Severity:
    """Severity of a call: `watch` is low; `act` is medium, high from the metric's third step, critical
    from its fourth (PSI 0.5 / 1.0, JS 0.3 / 0.5), scaled when the practical threshold was changed."""
    if tier is None or math.isnan(score):
        return "none"
    if tier == "watch":
        return "low"
    steps = SEVERITY_STEPS.get(metric, SEVERITY_STEPS["psi"])
    scale = practical / steps[0] if practical > 0 else 1.0
    if score >= steps[3] * scale:
        return "critical"
    if score >= steps[2] * scale:
        return "high"
    return "medium"
