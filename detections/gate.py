"""Offline drift between two data files, and the release gate's verdict on it.

`compare_files` reads the reference and current files, profiles the reference (keeping its samples,
so KS and Wasserstein are exact) and compares. `GateConfig` (YAML, validated) says which features
count, at which thresholds, which may drift without failing, and what fails the gate; `evaluate`
turns a report into pass or fail with the reasons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detections.datafiles import DataColumns, DataFileError, harmonize, read_columns
from detections.performance_check import PerformanceComparison, PerformanceConfig, compare_performance
from detections.statistics import DecisionRule, DriftReport, ReferenceProfile, build_profile, compare
from detections.statistics.compare import SEVERITY_ORDER
from detections.statistics.decision import DEFAULT_ALPHA
from detections.statistics.isolation import MIN_ROWS, fit_forest, forest_features
from detections.statistics.multivariate import select_features
from detections.statistics.outlier_report import OutlierReport, outlier_report
from detections.statistics.quality import QualityResult, QualityRule, window_counts
from detections.statistics.quality import judge as judge_quality
from mlsiem.errors import ConfigError


class FailOn(BaseModel):
    """What fails the gate. Only features not in `allowed_to_drift` count."""

    model_config = ConfigDict(extra="forbid")

    drifted_features: int | None = Field(1, ge=1, description="fail when at least this many features drift")
    share: float | None = Field(None, gt=0.0, le=1.0, description="fail when at least this share drifts")
    min_severity: Literal["low", "medium", "high", "critical"] = "low"
    multivariate: bool = False
    missing_features: bool = True  # a reference feature absent from the current file fails
    data_quality: bool = True  # a failed data-quality check (missing values, range, ...) fails
    performance: bool = True  # a significant performance drop on labelled rows fails

    @model_validator(mode="after")
    def _something_fails(self) -> FailOn:
        if self.drifted_features is None and self.share is None and not self.multivariate:
            raise ValueError("set at least one of drifted_features, share or multivariate")
        return self


class MultivariateSelection(BaseModel):
    """Which columns the multivariate check takes: `features` (default: every compared column that is
    not an identifier, timestamp, prediction or label), less `exclude`."""

    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(None, min_length=2)
    exclude: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> MultivariateSelection:
        both = set(self.features or []) & set(self.exclude)
        if both:
            raise ValueError(f"both in features and exclude: {', '.join(sorted(both))}")
        return self


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = None  # default: every column both files have
    exclude: list[str] = Field(default_factory=list)
    allowed_to_drift: list[str] = Field(default_factory=list)
    alpha: float = Field(DEFAULT_ALPHA, gt=0.0, lt=1.0)
    numeric_metric: Literal["psi", "js", "ks", "wasserstein"] = "psi"
    categorical_metric: Literal["js", "psi"] = "js"
    thresholds: dict[Literal["psi", "js", "ks", "wasserstein"], float] = Field(default_factory=dict)
    feature_thresholds: dict[str, float] = Field(default_factory=dict)
    watch: bool = Field(True, description="call certain but small changes too (the watch tier, low)")
    valid_ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="per numeric feature, [low, high]: values outside are invalid"
    )
    fail_on: FailOn = Field(default_factory=FailOn)
    performance: PerformanceConfig | None = None  # label/prediction(/score) columns: the performance check
    multivariate: MultivariateSelection = Field(default_factory=MultivariateSelection)

    @model_validator(mode="after")
    def _positive_thresholds(self) -> GateConfig:
        for name, value in {**self.thresholds, **self.feature_thresholds}.items():
            if not value > 0:
                raise ValueError(f"threshold for {name!r} must be > 0, got {value}")
        return self

    @model_validator(mode="after")
    def _ordered_ranges(self) -> GateConfig:
        for name, (low, high) in self.valid_ranges.items():
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"valid range of {name!r} must be finite with low < high, got [{low}, {high}]"
                )
        return self

    def quality_rule(self) -> QualityRule:
        return QualityRule(alpha=self.alpha)

    def rule(self) -> DecisionRule:
        practical = {**DecisionRule().practical, **self.thresholds}
        return DecisionRule(
            alpha=self.alpha,
            numeric_metric=self.numeric_metric,
            categorical_metric=self.categorical_metric,
            practical=practical,
            feature_practical=dict(self.feature_thresholds),
            watch=self.watch,
        )


def with_performance(
    config: GateConfig, label: str | None, prediction: str | None, score: str | None, task: str | None
) -> GateConfig:
    """The config with the command line's performance options over its `performance:` section."""
    given = {
        k: v for k, v in {"label": label, "prediction": prediction, "score": score, "task": task}.items() if v
    }
    if not given:
        return config
    merged = {**(config.performance.model_dump() if config.performance else {}), **given}
    for name in ("label", "prediction"):
        if not merged.get(name):
            raise ConfigError(f"--{name} is required with --label/--prediction/--score/--task")
    try:
        performance = PerformanceConfig.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"performance options: {problems}") from None
    return config.model_copy(update={"performance": performance})


