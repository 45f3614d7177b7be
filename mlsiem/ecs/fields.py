"""Field tables and engine mappings for every document kind mlsiem writes.

This module is the single source of truth for field names and types: index templates are built from
`mapping_for`, and the ECS conformance test checks these tables against ECS 9.4. Types are ECS's own
wherever ECS defines the field (deviations are listed in `ECS_TYPE_DEVIATIONS`); everything else lives
under `mlsiem.*`. Only types that both OpenSearch 2.x and Elasticsearch 8.x/9.x accept are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Literal

ECS_VERSION: Final = "9.4.0"

DocumentKind = Literal["inference", "pipeline", "drift", "alert"]
DOCUMENT_KINDS: Final[tuple[DocumentKind, ...]] = ("inference", "pipeline", "drift", "alert")

# `event.dataset` of each kind: the dataset part of its data stream name (README "Setup").
DATASETS: Final[Mapping[DocumentKind, str]] = MappingProxyType(
    {
        "inference": "mlsiem.inference",
        "pipeline": "mlsiem.pipeline",
        "drift": "mlsiem.drift",
        "alert": "mlsiem.alerts",
    }
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one field is mapped: its type plus the few parameters we set."""

    type: str
    ignore_above: int | None = None
    index: bool | None = None
    doc_values: bool | None = None
    ignore_malformed: bool | None = None
    scaling_factor: float | None = None
    normalizer: str | None = None  # keywords only: e.g. the index's lowercase normalizer
    dynamic: bool | None = None  # objects only: may the engine add sub-fields on its own?
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)  # multi-fields, e.g. `user.name.text`

    def to_mapping(self) -> dict[str, Any]:
        """The engine's mapping of this field."""
        body: dict[str, Any] = {"type": self.type}
        for name in (
            "ignore_above",
            "index",
            "doc_values",
            "ignore_malformed",
            "scaling_factor",
            "normalizer",
            "dynamic",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.fields:
            body["fields"] = {name: sub.to_mapping() for name, sub in self.fields.items()}
        return body


# Shorthands. ECS keywords carry `ignore_above: 1024`; ECS's `.text` multi-fields are match_only_text.
KEYWORD = FieldSpec("keyword", ignore_above=1024)
KEYWORD_WITH_TEXT = FieldSpec("keyword", ignore_above=1024, fields={"text": FieldSpec("match_only_text")})
LONG = FieldSpec("long")
INTEGER = FieldSpec("integer")
DOUBLE = FieldSpec("double")
FLOAT = FieldSpec("float")
DATE = FieldSpec("date")
BOOLEAN = FieldSpec("boolean")
TEXT = FieldSpec("text")
MATCH_ONLY_TEXT = FieldSpec("match_only_text")
# A malformed address must not cost the whole document: the engine skips the value, keeps the event.
IP = FieldSpec("ip", ignore_malformed=True)

FieldTable = Mapping[str, FieldSpec]

# Case-insensitive matching for detection rules. Sigma string matching is case-insensitive and its
# `contains`/`startswith`/`endswith` look inside whole values; a Lucene wildcard on a `text` field only
# sees single tokens, and on a plain `keyword` it is case-sensitive. So every field that rules match
# on text gets a `<field>.caseless` keyword sub-field with the index's lowercase normalizer (declared in
# `mlsiem.templates`, same name); the Sigma processing pipeline targets it. OpenSearch's `wildcard`
# type was not chosen: on OpenSearch 2.19 query_string wildcards do not match it, and Elasticsearch's
# `wildcard` type takes no normalizer. Lucene keeps terms up to 32766 bytes, so the sub-field skips
# values over `ignore_above` characters (8191 x 4 bytes fits): such long prompts are not seen by the
# content rules (the pack flags them by length instead), and the document itself is still indexed.
CASELESS_SUBFIELD: Final = "caseless"
CASELESS_NORMALIZER: Final = "mlsiem_lowercase"
CASELESS_MAX_CHARS: Final = 8191


def caseless(spec: FieldSpec, ignore_above: int = 1024) -> FieldSpec:
    """`spec` plus a lowercase-normalized keyword sub-field named `caseless`."""
    sub = FieldSpec("keyword", ignore_above=ignore_above, normalizer=CASELESS_NORMALIZER)
    return replace(spec, fields={**spec.fields, CASELESS_SUBFIELD: sub})


_NO_CONSTANT_KEYWORD = (
    "OpenSearch requires a fixed `value` on constant_keyword; one template serves all namespaces."
)

# Where we knowingly use another type than ECS 9.4: field -> (ECS type, our type, reason).
ECS_TYPE_DEVIATIONS: Final[Mapping[str, tuple[str, str, str]]] = MappingProxyType(
    {
        "data_stream.type": ("constant_keyword", "keyword", _NO_CONSTANT_KEYWORD),
        "data_stream.dataset": ("constant_keyword", "keyword", _NO_CONSTANT_KEYWORD),
        "data_stream.namespace": ("constant_keyword", "keyword", _NO_CONSTANT_KEYWORD),
        "gen_ai.provider.name": (
            "(not in ECS 9.4)",
            "keyword",
            "Added in the next ECS release as the successor of gen_ai.system; both are emitted meanwhile.",
        ),
        "gen_ai.response.finish_reasons": (
            "nested",
            "keyword",
            "A plain string array, as in the OpenTelemetry GenAI conventions; nested needs nested queries.",
        ),
    }
)

# ---------------------------------------------------------------------------------------------- tables

BASE_FIELDS: FieldTable = {
    "@timestamp": DATE,
    "message": caseless(MATCH_ONLY_TEXT, CASELESS_MAX_CHARS),
    "tags": KEYWORD,
    "labels": FieldSpec("object", dynamic=True),
    "ecs.version": KEYWORD,
    "event.kind": KEYWORD,
    "event.category": KEYWORD,
    "event.type": KEYWORD,
    "event.outcome": KEYWORD,
    "event.dataset": KEYWORD,
    "event.module": KEYWORD,
    "event.action": KEYWORD,
    "event.provider": KEYWORD,
    "event.code": KEYWORD,
    "event.id": KEYWORD,
    "event.created": DATE,
    "event.ingested": DATE,
    "event.sequence": LONG,
    "event.hash": KEYWORD,
    "event.original": FieldSpec("keyword", index=False, doc_values=False),
    "event.duration": LONG,
    "event.reason": caseless(KEYWORD),
    "event.start": DATE,
    "event.end": DATE,
}

DATA_STREAM_FIELDS: FieldTable = {
    "data_stream.type": FieldSpec("keyword"),
    "data_stream.dataset": FieldSpec("keyword"),
    "data_stream.namespace": FieldSpec("keyword"),
}

# Blocks shared by several kinds; each matches one sub-model in `models.py`/`findings.py`.
SERVICE_FIELDS: FieldTable = {
    "service.name": KEYWORD,
    "service.version": KEYWORD,
    "service.environment": KEYWORD,
}

HOST_FIELDS: FieldTable = {"host.name": KEYWORD, "host.ip": IP}

USER_FIELDS: FieldTable = {
    "user.id": KEYWORD,
    "user.name": KEYWORD_WITH_TEXT,
    "user.group.id": KEYWORD,
    "user.group.name": KEYWORD,
}

ERROR_FIELDS: FieldTable = {
    "error.type": KEYWORD,
    "error.code": KEYWORD,
    "error.message": caseless(MATCH_ONLY_TEXT, CASELESS_MAX_CHARS),
}

SOURCE_FILE_FIELDS: FieldTable = {
    "log.file.path": KEYWORD,
    "mlsiem.log.offset": LONG,  # byte offset in `log.file.path`; ECS has no such field
    "mlsiem.source.format": KEYWORD,
}

MODEL_FIELDS: FieldTable = {
    "mlsiem.model.name": KEYWORD,
    "mlsiem.model.version": KEYWORD,
    "mlsiem.model.type": KEYWORD,
}

PIPELINE_REF_FIELDS: FieldTable = {
    "mlsiem.pipeline.name": KEYWORD,
    "mlsiem.pipeline.run_id": KEYWORD,
    "mlsiem.pipeline.stage": KEYWORD,
}

DRIFT_STATS_FIELDS: FieldTable = {
    "mlsiem.drift.metric": KEYWORD,
    "mlsiem.drift.score": DOUBLE,
    "mlsiem.drift.threshold": DOUBLE,
    "mlsiem.drift.p_value": DOUBLE,
    "mlsiem.drift.feature": KEYWORD,
    "mlsiem.drift.reference_size": LONG,
    "mlsiem.drift.current_size": LONG,
}

INFERENCE_FIELDS: FieldTable = {
    **BASE_FIELDS,
    **DATA_STREAM_FIELDS,
    **SERVICE_FIELDS,
    **HOST_FIELDS,
    **USER_FIELDS,
    **ERROR_FIELDS,
    **SOURCE_FILE_FIELDS,
    **MODEL_FIELDS,
    "source.ip": IP,
    "client.ip": IP,
    "organization.id": KEYWORD,
    "organization.name": KEYWORD_WITH_TEXT,
    "user_agent.original": caseless(KEYWORD_WITH_TEXT),
    "http.request.method": KEYWORD,
    "http.response.status_code": LONG,
    "url.path": caseless(FieldSpec("wildcard")),
    "trace.id": KEYWORD,
    "span.id": KEYWORD,
    "gen_ai.provider.name": KEYWORD,
    "gen_ai.system": KEYWORD,
    "gen_ai.operation.name": KEYWORD,
    "gen_ai.request.model": KEYWORD,
    "gen_ai.request.max_tokens": INTEGER,
    "gen_ai.request.temperature": DOUBLE,
    "gen_ai.response.id": KEYWORD,
    "gen_ai.response.model": KEYWORD,
    "gen_ai.response.finish_reasons": caseless(KEYWORD),
    "gen_ai.usage.input_tokens": INTEGER,
    "gen_ai.usage.output_tokens": INTEGER,
    "mlsiem.prediction.label": KEYWORD,
    # `.decimal`: the score as it was written ("0.4537"), for rule engines that compare only integers
    # (OpenSearch Security Analytics): the decision-boundary rule matches it with a regular expression.
    "mlsiem.prediction.score": replace(DOUBLE, fields={"decimal": FieldSpec("keyword", ignore_above=64)}),
    "mlsiem.prediction.value": DOUBLE,
    "mlsiem.ground_truth.label": KEYWORD,
    "mlsiem.ground_truth.value": DOUBLE,
    "mlsiem.features": FieldSpec("object", dynamic=True),
    "mlsiem.features_dropped": LONG,
    # Prompts and completions can be megabytes: full text, plus the `caseless` copy of values up to
    # CASELESS_MAX_CHARS characters that detection rules match on (longer ones are skipped there).
    "mlsiem.llm.prompt": caseless(TEXT, CASELESS_MAX_CHARS),
    "mlsiem.llm.completion": caseless(TEXT, CASELESS_MAX_CHARS),
    "mlsiem.llm.prompt_length": LONG,
    "mlsiem.llm.prompt_sha256": KEYWORD,
    "mlsiem.llm.cost_usd": DOUBLE,
    "mlsiem.llm.cache_hit": BOOLEAN,
    "mlsiem.llm.guardrail.action": KEYWORD,
    "mlsiem.llm.guardrail.policies": caseless(KEYWORD),
}

PIPELINE_FIELDS: FieldTable = {
    **BASE_FIELDS,
    **DATA_STREAM_FIELDS,
    **SERVICE_FIELDS,
    **HOST_FIELDS,
    **USER_FIELDS,
    **ERROR_FIELDS,
    **SOURCE_FILE_FIELDS,
    **MODEL_FIELDS,
    **PIPELINE_REF_FIELDS,
    "source.ip": IP,
    "trace.id": KEYWORD,
    "mlsiem.deployment.approved": BOOLEAN,
}

DRIFT_FIELDS: FieldTable = {
    **BASE_FIELDS,
    **DATA_STREAM_FIELDS,
    **SERVICE_FIELDS,
    **MODEL_FIELDS,
    **DRIFT_STATS_FIELDS,
    "mlsiem.drift.drifted": BOOLEAN,
    "mlsiem.drift.severity": KEYWORD,
    "mlsiem.drift.window_start": DATE,
    "mlsiem.drift.window_end": DATE,
    "mlsiem.drift.baseline_id": KEYWORD,
}

ALERT_FIELDS: FieldTable = {
    **BASE_FIELDS,
    # Group-by values, copied to their ECS (or mlsiem) fields so an alert joins with its events.
    **SERVICE_FIELDS,
    **HOST_FIELDS,
    **USER_FIELDS,
    **MODEL_FIELDS,
    **PIPELINE_REF_FIELDS,
    "source.ip": IP,
    "client.ip": IP,
    **DRIFT_STATS_FIELDS,
    "event.severity": LONG,
    "event.risk_score": FLOAT,
    "rule.id": KEYWORD,
    "rule.name": KEYWORD,
    "rule.category": KEYWORD,
    "rule.ruleset": KEYWORD,
    "rule.version": KEYWORD,
    "rule.description": KEYWORD,
    "rule.reference": KEYWORD,
    "rule.author": KEYWORD,
    "threat.framework": KEYWORD,
    "threat.technique.id": KEYWORD,
    "threat.technique.name": KEYWORD_WITH_TEXT,
    "threat.technique.reference": KEYWORD,
    "threat.tactic.id": KEYWORD,
    "threat.tactic.name": KEYWORD,
    "threat.tactic.reference": KEYWORD,
    "mlsiem.alert.severity": KEYWORD,
    "mlsiem.alert.tier": KEYWORD,
    "mlsiem.alert.status": KEYWORD,
    "mlsiem.alert.group_key": KEYWORD,
    "mlsiem.alert.occurrences": LONG,
    "mlsiem.alert.first_seen": DATE,
    "mlsiem.alert.last_seen": DATE,
    # Markdown for people to read, never to search or aggregate: kept in _source only.
    "mlsiem.alert.playbook": FieldSpec("text", index=False),
    "mlsiem.drift.top_features": KEYWORD,
    "mlsiem.evidence.query": FieldSpec("keyword", ignore_above=8191),
    "mlsiem.evidence.event_count": LONG,
    "mlsiem.evidence.sample_event_ids": KEYWORD,
    "mlsiem.quality.check": KEYWORD,
    "mlsiem.quality.feature": KEYWORD,
    "mlsiem.quality.reference_value": KEYWORD,
    "mlsiem.quality.current_value": KEYWORD,
    "mlsiem.quality.p_value": DOUBLE,
    "mlsiem.anomaly.method": KEYWORD,
    "mlsiem.anomaly.score": DOUBLE,
    "mlsiem.anomaly.outlier_share": DOUBLE,
    "mlsiem.anomaly.expected_share": DOUBLE,
    "mlsiem.anomaly.top_sources": KEYWORD,
    "mlsiem.slo.name": KEYWORD,
    "mlsiem.slo.objective": DOUBLE,
    "mlsiem.slo.burn_rate": DOUBLE,
    "mlsiem.slo.window": KEYWORD,
}

FIELD_TABLES: Final[Mapping[DocumentKind, FieldTable]] = MappingProxyType(
    {
        "inference": INFERENCE_FIELDS,
        "pipeline": PIPELINE_FIELDS,
        "drift": DRIFT_FIELDS,
        "alert": ALERT_FIELDS,
    }
)

# --------------------------------------------------------------------------------------------- mapping


def _labels_templates() -> list[dict[str, Any]]:
    """ECS stores every label value as keyword, whatever JSON type it arrives as."""
    return [
        {
            f"labels_{json_type}": {
                "path_match": "labels.*",
                "match_mapping_type": json_type,
                "mapping": {"type": "keyword", "ignore_above": 1024},
            }
        }
        for json_type in ("string", "long", "double", "boolean")
    ]


def _feature_templates() -> list[dict[str, Any]]:
    """Numeric features become double, everything else keyword.

    `ignore_malformed` keeps a document whose feature changed type (a string where the index already
    holds a number): the value is left out of the index, the event itself still lands.
    """
    numeric = {"type": "double", "ignore_malformed": True}
    categorical = {"type": "keyword", "ignore_above": 1024}
    by_json_type = {"long": numeric, "double": numeric, "string": categorical, "boolean": categorical}
    return [
        {
            f"mlsiem_features_{json_type}": {
                "path_match": "mlsiem.features.*",
                "match_mapping_type": json_type,
                "mapping": mapping,
            }
        }
        for json_type, mapping in by_json_type.items()
    ]


def fields_for(kind: DocumentKind) -> FieldTable:
    """The dotted field table of one document kind."""
    try:
        return FIELD_TABLES[kind]
    except KeyError:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {DOCUMENT_KINDS}") from None


def nest_properties(table: FieldTable) -> dict[str, Any]:
    """Turn `{"a.b.c": spec}` into the engine's nested `properties` tree."""
    root: dict[str, Any] = {}
    for dotted, spec in sorted(table.items()):
        parts = dotted.split(".")
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {"properties": {}})
            if "properties" not in child:
                if child.get("type") != "object":
                    raise ValueError(f"{'.'.join(parts[: depth + 1])} is a leaf field, cannot hold {dotted}")
                child["properties"] = {}
            node = child["properties"]
        leaf = spec.to_mapping()
        existing = node.get(parts[-1])
        if existing is not None:
            if spec.type != "object" or "properties" not in existing:
                raise ValueError(f"{dotted} is defined twice")
            existing.update(leaf)  # an object given explicitly (e.g. dynamic) that also has sub-fields
        else:
            node[parts[-1]] = leaf
    return root


def mapping_for(kind: DocumentKind) -> dict[str, Any]:
    """The `mappings` body of an index template for one document kind.

    The root is `dynamic: false`: a field we did not declare stays in `_source` (nothing is lost and no
    document is rejected) but is not indexed, so arbitrary input keys cannot grow the mapping until it
    hits the field limit. `strict` would instead reject whole events for one unexpected key. The only
    open objects are `labels` (ECS: free keys, keyword values) and, for inference events,
    `mlsiem.features` (free feature names, typed by the dynamic templates; the shipper caps how many).
    """
    table = fields_for(kind)
    templates = _labels_templates()
    if "mlsiem.features" in table:
        templates += _feature_templates()
    return {
        "_meta": {"mlsiem_kind": kind, "ecs_version": ECS_VERSION},
        "dynamic": False,
        "dynamic_templates": templates,
        "properties": nest_properties(table),
    }
