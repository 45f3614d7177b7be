"""`compare(profile, current)`: every feature's drift against a reference profile, and the summary.

One entry point for the offline commands (raw columns from files) and the detector job (counts from
engine aggregations): each feature's current values may be raw (an array, a `CategoricalColumn`) or
already counted (`NumericCounts` on the profile's edges, `CategoryCounts`). With raw values and the
reference samples kept in the profile (`build_profile(..., keep_samples=True)`), KS and Wasserstein
are exact; otherwise they come from the bins (KS with its error bound).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from detections.statistics import categorical, divergence, numeric
from detections.statistics.binning import bin_counts, coarse_groups, merge_counts
from detections.statistics.columns import (
    CategoricalColumn,
    CategoryCounts,
    FeatureValues,
    NumericCounts,
    category_counts,
    finite_sorted,
    is_numeric_array,
)
from detections.statistics.decision import WATCH_METRIC, DecisionRule, Severity, Tier, severity
from detections.statistics.multiple_testing import benjamini_hochberg
from detections.statistics.multivariate import MultivariateDrift, encode, multivariate_drift
from detections.statistics.profile import FeatureProfile, ReferenceProfile

SEVERITY_ORDER: tuple[Severity, ...] = ("none", "low", "medium", "high", "critical")


@dataclass
class FeatureDrift:
    """One feature's verdict. `score` is the deciding metric; `metrics` has all computed ones."""

    feature: str
    kind: str
    metric: str
    score: float
    threshold: float  # calibrated: max(practical, noise level at these sizes)
    practical_threshold: float
    test: str  # ks | ks_binned | chi2 | schema | none
    statistic: float  # the test's statistic
    p_value: float
    adjusted_p_value: float = math.nan
    drifted: bool = False  # called at either tier
    tier: Tier | None = None  # "act" (practically large) or "watch" (certain but small)
    severity: Severity = "none"
    watch_metric: str = ""  # the watch tier's effect (Wasserstein in sigmas, or JS) and its threshold
    watch_score: float = math.nan
    watch_threshold: float = math.nan
    reference_size: int = 0
    current_size: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    ks_error_bound: float | None = None
    missing_share: dict[str, float] = field(default_factory=dict)
    note: str | None = None

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p_value)

    @property
    def decided_by(self) -> tuple[str, float, float]:
        """(metric, score, threshold) that made the call: the watch effect for a watch call."""
        if self.tier == "watch":
            return self.watch_metric, self.watch_score, self.watch_threshold
        return self.metric, self.score, self.threshold

    @property
    def strength(self) -> tuple[int, float]:
        """Sort key of calls, strongest first: act before watch, then by score over threshold."""
        _, score, threshold = self.decided_by
        ratio = score / threshold if threshold > 0 else math.inf
        return (0 if self.tier == "act" else 1, -ratio)


@dataclass
class DriftReport:
    features: list[FeatureDrift]
    alpha: float
    reference_rows: int
    current_rows: int
    multivariate: MultivariateDrift | None = None

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def summary(self) -> dict[str, Any]:
        tested = [f for f in self.features if f.tested or f.test == "schema"]
        drifted = sorted(self.drifted, key=lambda f: f.strength)
        worst = max((SEVERITY_ORDER.index(f.severity) for f in drifted), default=0)
        return {
            "features": len(tested),
            "drifted": len(drifted),
            "act": sum(f.tier == "act" for f in drifted),
            "watch": sum(f.tier == "watch" for f in drifted),
            "share_drifted": len(drifted) / len(tested) if tested else 0.0,
            "max_severity": SEVERITY_ORDER[worst],
            "top_features": [f.feature for f in drifted[:5]],
            "multivariate_drift": bool(self.multivariate and self.multivariate.drifted),
        }

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "summary": self.summary(),
                "alpha": self.alpha,
                "reference_rows": self.reference_rows,
                "current_rows": self.current_rows,
                "features": [asdict(f) for f in self.features],
                "multivariate": asdict(self.multivariate) if self.multivariate else None,
            }
        )


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _untested(
    profile: FeatureProfile, metric: str, practical: float, current_size: int, note: str
) -> FeatureDrift:
    return FeatureDrift(
        feature=profile.name,
        kind=profile.kind,
        metric=metric,
        score=math.nan,
        threshold=practical,
        practical_threshold=practical,
        test="none",
        statistic=math.nan,
        p_value=math.nan,
        reference_size=profile.count,
        current_size=current_size,
        note=note,
    )


# Below these window sizes a test's approximation is liberal (measured: the pooled chi-square on ten
# bins rejects 6x too often at 30 rows and adds false calls at 100; the z-test of the mean, 3-4x on
# lognormal data at 30-100 rows),
# so it does not join the combination there.
BINS_TEST_MIN_ROWS = 300
MEAN_TEST_MIN_ROWS = 500


