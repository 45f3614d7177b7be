"""Reference profiles: what a model's training (or a good period's) data looked like, in numbers.

A `ReferenceProfile` holds one `FeatureProfile` per feature: summary statistics (count, missing, mean,
std, quantiles), the fine quantile edges with the reference's counts on them (numeric), or category
frequencies (categorical); optionally a PCA model for multivariate drift and operational baselines
(series such as latency or error rate per window, for control charts). `to_dict()` is JSON-safe and
`from_dict()` reads it back, so a profile can be stored in `mlsiem-baselines` and used by the
detector job without the raw data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from detections.statistics.binning import bin_counts, quantile_edges
from detections.statistics.categorical import OTHER
from detections.statistics.columns import (
    CategoricalColumn,
    CategoryCounts,
    category_counts,
    finite_sorted,
    is_numeric_array,
)
from detections.statistics.isolation import MIN_ROWS, ForestModel, fit_forest, forest_features
from detections.statistics.multivariate import PcaModel, fit_pca, select_features

PROFILE_VERSION = 1
MAX_CATEGORIES = 1000  # beyond this many distinct values, the rarest are kept together as OTHER
SUMMARY_QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}

Kind = Literal["numeric", "categorical"]


@dataclass
class FeatureProfile:
    name: str
    kind: Kind
    count: int  # values present
    missing: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    edges: list[float] = field(default_factory=list)
    bin_counts: list[int] = field(default_factory=list)  # len(edges) + 1, left-closed bins
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def iqr(self) -> float:
        return self.quantiles.get("p75", 0.0) - self.quantiles.get("p25", 0.0)

    @property
    def missing_share(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else 0.0


@dataclass
class SeriesBaseline:
    """An operational series' in-control level (per window), the centre line of its control charts."""

    name: str
    mean: float
    std: float
    count: int

    @classmethod
    def from_values(cls, name: str, values: np.ndarray) -> SeriesBaseline:
        finite, _ = finite_sorted(values)
        if finite.size < 2:
            raise ValueError(f"series {name!r} needs at least 2 finite values for a baseline")
        return cls(name, float(finite.mean()), float(finite.std(ddof=1)), int(finite.size))


@dataclass
class ReferenceProfile:
    features: dict[str, FeatureProfile]
    rows: int
    metadata: dict[str, str] = field(default_factory=dict)
    multivariate: PcaModel | None = None
    operational: dict[str, SeriesBaseline] = field(default_factory=dict)
    version: int = PROFILE_VERSION
    isolation: ForestModel | None = None  # per-row anomaly scores (absent from older profiles)
    # Sorted raw reference values kept in memory (never serialized) so exact tests are possible offline.
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "rows": self.rows,
            "metadata": dict(self.metadata),
            "features": {name: asdict(f) for name, f in self.features.items()},
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "operational": {name: asdict(s) for name, s in self.operational.items()},
            "isolation": self.isolation.to_dict() if self.isolation else None,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ReferenceProfile:
        """Read `to_dict()` output back; a clear ValueError names what is wrong."""
        try:
            version = int(document.get("version", 0))
            if version != PROFILE_VERSION:
                raise ValueError(f"unsupported profile version {version} (expected {PROFILE_VERSION})")
            features = {name: FeatureProfile(**spec) for name, spec in document["features"].items()}
            for name, feature in features.items():
                if feature.kind not in ("numeric", "categorical"):
                    raise ValueError(f"feature {name!r} has unknown kind {feature.kind!r}")
                if feature.kind == "numeric" and len(feature.bin_counts) != len(feature.edges) + 1:
                    raise ValueError(f"feature {name!r}: bin_counts must have len(edges) + 1 entries")
            multivariate = document.get("multivariate")
            operational = document.get("operational") or {}
            isolation = document.get("isolation")
            return cls(
                features=features,
                rows=int(document["rows"]),
                metadata={str(k): str(v) for k, v in (document.get("metadata") or {}).items()},
                multivariate=PcaModel.from_dict(multivariate) if multivariate else None,
                operational={name: SeriesBaseline(**spec) for name, spec in operational.items()},
                version=version,
                isolation=ForestModel.from_dict(isolation) if isolation else None,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a reference profile: {exc}") from None


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def sorted_quantile(sorted_values: np.ndarray, q: float) -> float:
    """`np.quantile(values, q)` (linear) of an already sorted array, without another partition pass."""
    position = q * (sorted_values.size - 1)
    low = math.floor(position)
    high = min(low + 1, sorted_values.size - 1)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low))


