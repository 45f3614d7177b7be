"""`visState` of an aggregation-based visualization, from the spec, for either flavor.

Aggregation-based visualizations exist in Kibana 8.x/9.x and in OpenSearch Dashboards with the same
aggs list, so one builder serves both; the params differ only where Kibana's current chart renderers
read newer keys (pie legend, palettes, table toolbar). Agg ids are positional: metrics "1".."m", then
the buckets in nesting order; `search_request.py` uses the same ids, so a request names the same aggs.
"""

from __future__ import annotations

from typing import Any

from dashboards.spec import XY_TYPES, Bucket, Flavor, Metric, Visualization

# The apps' own names: schema of each bucket role, and the chart type of each visualization type.
SCHEMA_OF_ROLE = {
    "x": "segment",
    "series": "group",
    "y": "group",
    "rows": "bucket",
    "slices": "segment",
    "group": "group",
}
APP_TYPE = {"bar": "histogram"}
SERIES_TYPE = {"line": "line", "area": "area", "bar": "histogram", "horizontal_bar": "histogram"}
DEFAULT_LABEL = {
    "count": "Count",
    "sum": "Sum of {}",
    "avg": "Average {}",
    "min": "Min {}",
    "max": "Max {}",
    "cardinality": "Unique count of {}",
    "percentiles": "Percentiles of {}",
}
PALETTE = {"type": "palette", "name": "default"}


def metric_id(position: int) -> str:
    return str(position + 1)


def bucket_id(vis: Visualization, position: int) -> str:
    return str(len(vis.metrics) + position + 1)


def metric_label(metric: Metric) -> str:
    return metric.label or DEFAULT_LABEL[metric.agg].format(metric.field)


def _metric_agg(position: int, metric: Metric) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if metric.field:
        params["field"] = metric.field
    if metric.percents:
        params["percents"] = metric.percents
    if metric.label:
        params["customLabel"] = metric.label
    return {
        "id": metric_id(position),
        "enabled": True,
        "type": metric.agg,
        "params": params,
        "schema": "metric",
    }


def _terms_order(vis: Visualization, bucket: Bucket, own_id: str) -> dict[str, Any]:
    """`orderBy`: a metric id, `_key`, or a custom count when no count metric is shown."""
    if bucket.order_by == "key":
        return {"orderBy": "_key"}
    if isinstance(bucket.order_by, int):
        return {"orderBy": metric_id(bucket.order_by - 1)}
    for position, metric in enumerate(vis.metrics):
        if metric.agg == "count":
            return {"orderBy": metric_id(position)}
    order_agg = {
        "id": f"{own_id}-orderAgg",
        "enabled": True,
        "type": "count",
        "params": {},
        "schema": "orderAgg",
    }
    return {"orderBy": "custom", "orderAgg": order_agg}


def _bucket_params(vis: Visualization, bucket: Bucket, own_id: str, flavor: Flavor) -> dict[str, Any]:
    if bucket.agg == "date_histogram":
        normalized = "useNormalizedEsInterval" if flavor == "kibana" else "useNormalizedOpenSearchInterval"
        params: dict[str, Any] = {
            "field": bucket.field,
            normalized: True,
            "scaleMetricValues": False,
            "interval": "auto",
            "drop_partials": False,
            "min_doc_count": 1,
            "extended_bounds": {},
        }
    elif bucket.agg == "terms":
        params = {
            "field": bucket.field,
            "size": bucket.size,
            "order": bucket.order,
            **_terms_order(vis, bucket, own_id),
            "otherBucket": False,
            "otherBucketLabel": "Other",
            "missingBucket": False,
            "missingBucketLabel": "Missing",
        }
    elif bucket.agg == "filters":
        params = {
            "filters": [
                {"input": {"query": item.query, "language": "lucene"}, "label": item.label}
                for item in bucket.filters or []
            ]
        }
    else:  # histogram
        params = {
            "field": bucket.field,
            "interval": bucket.interval,
            "min_doc_count": False,
            "has_extended_bounds": False,
            "extended_bounds": {"min": "", "max": ""},
        }
    if bucket.label:
        params["customLabel"] = bucket.label
    return params


def aggs_of(vis: Visualization, flavor: Flavor) -> list[dict[str, Any]]:
    aggs = [_metric_agg(i, m) for i, m in enumerate(vis.metrics)]
    for position, bucket in enumerate(vis.buckets):
        own_id = bucket_id(vis, position)
        aggs.append(
            {
                "id": own_id,
                "enabled": True,
                "type": bucket.agg,
                "params": _bucket_params(vis, bucket, own_id, flavor),
                "schema": SCHEMA_OF_ROLE[bucket.role],
            }
        )
    return aggs


