"""Operational anomalies: p95 latency, error rate, request rate and token use per time bucket.

The series are per-bucket numbers (the detector gets them from one `date_histogram`). Each is
standardized by its baseline (the in-control mean and spread per bucket, from the reference period)
and watched with an EWMA chart
designed for a target in-control average run length (ARL0). A bucket alarms only when the chart does
AND the change is practically large (e.g. p95 latency at least 1.5x its baseline): the same
"significant and relevant" rule as the drift detectors, which keeps quiet periods quiet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from detections.statistics.control_charts import DEFAULT_ARL0, EwmaChart, standardize
from detections.statistics.profile import SeriesBaseline

SERIES = ("latency_p95", "error_rate", "request_rate", "token_usage")

# A change must also be this large to matter: (ratio to the baseline mean, or absolute rise for rates)
PRACTICAL: dict[str, tuple[str, float]] = {
    "latency_p95": ("ratio", 1.5),
    "error_rate": ("rise", 0.05),
    "request_rate": ("ratio", 2.0),
    "token_usage": ("ratio", 2.0),
}
# A bucket this thin says nothing about a percentile or a rate: it cannot alarm on its own.
MIN_BUCKET_EVENTS = 10
MIN_FAILURES = 5
SERIES_TITLES = {
    "latency_p95": "p95 latency",
    "error_rate": "error rate",
    "request_rate": "request rate",
    "token_usage": "token usage",
}
_UNITS = {
    "latency_p95": " ms",
    "error_rate": "",
    "request_rate": " requests per bucket",
    "token_usage": " tokens per bucket",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class OperationalAnomaly:
    series: str
    first_bucket: datetime
    last_bucket: datetime
    peak: float
    baseline_mean: float
    buckets: int

    @property
    def change(self) -> float:
        """The size of the change in its practical unit: absolute rise for rates, else the ratio."""
        if PRACTICAL[self.series][0] == "rise":
            return self.peak - self.baseline_mean
        return self.peak / max(self.baseline_mean, 1e-9)

    def reason(self, model: str) -> str:
        title = SERIES_TITLES[self.series]
        if self.series == "error_rate":
            return (
                f"Error rate of {model} rose to {self.peak:.0%} (baseline {self.baseline_mean:.1%}) "
                f"in {self.buckets} bucket(s) from {_iso(self.first_bucket)}."
            )
        return (
            f"{title.capitalize()} of {model} reached {self.peak:,.0f}{_UNITS[self.series]} "
            f"({self.peak / max(self.baseline_mean, 1e-9):.1f}x its baseline) in {self.buckets} bucket(s) "
            f"from {_iso(self.first_bucket)}."
        )


def _practical(kind: str, amount: float, values: np.ndarray, baseline: SeriesBaseline) -> np.ndarray:
    if kind == "ratio":
        return values >= baseline.mean * amount
    return values >= baseline.mean + amount


@functools.lru_cache(maxsize=8)
def _chart(arl0: float) -> EwmaChart:
    return EwmaChart.for_arl0(arl0)  # solving for the limit takes a moment: once per ARL0


def detect(
    series: dict[str, np.ndarray],
    baselines: dict[str, SeriesBaseline],
    arl0: float = DEFAULT_ARL0,
    practical: dict[str, float] | None = None,
    min_bucket_events: int = MIN_BUCKET_EVENTS,
    min_failures: int = MIN_FAILURES,
) -> list[OperationalAnomaly]:
    """Anomalous buckets per series: the EWMA chart alarms AND the change is practically large.

    `practical` overrides the amounts of `PRACTICAL` (ratio or absolute rise, by series).
    """
    chart = _chart(arl0)
    found = []
    for name in SERIES:
        baseline = baselines.get(name)
        values = series.get(name)
        if baseline is None or values is None or not np.isfinite(values).any():
            continue
        kind, amount = PRACTICAL[name]
        amount = (practical or {}).get(name, amount)
        filled = np.where(np.isfinite(values), values, baseline.mean)
        run = chart.run(standardize(filled, baseline.mean, max(baseline.std, 1e-9)))
        hits = run.alarms & _practical(kind, amount, filled, baseline) & np.isfinite(values)
        if name in ("latency_p95", "error_rate"):
            hits &= series["request_rate"] >= min_bucket_events
        if name == "error_rate":
            hits &= series["failures"] >= min_failures
        if hits.any():
            where = np.flatnonzero(hits)
            starts = series["start"]
            found.append(
                OperationalAnomaly(
                    series=name,
                    first_bucket=datetime.fromtimestamp(starts[where[0]], UTC),
                    last_bucket=datetime.fromtimestamp(starts[where[-1]], UTC),
                    peak=float(np.nanmax(values[where])),
                    baseline_mean=baseline.mean,
                    buckets=int(where.size),
                )
            )
    return found
