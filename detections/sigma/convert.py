"""Conversion of the pack with pySigma backends: Lucene queries for the executor, any target for the CLI.

The executor runs detection rules as Lucene query strings: the OpenSearch Lucene backend for OpenSearch,
the Elasticsearch Lucene backend for Elasticsearch. Correlation rules are not converted for it (the
Lucene backends cannot express them); the executor evaluates them itself (`correlate.py`).

For Kibana, correlations become ES|QL rules. pySigma's ES|QL backend covers event_count, value_count and
temporal; `MlsiemESQLBackend` adds value_sum and temporal_ordered (exact for two rules: the first rule's
earliest event must precede the last rule's latest event in the window).

Each conversion works on a freshly loaded copy of the rules, because pySigma's processing pipeline
rewrites the rules it converts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sigma.backends.elasticsearch import ESQLBackend
from sigma.collection import SigmaCollection
from sigma.conversion.base import Backend
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.plugins import InstalledSigmaPlugins

from detections.sigma.pack import Pack, build_collection
from mlsiem.adapter import EngineKind
from mlsiem.errors import ConfigError


class MlsiemESQLBackend(ESQLBackend):
    """pySigma's ES|QL backend plus value_sum and (two-rule) temporal_ordered correlations."""

    value_sum_aggregation_expression: ClassVar[dict[str, str]] = {
        "stats": "| eval timebucket=date_trunc({timespan}, @timestamp)"
        " | stats value_sum=sum({field}){fields}{groupby}"
    }
    value_sum_condition_expression: ClassVar[dict[str, str]] = {"stats": "| where value_sum {op} {count}"}

    def convert_correlation_temporal_ordered_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "stats"
    ) -> list[str]:
        lines = self.convert_correlation_rule_from_template(rule, "temporal", method)[0].split("\n")
        refs = rule.rules or []
        first, last = (self._rule_label(ref.rule) for ref in (refs[0], refs[-1]))
        stats = "| stats event_type_count=count_distinct(event_type)"
        ordered = (
            f'| eval first_ts=case(event_type=="{first}", @timestamp), last_ts=case(event_type=="{last}", '
            f"@timestamp) {stats}, first_seen=min(first_ts), last_seen=max(last_ts)"
        )
        lines[-2] = lines[-2].replace(stats, ordered)
        lines[-1] = f"{lines[-1]} and first_seen < last_seen"
        return ["\n".join(lines)]

    @staticmethod
    def _rule_label(rule: Any) -> str:
        return str(rule.name or rule.id)


@functools.cache
def _installed_backends() -> dict[str, type[Backend]]:
    """pySigma's plugin discovery walks the installed packages (milliseconds); they do not change
    while the process runs."""
    return dict(InstalledSigmaPlugins.autodiscover().backends)


def backend_classes() -> dict[str, type[Backend]]:
    """Target name -> backend class: the pySigma plugin names, our ES|QL backend in place of pySigma's."""
    return {**_installed_backends(), "esql": MlsiemESQLBackend}


def lucene_target(kind: EngineKind | str) -> str:
    """The backend the executor uses for an engine."""
    return "opensearch_lucene" if EngineKind(kind) is EngineKind.OPENSEARCH else "lucene"


def make_backend(pack: Pack, target: str, **options: Any) -> Backend:
    classes = backend_classes()
    if target not in classes:
        raise ConfigError(f"unknown conversion target {target!r}; choose one of {', '.join(sorted(classes))}")
    return classes[target](processing_pipeline=pack.pipeline, collect_errors=True, **options)


@dataclass
class Conversion:
    """Per rule id: the backend's output, or why it could not convert the rule."""

    target: str
    output_format: str
    results: dict[str, list[Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # pipeline state, e.g. the index


def convert_pack(
    pack: Pack, target: str, output_format: str = "default", rule_ids: set[str] | None = None, **options: Any
) -> Conversion:
    backend = make_backend(pack, target, **options)
    if output_format not in backend.formats:
        raise ConfigError(
            f"target {target!r} has no output format {output_format!r}; it has {', '.join(backend.formats)}"
        )
    collection = _fresh_collection(pack)
    conversion = Conversion(target, output_format)
    correlations_supported = getattr(backend, "correlation_methods", None) is not None
    kept = []
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            if rule_ids is not None and str(rule.id) not in rule_ids:
                continue
            if not correlations_supported:
                conversion.errors[str(rule.id)] = (
                    f"{target} cannot express correlation rules (the detector job evaluates them itself)"
                )
                continue
        kept.append(rule)
    collection = SigmaCollection(kept)
    try:
        backend.convert(collection, output_format)
    except (SigmaError, NotImplementedError) as exc:
        # collect_errors keeps per-rule SigmaErrors; these stop the whole collection (backends raise
        # NotImplementedError for constructs they cannot express, e.g. a bare string in a condition)
        raise ConfigError(f"converting the pack to {target}: {exc}") from None
    except Exception as exc:  # pySigma's plain Python errors on values it did not validate
        raise ConfigError(f"converting the pack to {target}: {type(exc).__name__}: {exc}") from None
    failed = {str(rule.id): str(exc) for rule, exc in getattr(backend, "errors", [])}
    for rule in collection.rules:
        rid = str(rule.id)
        if rule_ids is not None and rid not in rule_ids:
            continue
        if rid in failed:
            conversion.errors[rid] = failed[rid]
            continue
        result = rule.get_conversion_result()
        conversion.results[rid] = list(result)
        states = rule.get_conversion_states()
        if states:
            conversion.states[rid] = dict(states[0].processing_state)
    return conversion


def _fresh_collection(pack: Pack) -> SigmaCollection:
    """The pack's rules to convert: pySigma keeps conversion results and state on the rule objects, so
    each conversion gets its own collection. Built from the YAML `load_pack` parsed, not read from disk
    again: twice as fast as a deep copy of the rule objects, and a file edited since cannot slip in."""
    return build_collection(pack.root, pack.sources)


class QueryBook:
    """Lucene query strings of the pack's detection rules for one kind of engine, converted once."""

    def __init__(self, pack: Pack, kind: EngineKind | str) -> None:
        self.pack = pack
        self.target = lucene_target(kind)
        detection_ids = {str(rule.id) for rule in pack.detections}
        conversion = convert_pack(pack, self.target, rule_ids=detection_ids)
        if conversion.errors:
            raise ConfigError(
                "detection rules that do not convert to Lucene: "
                + "; ".join(f"{pack.rule(rid).name}: {err}" for rid, err in conversion.errors.items())
            )
        self._queries = {rid: _join(parts) for rid, parts in conversion.results.items()}

    def query(self, rule_id: str) -> str:
        return self._queries[str(rule_id)]

    def __len__(self) -> int:
        return len(self._queries)


def _join(parts: list[Any]) -> str:
    """A rule with several conditions yields several queries; any of them matching is a match."""
    queries = [str(p) for p in parts]
    return queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
