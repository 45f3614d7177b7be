"""The shapes a feature's values can take on their way into the statistics.

Raw values: a float array (numeric; NaN and +-inf are missing) or a `CategoricalColumn` (codes into a
list of labels, the form Arrow's dictionary encoding gives without building Python strings per row),
or any array of strings. Summaries: `NumericCounts` (counts on a profile's edges, as an engine `range`
aggregation returns them) and `CategoryCounts` (a `terms` aggregation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CategoricalColumn:
    """Labels by code: row i has label `categories[codes[i]]`, or is missing when `codes[i] < 0`."""

    categories: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return int(self.codes.size)

    def counts(self) -> CategoryCounts:
        present = self.codes[self.codes >= 0]
        tally = np.bincount(present, minlength=len(self.categories))
        labels = [str(c) for c in self.categories]
        merged: dict[str, int] = {}
        for label, count in zip(labels, tally.tolist(), strict=True):
            if count:
                merged[label] = merged.get(label, 0) + count
        return CategoryCounts(merged, missing=int(self.codes.size - present.size))


@dataclass(frozen=True)
class NumericCounts:
    """A numeric feature's current window as counts on the profile's fine edges (len(edges) + 1)."""

    counts: np.ndarray
    missing: int = 0
    mean: float | None = None  # when known (an `avg` aggregation), sharpens the binned Wasserstein


@dataclass(frozen=True)
class CategoryCounts:
    """A categorical feature's window as label -> count (missing values counted apart)."""

    counts: Mapping[str, int] = field(default_factory=dict)
    missing: int = 0

    @property
    def total(self) -> int:
        return int(sum(self.counts.values()))


FeatureValues = np.ndarray | CategoricalColumn | NumericCounts | CategoryCounts


def is_numeric_array(values: object) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "biuf"


def finite_sorted(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The finite values sorted, and how many were missing (NaN or infinite)."""
    as_float = np.asarray(values, dtype=np.float64)
    finite = as_float[np.isfinite(as_float)]
    return np.sort(finite), int(as_float.size - finite.size)


def category_counts(values: np.ndarray | CategoricalColumn | CategoryCounts) -> CategoryCounts:
    """Counts of any categorical input; None, NaN and empty strings are missing."""
    if isinstance(values, CategoryCounts):
        return values
    if isinstance(values, CategoricalColumn):
        return values.counts()
    array = np.asarray(values, dtype=object)
    missing_mask = np.array(
        [v is None or v == "" or (isinstance(v, float) and v != v) for v in array], dtype=bool
    )
    labels, tally = np.unique(array[~missing_mask].astype(str), return_counts=True)
    return CategoryCounts(
        dict(zip(labels.tolist(), tally.tolist(), strict=True)), missing=int(missing_mask.sum())
    )
