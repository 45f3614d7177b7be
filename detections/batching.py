"""Many detector requests, few round trips: the searches of many models and detectors in `_msearch`.

Each detector still declares one search body per window (`Detector.request`); this module decides how
to send them, for any registered detector, from the bodies alone:

- Aggregation-only requests (`size: 0`) whose query is their window's query (plus the same extra
  filters, such as counting calls only) and whose aggregations are the same for several models (the
  operational series, the confusion matrix: they do not depend on a model's profile) become ONE
  search: a `terms` aggregation on `mlsiem.model.name` with the detector's aggregations under it.
  Each bucket is split back into the response that model's own search would have given (its
  `doc_count` is the window's hit count).
- The remaining aggregation-only requests of one model-window with the same query merge into one
  search (aggregation names prefixed per request) and are split back the same way.
- Everything else (the multivariate sample) goes as it is.

All searches of a batch go out in `_msearch` requests of at most `searches_per_request` searches. A
failed search fails the batch with an `EngineError` (the job then leaves those windows' checkpoints
where they were, and the next run retries them).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.errors import EngineError
from mlsiem.timefmt import iso

MODEL_FIELD = "mlsiem.model.name"
_AGGREGATION_ONLY = {"size", "track_total_hits", "query", "aggs"}


@dataclass(frozen=True)
class Request:
    """One detector's search for one model-window; `key` names it in the answer."""

    key: Hashable
    window: Window
    body: dict[str, Any]


Splitter = Callable[[dict[str, Any]], Iterator[tuple[Hashable, dict[str, Any]]]]


def _extra_filters(request: Request) -> list[Any] | None:
    """The filters a request adds to its window's query, or None when its query is not of that form."""
    query = request.body.get("query")
    if not isinstance(query, dict) or set(query) != {"bool"} or set(query["bool"]) != {"filter"}:
        return None
    filters = query["bool"]["filter"]
    base = request.window.query()["bool"]["filter"]
    if not isinstance(filters, list) or filters[: len(base)] != base:
        return None
    return filters[len(base) :]


def _aggregation_only(request: Request) -> bool:
    body = request.body
    return (
        body.get("size") == 0
        and bool(body.get("aggs"))
        and set(body) <= _AGGREGATION_ONLY
        and _extra_filters(request) is not None
    )


def _response(total: int, aggregations: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "hits": {"total": {"value": total, "relation": "eq"}, "hits": []},
        "aggregations": aggregations or {},
    }