def numeric_profile(name: str, sorted_values: np.ndarray, missing: int) -> FeatureProfile:
    """Profile of one numeric feature from its sorted finite values."""
    n = int(sorted_values.size)
    profile = FeatureProfile(name=name, kind="numeric", count=n, missing=missing)
    if n == 0:
        return profile
    edges = quantile_edges(sorted_values)
    profile.mean = _finite_or_none(float(sorted_values.mean()))
    profile.std = float(sorted_values.std(ddof=1)) if n > 1 else 0.0
    profile.min, profile.max = float(sorted_values[0]), float(sorted_values[-1])
    profile.quantiles = {k: sorted_quantile(sorted_values, q) for k, q in SUMMARY_QUANTILES.items()}
    profile.edges = edges.tolist()
    profile.bin_counts = bin_counts(sorted_values, edges, assume_sorted=True).tolist()
    return profile


def categorical_profile(
    name: str, counts: CategoryCounts, max_categories: int = MAX_CATEGORIES
) -> FeatureProfile:
    """Profile of one categorical feature: the most frequent categories, the rest as OTHER."""
    ranked = sorted(counts.counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:max_categories])
    rest = sum(count for _, count in ranked[max_categories:])
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    return FeatureProfile(
        name=name, kind="categorical", count=counts.total, missing=counts.missing, categories=kept
    )


def build_profile(
    columns: Mapping[str, np.ndarray | CategoricalColumn],
    *,
    metadata: Mapping[str, str] | None = None,
    keep_samples: bool = False,
    multivariate: bool = True,
    max_categories: int = MAX_CATEGORIES,
    multivariate_features: Sequence[str] | None = None,
    multivariate_exclude: Sequence[str] = (),
    isolation: bool = False,
    score_column: str | None = "prediction.score",
) -> ReferenceProfile:
    """Profile a reference data set given as columns (numeric arrays or categorical columns).

    `keep_samples` keeps the sorted numeric values in memory for exact KS and Wasserstein in `compare`.
    `multivariate` fits the multivariate model when at least two features take part: those of
    `multivariate_features`, else every column that is not an identifier, timestamp, prediction or
    label (`multivariate.select_features`), less `multivariate_exclude`.
    `isolation` fits the per-row isolation forest on the same features plus `score_column` (when it is
    a numeric column) if the reference has at least `isolation.MIN_ROWS` rows.
    """
    features: dict[str, FeatureProfile] = {}
    samples: dict[str, np.ndarray] = {}
    rows = 0
    for name, values in columns.items():
        rows = max(rows, len(values))
        if is_numeric_array(values):
            sorted_values, missing = finite_sorted(values)  # type: ignore[arg-type]
            features[name] = numeric_profile(name, sorted_values, missing)
            if keep_samples:
                samples[name] = sorted_values
        else:
            features[name] = categorical_profile(name, category_counts(values), max_categories)  # type: ignore[arg-type]
    model = None
    if multivariate:
        chosen, excluded = select_features(columns, multivariate_features, multivariate_exclude)
        chosen = [n for n in chosen if features[n].count > 1]
        if len(chosen) >= 2:
            try:
                model = fit_pca({n: columns[n] for n in chosen}, excluded=excluded)
            except ValueError:
                if multivariate_features is not None:
                    raise
    forest = None
    if isolation and rows >= MIN_ROWS:
        chosen, _ = select_features(columns, multivariate_features, multivariate_exclude)
        names = forest_features(columns, [n for n in chosen if features[n].count > 1], score_column)
        if names:
            forest = fit_forest({n: columns[n] for n in names})
    profile = ReferenceProfile(
        features=features, rows=rows, metadata=dict(metadata or {}), multivariate=model, isolation=forest
    )
    profile.samples = samples
    return profile
