"""Operational anomalies: p95 latency, error rate, request rate and token use per bucket.

One `date_histogram` over the window; each series is watched with an EWMA chart against its
baseline (`statistics.operational`). One rule per series, so an analyst can tune or silence each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator

from detections.aggregations import parse_series, series_request
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics import operational
from detections.window import Window
from mlsiem.ecs.findings import Evidence, Rule, SeverityLabel

_STEPS = {
    "latency_p95": (2.0, 4.0),
    "error_rate": (0.1, 0.25),
    "request_rate": (2.0, 4.0),
    "token_usage": (2.0, 4.0),
}


class OperationalTuning(Tuning):
    """Per-series knobs; a partial mapping changes only the series it names."""

    practical: dict[str, float] = Field(
        default_factory=lambda: {name: amount for name, (_, amount) in operational.PRACTICAL.items()},
        description="the change that matters: a ratio to the baseline, or an absolute rise for error_rate",
    )
    min_bucket_events: int = Field(operational.MIN_BUCKET_EVENTS, ge=1)
    min_failures: int = Field(operational.MIN_FAILURES, ge=1)
    # (medium, high): the change (ratio, or rise for error_rate) at which the severity steps up
    severity_steps: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(_STEPS))

    @field_validator("practical", mode="before")
    @classmethod
    def _practical(cls, value: object) -> object:
        return cls._per_series(value, {name: amount for name, (_, amount) in operational.PRACTICAL.items()})

    @field_validator("severity_steps", mode="before")
    @classmethod
    def _steps(cls, value: object) -> object:
        return cls._per_series(value, _STEPS)

    @staticmethod
    def _per_series(value: object, defaults: dict[str, Any]) -> object:
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(operational.SERIES))
        if unknown:
            raise ValueError(f"unknown series {', '.join(unknown)}; expected {', '.join(operational.SERIES)}")
        return {**defaults, **value}


class OperationalDetector(Detector):
    name = "operational"
    rules: ClassVar[dict[str, Rule]] = {
        "latency_p95": rule(
            "mlsiem-ops-latency", "Latency anomaly", "operational",
            "p95 latency left its in-control range (EWMA chart).",
        ),
        "error_rate": rule(
            "mlsiem-ops-error-rate", "Error rate anomaly", "operational",
            "The share of failed requests left its in-control range.",
        ),
        "request_rate": rule(
            "mlsiem-ops-request-rate", "Request rate anomaly", "operational",
            "Requests per bucket left their in-control range.",
        ),
        "token_usage": rule(
            "mlsiem-ops-token-usage", "Token usage anomaly", "operational",
            "Tokens per bucket left their in-control range.",
        ),
    }  # fmt: skip
    Tuning: ClassVar[type[OperationalTuning]] = OperationalTuning
    tuning: OperationalTuning
    watches = (
        "per-bucket p95 latency, error share, requests, tokens; EWMA chart designed for ARL0 = 500 windows, "
        "and a practical change (1.5x latency, +5 points errors, 2x rate or tokens)"
    )
    computed_with = "`date_histogram` with `percentiles`, `filter`, `sum`"

    def applies(self) -> bool:
        return bool(self.setup.profile.operational)

    def _bucket(self) -> timedelta:
        # The series must be cut as the baseline's were: its spread per bucket depends on the bucket size.
        seconds = self.setup.profile.metadata.get("bucket_seconds")
        return timedelta(seconds=int(seconds)) if seconds else self.setup.bucket

    def request(self, window: Window) -> dict[str, Any]:
        return series_request(window, self._bucket())

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        bucket = self._bucket()
        anomalies = operational.detect(
            parse_series(response),
            self.setup.profile.operational,
            self.setup.arl0,
            practical=self.tuning.practical,
            min_bucket_events=self.tuning.min_bucket_events,
            min_failures=self.tuning.min_failures,
        )
        judgement = Judgement()
        for anomaly in anomalies:
            medium, high = self.tuning.severity_steps[anomaly.series]
            change = anomaly.change
            severity: SeverityLabel = "high" if change >= high else "medium" if change >= medium else "low"
            extra = ' AND event.outcome:"failure"' if anomaly.series == "error_rate" else ""
            sub = Window(window.model, window.version, anomaly.first_bucket, anomaly.last_bucket + bucket)
            finding = self.finding(
                window,
                severity,
                anomaly.reason(window.model),
                key=anomaly.series,
                evidence=Evidence(query=sub.lucene() + extra),
            )
            finding.first_seen, finding.last_seen = anomaly.first_bucket, anomaly.last_bucket + bucket
            judgement.findings.append(finding)
        return judgement
