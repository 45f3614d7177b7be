"""Run every rule against its example events on a real engine (`mlsiem rules test`, and the pytest suite).

All examples are indexed once into one namespace, each rule's into a time window of its own:

* a detection rule's converted query must match exactly its positive examples (checked by searching
  its examples directly), and the executor run over the rule's window must report exactly those
  events (every positive among the hits' sample ids, counts adding up);
* a correlation scenario, evaluated by the executor over its own window, must fire for exactly the
  groups it lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.sigma.correlate import evaluate_correlation
from detections.sigma.examples import (
    EXAMPLE_LABEL,
    CorrelationExamples,
    DetectionExamples,
    load_examples,
    scenario_documents,
    to_document,
)
from detections.sigma.executor import Executor
from detections.sigma.pack import Pack
from detections.sigma.queries import index_for, lucene
from mlsiem.adapter import Engine
from mlsiem.errors import EngineError

BASE = datetime(2026, 1, 1, tzinfo=UTC)
DETECTION_SLOT = timedelta(hours=1)
CORRELATION_BASE = BASE + timedelta(days=30)
SCENARIO_SLOT = timedelta(days=3)  # more than the longest correlation timespan (1d) plus its look-back


@dataclass
class RuleTestResult:
    rule: str
    kind: str
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # examples or scenarios checked

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Slot:
    start: datetime
    end: datetime
    positives: set[str] = field(default_factory=set)
    negatives: set[str] = field(default_factory=set)
    fires: list[dict[str, Any]] = field(default_factory=list)
    name: str = ""


@dataclass
class ExampleIndex:
    """Where each rule's examples went."""

    namespace: str
    detections: dict[str, _Slot] = field(default_factory=dict)  # rule id -> slot
    scenarios: dict[str, list[_Slot]] = field(default_factory=dict)  # rule id -> slots
    documents: int = 0


def _bulk(engine: Engine, docs: list[tuple[str, dict[str, Any]]]) -> None:
    lines = []
    for index, doc in docs:
        lines.append(json.dumps({"create": {"_index": index}}))
        lines.append(json.dumps(doc, ensure_ascii=False))
    for chunk_start in range(0, len(lines), 4000):
        body = ("\n".join(lines[chunk_start : chunk_start + 4000]) + "\n").encode()
        result = engine.bulk(body)
        if result.get("errors"):
            failed = [i for i in result["items"] if "error" in next(iter(i.values()))]
            raise EngineError(f"indexing example events failed: {json.dumps(failed[:3])[:800]}")


def index_examples(
    engine: Engine, pack: Pack, namespace: str, rule_refs: list[str] | None = None
) -> ExampleIndex:
    """Index the examples of every rule, or of the named ones (the namespace must be set up), and refresh."""
    plan = ExampleIndex(namespace)
    wanted = {str(pack.rule(r).id) for r in rule_refs} if rule_refs else None
    docs: list[tuple[str, dict[str, Any]]] = []
    for i, rule in enumerate(pack.detections):
        if wanted is not None and str(rule.id) not in wanted:
            continue
        examples = load_examples(pack.examples_path(rule), correlation=False)
        assert isinstance(examples, DetectionExamples)
        category = pack.category(rule)
        slot = _Slot(BASE + i * DETECTION_SLOT, BASE + (i + 1) * DETECTION_SLOT, name=rule.name or "")
        for kind, events, offset, labels in (
            ("pos", examples.positives, 0, slot.positives),
            ("neg", examples.negatives, 600, slot.negatives),
        ):
            for n, event in enumerate(events):
                label = f"{rule.name}:{kind}:{n}"
                fields = {**examples.defaults, "event.id": label, **event}
                when = slot.start + timedelta(seconds=offset + n)
                docs.append((index_for(category, namespace), to_document(category, fields, when, label)))
                labels.add(label)
        plan.detections[str(rule.id)] = slot
    for j, rule in enumerate(pack.correlations):
        if wanted is not None and str(rule.id) not in wanted:
            continue
        examples = load_examples(pack.examples_path(rule), correlation=True)
        assert isinstance(examples, CorrelationExamples)
        category = pack.category(rule.rules[0].rule)  # type: ignore[arg-type,index]
        slots = []
        for s, scenario in enumerate(examples.scenarios):
            start = CORRELATION_BASE + (j * 10 + s) * SCENARIO_SLOT
            end = start + timedelta(seconds=scenario.span_seconds + 1)
            slot = _Slot(start, end, fires=scenario.fires, name=scenario.name)
            label = f"{rule.name}:scenario{s}"
            for doc in scenario_documents(category, examples.defaults, scenario, start, label):
                doc.setdefault("event", {}).setdefault("id", doc["labels"][EXAMPLE_LABEL])
                docs.append((index_for(category, namespace), doc))
            slots.append(slot)
        plan.scenarios[str(rule.id)] = slots
    _bulk(engine, docs)
    for category in ("inference", "pipeline"):
        engine.refresh(index_for(category, namespace))
    plan.documents = len(docs)
    return plan


