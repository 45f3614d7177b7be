"""Multivariate drift: the joint distribution of the features changed.

Univariate tests miss a change in how features move together (two features that used to rise
together now move apart, each keeping its own distribution). Each row is encoded against the
reference (numeric: standardized, a missing value at the mean; categorical: one column per frequent
reference category, the rest pooled, each feature's block scaled to unit total variance) and two
two-sided tests run on the encoded rows, each at alpha/2 (Bonferroni):

- reconstruction error: a PCA fitted on the reference keeps the directions carrying most of its
  variance; the per-row squared distance from that subspace is compared with the reference's (KS on
  the reference error quantile bins; effect: the mean error ratio minus 1, either sign: a fall means
  the features now move together more tightly than they did, which is a change too);
- mean shift: Hotelling's test of the window's mean vector against the reference's (effect: the
  Mahalanobis distance between the two means, in reference standard deviations).

A call needs a significant test and its effect past the practical floor: `watch` from the lower
floor, `act` from the higher. Which columns take part is decided once, at fit time (`select_features`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from detections.statistics.binning import bin_counts, quantile_edges
from detections.statistics.columns import CategoricalColumn, category_counts, is_numeric_array
from detections.statistics.numeric import ks_binned

MODEL_VERSION = 2
EXPLAINED_VARIANCE = 0.9
MAX_ROWS = 200_000  # evenly spaced rows beyond this add cost, not power, to a PCA of a few dozen columns
MAX_CATEGORY_COLUMNS = 8  # per categorical feature: its most frequent reference categories
MIN_CATEGORY_SHARE = 0.02  # rarer categories are pooled (their one-hot means are too skewed for a z-test)
NEAR_UNIQUE = 0.5  # a categorical column with distinct values on at least this share of its rows is an id
# Practical floors (watch, act): relative change of the mean reconstruction error; Mahalanobis distance
# between the reference and window means. Severity of `act` rises at 2.5x and 5x the act floor.
ERROR_FLOORS = (0.05, 0.1)
MEAN_FLOORS = (0.1, 0.2)
_ID_WORDS = {"id", "uuid", "guid", "index", "idx", "key", "hash"}
_ROW_NAMES = {
    "row",
    "rows",
    "record",
    "records",
    "event",
    "events",
    "request",
    "requests",
    "trace",
    "session",
}
_TIME_WORDS = {"timestamp", "time", "date", "datetime", "ts", "at"}
_OUTCOME_PREFIXES = (
    "prediction",
    "predicted",
    "y_pred",
    "y_true",
    "y_hat",
    "y_score",
    "y_proba",
    "ground_truth",
)
_OUTCOME_WORDS = {"pred", "proba", "prediction", "label", "target"}


def _words(name: str) -> list[str]:
    for separator in "._-@ ":
        name = name.replace(separator, " ")
    return name.lower().split() or [""]


def _name_reason(name: str) -> str | None:
    words, lower = _words(name), name.lower()
    if (
        lower.startswith(_OUTCOME_PREFIXES)
        or words[0] in ("label", "target")
        or (len(words) > 1 and words[-1] in _OUTCOME_WORDS)
    ):
        return "a prediction or label column"
    camel = (
        name.endswith(("Id", "ID", "Uuid", "UUID", "Key")) and name[:-2][-1:].isalnum() and name[0].islower()
    )
    if words[-1] in _ID_WORDS or lower in _ROW_NAMES or camel:
        return "an identifier by its name"
    if words[-1] in _TIME_WORDS and (len(words) > 1 or words[-1] != "at"):
        return "a timestamp by its name"
    return None


Column = np.ndarray | CategoricalColumn


def excluded_reason(name: str, values: Column) -> str | None:
    """Why a column is not a feature of the multivariate check by default, or None when it is one.

    Names: identifiers (`id`, `*_id`, `uuid`, ...), timestamps (`timestamp`, `*_at`, ...), predictions
    and labels (`prediction*`, `y_pred*`, `label`, `target`, `*_proba`, ...). Shapes: a categorical
    column distinct on at least half its rows, an integer column whose values are all distinct and
    dense (a row counter).
    """
    reason = _name_reason(name)
    if reason:
        return reason
    if is_numeric_array(values):
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size >= 20 and np.all(finite == np.round(finite)):
            distinct = np.unique(finite)
            if distinct.size == finite.size and distinct[-1] - distinct[0] < 2 * finite.size:
                return "an integer sequence (every value distinct)"
        return None
    counts = category_counts(values)  # type: ignore[arg-type]
    if counts.total >= 20 and len(counts.counts) >= NEAR_UNIQUE * counts.total:
        return "near-unique values (an identifier)"
    return None


def select_features(
    columns: Mapping[str, Column], features: Sequence[str] | None = None, exclude: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """The multivariate check's features and the excluded columns with the reason.

    `features` given: exactly those (each must be a column); otherwise every column that is not
    excluded by `excluded_reason`. `exclude` removes columns in both cases.
    """
    unknown = [n for n in [*(features or []), *exclude] if n not in columns]
    if unknown:
        raise ValueError(f"multivariate features not among the columns: {', '.join(unknown)}")
    excluded = {n: "excluded by the configuration" for n in exclude}
    if features is not None:
        return [n for n in features if n not in excluded], excluded
    chosen = []
    for name, values in columns.items():
        if name in excluded:
            continue
        reason = excluded_reason(name, values)
        if reason:
            excluded[name] = reason
        else:
            chosen.append(name)
    return chosen, excluded


@dataclass
class PcaModel:
    """The encoding, the reference's principal axes and its reconstruction errors (JSON-safe)."""

    features: list[str]
    center: list[float]  # per encoded column
    scale: list[float]
    components: list[list[float]]  # encoded columns x kept components
    explained: float  # share of the reference variance the kept components carry
    error_edges: list[float]
    error_counts: list[int]
    error_mean: float
    error_std: float
    rows: int
    categories: dict[str, list[str]] = field(default_factory=dict)  # categorical feature -> one-hot labels
    discarded: list[list[float]] = field(default_factory=list)  # encoded columns x the other axes
    eigenvalues: list[float] = field(default_factory=list)  # of every axis, kept ones first
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it is not a feature
    version: int = MODEL_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> PcaModel:
        """Read `to_dict()` output; a version-1 model (numeric only, no mean-shift axes) still loads."""
        known = {k: v for k, v in document.items() if k in cls.__dataclass_fields__}
        version = int(known.get("version", 1))
        if version > MODEL_VERSION:
            raise ValueError(f"multivariate model version {version} is newer than this release reads")
        known["version"] = version
        return cls(**known)

    @property
    def has_mean_test(self) -> bool:
        return bool(self.eigenvalues)