def _xy_params(vis: Visualization, flavor: Flavor) -> dict[str, Any]:
    horizontal = vis.type == "horizontal_bar"
    category_axis = {
        "id": "CategoryAxis-1",
        "type": "category",
        "position": "left" if horizontal else "bottom",
        "show": True,
        "style": {},
        "scale": {"type": "linear"},
        "labels": {"show": True, "filter": not horizontal, "truncate": 100},
        "title": {},
    }
    value_axis = {
        "id": "ValueAxis-1",
        "name": "BottomAxis-1" if horizontal else "LeftAxis-1",
        "type": "value",
        "position": "bottom" if horizontal else "left",
        "show": True,
        "style": {},
        "scale": {"type": "linear", "mode": "percentage" if vis.percentage else "normal"},
        "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
        "title": {"text": metric_label(vis.metrics[0])},
    }
    series = [
        {
            "show": True,
            "type": SERIES_TYPE[vis.type],
            "mode": "stacked" if vis.stacked else "normal",
            "data": {"label": metric_label(metric), "id": metric_id(position)},
            "valueAxis": "ValueAxis-1",
            "drawLinesBetweenPoints": True,
            "lineWidth": 2,
            "interpolate": "linear",
            "showCircles": True,
        }
        for position, metric in enumerate(vis.metrics)
    ]
    params: dict[str, Any] = {
        "type": APP_TYPE.get(vis.type, vis.type),
        "grid": {"categoryLines": False},
        "categoryAxes": [category_axis],
        "valueAxes": [value_axis],
        "seriesParams": series,
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": False},
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }
    if flavor == "kibana":
        params.update({"palette": PALETTE, "detailedTooltip": True, "fittingFunction": "linear"})
    return params


def _table_params(flavor: Flavor) -> dict[str, Any]:
    params: dict[str, Any] = {
        "perPage": 10,
        "showPartialRows": False,
        "showMetricsAtAllLevels": False,
        "showTotal": False,
        "totalFunc": "sum",
        "percentageCol": "",
        "sort": {"columnIndex": None, "direction": None},
    }
    if flavor == "kibana":
        params.update({"showToolbar": True, "autoFitRowToContent": False})
    return params


def _metric_params() -> dict[str, Any]:
    return {
        "addTooltip": True,
        "addLegend": False,
        "type": "metric",
        "metric": {
            "percentageMode": False,
            "useRanges": False,
            "colorSchema": "Green to Red",
            "metricColorMode": "None",
            "colorsRange": [{"from": 0, "to": 10000}],
            "labels": {"show": True},
            "invertColors": False,
            "style": {"bgFill": "#000", "bgColor": False, "labelColor": False, "subText": "", "fontSize": 48},
        },
    }


def _pie_params(flavor: Flavor) -> dict[str, Any]:
    labels = {"show": True, "values": True, "last_level": True, "truncate": 100}
    if flavor == "opensearch":
        return {
            "type": "pie",
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "isDonut": True,
            "labels": labels,
        }
    return {
        "type": "pie",
        "addTooltip": True,
        "legendDisplay": "show",
        "legendPosition": "right",
        "isDonut": True,
        "emptySizeRatio": 0.3,
        "distinctColors": True,
        "nestedLegend": False,
        "truncateLegend": True,
        "maxLegendLines": 1,
        "palette": PALETTE,
        "labels": {**labels, "position": "default", "valuesFormat": "percent", "percentDecimals": 2},
    }


def _heatmap_params() -> dict[str, Any]:
    return {
        "type": "heatmap",
        "addTooltip": True,
        "addLegend": True,
        "enableHover": False,
        "legendPosition": "right",
        "times": [],
        "colorsNumber": 5,
        "colorSchema": "Reds",
        "setColorRange": False,
        "colorsRange": [],
        "invertColors": False,
        "percentageMode": False,
        "valueAxes": [
            {
                "show": False,
                "id": "ValueAxis-1",
                "type": "value",
                "scale": {"type": "linear", "defaultYExtents": False},
                "labels": {"show": False, "rotate": 0, "overwriteColor": False, "color": "black"},
            }
        ],
    }


def vis_params(vis: Visualization, flavor: Flavor) -> dict[str, Any]:
    if vis.type in XY_TYPES:
        return _xy_params(vis, flavor)
    if vis.type == "table":
        return _table_params(flavor)
    if vis.type == "metric":
        return _metric_params()
    if vis.type == "pie":
        return _pie_params(flavor)
    return _heatmap_params()


def vis_state(vis: Visualization, flavor: Flavor) -> dict[str, Any]:
    """The decoded `visState` attribute of one visualization."""
    return {
        "title": vis.title,
        "type": APP_TYPE.get(vis.type, vis.type),
        "aggs": aggs_of(vis, flavor),
        "params": vis_params(vis, flavor),
    }