def _numeric_p_value(
    profile: FeatureProfile,
    ks_p_value: float,
    reference_coarse: np.ndarray,
    current_coarse: np.ndarray,
    current_mean: float | None,
    n: int,
) -> float:
    """One p-value from up to three tests, each strong where the others are weak, Bonferroni-corrected.

    KS sees any change but is weak in the tails; the chi-square on the decile bins sees a changed
    spread; the z-test of the mean (reference spread) is the most powerful for a moved centre. All
    three work from what both paths have: the samples or bin counts, and the window's mean.
    """
    tests = [ks_p_value]
    if n >= BINS_TEST_MIN_ROWS:
        tests.append(categorical.chi_square(*categorical.pool_rare(reference_coarse, current_coarse)).p_value)
    usable_mean = current_mean is not None and profile.mean is not None and profile.std
    if usable_mean and n >= MEAN_TEST_MIN_ROWS and profile.count > 1:
        standard_error = profile.std * math.sqrt(1.0 / n + 1.0 / profile.count)  # type: ignore[operator]
        tests.append(float(2.0 * norm.sf(abs(current_mean - profile.mean) / standard_error)))  # type: ignore[operator]
    return min(1.0, len(tests) * min(tests))


def _numeric(
    profile: FeatureProfile,
    values: FeatureValues,
    rule: DecisionRule,
    sample: np.ndarray | None,
    binned_ks: numeric.KsResult | None = None,
) -> FeatureDrift:
    metric = rule.numeric_metric
    practical = rule.practical_threshold(metric, profile.name)
    edges = np.asarray(profile.edges, dtype=np.float64)
    reference_fine = np.asarray(profile.bin_counts, dtype=np.int64)
    sorted_current: np.ndarray | None = None
    if isinstance(values, NumericCounts):
        current_fine = np.asarray(values.counts, dtype=np.int64)
        if current_fine.size != reference_fine.size:
            raise ValueError(
                f"feature {profile.name!r}: {current_fine.size} counts for {reference_fine.size} bins"
            )
        missing, current_mean = values.missing, values.mean
    else:
        sorted_current, missing = finite_sorted(values)  # type: ignore[arg-type]
        current_fine = bin_counts(sorted_current, edges, assume_sorted=True)
        current_mean = float(sorted_current.mean()) if sorted_current.size else None
    n = int(current_fine.sum())
    if n == 0 or profile.count == 0:
        side = "current window" if n == 0 else "reference"
        return _untested(profile, metric, practical, n, f"no values in the {side}")
    if sample is not None and sorted_current is not None and sample.size:
        ks = numeric.ks_exact(sample, sorted_current)
        distance, test = numeric.wasserstein(sample, sorted_current), "ks"
    else:
        ks = binned_ks or numeric.ks_binned(reference_fine, current_fine)
        difference = None if current_mean is None or profile.mean is None else current_mean - profile.mean
        low, high = (
            profile.min if profile.min is not None else edges[0],
            profile.max if profile.max is not None else edges[-1],
        )
        distance, test = (
            numeric.wasserstein_binned(edges, reference_fine, current_fine, low, high, difference),
            "ks_binned",
        )
    starts = coarse_groups(reference_fine)
    reference_coarse, current_coarse = (
        merge_counts(reference_fine, starts),
        merge_counts(current_fine, starts),
    )
    metrics = {
        "psi": float(divergence.psi(reference_coarse, current_coarse)),
        "js": float(divergence.js_distance(reference_coarse, current_coarse)),
        "ks": ks.statistic,
        "wasserstein": distance / numeric.spread(profile.std or 0.0, profile.iqr),
    }
    dof = max(int(np.count_nonzero(reference_coarse + current_coarse)) - 1, 1)
    watch = WATCH_METRIC["numeric"]
    p_value = _numeric_p_value(profile, ks.p_value, reference_coarse, current_coarse, current_mean, n)
    return FeatureDrift(
        feature=profile.name,
        kind="numeric",
        metric=metric,
        score=metrics[metric],
        threshold=rule.threshold(metric, profile.name, profile.count, n, dof),
        practical_threshold=practical,
        watch_metric=watch,
        watch_score=metrics[watch],
        watch_threshold=rule.watch_threshold(watch, profile.count, n, dof),
        test=test,
        statistic=ks.statistic,
        p_value=p_value,
        reference_size=profile.count,
        current_size=n,
        metrics=metrics,
        ks_error_bound=ks.error_bound if test == "ks_binned" else None,
        missing_share={
            "reference": profile.missing_share,
            "current": missing / (n + missing) if n + missing else 0.0,
        },
    )