@dataclass(frozen=True)
class MultivariateDrift:
    score: float  # mean reconstruction error ratio current / reference, minus 1 (either sign)
    threshold: float  # the |score| a call needs at these sizes (practical floor or noise)
    statistic: float  # KS on the error distributions (binned)
    p_value: float  # the check's p-value: Bonferroni over its two tests
    drifted: bool
    reference_size: int
    current_size: int
    components: int
    tier: str | None = None  # watch | act
    severity: str = "none"
    error_p_value: float = math.nan
    mean_shift: float = math.nan  # Mahalanobis distance between the means (reference sigmas)
    mean_shift_threshold: float = math.nan
    mean_p_value: float = math.nan
    features: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # which test called it, in words
    metric: str | None = None  # the deciding test: reconstruction_error | mean_shift

    @property
    def effect(self) -> tuple[float, float]:
        """The deciding test's effect and the threshold it had to reach."""
        if self.metric == "mean_shift":
            return self.mean_shift, self.mean_shift_threshold
        return self.score, self.threshold


def _encoded_columns(
    names: list[str], categories: Mapping[str, list[str]], columns: Mapping[str, Column], step: int
) -> list[np.ndarray]:
    """Raw encoded columns (before centering): a float column per numeric feature, indicators else."""
    out: list[np.ndarray] = []
    for name in names:
        values = columns[name]
        if name not in categories:
            if not is_numeric_array(values):
                raise ValueError(f"multivariate feature {name!r} was numeric in the reference, not now")
            out.append(np.asarray(values, dtype=np.float64)[::step])
            continue
        if isinstance(values, CategoricalColumn):
            labels = np.array([str(c) for c in values.categories], dtype=object)
            codes = values.codes[::step]
            present = codes >= 0
            for label in categories[name]:
                hit = np.flatnonzero(labels == label)
                column = np.isin(codes, hit).astype(np.float64)
                column[~present] = np.nan
                out.append(column)
            continue
        array = np.asarray(values, dtype=object)[::step]
        missing = np.array([v is None or v == "" or (isinstance(v, float) and v != v) for v in array])
        text = array.astype(str)
        for label in categories[name]:
            column = (text == label).astype(np.float64)
            column[missing] = np.nan
            out.append(column)
    return out


