"""Data quality, judged: missing values, values out of range, a feature stuck at one value, new categories.

Each check compares a feature's current window with its `FeatureProfile` through a `WindowCounts`
summary, which the offline commands build from raw columns (`window_counts`) and the detector job from
engine aggregations: the same numbers either way, so both paths reach the same verdict.

The tests, each calibrated on unchanged data (false calls per feature-window <= alpha at any size):
- missing: one-sided Fisher exact test (hypergeometric) for a rise of the missing share;
- out_of_range: against the reference's own range, an exact test under exchangeability: the chance
  that k or more of m new values fall beyond the min or max of n reference values is
  `(k+1) F(k) - k F(k+1)` with `F(j) = [m]_j / [n+m]_j` (falling factorials), about 2/(n+1) per value;
  against a configured valid range, Fisher's test of the share outside it (reference vs current);
- constant: the permutation probability that all m current values fall in one class of the pooled
  data (exact for categories; for numbers bounded with the largest reference bin as the largest class);
- new_category: the share of rows in categories the reference never had, against the reference's
  unseen mass (Good-Turing `singletons / n`, raised to an upper confidence bound with Esty's variance),
  as a binomial tail; skipped when the profile lumped rare categories into OTHER.
A check fails when its Benjamini-Hochberg adjusted p-value (across the features of that check) is at
most alpha AND its effect reaches a practical floor; the `act` floor separates the tiers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import gammaln
from scipy.stats import binom, gamma, hypergeom, norm

from detections.statistics.categorical import OTHER
from detections.statistics.columns import (
    CategoricalColumn,
    CategoryCounts,
    category_counts,
    finite_sorted,
    is_numeric_array,
)
from detections.statistics.multiple_testing import benjamini_hochberg
from detections.statistics.profile import FeatureProfile

Check = Literal["missing", "out_of_range", "constant", "new_category", "schema"]
CHECKS: tuple[Check, ...] = ("missing", "out_of_range", "constant", "new_category", "schema")
Tier = Literal["watch", "act"]
QualitySeverity = Literal["none", "low", "medium", "high", "critical"]
Range = tuple[float, float]

# The confidence level of the Good-Turing upper bound: its error adds to the new-category test's.
_UNSEEN_BOUND_ERROR = 1e-5
# The mass outside n reference values' range is about Gamma(2)/(n+1); its 99th percentile (6.64/(n+1))
# is what the reference's own size can explain: the practical floor counts only the share above it.
_RANGE_EXPLAINED = float(gamma.isf(0.01, 2))


def range_explained(reference_size: int) -> float:
    """The share of values beyond a reference's range that its size explains (99% bound)."""
    return _RANGE_EXPLAINED / (reference_size + 1)


@dataclass(frozen=True)
class QualityRule:
    """Significance and the practical floors (absolute shares) per check; every default lives here."""

    alpha: float = 0.01
    missing_floor: float = 0.05  # a rise of 5 points of missing share is worth a look (watch)
    missing_act: float = 0.20  # 20 points is practically large (act)
    range_floor: float = 0.03  # 3% of values beyond the range, above what the reference's size explains
    range_act: float = 0.10
    new_category_floor: float = 0.02
    new_category_act: float = 0.10
    min_constant_rows: int = 2  # a single value is not "stuck"

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        for name in ("missing", "range", "new_category"):
            floor, act = getattr(self, f"{name}_floor"), getattr(self, f"{name}_act")
            if not 0.0 <= floor <= act <= 1.0:
                raise ValueError(f"{name}: need 0 <= floor ({floor}) <= act ({act}) <= 1")


@dataclass(frozen=True)
class WindowCounts:
    """One feature's current window, summarized for the quality checks (from raw values or aggregations).

    `below` / `above` count values strictly outside `bounds` (the reference min/max, or a configured
    valid range); `minimum` / `maximum` are the window's numeric extremes; `categories` the counts of a
    categorical feature (`truncated` rows the engine did not itemize are not counted as new).
    """

    kind: str
    present: int
    missing: int
    bounds: Range | None = None
    below: int = 0
    above: int = 0
    minimum: float | None = None
    maximum: float | None = None
    categories: Mapping[str, int] = field(default_factory=dict)
    truncated: int = 0


