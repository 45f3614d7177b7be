"""Per-request anomaly scores: an isolation forest fitted on the reference rows.

Drift compares distributions; this scores single requests ("these 40 requests look like nothing the
model was trained on"). scikit-learn's `IsolationForest` is fitted on the encoded reference rows
(numeric features as they are, a missing value at a sentinel below the reference range so that a
feature service that stops sending a value stands out; categorical features as the rank of the
reference category, pooled rare ones and unseen ones beyond it, missing below it; the prediction score
where present).

Storage: the fitted trees are kept as plain arrays (split feature, threshold, children, the path
length a leaf adds), JSON-safe and versioned (`FOREST_VERSION`); nothing is ever unpickled. `score`
walks those arrays exactly as scikit-learn's `score_samples` does (float32 inputs, the same per-node
path lengths, the same summation order), so a reloaded forest scores identically, and scoring needs
no scikit-learn at all (a test holds the two equal).

Beyond the range: a tree splits between the smallest and largest value its rows hold, so a value far
outside the reference range takes the path of the reference's extreme rows and scores no higher than
they do (an unseen category likewise follows the highest code). A row with any encoded value outside
what the forest was fitted on (a value beyond the range, an unseen category, a missing value the
reference never had) is therefore ranked above every in-range row (`outlier_scores`: 1 + its forest
score). The engine finds those rows with a cheap pre-filter (`range` and `terms` queries).

Calibration: the forest is fitted on one half of the reference rows and its scores on the other half
(rows it never saw; in-sample rows look more normal than fresh ones) set the threshold, their
`QUANTILE` order statistic. A current row above the threshold is an outlier; under no change each
row is one with probability ~1 - QUANTILE. The threshold itself comes from a finite sample, so the
exceedance probability of a new row is Beta(n + 1 - j, j) for the j-th of n calibration scores, and
the count of outliers among m rows is beta-binomial: the exact test against the expected share, with
the threshold's own uncertainty (a plain binomial test would call every window of an unlucky
reference).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import betabinom
from sklearn.ensemble import IsolationForest

from detections.statistics.columns import CategoricalColumn, category_counts, is_numeric_array

FOREST_VERSION = 1
TREES = 100
MAX_SAMPLES = 256  # rows per tree (the paper's and scikit-learn's default)
QUANTILE = 0.99
SEED = 20
MIN_ROWS = 500  # half of them calibrate the threshold: 250 rows put ~2.5 above a 99th percentile
FIT_ROWS = 100_000  # rows beyond these add nothing to trees of 256 rows
CALIBRATION_ROWS = 50_000
MAX_CATEGORIES = 50  # per categorical feature: the most frequent reference categories keep their own code
MAX_FEATURES = 64
# Practical floors (watch, act) of the outlier share above its expectation; severity of `act` steps up
# at 2.5x and 5x the act floor. The watch floor doubles the expected share: a threshold from a finite
# reference is itself a little off, and a window of a few thousand rows sees that.
EXCESS_FLOORS = (0.01, 0.03)

Column = np.ndarray | CategoricalColumn


@dataclass
class Tree:
    """One isolation tree as arrays over its nodes (leaves: feature -1)."""

    feature: list[int]  # index into the forest's encoded columns
    threshold: list[float]
    left: list[int]
    right: list[int]
    path: list[float]  # at a leaf: its depth plus the expected path length of the rows it still holds


@dataclass
class ForestModel:
    """The encoding, the trees and the calibrated threshold of one reference (JSON-safe)."""

    features: list[str]
    sentinels: dict[str, float]  # numeric feature -> the value a missing one takes
    ranges: dict[str, list[float]]  # numeric feature -> [min, max] the forest was fitted on (pre-filter)
    bounds: list[list[float]]  # per encoded column: [min, max] the forest was fitted on
    categories: dict[str, list[str]]  # categorical feature -> labels by rank (code = index)
    trees: list[Tree]
    denominator: float  # trees x the expected path length of MAX_SAMPLES rows
    threshold: float  # the calibration scores' `quantile` order statistic
    calibration_rows: int
    rank: int  # j: the threshold is the j-th smallest calibration score
    quantile: float = QUANTILE
    seed: int = SEED
    rows: int = 0
    version: int = FOREST_VERSION

    @property
    def expected_share(self) -> float:
        """The probability that a row from the reference's distribution scores above the threshold."""
        return (self.calibration_rows + 1 - self.rank) / (self.calibration_rows + 1)

    def to_dict(self) -> dict[str, Any]:
        document = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        document["trees"] = [vars(tree) for tree in self.trees]
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ForestModel:
        """Read `to_dict()` output; a clear ValueError names what is wrong."""
        try:
            version = int(document.get("version", 0))
            if version != FOREST_VERSION:
                raise ValueError(f"isolation forest version {version}: this release reads {FOREST_VERSION}")
            known = {k: v for k, v in document.items() if k in cls.__dataclass_fields__ and k != "trees"}
            trees = [Tree(**tree) for tree in document["trees"]]
            for i, tree in enumerate(trees):
                sizes = {
                    len(tree.feature),
                    len(tree.threshold),
                    len(tree.left),
                    len(tree.right),
                    len(tree.path),
                }
                if len(sizes) != 1:
                    raise ValueError(f"isolation tree {i}: node arrays of different lengths")
            return cls(trees=trees, **known)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an isolation forest: {exc}") from None


