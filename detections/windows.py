"""Current-window distributions from engine aggregations, never from raw documents.

A detector's cost stays flat in the number of events: numeric features are counted on the reference
profile's quantile edges with one `range` aggregation each (left-closed buckets, the same convention
as `binning.bin_counts`), categorical ones with `terms` (plus `missing`), operational series with a
`date_histogram`, the confusion matrix with nested `terms`. Only the multivariate detector fetches raw
feature vectors, as a bounded random sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from detections.statistics.categorical import OTHER
from detections.statistics.columns import CategoryCounts, NumericCounts
from detections.statistics.profile import FeatureProfile, ReferenceProfile
from mlsiem.adapter import Engine

MAX_TERMS = 1000


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    model: str
    version: str | None
    start: datetime
    end: datetime

    def query(self, *extra: Mapping[str, Any]) -> dict[str, Any]:
        """Events of this model (and version) in [start, end)."""
        filters: list[Mapping[str, Any]] = [
            {"term": {"mlsiem.model.name": self.model}},
            {"range": {"@timestamp": {"gte": iso(self.start), "lt": iso(self.end)}}},
        ]
        if self.version:
            filters.append({"term": {"mlsiem.model.version": self.version}})
        return {"bool": {"filter": [*filters, *extra]}}

    def lucene(self) -> str:
        """The same selection as a query string: the evidence an analyst pastes into Discover."""
        parts = [f'mlsiem.model.name:"{self.model}"']
        if self.version:
            parts.append(f'mlsiem.model.version:"{self.version}"')
        parts.append(f'@timestamp:["{iso(self.start)}" TO "{iso(self.end)}"}}')
        return " AND ".join(parts)


# Profile feature names are plain ("income"); these pseudo-features watch the prediction itself.
PREDICTION_FIELDS = {
    "prediction.score": "mlsiem.prediction.score",
    "prediction.label": "mlsiem.prediction.label",
    "prediction.value": "mlsiem.prediction.value",
}


def field_of(feature: str) -> str:
    return PREDICTION_FIELDS.get(feature) or f"mlsiem.features.{feature}"


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
    return {
        "range": {"field": field, "ranges": ranges, "keyed": False},
    }


def distribution_aggs(profile: ReferenceProfile, features: list[str]) -> dict[str, Any]:
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
    return aggs


def current_distributions(
    engine: Engine, index: str, window: Window, profile: ReferenceProfile, features: list[str]
) -> tuple[int, dict[str, NumericCounts | CategoryCounts]]:
    """(events in the window, per-feature counts) from one search with `size: 0`."""
    body = {
        "size": 0,
        "track_total_hits": True,
        "query": window.query(),
        "aggs": distribution_aggs(profile, features),
    }
    result = engine.search(index, body)
    total = int(result["hits"]["total"]["value"])
    aggs = result.get("aggregations", {})
    current: dict[str, NumericCounts | CategoryCounts] = {}
    for i, name in enumerate(features):
        feature: FeatureProfile = profile.features[name]
        missing = int(aggs[f"m{i}"]["doc_count"])
        if feature.kind == "numeric":
            counts = np.array([b["doc_count"] for b in aggs[f"b{i}"]["buckets"]], dtype=np.int64)
            mean = aggs[f"a{i}"]["value"]
            current[name] = NumericCounts(counts, missing, float(mean) if mean is not None else None)
        else:
            terms = {str(b["key"]): int(b["doc_count"]) for b in aggs[f"t{i}"]["buckets"]}
            other = int(aggs[f"t{i}"].get("sum_other_doc_count", 0))
            if other:
                terms[OTHER] = terms.get(OTHER, 0) + other
            current[name] = CategoryCounts(terms, missing)
    return total, current


def sample_vectors(
    engine: Engine, index: str, window: Window, features: list[str], size: int = 2000, seed: int = 17
) -> dict[str, np.ndarray]:
    """A bounded random sample of raw feature vectors (for the multivariate detector only)."""
    fields = [field_of(f) for f in features]
    exists = [{"exists": {"field": f}} for f in fields]
    body = {
        "size": size,
        "_source": fields,
        "query": {
            "function_score": {
                "query": window.query(*exists),
                "random_score": {"seed": seed, "field": "_seq_no"},
                "boost_mode": "replace",
            }
        },
    }
    hits = engine.search(index, body)["hits"]["hits"]
    columns = {name: np.empty(len(hits)) for name in features}
    for row, hit in enumerate(hits):
        source = hit["_source"]
        for name, field in zip(features, fields, strict=True):
            value: Any = source
            for part in field.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            columns[name][row] = float(value) if isinstance(value, int | float) else math.nan
    return columns