@dataclass
class QualityResult:
    """One feature x check verdict. Shares are in [0, 1]; `p_value` is BH-adjusted within the check."""

    feature: str
    check: Check
    reference_value: float | str | None
    current_value: float | str | None
    p_value: float
    failed: bool = False
    tier: Tier | None = None
    severity: QualitySeverity = "none"
    reason: str = ""
    reference_size: int = 0
    current_size: int = 0
    raw_p_value: float = math.nan
    effect: float = math.nan  # what the practical floor is compared with: the rise of the share
    affected: int = 0  # current rows behind the verdict (missing, outside, stuck, in new categories)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float) and not math.isfinite(value):
                data[key] = None
        return data


# -- building the window summary from raw values ------------------------------------------------------


def reference_bounds(profile: FeatureProfile, valid_range: Range | None = None) -> Range | None:
    """The range a numeric feature's values are judged against: the configured one, else the reference's."""
    if valid_range is not None:
        return (float(valid_range[0]), float(valid_range[1]))
    if profile.kind != "numeric" or profile.min is None or profile.max is None:
        return None
    return (profile.min, profile.max)


def window_counts(
    profile: FeatureProfile, values: np.ndarray | CategoricalColumn, valid_range: Range | None = None
) -> WindowCounts:
    """The summary of raw current values (the offline path)."""
    if is_numeric_array(values):
        finite, missing = finite_sorted(values)  # type: ignore[arg-type]
        bounds = reference_bounds(profile, valid_range) if profile.kind == "numeric" else None
        below = above = 0
        if bounds is not None:
            below = int(np.searchsorted(finite, bounds[0], side="left"))
            above = int(finite.size - np.searchsorted(finite, bounds[1], side="right"))
        return WindowCounts(
            "numeric",
            int(finite.size),
            missing,
            bounds,
            below,
            above,
            float(finite[0]) if finite.size else None,
            float(finite[-1]) if finite.size else None,
        )
    counts = category_counts(values)  # type: ignore[arg-type]
    return WindowCounts("categorical", counts.total, counts.missing, categories=dict(counts.counts))


def counts_of_categories(counts: CategoryCounts, truncated: int = 0) -> WindowCounts:
    """The summary of a categorical window counted by the engine (`terms` + `missing`)."""
    present = counts.total + truncated
    return WindowCounts(
        "categorical", present, counts.missing, categories=dict(counts.counts), truncated=truncated
    )


def reference_outside(profile: FeatureProfile, bounds: Range, sample: np.ndarray | None = None) -> int:
    """How many reference values lie outside `bounds`: exact from the kept sample, else from the bins.

    Without a sample, values outside are counted by whole bins (a lower bound when a bin straddles a
    bound); a profile whose min and max lie inside the bounds has none outside.
    """
    low, high = bounds
    if profile.min is not None and profile.max is not None and low <= profile.min and profile.max <= high:
        return 0
    if sample is not None and sample.size:
        return int(
            np.searchsorted(sample, low, side="left") + sample.size - np.searchsorted(sample, high, "right")
        )
    edges = np.asarray(profile.edges, dtype=np.float64)
    counts = np.asarray(profile.bin_counts, dtype=np.int64)
    if edges.size == 0 or counts.size != edges.size + 1:
        return 0
    # bin i covers [edges[i-1], edges[i]); bin 0 is (-inf, edges[0]), the last [edges[-1], inf)
    uppers = np.append(edges, math.inf)
    lowers = np.insert(edges, 0, -math.inf)
    below = (uppers <= low) & (uppers > -math.inf)
    above = lowers > high
    return int(counts[below].sum() + counts[above].sum())


# -- the tests ------------------------------------------------------------------------------------------


def fisher_increase(ref_hits: Any, ref_total: Any, cur_hits: Any, cur_total: Any) -> Any:
    """One-sided Fisher exact p-value that the current share of hits is higher than the reference's.

    Takes numbers or arrays (element-wise); NaN where either side has no rows.
    """
    ref_hits, ref_total, cur_hits, cur_total = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.int64) for x in (ref_hits, ref_total, cur_hits, cur_total))
    )
    valid = (ref_total > 0) & (cur_total > 0)
    p = hypergeom.sf(cur_hits - 1, ref_total + cur_total, ref_hits + cur_hits, np.maximum(cur_total, 1))
    p = np.where(valid, np.minimum(1.0, p), math.nan)
    return float(p) if p.ndim == 0 else p


