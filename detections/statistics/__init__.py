"""Drift statistics: pure numpy/scipy, numbers in and numbers out, no I/O.

The entry points: `build_profile` (a `ReferenceProfile` from reference columns), `compare` (a
`DriftReport` of current columns or counts against a profile), and the building blocks (PSI, KS,
Jensen-Shannon, Wasserstein, chi-square, Benjamini-Hochberg, PCA reconstruction error, EWMA/CUSUM).
"""

from detections.statistics.columns import CategoricalColumn, CategoryCounts, NumericCounts
from detections.statistics.compare import DriftReport, FeatureDrift, compare
from detections.statistics.control_charts import CusumChart, EwmaChart
from detections.statistics.decision import DecisionRule
from detections.statistics.profile import FeatureProfile, ReferenceProfile, SeriesBaseline, build_profile

__all__ = [
    "CategoricalColumn",
    "CategoryCounts",
    "CusumChart",
    "DecisionRule",
    "DriftReport",
    "EwmaChart",
    "FeatureDrift",
    "FeatureProfile",
    "NumericCounts",
    "ReferenceProfile",
    "SeriesBaseline",
    "build_profile",
    "compare",
]