def _labels(values: Column) -> tuple[np.ndarray, np.ndarray]:
    """Each row's label as text (object array) and whether it is missing."""
    if isinstance(values, CategoricalColumn):
        labels = np.array([str(c) for c in values.categories] + [""], dtype=object)
        codes = np.where(values.codes >= 0, values.codes, len(labels) - 1)
        return labels[codes], values.codes < 0
    array = np.asarray(values, dtype=object)
    missing = np.array([v is None or v == "" or (isinstance(v, float) and v != v) for v in array], dtype=bool)
    return array.astype(str), missing


def encode(model: ForestModel, columns: Mapping[str, Column]) -> np.ndarray:
    """Rows x encoded columns (float64), as the forest was fitted."""
    absent = [n for n in model.features if n not in columns]
    if absent:
        raise ValueError(f"isolation forest features missing from the current data: {', '.join(absent)}")
    rows = len(columns[model.features[0]]) if model.features else 0
    matrix = np.empty((rows, len(model.features)))
    for j, name in enumerate(model.features):
        values = columns[name]
        if name in model.sentinels:
            if not is_numeric_array(values):
                raise ValueError(f"isolation forest feature {name!r} was numeric in the reference, not now")
            column = np.asarray(values, dtype=np.float64)
            matrix[:, j] = np.where(np.isfinite(column), column, model.sentinels[name])
            continue
        known = model.categories[name]
        labels, missing = _labels(values)
        index = {label: i for i, label in enumerate(known)}
        other = len(known)  # a label outside the reference's most frequent ones (rare or never seen)
        codes = np.fromiter((index.get(label, other) for label in labels), dtype=np.float64, count=rows)
        codes[missing] = -1.0
        matrix[:, j] = codes
    return matrix


def _ranked_categories(values: Column) -> list[str]:
    """The reference's most frequent categories, most frequent first (a code is the rank)."""
    counts = category_counts(values)  # type: ignore[arg-type]
    ranked = sorted(counts.counts.items(), key=lambda item: (-item[1], item[0]))
    return [label for label, _ in ranked[:MAX_CATEGORIES]]


def take(values: Column, rows: np.ndarray) -> Column:
    if isinstance(values, CategoricalColumn):
        return CategoricalColumn(values.categories, values.codes[rows])
    return np.asarray(values)[rows]


def _tree_arrays(estimator: Any, features: np.ndarray, lengths: np.ndarray, paths: np.ndarray) -> Tree:
    tree = estimator.tree_
    leaf = tree.children_left == -1
    feature = np.where(leaf, -1, features[np.maximum(tree.feature, 0)])
    return Tree(
        feature=feature.astype(int).tolist(),
        threshold=np.where(leaf, 0.0, tree.threshold).astype(float).tolist(),
        left=tree.children_left.astype(int).tolist(),
        right=tree.children_right.astype(int).tolist(),
        path=np.where(leaf, lengths + paths - 1.0, 0.0).astype(float).tolist(),
    )


