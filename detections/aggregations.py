"""What the detectors ask the engine: search bodies and the parsers of their responses.

A detector's cost stays flat in the number of events: numeric features are counted on the reference
profile's quantile edges with one `range` aggregation each (left-closed buckets, the same convention
as `binning.bin_counts`), categorical ones with `terms` (plus `missing`), operational series with a
`date_histogram`, the confusion matrix with nested `terms`. Only the multivariate detector fetches raw
feature vectors, as a bounded random sample.

Each request is a plain dict and each parser a pure function of the response, so a caller can send
them one by one or batch them (`_msearch`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import numpy as np

from detections.statistics.categorical import OTHER
from detections.statistics.columns import CategoryCounts, NumericCounts
from detections.statistics.operational import SERIES
from detections.statistics.performance import ErrorStats
from detections.statistics.profile import ReferenceProfile
from detections.statistics.quality import WindowCounts, counts_of_categories
from detections.window import Window
from mlsiem.timefmt import iso

MAX_TERMS = 1000

# Profile feature names are plain ("income"); these pseudo-features watch the prediction itself.
PREDICTION_FIELDS = {
    "prediction.score": "mlsiem.prediction.score",
    "prediction.label": "mlsiem.prediction.label",
    "prediction.value": "mlsiem.prediction.value",
}


# Every request counts calls: `event.kind: enrichment` documents (an OTLP log record detailing a call
# its span already reports, docs/formats.md) would count a call, its tokens and its outcome twice.
CALLS_ONLY: dict[str, Any] = {"bool": {"must_not": [{"term": {"event.kind": "enrichment"}}]}}


def field_of(feature: str) -> str:
    return PREDICTION_FIELDS.get(feature) or f"mlsiem.features.{feature}"


def total_events(response: dict[str, Any]) -> int:
    return int(response["hits"]["total"]["value"])


# -- distributions ---------------------------------------------------------------------------------


def _numeric_agg(field: str, edges: list[float]) -> dict[str, Any]:
    bounds = [-math.inf, *edges, math.inf]
    ranges = []
    for low, high in itertools.pairwise(bounds):
        bucket: dict[str, float] = {}
        if math.isfinite(low):
            bucket["from"] = low
        if math.isfinite(high):
            bucket["to"] = high
        ranges.append(bucket)
    return {"range": {"field": field, "ranges": ranges, "keyed": False}}


def distributions_request(window: Window, profile: ReferenceProfile, features: list[str]) -> dict[str, Any]:
    """Counts of every feature on its profile's bins (or categories), and the window's event count."""
    aggs: dict[str, Any] = {}
    for i, name in enumerate(features):
        feature = profile.features[name]
        field = field_of(name)
        if feature.kind == "numeric":
            aggs[f"b{i}"] = _numeric_agg(field, feature.edges)
            aggs[f"a{i}"] = {"avg": {"field": field}}
        else:
            aggs[f"t{i}"] = {"terms": {"field": field, "size": MAX_TERMS}}
        aggs[f"m{i}"] = {"missing": {"field": field}}
    return {"size": 0, "track_total_hits": True, "query": window.query(CALLS_ONLY), "aggs": aggs}


def parse_distributions(
    response: dict[str, Any], profile: ReferenceProfile, features: list[str]
) -> dict[str, NumericCounts | CategoryCounts]:
    aggs = response.get("aggregations", {})
    current: dict[str, NumericCounts | CategoryCounts] = {}
    for i, name in enumerate(features):
        missing = int(aggs[f"m{i}"]["doc_count"])
        if profile.features[name].kind == "numeric":
            counts = np.array([b["doc_count"] for b in aggs[f"b{i}"]["buckets"]], dtype=np.int64)
            mean = aggs[f"a{i}"]["value"]
            current[name] = NumericCounts(counts, missing, float(mean) if mean is not None else None)
        else:
            terms = {str(b["key"]): int(b["doc_count"]) for b in aggs[f"t{i}"]["buckets"]}
            other = int(aggs[f"t{i}"].get("sum_other_doc_count", 0))
            if other:
                terms[OTHER] = terms.get(OTHER, 0) + other
            current[name] = CategoryCounts(terms, missing)
    return current


# -- a bounded sample of raw vectors -----------------------------------------------------------------


def sample_request(window: Window, features: list[str], size: int, seed: int = 17) -> dict[str, Any]:
    """A bounded random sample of raw feature vectors (rows with at least one of the features).

    A missing feature in a sampled row is imputed by the statistics, as in the offline path.
    """
    fields = [field_of(f) for f in features]
    exists = [{"exists": {"field": f}} for f in fields]
    return {
        "size": size,
        "track_total_hits": True,
        "_source": fields,
        "query": {
            "function_score": {
                "query": window.query(CALLS_ONLY, {"bool": {"should": exists, "minimum_should_match": 1}}),
                "random_score": {"seed": seed, "field": "_seq_no"},
                "boost_mode": "replace",
            }
        },
    }


def _lookup(sources: list[Any], path: list[str]) -> list[Any]:
    """The value at a dotted path in every source (None where absent), one path step for all rows at once."""
    values = sources
    for part in path:
        values = [v.get(part) if isinstance(v, dict) else None for v in values]
    return values


def parse_sample(
    response: dict[str, Any], features: list[str], categorical: Collection[str] = ()
) -> dict[str, np.ndarray]:
    """Columns of the sampled rows: floats (NaN when missing), or labels (None when missing)."""
    sources = [hit["_source"] for hit in response["hits"]["hits"]]
    parents: dict[str, list[Any]] = {}  # "mlsiem.features" -> that object of every row, looked up once
    columns: dict[str, np.ndarray] = {}
    for name in features:
        *parent, leaf = field_of(name).split(".")
        key = ".".join(parent)
        if key not in parents:
            parents[key] = _lookup(sources, parent)
        values = [v.get(leaf) if isinstance(v, dict) else None for v in parents[key]]
        if name in categorical:
            column = np.empty(len(values), dtype=object)
            column[:] = [None if v is None or isinstance(v, dict | list) else str(v) for v in values]
        else:
            column = np.array(
                [float(v) if type(v) in (int, float) else math.nan for v in values], dtype=np.float64
            )
        columns[name] = column
    return columns


# -- operational series ------------------------------------------------------------------------------


def series_request(window: Window, bucket: timedelta) -> dict[str, Any]:
    seconds = int(bucket.total_seconds())
    return {
        "size": 0,
        "track_total_hits": True,
        "query": window.query(CALLS_ONLY),
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


def parse_series(response: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each series per bucket: NaN where a bucket has no events to measure; `start` in epoch seconds."""
    buckets = response["aggregations"]["t"]["buckets"]
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


