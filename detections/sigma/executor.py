"""The rule executor of the detector job: run the pack over a time window and return hits.

Detection rules run as the Lucene query pySigma converts for the connected engine (OpenSearch Lucene or
Elasticsearch Lucene backend), filtered to `[start, end)` on `@timestamp`; matches are grouped per rule
by the fields `pack.yaml` names for the rule's category (a composite aggregation, missing values
grouped together), one hit per group. Correlation rules are evaluated by `correlate.py`.

Building-block rules (referred to by a correlation with `generate: false`) do not produce hits of their
own. One failing rule does not stop the others: its error is reported with the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.sigma.convert import QueryBook
from detections.sigma.correlate import evaluate_correlation
from detections.sigma.hits import Hit, RuleInfo, from_epoch
from detections.sigma.pack import Pack, load_pack
from detections.sigma.queries import (
    PAGE_SIZE,
    SAMPLE_SIZE,
    composite_pages,
    evidence_query,
    index_for,
    lucene,
    time_range,
)
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError, MlsiemError
from mlsiem.indices import check_namespace


@dataclass
class RunResult:
    """Hits of one run, plus the rules that failed and why (the run itself carries on)."""

    start: datetime
    end: datetime
    hits: list[Hit] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # rule name -> message
    rules_run: int = 0


class Executor:
    """Holds the pack and its converted queries for one engine; `run` is called once per window."""

    def __init__(self, engine: Engine, pack: Pack | None = None) -> None:
        self.engine = engine
        self.pack = pack or load_pack()
        self.book = QueryBook(self.pack, engine.kind)

    def group_fields(self, rule: SigmaRule) -> list[str]:
        names = self.pack.config.group_by.get(self.pack.category(rule), [])
        return [self.pack.ecs_field(n) for n in names]

    def run_detection(self, rule: SigmaRule, namespace: str, start: datetime, end: datetime) -> list[Hit]:
        query = self.book.query(str(rule.id))
        index = index_for(self.pack.category(rule), namespace)
        fields = self.group_fields(rule)
        sources = [{f"g{i}": {"terms": {"field": f, "missing_bucket": True}}} for i, f in enumerate(fields)]
        sources = sources or [{"all": {"terms": {"script": {"source": "'*'", "lang": "painless"}}}}]
        body = {
            "size": 0,
            "query": {"bool": {"filter": [time_range(start, end), lucene(query)]}},
            "aggs": {
                "groups": {
                    "composite": {"size": PAGE_SIZE, "sources": sources},
                    "aggs": {
                        "first": {"min": {"field": "@timestamp"}},
                        "last": {"max": {"field": "@timestamp"}},
                        "sample": {
                            "top_hits": {
                                "size": SAMPLE_SIZE,
                                "sort": [{"@timestamp": "asc"}],
                                "_source": ["event.id"],
                            }
                        },
                    },
                }
            },
        }
        info = RuleInfo.of(rule, self.pack.atlas, self.pack.playbook(rule))
        hits = []
        for bucket in composite_pages(self.engine.search, index, body, "groups"):
            group = {f: bucket["key"].get(f"g{i}") for i, f in enumerate(fields)}
            first = from_epoch(bucket["first"]["value"] / 1000.0)
            last = from_epoch(bucket["last"]["value"] / 1000.0)
            samples = bucket["sample"]["hits"]["hits"]
            hits.append(
                Hit(
                    rule=info,
                    group=group,
                    event_count=int(bucket["doc_count"]),
                    first_seen=first,
                    last_seen=last,
                    window_start=start,
                    window_end=end,
                    sample_event_ids=tuple(
                        str((h.get("_source") or {}).get("event", {}).get("id") or h["_id"]) for h in samples
                    ),
                    evidence_query=evidence_query([query], group, first, last),
                    evidence_index=index,
                )
            )
        return hits

    def matching(
        self, rules: list[SigmaRule], namespace: str, start: datetime, end: datetime
    ) -> dict[str, bool]:
        """Which detection rules match anything in the window: one `filters` count per index, so quiet
        windows cost one request per index instead of one per rule."""
        by_index: dict[str, list[SigmaRule]] = {}
        for rule in rules:
            by_index.setdefault(index_for(self.pack.category(rule), namespace), []).append(rule)
        found: dict[str, bool] = {}
        for index, group in by_index.items():
            filters = {str(r.id): lucene(self.book.query(str(r.id))) for r in group}
            aggs = {"r": {"filters": {"filters": filters}}}
            body = {"size": 0, "query": time_range(start, end), "aggs": aggs}
            try:
                buckets = self.engine.search(index, body)["aggregations"]["r"]["buckets"]
            except MlsiemError:
                continue  # leave these rules to their own queries, which report the error per rule
            found.update({rule_id: bucket["doc_count"] > 0 for rule_id, bucket in buckets.items()})
        return found

    def selected(self, rule_refs: Iterable[str] | None) -> list[SigmaRule | SigmaCorrelationRule]:
        if rule_refs is not None:
            return [self.pack.rule(ref) for ref in rule_refs]
        return [r for r in self.pack.detections if self.pack.standalone(r)] + list(self.pack.correlations)

    def run(
        self, namespace: str, start: datetime, end: datetime, rules: Iterable[str] | None = None
    ) -> RunResult:
        """Run the selected rules (default: every rule that alerts on its own) over `[start, end)`."""
        check_namespace(namespace)
        if start.tzinfo is None or end.tzinfo is None:
            raise ConfigError("the window's start and end must carry a time zone (UTC)")
        if not start < end:
            raise ConfigError(f"empty window: start {start.isoformat()} is not before end {end.isoformat()}")
        result = RunResult(start, end)
        selected = self.selected(rules)
        matching = self.matching(
            [r for r in selected if not isinstance(r, SigmaCorrelationRule)], namespace, start, end
        )
        for rule in selected:
            result.rules_run += 1
            if not isinstance(rule, SigmaCorrelationRule) and not matching.get(str(rule.id), True):
                continue  # nothing in the window matches it: no need for its grouping query
            try:
                if isinstance(rule, SigmaCorrelationRule):
                    found = evaluate_correlation(
                        self.engine, self.pack, self.book, rule, namespace, start, end
                    )
                else:
                    found = self.run_detection(rule, namespace, start, end)
            except MlsiemError as exc:
                result.errors[rule.name or str(rule.id)] = str(exc)
                continue
            result.hits.extend(found)
        return result


def run_pack(
    engine: Engine,
    namespace: str,
    start: datetime,
    end: datetime,
    pack: Pack | None = None,
    rules: Iterable[str] | None = None,
) -> RunResult:
    """One-shot convenience: convert the pack for `engine` and run it over `[start, end)`."""
    return Executor(engine, pack).run(namespace, start, end, rules)