def _categorical(profile: FeatureProfile, values: FeatureValues, rule: DecisionRule) -> FeatureDrift:
    metric = rule.categorical_metric
    practical = rule.practical_threshold(metric, profile.name)
    current = category_counts(values)  # type: ignore[arg-type]
    n = current.total
    if n == 0 or profile.count == 0:
        side = "current window" if n == 0 else "reference"
        return _untested(profile, metric, practical, n, f"no values in the {side}")
    aligned = categorical.align(
        profile.categories, current.counts, reference_has_other=categorical.OTHER in profile.categories
    )
    pooled_reference, pooled_current = categorical.pool_rare(aligned.reference, aligned.current)
    test = categorical.chi_square(pooled_reference, pooled_current)
    metrics = {
        "js": float(divergence.js_distance(aligned.reference, aligned.current)),
        "psi": float(divergence.psi(aligned.reference, aligned.current)),
    }
    dof = max(int(np.count_nonzero(aligned.reference + aligned.current)) - 1, 1)
    watch = WATCH_METRIC["categorical"]
    note = None
    if aligned.unseen:
        top = sorted(aligned.unseen.items(), key=lambda item: -item[1])[:5]
        note = f"{len(aligned.unseen)} unseen categories ({sum(aligned.unseen.values())} rows): " + ", ".join(
            f"{k!r} x{v}" for k, v in top
        )
    return FeatureDrift(
        feature=profile.name,
        kind="categorical",
        metric=metric,
        score=metrics[metric],
        threshold=rule.threshold(metric, profile.name, profile.count, n, dof),
        practical_threshold=practical,
        watch_metric=watch,
        watch_score=metrics[watch],
        watch_threshold=rule.watch_threshold(watch, profile.count, n, dof),
        test="chi2",
        statistic=test.statistic,
        p_value=test.p_value,
        reference_size=profile.count,
        current_size=n,
        metrics=metrics,
        missing_share={
            "reference": profile.missing_share,
            "current": current.missing / (n + current.missing),
        },
        note=note,
    )


def _kind_of(values: FeatureValues) -> str:
    if isinstance(values, NumericCounts) or is_numeric_array(values):
        return "numeric"
    if isinstance(values, CategoricalColumn | CategoryCounts):
        return "categorical"
    return "categorical"


def _schema_change(profile: FeatureProfile, values: FeatureValues) -> FeatureDrift:
    size = len(values) if isinstance(values, np.ndarray | CategoricalColumn) else 0
    result = _untested(
        profile, "schema", 0.0, size, f"type changed: {profile.kind} in the reference, {_kind_of(values)} now"
    )
    result.test, result.drifted, result.severity, result.adjusted_p_value = "schema", True, "high", 0.0
    result.tier = "act"
    return result


def _binned_ks(
    profile: ReferenceProfile, current: Mapping[str, FeatureValues], names: Sequence[str]
) -> dict[str, numeric.KsResult]:
    """The binned KS tests of every numeric feature counted on its profile's bins, computed together
    (`numeric.ks_binned_many`: one exact p-value pass per window size instead of one per feature)."""
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        feature, values = profile.features[name], current[name]
        if feature.kind != "numeric" or not isinstance(values, NumericCounts):
            continue
        reference = np.asarray(feature.bin_counts, dtype=np.int64)
        counts = np.asarray(values.counts, dtype=np.int64)
        if counts.size == reference.size and counts.sum() and reference.sum() and feature.count:
            pairs[name] = (reference, counts)
    return dict(zip(pairs, numeric.ks_binned_many(list(pairs.values())), strict=True))


def compare(
    profile: ReferenceProfile,
    current: Mapping[str, FeatureValues],
    *,
    rule: DecisionRule | None = None,
    features: Sequence[str] | None = None,
) -> DriftReport:
    """Drift of every profiled feature present in `current` (or of `features`), decided by `rule`."""
    rule = rule or DecisionRule()
    names = list(features) if features is not None else [n for n in profile.features if n in current]
    unknown = [n for n in names if n not in profile.features or n not in current]
    if unknown:
        raise ValueError(f"features not in both the profile and the current data: {', '.join(unknown)}")
    results: list[FeatureDrift] = []
    binned_ks = _binned_ks(profile, current, names)
    for name in names:
        feature, values = profile.features[name], current[name]
        if feature.kind != _kind_of(values):
            results.append(_schema_change(feature, values))
        elif feature.kind == "numeric":
            results.append(_numeric(feature, values, rule, profile.samples.get(name), binned_ks.get(name)))
        else:
            results.append(_categorical(feature, values, rule))
    tested = [r for r in results if r.test not in ("schema", "none")]
    adjusted = benjamini_hochberg(np.array([r.p_value for r in tested]))
    for result, p_adjusted in zip(tested, adjusted, strict=True):
        result.adjusted_p_value = float(p_adjusted)
        result.tier = rule.tier(
            result.score, result.threshold, result.watch_score, result.watch_threshold, p_adjusted
        )
        result.drifted = result.tier is not None
        result.severity = severity(result.metric, result.score, result.practical_threshold, result.tier)
    rows = max((len(v) for v in current.values() if isinstance(v, np.ndarray | CategoricalColumn)), default=0)
    if not rows:
        rows = max((r.current_size for r in results), default=0)
    multivariate = None
    model = profile.multivariate
    # Raw rows of every model feature, of the kind the reference had (a schema change is reported above).
    if model is not None and all(
        isinstance(current.get(n), np.ndarray | CategoricalColumn)
        and _kind_of(current[n]) == ("categorical" if n in model.categories else "numeric")
        for n in model.features
    ):
        matrix = encode(model, {n: current[n] for n in model.features})  # type: ignore[misc]
        multivariate = multivariate_drift(model, matrix, rule.alpha)
    return DriftReport(results, rule.alpha, profile.rows, rows, multivariate)
