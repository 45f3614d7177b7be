"""OpenSearch exports: Alerting monitors per rule, and Security Analytics log type + rules.

Monitors (`POST _plugins/_alerting/monitors`, one JSON file per rule):

* a detection rule becomes a query-level monitor: its OpenSearch Lucene query over the last run period,
  triggering when anything matched;
* a correlation rule becomes a bucket-level monitor: a composite aggregation on the group-by fields over
  the last `timespan`, with the measure (count, distinct values, sum, rules present, first/last times)
  per group and a bucket-level trigger holding the condition. Run every 5 minutes, each run looks back
  one timespan, so the window slides in 5-minute steps.

Plus one document-level monitor over `mlsiem-alerts-*` (`promotion.py`) that notifies on every alert
of the detector job.

Security Analytics (detection rules only; it has no Sigma correlations): a custom log type `mlsiem`,
field aliases from the pack's Sigma field names to the ECS fields on the two data streams, and one
custom rule per detection rule (Security Analytics takes Sigma YAML as it is). The requests are either
sent through the engine adapter (existing rules, found by title, are updated; every request is sent and
its outcome reported, a rejected one does not stop the rest) or written to a folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationTypeLiteral
from sigma.rule import SigmaRule

from detections.sigma.convert import QueryBook
from detections.sigma.correlate import CorrelationPlan
from detections.sigma.hits import LEVELS
from detections.sigma.pack import Pack
from detections.sigma.promotion import opensearch_promotion_monitor
from detections.sigma.queries import index_pattern, lucene
from mlsiem.adapter import Engine, EngineKind
from mlsiem.errors import ConfigError, EngineError

INTERVAL_MINUTES = 5
MONITOR_SEVERITY = {"critical": "1", "high": "2", "medium": "3", "low": "4"}
PAINLESS_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "==", "neq": "!="}
LOG_TYPE = "mlsiem"
SA = "/_plugins/_security_analytics"
PROMOTION_MONITOR = "mlsiem_alerts"  # file name of the monitor over the detector job's alerts


def _range(look_back_seconds: int) -> dict[str, Any]:
    return {
        "range": {
            "@timestamp": {
                "gt": f"{{{{period_end}}}}||-{look_back_seconds}s",
                "lte": "{{period_end}}",
                "format": "epoch_millis",
            }
        }
    }


def _monitor(
    rule: SigmaRule | SigmaCorrelationRule, kind: str, search: dict, trigger: dict
) -> dict[str, Any]:
    severity = LEVELS[rule.level.name.lower() if rule.level else "medium"]
    trigger_body = {
        "name": f"{rule.name} fired",
        "severity": MONITOR_SEVERITY[severity],
        "actions": [],
        **trigger,
    }
    return {
        "type": "monitor",
        "monitor_type": kind,
        "name": f"mlsiem {rule.name}: {rule.title}",
        "enabled": False,
        "schedule": {"period": {"interval": INTERVAL_MINUTES, "unit": "MINUTES"}},
        "inputs": [{"search": search}],
        "triggers": [
            {"query_level_trigger" if kind == "query_level_monitor" else "bucket_level_trigger": trigger_body}
        ],
    }


def detection_monitor(pack: Pack, book: QueryBook, rule: SigmaRule) -> dict[str, Any]:
    search = {
        "indices": [index_pattern(pack.category(rule))],
        "query": {
            "size": 0,
            "track_total_hits": True,
            "query": {"bool": {"filter": [_range(INTERVAL_MINUTES * 60), lucene(book.query(str(rule.id)))]}},
        },
    }
    condition = {"script": {"source": "ctx.results[0].hits.total.value > 0", "lang": "painless"}}
    return _monitor(rule, "query_level_monitor", search, {"condition": condition})


def _measure(plan: CorrelationPlan) -> tuple[dict[str, Any], dict[str, str], str]:
    """(sub-aggregations, buckets_path, painless test) of a correlation's condition per group."""
    kind: SigmaCorrelationTypeLiteral = plan.type  # type: ignore[assignment]
    op, threshold = PAINLESS_OPS[plan.op], plan.threshold
    if kind == "event_count":
        return {}, {"count": "_count"}, f"params.count {op} {threshold}"
    if kind in ("value_count", "value_sum", "value_avg"):
        metric = {"value_count": "cardinality", "value_sum": "sum", "value_avg": "avg"}[kind]
        return (
            {"measure": {metric: {"field": plan.value_field}}},
            {"measure": "measure"},
            f"params.measure {op} {threshold}",
        )
    aggs: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for i, query in enumerate(plan.queries):
        aggs[f"r{i}"] = {
            "filter": lucene(query),
            "aggs": {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}},
        }
        paths[f"r{i}"] = f"r{i}>_count"
    present = " + ".join(f"(params.r{i} > 0 ? 1 : 0)" for i in range(len(plan.queries)))
    test = f"({present}) {op} {threshold}"
    if kind == "temporal_ordered":
        for i in range(len(plan.queries) - 1):
            paths[f"first{i}"] = f"r{i}>first"
            paths[f"last{i + 1}"] = f"r{i + 1}>last"
            test += f" && params.first{i} < params.last{i + 1}"
    return aggs, paths, test