def load_gate_config(path: str | Path | None) -> GateConfig:
    """The gate configuration from a YAML file (defaults without one); errors name the file and field."""
    if path is None:
        return GateConfig()
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"gate config {path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"gate config {path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"gate config {path}: expected a mapping of settings, got {type(document).__name__}"
        )
    try:
        return GateConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'config'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"gate config {path}: {problems}") from None


@dataclass
class FileComparison:
    report: DriftReport
    reference: Path
    current: Path
    only_in_reference: list[str] = field(default_factory=list)
    only_in_current: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # column -> type conversion or skip reason
    quality: list[Any] = field(default_factory=list)  # data-quality results per feature and check
    performance: PerformanceComparison | None = None  # the performance comparison when labels are given
    outliers: OutlierReport | None = None  # per-row isolation-forest scores of the current rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference),
            "current": str(self.current),
            **self.report.to_dict(),
            "only_in_reference": self.only_in_reference,
            "only_in_current": self.only_in_current,
            "notes": self.notes,
            "quality": _quality_dict(self.quality),
            "performance": _performance_dict(self.performance),
            "outliers": self.outliers.to_dict() if self.outliers else None,
        }


def _quality_dict(quality: list[Any]) -> list[dict[str, Any]]:
    """The data-quality results as JSON (every check run, failed or not)."""
    return [result.to_dict() for result in quality]


def _performance_dict(performance: PerformanceComparison | None) -> dict[str, Any] | None:
    """The performance comparison as JSON."""
    return None if performance is None else performance.to_dict()


def _selected(config: GateConfig, reference: DataColumns, current: DataColumns) -> list[str]:
    common = [n for n in reference.columns if n in current.columns]
    if config.features is not None:
        absent = [n for n in config.features if n not in reference.columns or n not in current.columns]
        if absent:
            raise DataFileError(f"configured features not in both files: {', '.join(absent)}")
        common = list(config.features)
    chosen = [n for n in common if n not in set(config.exclude)]
    if not chosen:
        raise DataFileError(
            f"no common columns to compare between {reference.path} and {current.path}"
            + (" after 'exclude'" if common else "")
        )
    return chosen


def compare_files(
    reference_path: str | Path, current_path: str | Path, config: GateConfig | None = None
) -> FileComparison:
    """Read both files, profile the reference and compare the current file against it."""
    config = config or GateConfig()
    reference = read_columns(reference_path, "reference")
    current = read_columns(current_path, "current")
    notes = harmonize(reference, current)
    names = _selected(config, reference, current)
    labelled = set(config.performance.columns) if config.performance else set()
    names = [n for n in names if n not in labelled]  # label, prediction and score are not features
    if not names:
        raise DataFileError("no feature columns besides the label, prediction and score columns")
    selection = config.multivariate
    outside = [n for n in [*(selection.features or []), *selection.exclude] if n not in names]
    if outside:
        raise DataFileError(f"multivariate features not among the compared columns: {', '.join(outside)}")
    profile = build_profile(
        {n: reference.columns[n] for n in names},
        keep_samples=True,
        multivariate_features=selection.features,
        multivariate_exclude=selection.exclude,
    )
    report = compare(profile, {n: current.columns[n] for n in names}, rule=config.rule())
    for result in report.features:
        if result.feature in notes:
            result.note = "; ".join(filter(None, [result.note, notes[result.feature]]))
    skipped = {n: f"skipped: {why}" for n, why in {**reference.skipped, **current.skipped}.items()}
    excluded = set(config.exclude) | labelled
    performance = (
        compare_performance(config.performance, reference, current, config.rule())
        if config.performance
        else None
    )
    quality = _quality(profile, {n: current.columns[n] for n in names}, config)
    outliers = _outliers(reference, current, names, config)
    return FileComparison(
        report=report,
        reference=reference.path,
        current=current.path,
        only_in_reference=[n for n in reference.columns if n not in current.columns and n not in excluded],
        only_in_current=[n for n in current.columns if n not in reference.columns and n not in excluded],
        notes={**skipped, **{n: v for n, v in notes.items() if n not in names}},
        performance=performance,
        quality=quality,
        outliers=outliers,
    )