def _log_falling_ratio(m: int, total: int, j: np.ndarray) -> np.ndarray:
    """log([m]_j / [total]_j); -inf where j > m."""
    j = np.asarray(j, dtype=np.float64)
    safe = np.minimum(j, m)
    out = gammaln(m + 1) - gammaln(m - safe + 1) - gammaln(total + 1) + gammaln(total - safe + 1)
    return np.where(j <= m, out, -math.inf)


def beyond_range_p_value(reference_size: int, current_size: int, beyond: Any) -> Any:
    """P(k or more of m new values fall below the min or above the max of n reference values), exact.

    Under exchangeability (continuous values) `P(K >= k) = (k+1) F(k) - k F(k+1)`; ties only make values
    beyond the range rarer, so the test is conservative on discrete data. `beyond` may be an array.
    """
    n, m = reference_size, current_size
    k = np.asarray(beyond, dtype=np.float64)
    if n < 1 or m < 1:
        return math.nan if k.ndim == 0 else np.full(k.shape, math.nan)
    f_k = np.exp(_log_falling_ratio(m, n + m, k))
    f_next = np.exp(_log_falling_ratio(m, n + m, k + 1))
    p = np.where(k <= 0, 1.0, np.clip((k + 1) * f_k - k * f_next, 0.0, 1.0))
    return float(p) if p.ndim == 0 else p


def constant_p_value(class_counts: np.ndarray, current_size: int, stuck_class: int | None) -> float:
    """Permutation probability that all m current values land in one class of the pooled data.

    `class_counts` are the reference's counts per class; the current window adds its m values to
    `stuck_class` (None: the class is unknown, the largest is assumed, which bounds the p-value above).
    """
    m = current_size
    counts = np.asarray(class_counts, dtype=np.float64)
    n = float(counts.sum())
    if m < 2 or n < 1:
        return math.nan
    pooled = counts.copy()
    if stuck_class is None:
        pooled = np.append(pooled, 0.0)
        pooled[int(np.argmax(counts))] += m  # the largest class takes the window: an upper bound
    else:
        pooled[stuck_class] += m
    total = int(n) + m
    classes = pooled[pooled >= m]
    if classes.size == 0:
        return 0.0
    logs = np.array([_log_falling_ratio(int(c), total, np.array([m]))[0] for c in classes])
    return float(min(1.0, np.exp(logs).sum()))


def numeric_constant_p_value(profile: FeatureProfile, current_size: int) -> float:
    """The stuck-value probability of a numeric feature, bounded by the reference's largest bin.

    Any single value lies in one bin, so the largest bin count bounds the largest class: the p-value is
    at most `((c_max + m) / (n + m)) ** (m - 1)`, which is what is returned.
    """
    n, m = profile.count, current_size
    if m < 2 or n < 1:
        return math.nan
    largest = max(profile.bin_counts) if profile.bin_counts else n
    if profile.min is not None and profile.min == profile.max:
        return 1.0  # the reference itself is constant
    share = min(1.0, (largest + m) / (n + m))
    return float(share ** (m - 1))


def unseen_mass_bound(categories: Mapping[str, int]) -> tuple[float, float]:
    """(Good-Turing estimate, upper confidence bound) of the reference's unseen mass.

    Estimate `S1 / n`; bound `(S1 + 1) / n + z * sqrt(S1 + 2 S2 + 1) / n` (Esty's variance of the
    Good-Turing estimator, with one pseudo-singleton so an estimate of 0 still has an honest bound).
    """
    counts = np.fromiter(categories.values(), dtype=np.float64)
    n = float(counts.sum())
    if n <= 0:
        return math.nan, 1.0
    singles, doubles = float((counts == 1).sum()), float((counts == 2).sum())
    return singles / n, float(unseen_bound(singles, doubles, n))