# -- labelled traffic --------------------------------------------------------------------------------

_LABELS = ("mlsiem.ground_truth.label", "mlsiem.prediction.label")
_VALUES = ("mlsiem.ground_truth.value", "mlsiem.prediction.value")
_ABS_ERROR = "Math.abs(doc['mlsiem.prediction.value'].value - doc['mlsiem.ground_truth.value'].value)"
_SQUARED_ERROR = (
    "double e = doc['mlsiem.prediction.value'].value - doc['mlsiem.ground_truth.value'].value; return e * e;"
)


def _labelled(fields: tuple[str, str], aggs: dict[str, Any]) -> dict[str, Any]:
    return {"filter": {"bool": {"filter": [{"exists": {"field": f}} for f in fields]}}, "aggs": aggs}


def labelled_request(window: Window) -> dict[str, Any]:
    """The confusion matrix (classifiers) and the absolute and squared error statistics (regression) in
    one search."""
    confusion = {
        "p": {
            "terms": {"field": "mlsiem.prediction.label", "size": 200},
            "aggs": {"t": {"terms": {"field": "mlsiem.ground_truth.label", "size": 200}}},
        }
    }
    errors = {
        "e": {"extended_stats": {"script": {"source": _ABS_ERROR, "lang": "painless"}}},
        "q": {"extended_stats": {"script": {"source": _SQUARED_ERROR, "lang": "painless"}}},
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": window.query(CALLS_ONLY),
        "aggs": {"labels": _labelled(_LABELS, confusion), "values": _labelled(_VALUES, errors)},
    }