def check_detection(
    engine: Engine, executor: Executor, plan: ExampleIndex, rule: SigmaRule
) -> RuleTestResult:
    result = RuleTestResult(rule.name or str(rule.id), "detection")
    slot = plan.detections[str(rule.id)]
    index = index_for(executor.pack.category(rule), plan.namespace)
    body = {
        "size": 1000,
        "_source": [f"labels.{EXAMPLE_LABEL}"],
        "query": {
            "bool": {
                "filter": [
                    lucene(executor.book.query(str(rule.id))),
                    {"prefix": {f"labels.{EXAMPLE_LABEL}": f"{rule.name}:"}},
                ]
            }
        },
    }
    matched = {h["_source"]["labels"][EXAMPLE_LABEL] for h in engine.search(index, body)["hits"]["hits"]}
    result.checked = len(slot.positives) + len(slot.negatives)
    missed, extra = sorted(slot.positives - matched), sorted(matched - slot.positives)
    if missed:
        result.problems.append(f"positives that did not match: {missed}")
    if extra:
        result.problems.append(f"negatives that matched: {extra}")
    hits = executor.run_detection(rule, plan.namespace, slot.start, slot.end)
    reported = {i for h in hits for i in h.sample_event_ids}
    if reported != slot.positives or sum(h.event_count for h in hits) != len(slot.positives):
        result.problems.append(
            f"executor reported {sorted(reported)} ({sum(h.event_count for h in hits)} events) "
            f"instead of the positives {sorted(slot.positives)}"
        )
    return result


def check_correlation(
    engine: Engine, executor: Executor, plan: ExampleIndex, rule: SigmaCorrelationRule
) -> RuleTestResult:
    result = RuleTestResult(rule.name or str(rule.id), "correlation")
    for slot in plan.scenarios[str(rule.id)]:
        hits = evaluate_correlation(
            engine, executor.pack, executor.book, rule, plan.namespace, slot.start, slot.end
        )
        fired = sorted(_frozen(h.group) for h in hits)
        expected = sorted(_frozen(g) for g in slot.fires)
        result.checked += 1
        if fired != expected:
            result.problems.append(f"scenario {slot.name!r}: fired for {fired}, expected {expected}")
    return result


def _frozen(group: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in group.items()))


def run_rule_tests(
    engine: Engine, executor: Executor, plan: ExampleIndex, rule_refs: list[str] | None = None
) -> list[RuleTestResult]:
    rules = [executor.pack.rule(r) for r in rule_refs] if rule_refs else executor.pack.rules
    results = []
    for rule in rules:
        if isinstance(rule, SigmaCorrelationRule):
            results.append(check_correlation(engine, executor, plan, rule))
        else:
            results.append(check_detection(engine, executor, plan, rule))
    return results