def unseen_bound(singles: Any, doubles: Any, n: Any) -> Any:
    """The upper bound of `unseen_mass_bound` from the counts of singletons and doubletons (arrays too)."""
    singles, doubles, n = (np.asarray(x, dtype=np.float64) for x in (singles, doubles, n))
    z = float(norm.isf(_UNSEEN_BOUND_ERROR))
    return np.minimum(1.0, (singles + 1.0) / n + z * np.sqrt(singles + 2.0 * doubles + 1.0) / n)


def new_category_p_value(bound: Any, current_size: Any, new_rows: Any) -> Any:
    """Binomial tail of `new_rows` of m at the unseen mass's upper bound, plus the bound's own error."""
    bound, m, k = (np.asarray(x, dtype=np.float64) for x in (bound, current_size, new_rows))
    p = np.minimum(1.0, binom.sf(k - 1, np.maximum(m, 1), bound) + _UNSEEN_BOUND_ERROR)
    p = np.where(m < 1, math.nan, np.where(k <= 0, 1.0, p))
    return float(p) if p.ndim == 0 else p


# -- the judgement --------------------------------------------------------------------------------------


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    if share >= 0.1 or share == 1:
        return f"{share:.0%}"
    return f"{share:.1%}" if share >= 0.001 else f"{share:.2%}"


def _value(value: float | str) -> str:
    return repr(value) if isinstance(value, str) else f"{value:g}"


def _tiered(effect: float, act: float) -> tuple[Tier, QualitySeverity]:
    if effect >= act:
        return "act", "high" if effect >= min(1.0, 2.5 * act) else "medium"
    return "watch", "low"


def _missing(name: str, profile: FeatureProfile, window: WindowCounts) -> QualityResult:
    ref_total, cur_total = profile.count + profile.missing, window.present + window.missing
    ref_share = profile.missing_share
    cur_share = window.missing / cur_total if cur_total else 0.0
    return QualityResult(
        name,
        "missing",
        ref_share,
        cur_share,
        math.nan,
        reference_size=ref_total,
        current_size=cur_total,
        raw_p_value=fisher_increase(profile.missing, ref_total, window.missing, cur_total),
        affected=window.missing,
        effect=cur_share - ref_share,
        reason=f"{name}: {_percent(cur_share)} missing, was {_percent(ref_share)}",
    )


def _out_of_range(
    name: str, profile: FeatureProfile, window: WindowCounts, valid: bool, sample: np.ndarray | None
) -> QualityResult | None:
    if window.kind != "numeric" or window.bounds is None or profile.count == 0:
        return None
    low, high = window.bounds
    beyond = window.below + window.above
    share = beyond / window.present if window.present else 0.0
    bounds = f"[{low:g}, {high:g}]"
    if valid:
        ref_out = reference_outside(profile, window.bounds, sample)
        ref_share = ref_out / profile.count
        p = fisher_increase(ref_out, profile.count, beyond, window.present)
        reason = f"{name}: {_percent(share)} outside the valid range {bounds}, was {_percent(ref_share)}"
        effect = share - ref_share
    else:
        ref_share = 2.0 / (profile.count + 1)  # what the reference's own size implies
        p = beyond_range_p_value(profile.count, window.present, beyond)
        effect = share - range_explained(profile.count)
        reason = (
            f"{name}: {_percent(share)} outside the reference range {bounds}, "
            f"expected about {_percent(ref_share)}"
        )
    return QualityResult(
        name,
        "out_of_range",
        ref_share,
        share,
        math.nan,
        reference_size=profile.count,
        current_size=window.present,
        raw_p_value=p,
        reason=reason,
        affected=beyond,
        effect=effect,
    )


def _constant(name: str, profile: FeatureProfile, window: WindowCounts) -> QualityResult | None:
    m = window.present
    if m < 1 or profile.count == 0:
        return None
    if window.kind == "numeric":
        if window.minimum is None or window.minimum != window.maximum:
            return None
        value: float | str = window.minimum
        p = numeric_constant_p_value(profile, m)
        ref_value: float | str | None = None
    else:
        if len(window.categories) != 1 or window.truncated:
            return None
        value = next(iter(window.categories))
        labels = list(profile.categories)
        counts = np.array([profile.categories[k] for k in labels], dtype=np.float64)
        if value in profile.categories:
            p = constant_p_value(counts, m, labels.index(value))
        else:
            p = constant_p_value(np.append(counts, 0.0), m, len(labels))
        ref_value = len(labels)
    return QualityResult(
        name,
        "constant",
        ref_value,
        value,
        math.nan,
        reference_size=profile.count,
        current_size=m,
        raw_p_value=p,
        affected=m,
        reason=f"{name}: stuck at one value ({_value(value)}) in {m} rows",
    )