def _matrix(model: PcaModel, columns: Mapping[str, Column]) -> np.ndarray:
    """Encoded columns x rows, standardized; a missing value becomes 0 (the reference mean).

    At most MAX_ROWS rows, evenly spaced, are used.
    """
    rows = len(columns[model.features[0]])
    step = max(1, -(-rows // MAX_ROWS))
    raw = _encoded_columns(model.features, model.categories, columns, step)
    matrix = np.empty((len(raw), raw[0].size if raw else 0))
    center, scale = np.asarray(model.center), np.asarray(model.scale)
    for j, column in enumerate(raw):
        row = matrix[j]
        np.subtract(column, center[j], out=row)
        row /= scale[j]
        row[~np.isfinite(row)] = 0.0
    return matrix


def _errors(matrix: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Squared distance of each row (a column of `matrix`) from the kept principal subspace."""
    projected = components.T @ matrix
    return np.maximum(
        np.einsum("ij,ij->j", matrix, matrix) - np.einsum("ij,ij->j", projected, projected), 0.0
    )


def _frequent_categories(values: Column) -> list[str]:
    counts = category_counts(values)  # type: ignore[arg-type]
    total = max(counts.total, 1)
    ranked = sorted(counts.counts.items(), key=lambda item: (-item[1], item[0]))
    kept = [label for label, count in ranked if count / total >= MIN_CATEGORY_SHARE]
    if len(kept) == len(ranked):  # no pooled rest: one indicator is implied by the others
        kept = kept[:-1]
    return kept[:MAX_CATEGORY_COLUMNS]


def fit_pca(
    columns: Mapping[str, Column],
    explained_variance: float = EXPLAINED_VARIANCE,
    excluded: Mapping[str, str] | None = None,
) -> PcaModel:
    """Fit on the reference columns (numeric arrays or categorical columns, at least two features)."""
    names = list(columns)
    categories = {n: _frequent_categories(v) for n, v in columns.items() if not is_numeric_array(v)}
    raw = _encoded_columns(names, categories, columns, 1)
    widths = [1 if n not in categories else len(categories[n]) for n in names]
    center, scale = [], []
    for column, width in zip(raw, np.repeat(widths, widths), strict=True):
        finite = column[np.isfinite(column)]
        mean = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size else 0.0
        center.append(mean)
        scale.append((std if std > 0 else 1.0) * math.sqrt(width))  # each feature's block: variance 1
    model = PcaModel(names, center, scale, [], 0.0, [], [], 0.0, 0.0, 0, categories)
    matrix = _matrix(model, columns)
    dims = matrix.shape[0]
    if dims < 2:
        raise ValueError("the multivariate check needs at least two encoded feature columns")
    covariance = matrix @ matrix.T / max(matrix.shape[1] - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0, None), eigenvectors[:, order]
    share = np.cumsum(eigenvalues) / max(eigenvalues.sum(), 1e-300)
    keep = int(min(np.searchsorted(share, explained_variance) + 1, dims - 1))
    components = eigenvectors[:, :keep]
    errors = np.sort(_errors(matrix, components))
    edges = quantile_edges(errors)
    model.components = components.tolist()
    model.discarded = eigenvectors[:, keep:].tolist()
    model.eigenvalues = eigenvalues.tolist()
    model.explained = float(share[keep - 1])
    model.error_edges = edges.tolist()
    model.error_counts = bin_counts(errors, edges, assume_sorted=True).tolist()
    model.error_mean = float(errors.mean())
    model.error_std = float(errors.std(ddof=1)) if errors.size > 1 else 0.0
    model.rows = int(errors.size)
    model.excluded = dict(excluded or {})
    return model


def encode(model: PcaModel, columns: Mapping[str, Column]) -> np.ndarray:
    """The window's rows encoded and standardized against the reference (encoded columns x rows)."""
    missing = [n for n in model.features if n not in columns]
    if missing:
        raise ValueError(f"multivariate features missing from the current data: {', '.join(missing)}")
    return _matrix(model, columns)


def _tier(effect: float, floors: tuple[float, float]) -> tuple[str | None, str]:
    if effect < floors[0]:
        return None, "none"
    if effect < floors[1]:
        return "watch", "low"
    steps = sum(effect >= floors[1] * k for k in (2.5, 5.0))
    return "act", ("medium", "high", "critical")[steps]


def multivariate_drift(
    model: PcaModel,
    matrix: np.ndarray,
    alpha: float,
    error_floors: tuple[float, float] = ERROR_FLOORS,
    mean_floors: tuple[float, float] = MEAN_FLOORS,
) -> MultivariateDrift:
    """Both tests on the encoded window (`encode`), each at alpha/2; the larger tier decides."""
    n = int(matrix.shape[1])
    half = alpha / 2.0
    errors = _errors(matrix, np.asarray(model.components))
    counts = bin_counts(errors, np.asarray(model.error_edges))
    ks = ks_binned(np.asarray(model.error_counts), counts) if n else None
    reference_mean = max(model.error_mean, 1e-12)
    score = float(errors.mean() / reference_mean - 1.0) if n else 0.0
    noise = norm.isf(half / 2) * model.error_std * math.sqrt(1.0 / max(n, 1) + 1.0 / model.rows)
    threshold = float(max(error_floors[0], noise / reference_mean))
    error_p = ks.p_value if ks else 1.0
    error_called = bool(n and abs(score) >= threshold and error_p <= half)
    error_tier = _tier(abs(score), error_floors) if error_called else (None, "none")

    shift, shift_threshold, mean_p, mean_tier = math.nan, math.nan, math.nan, (None, "none")
    if model.has_mean_test and n:
        basis = np.hstack(
            [np.asarray(model.components), np.asarray(model.discarded).reshape(len(model.center), -1)]
        )
        eigenvalues = np.asarray(model.eigenvalues)
        usable = eigenvalues > 1e-9 * max(float(eigenvalues.max()), 1e-300)
        means = basis[:, usable].T @ matrix.mean(axis=1)
        n_eff = n * model.rows / (n + model.rows)
        distance_squared = float(np.sum(means**2 / eigenvalues[usable]))
        rank = int(usable.sum())
        shift = math.sqrt(distance_squared)
        mean_p = float(chi2.sf(n_eff * distance_squared, rank))
        shift_threshold = float(max(mean_floors[0], math.sqrt(chi2.isf(half, rank) / n_eff)))
        if shift >= mean_floors[0] and mean_p <= half:
            mean_tier = _tier(shift, mean_floors)

    order = ("none", "low", "medium", "high", "critical")
    tier, severity = max(error_tier, mean_tier, key=lambda t: order.index(t[1]))
    metric = None
    if tier is not None:
        metric = "reconstruction_error" if error_tier[1] == severity else "mean_shift"
    reasons = []
    if error_tier[0]:
        reasons.append(f"reconstruction error {'up' if score > 0 else 'down'} {abs(score):.0%}")
    if mean_tier[0]:
        reasons.append(f"mean vector moved {shift:.2f} reference sigmas (Mahalanobis)")
    p_values = [error_p] + ([] if math.isnan(mean_p) else [mean_p])
    return MultivariateDrift(
        score=score,
        threshold=threshold,
        statistic=ks.statistic if ks else 0.0,
        p_value=float(min(1.0, len(p_values) * min(p_values))),
        drifted=tier is not None,
        reference_size=model.rows,
        current_size=n,
        components=len(model.components[0]) if model.components else 0,
        tier=tier,
        severity=severity,
        error_p_value=error_p,
        mean_shift=shift,
        mean_shift_threshold=shift_threshold,
        mean_p_value=mean_p,
        features=list(model.features),
        excluded=dict(model.excluded),
        reason="; ".join(reasons),
        metric=metric,
    )