# The engine refuses a search whose aggregations make more than `search.max_buckets` buckets (65,535 by
# default): a shared search holds at most this many estimated buckets, the rest go in further searches.
MAX_SHARED_BUCKETS = 20_000
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _buckets(aggs: dict[str, Any], span_seconds: float) -> int:
    """An upper estimate of the buckets `aggs` make for one model over a window of `span_seconds`."""
    total = 0
    for agg in aggs.values():
        inner = _buckets(agg.get("aggs", {}), span_seconds)
        if "date_histogram" in agg:
            interval = str(agg["date_histogram"].get("fixed_interval", "1m"))
            unit = interval.lstrip("0123456789")
            seconds = float(interval[: len(interval) - len(unit)] or 1) * _SECONDS.get(unit, 1)
            count = int(span_seconds // max(seconds, 0.001)) + 1
        elif "terms" in agg:
            count = int(agg["terms"].get("size", 10))
        elif "filters" in agg:
            count = len(agg["filters"].get("filters", {})) + 1
        elif "filter" in agg or "histogram" in agg or "range" in agg:
            count = 1 if "filter" in agg else 100
        else:
            count = 0  # a metric: no bucket of its own
        total += count * (1 + inner) if count else inner
    return total


def _shared_groups(group: list[Request]) -> list[list[Request]]:
    """The group cut so that no shared search goes over MAX_SHARED_BUCKETS."""
    window = group[0].window
    per_model = _buckets(group[0].body["aggs"], (window.end - window.start).total_seconds()) + 1
    size = max(1, MAX_SHARED_BUCKETS // per_model)
    return [group[i : i + size] for i in range(0, len(group), size)]


def _across_models(group: list[Request]) -> tuple[dict[str, Any], Splitter]:
    """One search for the same aggregations over several models' windows (same span and version)."""
    window = group[0].window
    names = sorted({r.window.model for r in group})
    filters: list[dict[str, Any]] = [
        {"terms": {MODEL_FIELD: names}},
        {"range": {"@timestamp": {"gte": iso(window.start), "lt": iso(window.end)}}},
    ]
    if window.version:
        filters.append({"term": {"mlsiem.model.version": window.version}})
    filters.extend(_extra_filters(group[0]) or ())
    body = {
        "size": 0,
        "query": {"bool": {"filter": filters}},
        "aggs": {
            "models": {"terms": {"field": MODEL_FIELD, "size": len(names)}, "aggs": group[0].body["aggs"]}
        },
    }

    def split(response: dict[str, Any]) -> Iterator[tuple[Hashable, dict[str, Any]]]:
        buckets = {b["key"]: b for b in response["aggregations"]["models"]["buckets"]}
        for request in group:
            bucket = buckets.get(request.window.model)
            if bucket is None:  # no event of this model in the window
                yield request.key, _response(0, None)
                continue
            aggregations = {k: v for k, v in bucket.items() if k not in ("key", "doc_count")}
            yield request.key, _response(int(bucket["doc_count"]), aggregations)

    return body, split


def _merged(group: list[Request]) -> tuple[dict[str, Any], Splitter]:
    """One search for several aggregation-only requests over the same model-window."""
    aggs = {f"r{i}_{name}": agg for i, r in enumerate(group) for name, agg in r.body["aggs"].items()}
    body = {"size": 0, "track_total_hits": True, "query": group[0].body["query"], "aggs": aggs}

    def split(response: dict[str, Any]) -> Iterator[tuple[Hashable, dict[str, Any]]]:
        total = int(response["hits"]["total"]["value"])
        found = response.get("aggregations", {})
        for i, request in enumerate(group):
            prefix = f"r{i}_"
            own = {name[len(prefix) :]: v for name, v in found.items() if name.startswith(prefix)}
            yield request.key, _response(total, own)

    return body, split


def _as_is(request: Request) -> tuple[dict[str, Any], Splitter]:
    def split(response: dict[str, Any]) -> Iterator[tuple[Hashable, dict[str, Any]]]:
        yield request.key, response

    return request.body, split


def plan(requests: list[Request]) -> list[tuple[dict[str, Any], Splitter]]:
    """The searches that answer `requests`, each with the function that splits its response back."""
    shared: dict[tuple[Any, ...], list[Request]] = {}
    rest: list[Request] = []
    for request in requests:
        if _aggregation_only(request):
            w = request.window
            aggs = orjson.dumps(request.body["aggs"], option=orjson.OPT_SORT_KEYS)
            extra = orjson.dumps(_extra_filters(request), option=orjson.OPT_SORT_KEYS)
            shared.setdefault((w.start, w.end, w.version, extra, aggs), []).append(request)
        else:
            rest.append(request)
    searches: list[tuple[dict[str, Any], Splitter]] = []
    per_window: dict[tuple[Window, bytes], list[Request]] = {}
    for (*_, extra, _aggs), group in shared.items():
        if len({r.window.model for r in group}) == len(group) > 1:
            searches.extend(_across_models(part) for part in _shared_groups(group))
        else:
            for request in group:
                per_window.setdefault((request.window, extra), []).append(request)
    for group in per_window.values():
        searches.append(_merged(group) if len(group) > 1 else _as_is(group[0]))
    searches.extend(_as_is(r) for r in rest)
    return searches


def run(
    engine: Engine, index: str, requests: list[Request], searches_per_request: int = 200
) -> dict[Hashable, dict[str, Any]]:
    """Every request's response, as if each had been sent alone, in as few round trips as the plan allows."""
    answers: dict[Hashable, dict[str, Any]] = {}
    searches = plan(requests)
    header = orjson.dumps({"index": index})
    for begin in range(0, len(searches), searches_per_request):
        part = searches[begin : begin + searches_per_request]
        lines = [line for body, _ in part for line in (header, orjson.dumps(body))]
        responses = engine.msearch(b"\n".join(lines) + b"\n")["responses"]
        for (_, split), response in zip(part, responses, strict=True):
            if "error" in response:
                error = response["error"]
                reason = error.get("reason") or error.get("type") if isinstance(error, dict) else error
                raise EngineError(
                    f"search {index} in a multi-search failed: {reason}", response.get("status")
                )
            answers.update(split(response))
    return answers