def fit_forest(
    columns: Mapping[str, Column], seed: int = SEED, quantile: float = QUANTILE, trees: int = TREES
) -> ForestModel:
    """Fit on one half of the reference rows, calibrate the threshold on the other half."""
    names = list(columns)[:MAX_FEATURES]
    if not names:
        raise ValueError("the isolation forest needs at least one feature")
    rows = len(columns[names[0]])
    if rows < MIN_ROWS:
        raise ValueError(f"the isolation forest needs at least {MIN_ROWS} reference rows, got {rows}")
    order = np.random.default_rng(seed).permutation(rows)
    half = rows // 2
    fit_rows, calibration = order[:half][:FIT_ROWS], order[half:][:CALIBRATION_ROWS]
    sentinels: dict[str, float] = {}
    ranges: dict[str, list[float]] = {}
    categories: dict[str, list[str]] = {}
    for name in names:
        values = columns[name]
        if is_numeric_array(values):
            column = np.asarray(values, dtype=np.float64)
            finite = column[np.isfinite(column)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            sentinels[name] = low - max(1.0, high - low)
        else:
            categories[name] = _ranked_categories(values)
    model = ForestModel(names, sentinels, ranges, [], categories, [], 0.0, 0.0, 0, 0, quantile, seed, rows)
    fitted = encode(model, {n: take(columns[n], fit_rows) for n in names})
    model.bounds = [
        [float(low), float(high)] for low, high in zip(fitted.min(axis=0), fitted.max(axis=0), strict=True)
    ]
    for j, name in enumerate(names):
        if name in sentinels:
            finite = fitted[:, j][fitted[:, j] != sentinels[name]]
            ranges[name] = [float(finite.min()), float(finite.max())] if finite.size else model.bounds[j]
    forest = IsolationForest(n_estimators=trees, max_samples=MAX_SAMPLES, random_state=seed)
    forest.fit(fitted)
    # scikit-learn indexes the columns per tree only when it subsamples them (not with all features)
    every = np.arange(len(names))
    subsampled = forest._max_features != len(names)
    stored = [
        _tree_arrays(
            estimator, np.asarray(features) if subsampled else every, np.asarray(lengths), np.asarray(paths)
        )
        for estimator, features, lengths, paths in zip(
            forest.estimators_,
            forest.estimators_features_,
            forest._decision_path_lengths,
            forest._average_path_length_per_tree,
            strict=True,
        )
    ]
    model.trees = stored
    model.denominator = float(len(stored) * _average_path_length(forest.max_samples_))
    model.calibration_rows = int(calibration.size)
    held_out = encode(model, {n: take(columns[n], calibration) for n in names})
    reference = np.sort(outlier_scores(model, held_out))
    model.rank = min(math.ceil(quantile * (calibration.size + 1)), int(calibration.size))
    model.threshold = float(reference[model.rank - 1])
    return model


def _average_path_length(n: int) -> float:
    """The expected path length of an unsuccessful search in a binary tree of n rows (the paper's c(n))."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def _node_arrays(model: ForestModel) -> tuple[np.ndarray, ...]:
    """Every tree's nodes in one set of arrays (a leaf's children point to itself), built once per model."""
    cached = model.__dict__.get("_arrays")
    if cached is None:
        parts: list[list[np.ndarray]] = [[], [], [], [], []]
        roots, offset = [], 0
        for tree in model.trees:
            feature = np.asarray(tree.feature, dtype=np.int64)
            leaf = feature < 0
            nodes = np.arange(feature.size) + offset
            parts[0].append(np.maximum(feature, 0))
            parts[1].append(np.where(leaf, np.inf, np.asarray(tree.threshold, dtype=np.float64)))
            parts[2].append(np.where(leaf, nodes, np.asarray(tree.left, dtype=np.int64) + offset))
            parts[3].append(np.where(leaf, nodes, np.asarray(tree.right, dtype=np.int64) + offset))
            parts[4].append(np.asarray(tree.path, dtype=np.float64))
            roots.append(offset)
            offset += feature.size
        cached = (
            *(np.concatenate(p) if p else np.zeros(0) for p in parts),
            np.asarray(roots, dtype=np.int64),
        )
        model.__dict__["_arrays"] = cached
    return cached


def score(model: ForestModel, matrix: np.ndarray) -> np.ndarray:
    """Anomaly score per row in (0, 1]: higher is more anomalous (scikit-learn's `-score_samples`)."""
    rows = matrix.shape[0]
    values = matrix.astype(np.float32).astype(np.float64)  # the trees split float32 inputs
    feature, threshold, left, right, path, roots = _node_arrays(model)
    flat = values.ravel()
    base = (np.arange(rows) * values.shape[1])[:, None]
    node = np.repeat(roots[None, :], rows, axis=0)
    for _ in range(math.ceil(math.log2(max(MAX_SAMPLES, 2)))):  # scikit-learn's max_depth
        goes_left = flat.take(base + feature.take(node)) <= threshold.take(node)
        node = np.where(goes_left, left.take(node), right.take(node))
    lengths = path.take(node)
    depths = np.zeros(rows)
    for t in range(roots.size):  # tree by tree, as scikit-learn adds them up (the same rounding)
        depths += lengths[:, t]
    if model.denominator == 0:
        return np.ones(rows)
    return np.asarray(2.0 ** (-depths / model.denominator))


def outside(model: ForestModel, matrix: np.ndarray) -> np.ndarray:
    """Rows with an encoded value outside what the forest was fitted on."""
    bounds = np.asarray(model.bounds).reshape(-1, 2)
    return np.any((matrix < bounds[:, 0]) | (matrix > bounds[:, 1]), axis=1)


def outlier_scores(model: ForestModel, matrix: np.ndarray) -> np.ndarray:
    """The forest's score, plus 1 for a row outside the fitted range (ranked above every row inside)."""
    return score(model, matrix) + outside(model, matrix)


@dataclass(frozen=True)
class OutlierTest:
    """How many rows score above the reference threshold, against how many would by chance."""

    rows: int
    outliers: int
    share: float
    expected_share: float
    p_value: float  # one-sided, beta-binomial (binomial with the threshold's own uncertainty)
    excess: float  # share - expected_share
    significant: bool
    tier: str | None = None  # watch | act
    severity: str = "none"
    threshold: float = math.nan
    top: list[int] = field(default_factory=list)  # row indices, most anomalous first (outliers only)

    @property
    def called(self) -> bool:
        return self.tier is not None

    def reason(self) -> str:
        return (
            f"{self.outliers} of {self.rows} rows ({self.share:.1%}) score above the reference's "
            f"outlier threshold (expected {self.expected_share:.1%}, p={self.p_value:.2g})"
        )


def outlier_test(
    model: ForestModel,
    scores: np.ndarray,
    alpha: float,
    floors: tuple[float, float] = EXCESS_FLOORS,
    top: int = 20,
) -> OutlierTest:
    """The share of `scores` above the threshold, tested one-sided against the expected share."""
    n = int(scores.size)
    above = scores > model.threshold
    k = int(above.sum())
    a, b = model.calibration_rows + 1 - model.rank, model.rank
    p_value = float(betabinom.sf(k - 1, n, a, b)) if n else 1.0
    expected = model.expected_share
    share = k / n if n else 0.0
    excess = share - expected
    significant = bool(n and p_value <= alpha)
    tier, severity = None, "none"
    if significant and excess >= floors[0]:
        if excess < floors[1]:
            tier, severity = "watch", "low"
        else:
            tier = "act"
            severity = ("medium", "high", "critical")[sum(excess >= floors[1] * s for s in (2.5, 5.0))]
    outliers = np.flatnonzero(above)
    ranked = outliers[np.argsort(-scores[outliers], kind="stable")][:top]
    return OutlierTest(
        rows=n,
        outliers=k,
        share=share,
        expected_share=expected,
        p_value=p_value,
        excess=excess,
        significant=significant,
        tier=tier,
        severity=severity,
        threshold=model.threshold,
        top=[int(i) for i in ranked],
    )


def forest_features(
    columns: Mapping[str, Column], chosen: Sequence[str], score_column: str | None
) -> list[str]:
    """The forest's columns: the multivariate check's choice plus the prediction score when present."""
    names = [n for n in chosen if n in columns]
    usable = score_column in columns and score_column not in names if score_column else False
    if score_column and usable and is_numeric_array(columns[score_column]):
        names.append(score_column)
    return names[:MAX_FEATURES]
