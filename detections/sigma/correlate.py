"""Correlation rules evaluated inside the engine: aggregations over group-by and time, then windows.

Types: event_count, value_count, value_sum, value_avg, temporal and temporal_ordered. Two passes:

1. Over the whole (look-back extended) window, a composite aggregation on the group-by fields gives each
   group's total: `doc_count`, `cardinality` of the value field, `sum`, or which referenced rules occur
   (a `filters` aggregation with one Lucene filter per rule). A group whose total cannot reach a `gte`/`gt`
   condition anywhere in the window is dropped here, so quiet groups cost nothing more. (`cardinality`
   is an estimate, but below its `precision_threshold` of 3000 distinct values it is exact in practice.)
2. For the remaining groups, the same composite adds a `date_histogram` of `timespan / k` (and, for
   value_count, the value itself as a source, so distinct values are exact, not estimated); the buckets
   go to `windows.find_firings`, which slides a timespan-wide window over them.

Events lacking a group-by field are left out, as a SIEM `stats ... by` does. The evaluation reads
`[start - timespan, end)` so a burst that began before the window is still whole, and reports only
firings whose last event falls in `[start, end)`, so consecutive runs do not report a burst twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.sigma import windows
from detections.sigma.convert import QueryBook
from detections.sigma.hits import Hit, RuleInfo, epoch, from_epoch
from detections.sigma.pack import Pack
from detections.sigma.queries import (
    PAGE_SIZE,
    SAMPLE_SIZE,
    any_group,
    composite_pages,
    evidence_query,
    group_filter,
    index_for,
    lucene,
    time_range,
)
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError

STEPS_PER_TIMESPAN = 10  # k: buckets per timespan (see windows.py)
GROUPS_PER_QUERY = 200  # candidate groups per second-pass query
SUPPORTED = {"event_count", "value_count", "value_sum", "value_avg", "temporal", "temporal_ordered"}


class CorrelationPlan:
    """A correlation rule resolved against the pack: queries, fields, index, condition."""

    def __init__(self, pack: Pack, book: QueryBook, rule: SigmaCorrelationRule, namespace: str) -> None:
        self.rule = rule
        self.type = rule.type.name.lower()
        if self.type not in SUPPORTED:
            raise ConfigError(f"correlation {rule.name}: type {self.type} is not supported by the executor")
        if len(rule.aliases):
            raise ConfigError(f"correlation {rule.name}: field aliases are not supported by the executor")
        refs = [ref.rule for ref in rule.rules or []]
        if not refs or not all(isinstance(r, SigmaRule) for r in refs):
            raise ConfigError(f"correlation {rule.name}: it must refer to detection rules only")
        self.base: list[SigmaRule] = refs  # type: ignore[assignment]
        self.labels = [r.name or str(r.id) for r in self.base]
        self.queries = [book.query(str(r.id)) for r in self.base]
        categories = sorted({pack.category(r) for r in self.base})
        self.index = ",".join(sorted({index_for(c, namespace) for c in categories}))
        self.group_fields = [pack.ecs_field(g) for g in rule.group_by or []]
        condition = rule.condition
        if not isinstance(condition, SigmaCorrelationCondition):
            raise ConfigError(
                f"correlation {rule.name}: extended conditions are not supported by the executor"
            )
        self.op = condition.op.name.lower()
        self.threshold = float(condition.count)
        fieldref = condition.fieldref
        if isinstance(fieldref, list):
            raise ConfigError(f"correlation {rule.name}: one condition field only")
        self.value_field = pack.ecs_field(fieldref) if fieldref else None
        if self.type in ("value_count", "value_sum", "value_avg") and not self.value_field:
            raise ConfigError(f"correlation {rule.name}: {self.type} needs a condition field")
        self.timespan = float(rule.timespan.seconds)
        self.step = max(self.timespan / STEPS_PER_TIMESPAN, 0.001)

    # -- query pieces ---------------------------------------------------------------------------------

    def base_filter(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        matches = {"bool": {"should": [lucene(q) for q in self.queries], "minimum_should_match": 1}}
        return [time_range(start, end), matches]

    def rule_filters(self) -> dict[str, Any]:
        return {
            "filters": {
                "filters": {label: lucene(q) for label, q in zip(self.labels, self.queries, strict=True)}
            }
        }

    def group_sources(self) -> list[dict[str, Any]]:
        return [{f"g{i}": {"terms": {"field": name}}} for i, name in enumerate(self.group_fields)]

    def group_of(self, key: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(key[f"g{i}"] for i in range(len(self.group_fields)))

    def measure(self) -> windows.Measure:
        if self.type == "temporal_ordered":
            return windows.temporal_ordered(self.labels)
        return getattr(windows, self.type)

    @property
    def prefilter_applies(self) -> bool:
        return self.op in ("gte", "gt") and bool(self.group_fields)


def _first_pass(
    engine: Engine, plan: CorrelationPlan, start: datetime, end: datetime
) -> list[tuple[Any, ...]]:
    """Groups whose whole-window total can meet the condition."""
    sub: dict[str, Any] = {}
    if plan.type == "value_count":
        sub["measure"] = {"cardinality": {"field": plan.value_field, "precision_threshold": 3000}}
    elif plan.type == "value_sum":
        sub["measure"] = {"sum": {"field": plan.value_field}}
    elif plan.type in ("temporal", "temporal_ordered"):
        sub["rules"] = plan.rule_filters()
    body = {
        "size": 0,
        "query": {"bool": {"filter": plan.base_filter(start, end)}},
        "aggs": {"groups": {"composite": {"size": PAGE_SIZE, "sources": plan.group_sources()}, "aggs": sub}},
    }
    check = windows.OPERATORS[plan.op]
    keep = []
    for bucket in composite_pages(engine.search, plan.index, body, "groups"):
        if plan.type in ("value_count", "value_sum"):
            total = float(bucket["measure"]["value"] or 0)
        elif plan.type in ("temporal", "temporal_ordered"):
            total = float(sum(1 for b in bucket["rules"]["buckets"].values() if b["doc_count"] > 0))
        else:
            total = float(bucket["doc_count"])
        # value_avg cannot be bounded by the total; every group goes on to the second pass.
        if plan.type == "value_avg" or check(total, plan.threshold):
            keep.append(plan.group_of(bucket["key"]))
    return keep


def _second_pass(
    engine: Engine,
    plan: CorrelationPlan,
    start: datetime,
    end: datetime,
    groups: list[tuple[Any, ...]] | None,
) -> dict[tuple[Any, ...], list[windows.Bucket]]:
    sources = [
        *plan.group_sources(),
        {
            "t": {
                "date_histogram": {
                    "field": "@timestamp",
                    "fixed_interval": f"{max(int(plan.step * 1000), 1)}ms",
                }
            }
        },
    ]
    if plan.type == "value_count":
        sources.append({"v": {"terms": {"field": plan.value_field}}})
    sub: dict[str, Any] = {
        "first": {"min": {"field": "@timestamp"}},
        "last": {"max": {"field": "@timestamp"}},
    }
    if plan.type in ("value_sum", "value_avg"):
        sub["total"] = {"sum": {"field": plan.value_field}}
    if plan.type in ("temporal", "temporal_ordered"):
        sub["rules"] = {**plan.rule_filters(), "aggs": {"first": sub["first"], "last": sub["last"]}}
    filters = plan.base_filter(start, end)
    if groups is not None:
        named = [dict(zip(plan.group_fields, g, strict=True)) for g in groups]
        filters.append(any_group(named))
    body = {
        "size": 0,
        "query": {"bool": {"filter": filters}},
        "aggs": {"series": {"composite": {"size": PAGE_SIZE, "sources": sources}, "aggs": sub}},
    }
    series: dict[tuple[Any, ...], dict[float, windows.Bucket]] = defaultdict(dict)
    for raw in composite_pages(engine.search, plan.index, body, "series"):
        key = raw["key"]
        part = windows.Bucket(
            start=key["t"] / 1000.0,
            count=raw["doc_count"],
            first=raw["first"]["value"] / 1000.0,
            last=raw["last"]["value"] / 1000.0,
        )
        if plan.type == "value_count":
            part.values = {key["v"]}
        if "total" in raw:
            part.total = float(raw["total"]["value"] or 0)
        if "rules" in raw:
            part.rules = {
                label: (b["first"]["value"] / 1000.0, b["last"]["value"] / 1000.0)
                for label, b in raw["rules"]["buckets"].items()
                if b["doc_count"] > 0
            }
        per_group = series[plan.group_of(key)]
        if part.start in per_group:
            per_group[part.start].add(part)
        else:
            per_group[part.start] = part
    return {group: list(buckets.values()) for group, buckets in series.items()}


def _sample_ids(
    engine: Engine, plan: CorrelationPlan, group: dict[str, Any], first: datetime, last: datetime
) -> tuple[str, ...]:
    matches = plan.base_filter(first, last)[1]
    body = {
        "size": SAMPLE_SIZE,
        "sort": [{"@timestamp": "asc"}],
        "_source": ["event.id"],
        "query": {
            "bool": {"filter": [time_range(first, last, inclusive_end=True), matches, *group_filter(group)]}
        },
    }
    hits = engine.search(plan.index, body).get("hits", {}).get("hits", [])
    return tuple(str((h.get("_source") or {}).get("event", {}).get("id") or h["_id"]) for h in hits)


def evaluate_correlation(
    engine: Engine,
    pack: Pack,
    book: QueryBook,
    rule: SigmaCorrelationRule,
    namespace: str,
    start: datetime,
    end: datetime,
) -> list[Hit]:
    """The hits of one correlation rule whose bursts end within `[start, end)`."""
    plan = CorrelationPlan(pack, book, rule, namespace)
    read_from = start - timedelta(seconds=plan.timespan)
    groups = _first_pass(engine, plan, read_from, end) if plan.prefilter_applies else None
    if groups == []:
        return []
    info = RuleInfo.of(rule, pack.atlas, pack.playbook(rule))
    measure = plan.measure()
    hits: list[Hit] = []
    batches: list[list[tuple[Any, ...]] | None] = (
        [groups[i : i + GROUPS_PER_QUERY] for i in range(0, len(groups), GROUPS_PER_QUERY)]
        if groups is not None
        else [None]
    )
    for batch in batches:
        for key, buckets in _second_pass(engine, plan, read_from, end, batch).items():
            width = STEPS_PER_TIMESPAN
            for firing in windows.find_firings(buckets, plan.step, width, measure, plan.op, plan.threshold):
                if not epoch(start) <= firing.last < epoch(end) or math.isinf(firing.first):
                    continue
                group = dict(zip(plan.group_fields, key, strict=True))
                first, last = from_epoch(firing.first), from_epoch(firing.last)
                hits.append(
                    Hit(
                        rule=info,
                        group=group,
                        event_count=firing.count,
                        first_seen=first,
                        last_seen=last,
                        window_start=start,
                        window_end=end,
                        sample_event_ids=_sample_ids(engine, plan, group, first, last),
                        evidence_query=evidence_query(plan.queries, group, first, last),
                        evidence_index=plan.index,
                        value=firing.value,
                    )
                )
    return hits
