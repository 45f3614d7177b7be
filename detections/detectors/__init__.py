"""The registry of detectors: the configuration's detector names, tunings and the docs table derive from it.

Adding a detector = one module declaring a `Detector` subclass + one line in `DETECTORS`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from detections.detectors.base import Detector, Judgement, ModelSetup, Tuning
from detections.detectors.data_quality import DataQualityDetector
from detections.detectors.feature_drift import FeatureDriftDetector
from detections.detectors.multivariate import MultivariateDetector
from detections.detectors.operational import OperationalDetector
from detections.detectors.outliers import OutliersDetector
from detections.detectors.output_collapse import OutputCollapseDetector
from detections.detectors.performance import PerformanceDetector
from detections.detectors.prediction_drift import PredictionDriftDetector
from detections.detectors.slo import SloDetector
from mlsiem.ecs.findings import Rule

DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (
        FeatureDriftDetector,
        PredictionDriftDetector,
        MultivariateDetector,
        OperationalDetector,
        PerformanceDetector,
        DataQualityDetector,
        OutliersDetector,
        OutputCollapseDetector,
        SloDetector,
    )
}
DETECTOR_NAMES: tuple[str, ...] = tuple(DETECTORS)


def all_rules() -> list[Rule]:
    """Every rule a detector can raise, in registry order."""
    return [rule for cls in DETECTORS.values() for rule in cls.rules.values()]


# The `tuning:` section of the detector configuration: one optional block per detector, each validated
# by that detector's own model (unknown detectors and unknown knobs are errors).
Tunings: type[BaseModel] = create_model(
    "Tunings",
    __config__=ConfigDict(extra="forbid", frozen=True),
    **{name: (cls.Tuning, Field(default_factory=cls.Tuning)) for name, cls in DETECTORS.items()},  # type: ignore[call-overload]
)


def docs_table() -> str:
    """The markdown table of docs/detections.md ("Detectors"), generated so it cannot go stale."""
    lines = [
        "| detector | rule id | what it watches | computed in the engine with |",
        "| --- | --- | --- | --- |",
    ]
    for name, cls in DETECTORS.items():
        ids = ", ".join(f"`{rule.id}`" for rule in cls.rules.values())
        lines.append(f"| `{name}` | {ids} | {cls.watches} | {cls.computed_with} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "DETECTORS",
    "DETECTOR_NAMES",
    "Detector",
    "Judgement",
    "ModelSetup",
    "Tuning",
    "Tunings",
    "all_rules",
    "docs_table",
]