def _new_category(name: str, profile: FeatureProfile, window: WindowCounts) -> QualityResult | None:
    if window.kind != "categorical" or profile.count == 0 or window.present == 0:
        return None
    if OTHER in profile.categories:
        return None  # a capped profile cannot tell a new category from a rare one it lumped together
    new = {k: v for k, v in window.categories.items() if k not in profile.categories}
    new_rows = sum(new.values())
    estimate, bound = unseen_mass_bound(profile.categories)
    share = new_rows / window.present
    top = ", ".join(repr(k) for k, _ in sorted(new.items(), key=lambda item: -item[1])[:3])
    return QualityResult(
        name,
        "new_category",
        estimate,
        share,
        math.nan,
        reference_size=profile.count,
        current_size=window.present,
        raw_p_value=new_category_p_value(bound, window.present, new_rows),
        affected=new_rows,
        effect=share - estimate,
        reason=(
            f"{name}: {_percent(share)} in {len(new)} new categories ({top}), "
            f"expected about {_percent(estimate)}"
        ),
    )


def _decide(results: list[QualityResult], rule: QualityRule) -> None:
    """BH within each check, then the floors and tiers."""
    floors = {
        "missing": (rule.missing_floor, rule.missing_act),
        "out_of_range": (rule.range_floor, rule.range_act),
        "new_category": (rule.new_category_floor, rule.new_category_act),
    }
    for check in CHECKS:
        group = [r for r in results if r.check == check]
        if not group or check == "schema":
            continue
        adjusted = benjamini_hochberg(np.array([r.raw_p_value for r in group]))
        for result, p in zip(group, adjusted, strict=True):
            result.p_value = float(p)
            if math.isnan(p) or p > rule.alpha:
                continue
            if check == "constant":
                result.failed, result.tier, result.severity = True, "act", "high"
                continue
            floor, act = floors[check]
            if result.effect >= floor:
                result.failed = True
                result.tier, result.severity = _tiered(result.effect, act)


def schema_result(name: str, reference_kind: str, current_kind: str, size: int = 0) -> QualityResult:
    """A type change (numeric <-> categorical): always a failure to act on."""
    return QualityResult(
        name,
        "schema",
        reference_kind,
        current_kind,
        0.0,
        failed=True,
        tier="act",
        severity="high",
        current_size=size,
        raw_p_value=0.0,
        reason=f"{name}: type changed: {reference_kind} in the reference, {current_kind} now",
    )


def judge(
    profiles: Mapping[str, FeatureProfile],
    windows: Mapping[str, WindowCounts],
    rule: QualityRule | None = None,
    *,
    valid_ranges: Mapping[str, Range] | None = None,
    samples: Mapping[str, np.ndarray] | None = None,
) -> list[QualityResult]:
    """Every applicable check for every feature in `windows`, decided by `rule` (results in feature order).

    A feature whose kind changed gets only the `schema` result: its values cannot be compared.
    """
    rule = rule or QualityRule()
    valid_ranges = valid_ranges or {}
    samples = samples or {}
    results: list[QualityResult] = []
    for name, window in windows.items():
        profile = profiles[name]
        if profile.kind != window.kind:
            results.append(schema_result(name, profile.kind, window.kind, window.present + window.missing))
            continue
        results.append(_missing(name, profile, window))
        for result in (
            _out_of_range(name, profile, window, name in valid_ranges, samples.get(name)),
            _constant(name, profile, window),
            _new_category(name, profile, window),
        ):
            if result is not None:
                results.append(result)
    _decide(results, rule)
    return results


def failures(results: list[QualityResult]) -> list[QualityResult]:
    """The failed checks, most severe first."""
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "none": 4}
    return sorted((r for r in results if r.failed), key=lambda r: (order[r.severity], r.feature))
