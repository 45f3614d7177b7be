"""Data quality of the watched features: missing values, values out of range, stuck features, new categories.

One search per window summarizes every feature (`missing`, `stats`, a `range` below the minimum and
above the maximum, `terms`); the judgement is `statistics.quality.judge`, the function the offline
`mlsiem drift|gate` commands call on raw columns. One alert per window names every failed check, with
the worst one's details under `mlsiem.quality.*` and an evidence query that finds its events.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from detections.aggregations import field_of, parse_quality, quality_request
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics.quality import (
    QualityResult,
    QualityRule,
    WindowCounts,
    failures,
    judge,
    reference_bounds,
)
from detections.window import Window
from mlsiem.ecs.findings import Evidence, Quality, Rule, SeverityLabel

_DEFAULTS = QualityRule()
_SHOWN = 5  # failed checks spelled out in the reason; the rest are counted


class DataQualityTuning(Tuning):
    """Practical floors (absolute shares) of each check, and optional valid ranges per numeric feature."""

    missing_floor: float = Field(
        _DEFAULTS.missing_floor, ge=0, le=1, description="missing-share rise (watch)"
    )
    missing_act: float = Field(_DEFAULTS.missing_act, ge=0, le=1, description="missing-share rise (act)")
    range_floor: float = Field(_DEFAULTS.range_floor, ge=0, le=1, description="share out of range (watch)")
    range_act: float = Field(_DEFAULTS.range_act, ge=0, le=1)
    new_category_floor: float = Field(_DEFAULTS.new_category_floor, ge=0, le=1)
    new_category_act: float = Field(_DEFAULTS.new_category_act, ge=0, le=1)
    valid_ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="per numeric feature, [low, high]; default: the reference's min/max"
    )

    @field_validator("valid_ranges")
    @classmethod
    def _ordered(cls, ranges: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in ranges.items():
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"valid range of {name!r} must be finite with low < high, got [{low}, {high}]"
                )
        return ranges

    @model_validator(mode="after")
    def _floors_below_act(self) -> DataQualityTuning:
        self.rule(_DEFAULTS.alpha)  # QualityRule checks 0 <= floor <= act <= 1 per check
        return self

    def rule(self, alpha: float) -> QualityRule:
        return QualityRule(
            alpha=alpha,
            missing_floor=self.missing_floor,
            missing_act=self.missing_act,
            range_floor=self.range_floor,
            range_act=self.range_act,
            new_category_floor=self.new_category_floor,
            new_category_act=self.new_category_act,
        )


def _literal(value: float | str) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(float(value))


def _escaped(field: str) -> str:
    return "".join("\\" + c if c in '+-=&|><!(){}[]^"~*?:\\/ ' else c for c in field)


def evidence_query(window: Window, result: QualityResult, counts: WindowCounts) -> str:
    """The window's events behind one failed check, as a query string an analyst can paste."""
    field = _escaped(field_of(result.feature))
    base = window.lucene()
    if result.check == "missing":
        return f"{base} AND NOT _exists_:{field}"
    if result.check == "out_of_range" and counts.bounds is not None:
        low, high = counts.bounds
        return f"{base} AND ({field}:{{* TO {low!r}}} OR {field}:{{{high!r} TO *}})"
    if result.check == "constant" and result.current_value is not None:
        return f"{base} AND {field}:{_literal(result.current_value)}"
    if result.check == "new_category" and counts.categories:  # `counts` holds the new categories only
        new = [k for k, _ in sorted(counts.categories.items(), key=lambda kv: -kv[1])[:20]]
        return f"{base} AND {field}:(" + " OR ".join(_literal(k) for k in new) + ")"
    return base


class DataQualityDetector(Detector):
    name = "data_quality"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-data-quality",
            "Data quality",
            "data_quality",
            "A watched feature's data broke: more missing values, values outside the reference (or valid) "
            "range, a feature stuck at one value, or categories the reference never had.",
        )
    }
    Tuning: ClassVar[type[DataQualityTuning]] = DataQualityTuning
    tuning: DataQualityTuning
    watches = (
        "every feature's missing share (Fisher), share outside the reference range (exact) or a valid range, "
        "a value stuck for the window, the share of new categories (Good-Turing); BH per check, floors"
    )
    computed_with = "`missing`, `stats`, `range` below min / above max, `terms`"

    def applies(self) -> bool:
        return bool(self.setup.features)

    def _bounds(self) -> dict[str, tuple[float, float]]:
        profile, valid = self.setup.profile, self.tuning.valid_ranges
        bounds = {}
        for name in self.setup.features:
            feature = profile.features[name]
            found = reference_bounds(feature, valid.get(name)) if feature.kind == "numeric" else None
            if found is not None:
                bounds[name] = found
        return bounds

    def request(self, window: Window) -> dict[str, Any]:
        return quality_request(window, self.setup.profile, self.setup.features, self._bounds())

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        profile, features = self.setup.profile, self.setup.features
        windows = parse_quality(response, profile, features, self._bounds())
        valid = {n: r for n, r in self.tuning.valid_ranges.items() if n in windows}
        results = judge(profile.features, windows, self.tuning.rule(self.setup.alpha), valid_ranges=valid)
        failed = failures(results)
        judgement = Judgement()
        if not failed:
            return judgement
        worst = failed[0]
        counts = windows[worst.feature]
        if worst.check == "new_category":
            known = profile.features[worst.feature].categories
            counts = WindowCounts(
                counts.kind,
                counts.present,
                counts.missing,
                categories={k: v for k, v in counts.categories.items() if k not in known},
            )
        reason = "; ".join(r.reason for r in failed[:_SHOWN])
        if len(failed) > _SHOWN:
            reason += f"; and {len(failed) - _SHOWN} more"
        severity: SeverityLabel = worst.severity if worst.severity != "none" else "low"  # type: ignore[assignment]
        quality = Quality(
            check=worst.check,
            feature=worst.feature,
            reference_value=_text(worst.reference_value),
            current_value=_text(worst.current_value),
            p_value=worst.p_value,
        )
        evidence = Evidence(query=evidence_query(window, worst, counts), event_count=worst.affected)
        judgement.findings.append(
            self.finding(
                window,
                severity,
                f"{window.model}: {reason}",
                evidence=evidence,
                quality=quality,
                tier="act" if any(r.tier == "act" for r in failed) else "watch",
            )
        )
        return judgement


def _text(value: float | str | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else f"{value:.6g}"