def correlation_monitor(pack: Pack, book: QueryBook, rule: SigmaCorrelationRule) -> dict[str, Any]:
    plan = CorrelationPlan(pack, book, rule, "default")
    patterns = sorted({index_pattern(pack.category(r)) for r in plan.base})
    sub, paths, test = _measure(plan)
    sources = [{name: {"terms": {"field": name}}} for name in plan.group_fields]
    if not sources:
        sources = [{"all": {"terms": {"script": {"source": "'*'", "lang": "painless"}}}}]
    matches = {"bool": {"should": [lucene(q) for q in plan.queries], "minimum_should_match": 1}}
    search = {
        "indices": patterns,
        "query": {
            "size": 0,
            "query": {"bool": {"filter": [_range(int(plan.timespan)), matches]}},
            "aggregations": {"composite_agg": {"composite": {"size": 1000, "sources": sources}, "aggs": sub}},
        },
    }
    condition = {
        "buckets_path": paths,
        "parent_bucket_path": "composite_agg",
        "script": {"source": test, "lang": "painless"},
    }
    return _monitor(rule, "bucket_level_monitor", search, {"condition": condition})


def monitors(pack: Pack) -> dict[str, dict[str, Any]]:
    """Rule name -> monitor body."""
    book = QueryBook(pack, EngineKind.OPENSEARCH)
    out: dict[str, dict[str, Any]] = {}
    for rule in pack.detections:
        out[rule.name or str(rule.id)] = detection_monitor(pack, book, rule)
    for corr in pack.correlations:
        out[corr.name or str(corr.id)] = correlation_monitor(pack, book, corr)
    out[PROMOTION_MONITOR] = opensearch_promotion_monitor()  # the detector job's own alerts
    return out


def write_monitors(pack: Pack, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in monitors(pack).items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


# ------------------------------------------------------------------------------ Security Analytics


@dataclass
class ApiRequest:
    method: str
    path: str
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    title: str = ""  # what the request does, for people reading the folder
    rule_title: str | None = None  # rule uploads: the Sigma title, to find the rule on a second run

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "method": self.method,
            "path": self.path,
            "params": self.params,
            "body": self.body,
        }


def _rule_yaml(pack: Pack, rule: SigmaRule) -> str:
    if rule.source is None:
        raise ConfigError(f"rule {rule.name} has no source file")
    return rule.source.path.read_text(encoding="utf-8")


