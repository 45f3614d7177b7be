"""Batching detector searches: which requests share one search, and that each gets its own answer back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detections.aggregations import CALLS_ONLY, series_request
from detections.batching import MAX_SHARED_BUCKETS, Request, plan
from detections.window import Window

START = datetime(2026, 12, 1, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
MODEL = "mlsiem.model.name"


def windows(*models: str) -> list[Window]:
    return [Window(model, None, START, END) for model in models]


def test_the_operational_series_of_many_models_is_one_search_counting_calls_only() -> None:
    requests = [Request(w.model, w, series_request(w, timedelta(minutes=5))) for w in windows("a", "b", "c")]
    searches = plan(requests)
    assert len(searches) == 1
    body, split = searches[0]
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"mlsiem.model.name": ["a", "b", "c"]}} in filters
    assert CALLS_ONLY in filters  # the shared search still leaves enrichment records out
    assert body["aggs"]["models"]["aggs"] == requests[0].body["aggs"]

    buckets = [{"key": "a", "doc_count": 7, "series": {"buckets": []}}, {"key": "c", "doc_count": 2}]
    answers = dict(split({"aggregations": {"models": {"buckets": buckets}}}))
    assert answers["a"]["hits"]["total"]["value"] == 7
    assert answers["a"]["aggregations"] == {"series": {"buckets": []}}
    assert answers["b"]["hits"]["total"]["value"] == 0  # no bucket: no event of b in the window
    assert answers["c"]["hits"]["total"]["value"] == 2


def test_requests_with_other_filters_are_not_merged_with_calls_only_requests() -> None:
    (window,) = windows("a")
    aggs = {"n": {"value_count": {"field": "event.id"}}}
    calls = Request("calls", window, {"size": 0, "query": window.query(CALLS_ONLY), "aggs": aggs})
    failed = {"term": {"event.outcome": "failure"}}
    failures = Request("failures", window, {"size": 0, "query": window.query(failed), "aggs": aggs})
    sample = Request("sample", window, {"size": 50, "query": window.query()})
    searches = plan([calls, failures, sample])
    assert len(searches) == 3
    assert sorted(str(body["query"]) for body, _ in searches) == sorted(
        str(r.body["query"]) for r in (calls, failures, sample)
    )


def test_aggregation_only_requests_of_one_window_merge_and_split_back() -> None:
    (window,) = windows("a")
    first = Request("first", window, {"size": 0, "query": window.query(CALLS_ONLY), "aggs": {"x": {}}})
    second = Request("second", window, {"size": 0, "query": window.query(CALLS_ONLY), "aggs": {"y": {}}})
    (body, split), *rest = plan([first, second])
    assert rest == []
    assert body["query"] == window.query(CALLS_ONLY)
    response = {"hits": {"total": {"value": 4}}, "aggregations": {"r0_x": {"v": 1}, "r1_y": {"v": 2}}}
    answers = dict(split(response))
    assert answers["first"]["aggregations"] == {"x": {"v": 1}}
    assert answers["second"]["aggregations"] == {"y": {"v": 2}}


def test_a_shared_search_stays_under_the_engines_bucket_limit() -> None:
    """1,000 models' series in one search would make ~123,000 buckets (the engine allows 65,535)."""
    models = [f"m{i:04d}" for i in range(1000)]
    requests = [Request(w.model, w, series_request(w, timedelta(minutes=1))) for w in windows(*models)]
    searches = plan(requests)
    assert len(searches) > 1
    covered = [name for body, _ in searches for name in body["query"]["bool"]["filter"][0]["terms"][MODEL]]
    assert sorted(covered) == models  # every model once
    for body, _ in searches:
        per_model = 61 * 2 + 1  # 61 one-minute buckets (extended bounds), each with an `errors` filter
        assert len(body["query"]["bool"]["filter"][0]["terms"][MODEL]) * per_model <= MAX_SHARED_BUCKETS