def _outliers(
    reference: DataColumns, current: DataColumns, names: list[str], config: GateConfig
) -> OutlierReport | None:
    """The isolation forest on the multivariate check's columns (plus the score column, if given)."""
    if reference.rows < MIN_ROWS:
        return None
    selection = config.multivariate
    chosen, _ = select_features(
        {n: reference.columns[n] for n in names}, selection.features, selection.exclude
    )
    score = config.performance.score if config.performance else None
    features = forest_features(reference.columns, chosen, score)
    if not features or any(n not in current.columns for n in features):
        return None
    model = fit_forest({n: reference.columns[n] for n in features})
    return outlier_report(model, current.columns, config.rule().alpha)


def _quality(profile: ReferenceProfile, current: dict[str, Any], config: GateConfig) -> list[QualityResult]:
    """The data-quality checks of the compared features (valid ranges must name numeric ones)."""
    for name in config.valid_ranges:
        if name not in profile.features:
            raise DataFileError(f"valid_ranges: {name!r} is not a compared feature")
        if profile.features[name].kind != "numeric":
            raise DataFileError(f"valid_ranges: {name!r} is not numeric in the reference")
    ranges = {n: (float(low), float(high)) for n, (low, high) in config.valid_ranges.items()}
    windows = {
        name: window_counts(profile.features[name], values, ranges.get(name))
        for name, values in current.items()
    }
    return judge_quality(
        profile.features, windows, config.quality_rule(), valid_ranges=ranges, samples=profile.samples
    )


@dataclass
class GateVerdict:
    passed: bool
    reasons: list[str]
    counted: list[str]  # drifted features that count against the gate
    allowed: list[str]  # drifted features the config allows to drift

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "counted": self.counted,
            "allowed": self.allowed,
        }


def evaluate(comparison: FileComparison, config: GateConfig) -> GateVerdict:
    """Pass or fail by `config.fail_on`; every reason is a sentence a release engineer can act on."""
    rule = config.fail_on
    allowed_names = set(config.allowed_to_drift)
    floor = SEVERITY_ORDER.index(rule.min_severity)
    report = comparison.report
    considered = [
        f for f in report.features if f.feature not in allowed_names and (f.tested or f.test == "schema")
    ]
    counted = [f.feature for f in considered if f.drifted and SEVERITY_ORDER.index(f.severity) >= floor]
    allowed = [f.feature for f in report.features if f.drifted and f.feature in allowed_names]
    reasons: list[str] = []
    if rule.drifted_features is not None and len(counted) >= rule.drifted_features:
        reasons.append(
            f"{len(counted)} feature(s) drifted (fail at {rule.drifted_features}): {', '.join(counted)}"
        )
    if rule.share is not None and considered and len(counted) / len(considered) >= rule.share:
        reasons.append(f"{len(counted)}/{len(considered)} features drifted (fail at share {rule.share:g})")
    joint = report.multivariate
    if (
        rule.multivariate
        and joint is not None
        and joint.drifted
        and SEVERITY_ORDER.index(joint.severity) >= floor
    ):
        reasons.append(f"multivariate drift ({joint.tier}, {joint.severity}): {joint.reason}")
    missing = [n for n in comparison.only_in_reference if n not in allowed_names]
    if rule.missing_features and missing and config.features is None:
        reasons.append(f"feature(s) missing from the current file: {', '.join(missing)}")
    if rule.data_quality:
        reasons.extend(_quality_reasons(comparison, config))
    if rule.performance:
        reasons.extend(_performance_reasons(comparison, config))
    return GateVerdict(not reasons, reasons, counted, allowed)


def _quality_reasons(comparison: FileComparison, config: GateConfig) -> list[str]:
    """One reason per failed data-quality check that counts against the gate."""
    allowed = set(config.allowed_to_drift)
    floor = SEVERITY_ORDER.index(config.fail_on.min_severity)
    reasons = []
    for result in comparison.quality:
        counts = result.tier == "act" or config.watch  # `watch: false` keeps the gate to act-tier findings
        if (
            result.failed
            and counts
            and result.feature not in allowed
            and SEVERITY_ORDER.index(result.severity) >= floor
        ):
            p = result.p_value
            shown = "< 1e-12" if p < 1e-12 else f"{p:.2g}"
            reasons.append(
                f"data quality ({result.check}, {result.tier}): {result.reason} (adjusted p {shown})"
            )
    return reasons


def _performance_reasons(comparison: FileComparison, config: GateConfig) -> list[str]:
    """The reason a significant performance drop fails the gate."""
    if comparison.performance is None:
        return []
    floor = SEVERITY_ORDER.index(config.fail_on.min_severity)
    return [
        f"performance {m.tier} ({m.severity}): {m.describe()}"
        for m in comparison.performance.worse
        if SEVERITY_ORDER.index(m.severity) >= floor
    ]
