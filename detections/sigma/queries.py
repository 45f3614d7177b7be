"""Small builders shared by the executor and the correlation evaluator: indices, filters, evidence."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mlsiem.errors import EngineError
from mlsiem.indices import inference_stream, pipeline_stream
from mlsiem.timefmt import iso

SAMPLE_SIZE = 10  # sample event ids per hit
PAGE_SIZE = 500  # composite aggregation page
MAX_PAGES = 200  # a safety net: 100 000 buckets per query at most


def index_for(category: str, namespace: str) -> str:
    """The data stream a category of rules searches (llm and inference events share one stream)."""
    return pipeline_stream(namespace) if category == "pipeline" else inference_stream(namespace)


def index_pattern(category: str) -> str:
    """The same for every namespace, as exports need it."""
    return "logs-mlsiem.pipeline-*" if category == "pipeline" else "logs-mlsiem.inference-*"


def time_range(start: datetime, end: datetime, inclusive_end: bool = False) -> dict[str, Any]:
    bounds = {"gte": iso(start), ("lte" if inclusive_end else "lt"): iso(end)}
    return {"range": {"@timestamp": {**bounds, "format": "strict_date_optional_time"}}}


def lucene(query: str) -> dict[str, Any]:
    """A converted Sigma query as the engine runs it (no analysis of wildcard terms beyond the field's)."""
    return {"query_string": {"query": query, "allow_leading_wildcard": True}}


def group_filter(group: dict[str, Any]) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for name, value in group.items():
        if value is None:
            clauses.append({"bool": {"must_not": [{"exists": {"field": name}}]}})
        else:
            clauses.append({"term": {name: value}})
    return clauses


def any_group(groups: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "bool": {"should": [{"bool": {"filter": group_filter(g)}} for g in groups], "minimum_should_match": 1}
    }


def quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def evidence_query(queries: list[str], group: dict[str, Any], first: datetime, last: datetime) -> str:
    """A Lucene query string an analyst pastes into Discover to see exactly the events behind a hit."""
    rule_part = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    parts = [f"({rule_part})"]
    for name, value in group.items():
        parts.append(f"NOT _exists_:{name}" if value is None else f"{name}:{quote(value)}")
    parts.append(f"@timestamp:[{quote(iso(first))} TO {quote(iso(last))}]")
    return " AND ".join(parts)


def composite_pages(search: Any, index: str, body: dict[str, Any], name: str) -> Iterable[dict[str, Any]]:
    """Every bucket of the composite aggregation `name` in `body`, page after page."""
    body = dict(body)
    for _ in range(MAX_PAGES):
        result = search(index, body)
        agg = result.get("aggregations", {}).get(name, {})
        yield from agg.get("buckets", [])
        after = agg.get("after_key")
        if not after or not agg.get("buckets"):
            return
        composite = dict(body["aggs"][name]["composite"], after=after)
        body = {**body, "aggs": {name: {**body["aggs"][name], "composite": composite}}}
    raise EngineError(
        f"aggregation {name} over {index} returned more than {MAX_PAGES} pages of buckets; "
        "run the rules over a shorter window"
    )
