"""One model, one window: every configured detector, as findings (alerts) and drift metric documents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from detections import operations, performance
from detections.alerts import Finding
from detections.config import DetectConfig, ModelConfig
from detections.statistics.compare import DriftReport, FeatureDrift, compare
from detections.statistics.decision import DecisionRule
from detections.statistics.multivariate import multivariate_drift, reconstruction_errors
from detections.statistics.profile import ReferenceProfile
from detections.windows import PREDICTION_FIELDS, Window, current_distributions, sample_vectors
from mlsiem.adapter import Engine
from mlsiem.ecs.findings import (
    AlertDrift,
    DriftMeasurement,
    DriftMetric,
    Evidence,
    MlsiemDrift,
    ModelInfo,
    Rule,
    RuleCategory,
    SeverityLabel,
)
from mlsiem.indices import inference_stream

RULESET = "mlsiem detectors"
# detector key -> (rule id, name, category, description)
_RULE_TABLE: dict[str, tuple[str, str, RuleCategory, str]] = {
    "feature_drift": ("mlsiem-drift-feature", "Feature drift", "drift",
                      "Input features of a model no longer follow its reference distribution."),
    "prediction_drift": ("mlsiem-drift-prediction", "Prediction drift", "drift",
                         "The distribution of a model's predictions moved away from its reference."),
    "multivariate": ("mlsiem-drift-multivariate", "Multivariate drift", "drift",
                     "The joint structure of the features changed (PCA reconstruction error)."),
    "performance": ("mlsiem-performance-drop", "Performance drop", "performance",
                    "Accuracy (or the error of a regression model) on labelled traffic left the baseline."),
    "latency_p95": ("mlsiem-ops-latency", "Latency anomaly", "operational",
                    "p95 latency left its in-control range (EWMA chart)."),
    "error_rate": ("mlsiem-ops-error-rate", "Error rate anomaly", "operational",
                   "The share of failed requests left its in-control range."),
    "request_rate": ("mlsiem-ops-request-rate", "Request rate anomaly", "operational",
                     "Requests per bucket left their in-control range."),
    "token_usage": ("mlsiem-ops-token-usage", "Token usage anomaly", "operational",
                    "Tokens per bucket left their in-control range."),
}  # fmt: skip
RULES = {
    key: Rule(id=rule_id, name=name, category=category, ruleset=RULESET, description=description)
    for key, (rule_id, name, category, description) in _RULE_TABLE.items()
}
_TIERS: tuple[SeverityLabel, ...] = ("low", "medium", "high", "critical")


@dataclass
class WindowResult:
    events: int = 0
    findings: list[Finding] = field(default_factory=list)
    metrics: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (_id, drift metric document)
    notes: list[str] = field(default_factory=list)


def _worst(drifts: list[FeatureDrift]) -> SeverityLabel:
    ranks = [_TIERS.index(d.severity) for d in drifts if d.severity in _TIERS]
    return _TIERS[max(ranks)] if ranks else "low"


def _metric_doc(window: Window, baseline_id: str, drift: FeatureDrift) -> tuple[str, dict[str, Any]]:
    metric = DriftMetric(
        **{"@timestamp": window.end},
        mlsiem=MlsiemDrift(
            model=ModelInfo(name=window.model, version=window.version),
            drift=DriftMeasurement(
                metric=drift.metric,
                score=drift.score,
                threshold=drift.threshold,
                p_value=None if drift.adjusted_p_value != drift.adjusted_p_value else drift.adjusted_p_value,
                feature=drift.feature,
                reference_size=drift.reference_size,
                current_size=drift.current_size,
                drifted=drift.drifted,
                severity=drift.severity,
                window_start=window.start,
                window_end=window.end,
                baseline_id=baseline_id,
            ),
        ),
    )
    key = f"{window.model}\x1f{window.version}\x1f{drift.feature}\x1f{window.start.isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32], metric.to_document()


class ModelChecks:
    """Runs the configured detectors of one model over windows, against its reference profile."""

    def __init__(
        self,
        engine: Engine,
        config: DetectConfig,
        model: ModelConfig,
        profile: ReferenceProfile,
        baseline_id: str,
    ) -> None:
        self.engine = engine
        self.config = config
        self.model = model
        self.profile = profile
        self.baseline_id = baseline_id
        self.index = inference_stream(config.namespace)
        self.rule = DecisionRule(alpha=config.alpha)
        names = model.features or [n for n in profile.features if n not in PREDICTION_FIELDS]
        missing = [n for n in names if n not in profile.features]
        if missing:
            raise ValueError(f"model {model.name}: features not in its baseline: {', '.join(missing)}")
        self.features = names
        self.predictions = [n for n in PREDICTION_FIELDS if n in profile.features]

    def _finding(
        self, key: str, window: Window, severity: SeverityLabel, reason: str, **extra: Any
    ) -> Finding:
        group = {"mlsiem.model.name": window.model}
        if window.version:
            group["mlsiem.model.version"] = window.version
        evidence = extra.pop("evidence", None) or Evidence(query=window.lucene())
        return Finding(
            rule=RULES[key],
            severity=severity,
            reason=reason,
            window_start=window.start,
            window_end=window.end,
            group=group,
            evidence=evidence,
            suppression=self.config.suppression,
            **extra,
        )

    def run(self, window: Window) -> WindowResult:
        result = WindowResult()
        detectors = set(self.model.detectors)
        names = (self.features if "feature_drift" in detectors else []) + (
            self.predictions if "prediction_drift" in detectors else []
        )
        total, current = current_distributions(self.engine, self.index, window, self.profile, names)
        result.events = total
        if total < self.model.min_window_events:
            result.notes.append(
                f"{window.model}: {total} events in the window, fewer than {self.model.min_window_events}"
            )
            return result
        evidence = Evidence(query=window.lucene(), event_count=total)
        if names:
            report = compare(self.profile, current, rule=self.rule, features=names)
            for drift in report.features:
                if drift.test not in ("none",):
                    result.metrics.append(_metric_doc(window, self.baseline_id, drift))
            self._drift_findings(report, window, evidence, result)
        if "multivariate" in detectors and self.profile.multivariate is not None:
            self._multivariate(window, evidence, result)
        if "operational" in detectors and self.profile.operational:
            self._operational(window, result)
        if "performance" in detectors and "accuracy" in self.profile.metadata:
            self._performance(window, result)
        if "performance" in detectors and "mae" in self.profile.metadata:
            self._regression(window, result)
        return result

    def _drift_findings(
        self, report: DriftReport, window: Window, evidence: Evidence, result: WindowResult
    ) -> None:
        for key, pool in (("feature_drift", self.features), ("prediction_drift", self.predictions)):
            drifted = sorted(
                (d for d in report.drifted if d.feature in pool), key=lambda d: -d.score / d.threshold
            )
            if not drifted:
                continue
            top = drifted[0]
            if key == "feature_drift":
                what = f"{len(drifted)} feature{'s' if len(drifted) != 1 else ''} of {window.model} drifted"
            else:
                what = f"The predictions of {window.model} drifted"
            p_value = top.adjusted_p_value
            shown = "< 1e-12" if p_value < 1e-12 else f"{p_value:.2g}"
            reason = (
                f"{what}; worst {top.feature} ({top.metric} {top.score:.3f} > {top.threshold:.3f}, "
                f"adjusted p {shown})."
            )
            drift = AlertDrift(
                metric=top.metric,
                score=top.score,
                threshold=top.threshold,
                p_value=top.adjusted_p_value,
                feature=top.feature,
                top_features=[d.feature for d in drifted[:10]],
                reference_size=top.reference_size,
                current_size=top.current_size,
            )
            result.findings.append(
                self._finding(key, window, _worst(drifted), reason, drift=drift, evidence=evidence)
            )

    def _multivariate(self, window: Window, evidence: Evidence, result: WindowResult) -> None:
        model = self.profile.multivariate
        assert model is not None
        sample = sample_vectors(
            self.engine, self.index, window, model.features, self.config.multivariate_sample
        )
        if min((v.size for v in sample.values()), default=0) < self.model.min_window_events:
            return
        verdict = multivariate_drift(model, reconstruction_errors(model, sample), self.config.alpha)
        if verdict.drifted:
            reason = (
                f"The joint feature structure of {window.model} changed: PCA reconstruction error "
                f"{verdict.score:.2f} > {verdict.threshold:.2f}."
            )
            drift = AlertDrift(
                metric="pca_reconstruction",
                score=verdict.score,
                threshold=verdict.threshold,
                p_value=verdict.p_value,
                current_size=int(next(iter(sample.values())).size),
            )
            result.findings.append(
                self._finding("multivariate", window, "medium", reason, drift=drift, evidence=evidence)
            )

    def _operational(self, window: Window, result: WindowResult) -> None:
        # The series must be cut as the baseline's were: its spread per bucket depends on the bucket size.
        seconds = self.profile.metadata.get("bucket_seconds")
        bucket = timedelta(seconds=int(seconds)) if seconds else self.config.bucket
        series = operations.bucket_series(self.engine, self.index, window, bucket)
        for anomaly in operations.detect(series, self.profile.operational, self.config.arl0):
            ratio = anomaly.peak / max(anomaly.baseline_mean, 1e-9)
            rise = anomaly.peak - anomaly.baseline_mean
            strong = rise >= 0.25 if anomaly.series == "error_rate" else ratio >= 4
            medium = rise >= 0.1 if anomaly.series == "error_rate" else ratio >= 2
            severity: SeverityLabel = "high" if strong else "medium" if medium else "low"
            extra = ' AND event.outcome:"failure"' if anomaly.series == "error_rate" else ""
            sub = Window(window.model, window.version, anomaly.first_bucket, anomaly.last_bucket + bucket)
            finding = self._finding(
                anomaly.series,
                window,
                severity,
                anomaly.reason(window.model),
                evidence=Evidence(query=sub.lucene() + extra),
            )
            finding.first_seen, finding.last_seen = (
                anomaly.first_bucket,
                anomaly.last_bucket + bucket,
            )
            result.findings.append(finding)

    def _performance(self, window: Window, result: WindowResult) -> None:
        matrix = performance.confusion(self.engine, self.index, window)
        drop = performance.detect(
            matrix,
            float(self.profile.metadata["accuracy"]),
            int(self.profile.metadata.get("accuracy_n", "1000")),
            self.config.alpha,
        )
        if drop is None:
            return
        loss = drop.baseline_accuracy - drop.accuracy
        severity: SeverityLabel = "high" if loss >= 0.2 else "medium" if loss >= 0.1 else "low"
        query = window.lucene() + " AND _exists_:mlsiem.ground_truth.label"
        result.findings.append(
            self._finding(
                "performance",
                window,
                severity,
                drop.reason(window.model),
                evidence=Evidence(query=query, event_count=drop.labelled),
            )
        )

    def _regression(self, window: Window, result: WindowResult) -> None:
        current = performance.absolute_errors(self.engine, self.index, window)
        if current is None:
            return
        meta = self.profile.metadata
        baseline = (float(meta["mae"]), float(meta.get("mae_std", "0")), int(meta.get("mae_n", "1000")))
        rise = performance.detect_regression(current, baseline, self.config.alpha)
        if rise is None:
            return
        ratio = rise.mae / max(rise.baseline_mae, 1e-12)
        severity: SeverityLabel = "high" if ratio >= 2 else "medium" if ratio >= 1.5 else "low"
        query = window.lucene() + " AND _exists_:mlsiem.ground_truth.value"
        result.findings.append(
            self._finding(
                "performance",
                window,
                severity,
                rise.reason(window.model),
                evidence=Evidence(query=query, event_count=rise.labelled),
            )
        )