def parse_confusion(response: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(predicted, true) -> count."""
    buckets = response["aggregations"]["labels"]["p"]["buckets"]
    return {(str(p["key"]), str(t["key"])): int(t["doc_count"]) for p in buckets for t in p["t"]["buckets"]}


def parse_absolute_errors(response: dict[str, Any]) -> ErrorStats | None:
    """Mean, std and count of |prediction - truth|, or None without labelled regression events."""
    return _error_stats(response["aggregations"]["values"]["e"])


def parse_squared_errors(response: dict[str, Any]) -> ErrorStats | None:
    """Mean, std and count of (prediction - truth)^2, or None without labelled regression events."""
    return _error_stats(response["aggregations"]["values"]["q"])


def _error_stats(stats: dict[str, Any]) -> ErrorStats | None:
    if not stats["count"]:
        return None
    return ErrorStats(float(stats["avg"]), float(stats["std_deviation"] or 0.0), int(stats["count"]))


# -- data quality ------------------------------------------------------------------------------------


def quality_request(
    window: Window, profile: ReferenceProfile, features: list[str], bounds: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """Per feature: missing count; numeric `stats` (count, min, max) and the values strictly outside its
    bounds (a `range` bucket below `low` and one from the next double above `high`: `from` is inclusive);
    categorical `terms`. `bounds` holds each numeric feature's (low, high)."""
    aggs: dict[str, Any] = {}
    for i, name in enumerate(features):
        field = field_of(name)
        aggs[f"m{i}"] = {"missing": {"field": field}}
        if profile.features[name].kind == "numeric":
            aggs[f"s{i}"] = {"stats": {"field": field}}
            if name in bounds:
                low, high = bounds[name]
                above = float(np.nextafter(high, math.inf))
                ranges = [{"to": low}, {"from": above}]
                aggs[f"r{i}"] = {"range": {"field": field, "ranges": ranges, "keyed": False}}
        else:
            aggs[f"t{i}"] = {"terms": {"field": field, "size": MAX_TERMS}}
    return {"size": 0, "track_total_hits": True, "query": window.query(CALLS_ONLY), "aggs": aggs}


def parse_quality(
    response: dict[str, Any],
    profile: ReferenceProfile,
    features: list[str],
    bounds: dict[str, tuple[float, float]],
) -> dict[str, WindowCounts]:
    """The window summaries of `statistics.quality`, the same numbers `window_counts` gets from raw values."""
    aggs = response.get("aggregations", {})
    windows: dict[str, WindowCounts] = {}
    for i, name in enumerate(features):
        missing = int(aggs[f"m{i}"]["doc_count"])
        if profile.features[name].kind == "numeric":
            stats = aggs[f"s{i}"]
            below = above = 0
            if f"r{i}" in aggs:
                below, above = (int(b["doc_count"]) for b in aggs[f"r{i}"]["buckets"])
            count = int(stats["count"])
            minimum = float(stats["min"]) if count else None
            maximum = float(stats["max"]) if count else None
            windows[name] = WindowCounts(
                "numeric", count, missing, bounds.get(name), below, above, minimum, maximum
            )
        else:
            terms = {str(b["key"]): int(b["doc_count"]) for b in aggs[f"t{i}"]["buckets"]}
            other = int(aggs[f"t{i}"].get("sum_other_doc_count", 0))
            windows[name] = counts_of_categories(CategoryCounts(terms, missing), truncated=other)
    return windows
