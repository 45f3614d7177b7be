"""The search request a dashboards app sends for a visualization or a saved search, built from the spec.

It follows what Kibana and OpenSearch Dashboards do for aggregation-based visualizations: the time
range as a `range` filter on the data view's time field, the Lucene query as `query_string` (with
`analyze_wildcard`), bucket aggs nested in the visState order with the metrics in the innermost
bucket, `count` as the buckets' doc_count, and an automatic date_histogram interval of about 50
buckets over the time range. Tests run these requests on a real engine, so a panel that would come up
empty (a wrong field, a query that matches nothing) fails before an analyst sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboards.spec import Bucket, Metric, SavedSearch, Spec, Visualization
from dashboards.vis_state import bucket_id, metric_id
from mlsiem.errors import ConfigError
from mlsiem.timefmt import iso

_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The intervals the apps round an automatic date_histogram interval to (as in Kibana's time buckets).
_NICE_INTERVALS = [
    ("1s", 1), ("5s", 5), ("10s", 10), ("30s", 30), ("1m", 60), ("5m", 300), ("10m", 600),
    ("30m", 1800), ("1h", 3600), ("3h", 10800), ("12h", 43200), ("1d", 86400), ("7d", 604800),
]  # fmt: skip
BAR_TARGET = 50


@dataclass(frozen=True)
class SearchRequest:
    index: str  # the data view's pattern
    body: dict[str, Any]


def resolve_time(expression: str, now: datetime) -> datetime:
    """`now`, `now-15m`, `now-24h`, `now-7d` (the forms the spec's dashboards use) as a UTC time."""
    match = _RELATIVE.match(expression)
    if not match:
        raise ConfigError(f"time {expression!r}: expected now or now-<n><s|m|h|d|w>")
    amount, unit = match.groups()
    offset = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit]) if amount else timedelta(0)
    return now.astimezone(UTC) - offset


def auto_interval(start: datetime, end: datetime) -> str:
    """The smallest nice interval that yields at most about `BAR_TARGET` buckets."""
    wanted = (end - start).total_seconds() / BAR_TARGET
    for name, seconds in _NICE_INTERVALS:
        if seconds >= wanted:
            return name
    return _NICE_INTERVALS[-1][0]


def _query(query: str, time_field: str, start: datetime, end: datetime) -> dict[str, Any]:
    must = [{"query_string": {"query": query, "analyze_wildcard": True}}] if query.strip() else []
    time_range = {
        "range": {
            time_field: {
                "gte": iso(start),
                "lte": iso(end),
                "format": "strict_date_optional_time",
            }
        }
    }
    return {"bool": {"must": must, "filter": [time_range]}}


def _metric_body(metric: Metric) -> dict[str, Any]:
    if metric.agg == "percentiles":
        return {"percentiles": {"field": metric.field, "percents": metric.percents}}
    return {metric.agg: {"field": metric.field}}


def _metric_aggs(vis: Visualization, positions: list[int]) -> dict[str, Any]:
    return {metric_id(i): _metric_body(vis.metrics[i]) for i in positions if vis.metrics[i].agg != "count"}


def _terms(vis: Visualization, bucket: Bucket) -> tuple[dict[str, Any], list[int]]:
    """The terms body and the metric positions its ordering needs as sub-aggs."""
    if bucket.order_by == "key":
        order, needs = {"_key": bucket.order}, []
    elif isinstance(bucket.order_by, int) and vis.metrics[bucket.order_by - 1].agg != "count":
        order, needs = {metric_id(bucket.order_by - 1): bucket.order}, [bucket.order_by - 1]
    else:
        order, needs = {"_count": bucket.order}, []
    return {"terms": {"field": bucket.field, "size": bucket.size, "order": order}}, needs


def _bucket_body(vis: Visualization, bucket: Bucket, interval: str) -> tuple[dict[str, Any], list[int]]:
    if bucket.agg == "terms":
        return _terms(vis, bucket)
    if bucket.agg == "date_histogram":
        histogram = {
            "field": bucket.field,
            "fixed_interval": interval,
            "time_zone": "UTC",
            "min_doc_count": 1,
        }
        return {"date_histogram": histogram}, []
    if bucket.agg == "histogram":
        return {"histogram": {"field": bucket.field, "interval": bucket.interval, "min_doc_count": 1}}, []
    filters = {
        item.label: {"query_string": {"query": item.query, "analyze_wildcard": True}}
        for item in bucket.filters or []
    }
    return {"filters": {"filters": filters}}, []


def visualization_request(
    spec: Spec, key: str, now: datetime, time_from: str = "now-24h", time_to: str = "now"
) -> SearchRequest:
    """The request behind one visualization, for the given time range."""
    vis = spec.visualizations[key]
    view = spec.data_views[vis.data_view]
    start, end = resolve_time(time_from, now), resolve_time(time_to, now)
    interval = auto_interval(start, end)
    # Built inside out: the metrics in the innermost bucket, each outer bucket around the one inside
    # it, plus the metric an outer terms bucket is ordered by.
    aggs: dict[str, Any] = _metric_aggs(vis, list(range(len(vis.metrics))))
    for position in reversed(range(len(vis.buckets))):
        body, needs = _bucket_body(vis, vis.buckets[position], interval)
        sub_aggs = {**_metric_aggs(vis, needs), **aggs}
        if sub_aggs:
            body["aggs"] = sub_aggs
        aggs = {bucket_id(vis, position): body}
    request: dict[str, Any] = {
        "size": 0,
        "track_total_hits": True,
        "query": _query(vis.query, view.time_field, start, end),
    }
    if aggs:
        request["aggs"] = aggs
    return SearchRequest(view.title, request)


def saved_search_request(
    spec: Spec, key: str, now: datetime, time_from: str = "now-24h", time_to: str = "now", size: int = 50
) -> SearchRequest:
    """The request Discover sends for a saved search (first page, newest first)."""
    search: SavedSearch = spec.searches[key]
    view = spec.data_views[search.data_view]
    start, end = resolve_time(time_from, now), resolve_time(time_to, now)
    body = {
        "size": size,
        "track_total_hits": True,
        "query": _query(search.query, view.time_field, start, end),
        "sort": [{field: {"order": order}} for field, order in search.sort],
        "_source": True,
    }
    return SearchRequest(view.title, body)


def dashboard_time_range(spec: Spec, key: str) -> tuple[str, str]:
    """The time range of the first dashboard that shows `key` (the range its panel is seen with)."""
    for dashboard in spec.dashboards.values():
        if any(panel.show == key for panel in dashboard.panels):
            return dashboard.time_from, dashboard.time_to
    return "now-24h", "now"