def security_analytics_requests(pack: Pack) -> list[ApiRequest]:
    """Create the log type, map the pack's field names on both data streams, upload the rules."""
    requests = [
        ApiRequest(
            "POST",
            f"{SA}/logtype",
            {
                "name": LOG_TYPE,
                "description": f"mlsiem AI telemetry (Sigma pack {pack.config.name} {pack.config.version})",
                "source": "Custom",
                "category": "Other",
                "tags": None,
            },
            title="create the custom log type",
        )
    ]
    categories = sorted({pack.category(r) for r in pack.detections}, key=index_pattern)
    for pattern in sorted({index_pattern(c) for c in categories}):
        aliases = {name: {"type": "alias", "path": target} for name, target in sorted(pack.field_map.items())}
        requests.append(
            ApiRequest(
                "POST",
                f"{SA}/mappings",
                {
                    "index_name": pattern,
                    "rule_topic": LOG_TYPE,
                    "partial": True,
                    "alias_mappings": {"properties": aliases},
                },
                title=f"map the pack's field names on {pattern}",
            )
        )
    for rule in pack.detections:
        requests.append(
            ApiRequest(
                "POST",
                f"{SA}/rules",
                _rule_yaml(pack, rule),
                {"category": LOG_TYPE},
                title=f"upload rule {rule.name}: {rule.title}",
                rule_title=rule.title,
            )
        )
    return requests


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def write_requests(requests: list[ApiRequest], folder: Path) -> list[Path]:
    """One JSON file per request, numbered in the order to send them, plus an `index.ndjson` of all."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n, request in enumerate(requests, start=1):
        path = folder / f"{n:03d}-{request.method.lower()}-{_slug(request.title)}.json"
        path.write_text(json.dumps(request.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    index = folder / "index.ndjson"
    index.write_text(
        "".join(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in requests), encoding="utf-8"
    )
    return [*written, index]


@dataclass
class SentRequest:
    request: ApiRequest
    outcome: str  # created | updated | exists | failed
    error: str | None = None  # why it failed, as the engine said


def _existing_rule_id(engine: Engine, title: str) -> str | None:
    body = {"query": {"nested": {"path": "rule", "query": {"match_phrase": {"rule.title": title}}}}}
    found = engine.request(
        "POST",
        f"{SA}/rules/_search",
        body=body,
        params={"pre_packaged": "false"},
        what="search Security Analytics rules",
    )
    for hit in (found or {}).get("hits", {}).get("hits", []):
        if (hit.get("_source") or {}).get("title") == title:
            return str(hit["_id"])
    return None


def send_requests(engine: Engine, requests: list[ApiRequest]) -> list[SentRequest]:
    """Send every request and report each outcome: a rejected one (a rule the plugin's parser refuses)
    does not stop the others. An existing log type is kept and an existing rule (same title) updated."""
    if engine.kind is not EngineKind.OPENSEARCH:
        raise ConfigError(
            f"Security Analytics is an OpenSearch plugin; {engine.description} is not OpenSearch"
        )
    sent = []
    for request in requests:
        try:
            sent.append(SentRequest(request, _send(engine, request)))
        except EngineError as exc:
            sent.append(SentRequest(request, "failed", str(exc)))
    return sent


def _send(engine: Engine, request: ApiRequest) -> str:
    if request.path == f"{SA}/logtype":
        existing = engine.request(
            "POST",
            f"{SA}/logtype/_search",
            body={"query": {"match": {"name": LOG_TYPE}}},
            what="search Security Analytics log types",
            ignore=(404,),
        )
        if (existing or {}).get("hits", {}).get("total", {}).get("value", 0):
            return "exists"
    if request.rule_title:
        rule_id = _existing_rule_id(engine, request.rule_title)
        if rule_id:
            params = {**request.params, "forced": "true"}
            engine.request(
                "PUT", f"{SA}/rules/{rule_id}", body=request.body, params=params, what=request.title
            )
            return "updated"
    engine.request(
        request.method, request.path, body=request.body, params=request.params or None, what=request.title
    )
    return "created"
