"""Multivariate drift: PCA reconstruction error against the reference.

Univariate tests miss a change in how features move together (two features that used to rise
together now move apart, each keeping its own distribution). A PCA model fitted on the standardized
reference keeps the directions that carry most of its variance; a row from a changed joint
distribution is reconstructed worse. The drift test is then a univariate one on the per-row
reconstruction error: KS on the reference error quantile bins, and the rise of the mean error as the
effect size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from detections.statistics.binning import bin_counts, quantile_edges
from detections.statistics.numeric import ks_binned

EXPLAINED_VARIANCE = 0.9
MAX_ROWS = 200_000  # evenly spaced rows beyond this add cost, not power, to a 20-feature PCA test


@dataclass
class PcaModel:
    features: list[str]
    center: list[float]
    scale: list[float]
    components: list[list[float]]  # features x kept components
    explained: float  # share of the reference variance the kept components carry
    error_edges: list[float]
    error_counts: list[int]
    error_mean: float
    error_std: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> PcaModel:
        return cls(**document)


@dataclass(frozen=True)
class MultivariateDrift:
    score: float  # mean error ratio current / reference, minus 1
    threshold: float
    statistic: float  # KS on the error distributions (binned)
    p_value: float
    drifted: bool
    reference_size: int
    current_size: int
    components: int


def _matrix(
    names: list[str], columns: Mapping[str, np.ndarray], center: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Features x rows (each feature contiguous), standardized; a missing value becomes 0 (the mean).

    At most MAX_ROWS rows, evenly spaced, are used.
    """
    rows = len(columns[names[0]])
    step = max(1, -(-rows // MAX_ROWS))
    matrix = np.empty((len(names), len(range(0, rows, step))))
    for j, name in enumerate(names):
        row = matrix[j]
        np.subtract(np.asarray(columns[name], dtype=np.float64)[::step], center[j], out=row)
        row /= scale[j]
        row[~np.isfinite(row)] = 0.0
    return matrix


def _errors(matrix: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Squared distance of each row (a column of `matrix`) from the kept principal subspace."""
    projected = components.T @ matrix
    return np.maximum(
        np.einsum("ij,ij->j", matrix, matrix) - np.einsum("ij,ij->j", projected, projected), 0.0
    )


def _finite_mean_std(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.mean()), float(finite.std())


def fit_pca(columns: Mapping[str, np.ndarray], explained_variance: float = EXPLAINED_VARIANCE) -> PcaModel:
    """Fit on the reference columns (at least two numeric features); keep at most d-1 components."""
    names = list(columns)
    moments = [_finite_mean_std(np.asarray(columns[n], dtype=np.float64)) for n in names]
    center = np.array([mean for mean, _ in moments])
    scale = np.array([std if std > 0 else 1.0 for _, std in moments])
    matrix = _matrix(names, columns, center, scale)
    covariance = matrix @ matrix.T / max(matrix.shape[1] - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0, None), eigenvectors[:, order]
    share = np.cumsum(eigenvalues) / max(eigenvalues.sum(), 1e-300)
    keep = int(min(np.searchsorted(share, explained_variance) + 1, len(names) - 1))
    components = eigenvectors[:, :keep]
    errors = np.sort(_errors(matrix, components))
    edges = quantile_edges(errors)
    return PcaModel(
        features=names,
        center=center.tolist(),
        scale=scale.tolist(),
        components=components.tolist(),
        explained=float(share[keep - 1]),
        error_edges=edges.tolist(),
        error_counts=bin_counts(errors, edges, assume_sorted=True).tolist(),
        error_mean=float(errors.mean()),
        error_std=float(errors.std(ddof=1)) if errors.size > 1 else 0.0,
        rows=int(errors.size),
    )


def reconstruction_errors(model: PcaModel, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    matrix = _matrix(model.features, columns, np.asarray(model.center), np.asarray(model.scale))
    return _errors(matrix, np.asarray(model.components))


def multivariate_drift(
    model: PcaModel, errors: np.ndarray, alpha: float, practical: float = 0.1
) -> MultivariateDrift:
    """Compare current reconstruction errors with the reference's.

    Drift when the mean error rose by at least `practical` (relative) and by more than noise at this
    window size (`z_alpha` standard errors), and the KS test on the error bins is significant.
    """
    n = int(errors.size)
    counts = bin_counts(errors, np.asarray(model.error_edges))
    ks = ks_binned(np.asarray(model.error_counts), counts)
    reference_mean = max(model.error_mean, 1e-12)
    score = float(errors.mean() / reference_mean - 1.0) if n else 0.0
    noise = norm.isf(alpha) * model.error_std * np.sqrt(1.0 / max(n, 1) + 1.0 / model.rows) / reference_mean
    threshold = float(max(practical, noise))
    drifted = bool(n > 0 and score >= threshold and ks.p_value <= alpha)
    return MultivariateDrift(
        score, threshold, ks.statistic, ks.p_value, drifted, model.rows, n, len(model.components[0])
    )
