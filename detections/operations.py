"""Operational anomalies: p95 latency, error rate, request rate and token use per time bucket.

The series come from one `date_histogram` over the window. Each is standardized by its baseline (the
in-control mean and spread per bucket, from the reference period) and watched with an EWMA chart
designed for a target in-control average run length (ARL0). A bucket alarms only when the chart does
AND the change is practically large (e.g. p95 latency at least 1.5x its baseline): the same
"significant and relevant" rule as the drift detectors, which keeps quiet periods quiet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from detections.statistics.control_charts import DEFAULT_ARL0, EwmaChart, standardize
from detections.statistics.profile import SeriesBaseline
from detections.windows import Window, iso
from mlsiem.adapter import Engine

SERIES = ("latency_p95", "error_rate", "request_rate", "token_usage")

# A change must also be this large to matter: (ratio to the baseline mean, or absolute rise for rates)
PRACTICAL = {
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


def bucket_series(engine: Engine, index: str, window: Window, bucket: timedelta) -> dict[str, np.ndarray]:
    """Each series per bucket of [start, end): NaN where a bucket has no events to measure."""
    seconds = int(bucket.total_seconds())
    body = {
        "size": 0,
        "query": window.query(),
        "aggs": {
            "t": {
                "date_histogram": {
                    "field": "@timestamp",
                    "fixed_interval": f"{seconds}s",
                    "min_doc_count": 0,
                    "extended_bounds": {
                        "min": iso(window.start),
                        "max": iso(window.end - timedelta(seconds=1)),
                    },
                },
                "aggs": {
                    "latency": {"percentiles": {"field": "event.duration", "percents": [95]}},
                    "errors": {"filter": {"term": {"event.outcome": "failure"}}},
                    "tokens_in": {"sum": {"field": "gen_ai.usage.input_tokens"}},
                    "tokens_out": {"sum": {"field": "gen_ai.usage.output_tokens"}},
                },
            }
        },
    }
    buckets = engine.search(index, body)["aggregations"]["t"]["buckets"]
    series = {name: np.full(len(buckets), np.nan) for name in SERIES}
    series["start"] = np.array([b["key"] / 1000 for b in buckets])
    series["failures"] = np.zeros(len(buckets))
    for i, b in enumerate(buckets):
        count = b["doc_count"]
        series["request_rate"][i] = count
        if count:
            p95 = next(iter(b["latency"]["values"].values()))
            series["latency_p95"][i] = p95 / 1e6 if p95 is not None else np.nan  # ns -> ms
            series["error_rate"][i] = b["errors"]["doc_count"] / count
            series["failures"][i] = b["errors"]["doc_count"]
            series["token_usage"][i] = b["tokens_in"]["value"] + b["tokens_out"]["value"]
    return series


@dataclass
class OperationalAnomaly:
    series: str
    first_bucket: datetime
    last_bucket: datetime
    peak: float
    baseline_mean: float
    buckets: int

    def reason(self, model: str) -> str:
        title = SERIES_TITLES[self.series]
        unit = {
            "latency_p95": " ms",
            "error_rate": "",
            "request_rate": " requests per bucket",
            "token_usage": " tokens per bucket",
        }[self.series]
        if self.series == "error_rate":
            return (
                f"Error rate of {model} rose to {self.peak:.0%} (baseline {self.baseline_mean:.1%}) "
                f"in {self.buckets} bucket(s) from {iso(self.first_bucket)}."
            )
        return (
            f"{title.capitalize()} of {model} reached {self.peak:,.0f}{unit} "
            f"({self.peak / max(self.baseline_mean, 1e-9):.1f}x its baseline) in {self.buckets} bucket(s) "
            f"from {iso(self.first_bucket)}."
        )


def _practical(series: str, values: np.ndarray, baseline: SeriesBaseline) -> np.ndarray:
    kind, amount = PRACTICAL[series]
    if kind == "ratio":
        return values >= baseline.mean * amount
    return values >= baseline.mean + amount


@functools.lru_cache(maxsize=8)
def _chart(arl0: float) -> EwmaChart:
    return EwmaChart.for_arl0(arl0)  # solving for the limit takes a moment: once per ARL0


def detect(
    series: dict[str, np.ndarray], baselines: dict[str, SeriesBaseline], arl0: float = DEFAULT_ARL0
) -> list[OperationalAnomaly]:
    chart = _chart(arl0)
    found = []
    for name in SERIES:
        baseline = baselines.get(name)
        values = series.get(name)
        if baseline is None or values is None or not np.isfinite(values).any():
            continue
        filled = np.where(np.isfinite(values), values, baseline.mean)
        run = chart.run(standardize(filled, baseline.mean, max(baseline.std, 1e-9)))
        hits = run.alarms & _practical(name, filled, baseline) & np.isfinite(values)
        if name in ("latency_p95", "error_rate"):
            hits &= series["request_rate"] >= MIN_BUCKET_EVENTS
        if name == "error_rate":
            hits &= series["failures"] >= MIN_FAILURES
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
