"""Format detection per record, by its keys only (cheap: no parsing beyond the JSON itself).

| keys | format |
| --- | --- |
| `resourceSpans` or `resourceLogs` | otlp |
| `call_type` with `startTime` or `response_cost` | litellm |
| `type` equal to `inference` or `pipeline` | native |
| `ecs` and an `event.dataset` of `mlsiem.inference` or `mlsiem.pipeline` | ecs (relayed documents) |
| anything else | the mapping, when one is configured; otherwise the record is rejected |
"""

from __future__ import annotations

from typing import Any

from shipper.formats import ecs


def detect(record: dict[str, Any]) -> str | None:
    """The format name of one decoded record, or None when no built-in format claims it."""
    if "resourceSpans" in record or "resourceLogs" in record:
        return "otlp"
    if "call_type" in record and ("startTime" in record or "response_cost" in record):
        return "litellm"
    kind = record.get("type")
    if kind == "inference" or kind == "pipeline":
        return "native"
    if "ecs" in record and ecs.claims(record):
        return "ecs"
    return None
