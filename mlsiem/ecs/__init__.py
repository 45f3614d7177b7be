"""The ECS layer: field tables and engine mappings (`fields`) and the document models (`models`, `findings`).

Every document mlsiem writes is one of `DOCUMENT_KINDS`; its mapping comes from `mapping_for(kind)` and
its model from `DOCUMENT_MODELS[kind]`, both checked against ECS 9.4 by the conformance test.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mlsiem.ecs.fields import (
    DATASETS,
    DOCUMENT_KINDS,
    ECS_TYPE_DEVIATIONS,
    ECS_VERSION,
    FIELD_TABLES,
    DocumentKind,
    FieldSpec,
    FieldTable,
    fields_for,
    mapping_for,
    nest_properties,
)
from mlsiem.ecs.findings import (
    SEVERITY_SCORES,
    Alert,
    AlertInfo,
    AlertStatus,
    DriftMeasurement,
    DriftMetric,
    DriftSeverity,
    Evidence,
    Rule,
    RuleCategory,
    SeverityLabel,
    SeverityScore,
    Threat,
    ThreatEntry,
    label_from_severity,
    severity_from_label,
)
from mlsiem.ecs.models import (
    DataStream,
    EcsDocument,
    EventCategory,
    EventKind,
    EventOutcome,
    EventType,
    GuardrailAction,
    InferenceEvent,
    ModelInfo,
    ModelType,
    PipelineEvent,
)

DOCUMENT_MODELS: Mapping[DocumentKind, type[EcsDocument]] = MappingProxyType(
    {model.kind: model for model in (InferenceEvent, PipelineEvent, DriftMetric, Alert)}
)

__all__ = [
    "DATASETS",
    "DOCUMENT_KINDS",
    "DOCUMENT_MODELS",
    "ECS_TYPE_DEVIATIONS",
    "ECS_VERSION",
    "FIELD_TABLES",
    "SEVERITY_SCORES",
    "Alert",
    "AlertInfo",
    "AlertStatus",
    "DataStream",
    "DocumentKind",
    "DriftMeasurement",
    "DriftMetric",
    "DriftSeverity",
    "EcsDocument",
    "EventCategory",
    "EventKind",
    "EventOutcome",
    "EventType",
    "Evidence",
    "FieldSpec",
    "FieldTable",
    "GuardrailAction",
    "InferenceEvent",
    "ModelInfo",
    "ModelType",
    "PipelineEvent",
    "Rule",
    "RuleCategory",
    "SeverityLabel",
    "SeverityScore",
    "Threat",
    "ThreatEntry",
    "fields_for",
    "label_from_severity",
    "mapping_for",
    "nest_properties",
    "severity_from_label",
]
