"""Bodies of the index templates, component templates and lifecycle policies that `mlsiem setup` installs.

Pure functions of a validated `SetupConfig`: nothing here talks to an engine. Composable templates are
made of one shared settings component and one mappings component per document kind, with a priority
above Elasticsearch's built-in `logs-*-*` (100) so ours win for our data streams.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlsiem.ecs.fields import mapping_for
from mlsiem.indices import BASELINES_INDEX, STATE_INDEX, alerts_alias, check_namespace
from mlsiem.lifecycle import LifecyclePolicy

TEMPLATE_VERSION = 3  # bump when a body changes meaningfully; setup then updates in place
TEMPLATE_PRIORITY = 200
LOWERCASE_NORMALIZER = "mlsiem_lowercase"
# Component templates are validated on their own, so every mappings component that uses the normalizer
# carries its definition too (the composed index gets one, identical copy).
ANALYSIS: dict[str, Any] = {"normalizer": {LOWERCASE_NORMALIZER: {"type": "custom", "filter": ["lowercase"]}}}

# document kind -> (index template name, index pattern, lifecycle policy) for the data streams
STREAMS: dict[str, tuple[str, str, str]] = {
    "inference": ("logs-mlsiem.inference", "logs-mlsiem.inference-*", "mlsiem-logs"),
    "pipeline": ("logs-mlsiem.pipeline", "logs-mlsiem.pipeline-*", "mlsiem-logs"),
    "drift": ("metrics-mlsiem.drift", "metrics-mlsiem.drift-*", "mlsiem-metrics"),
}


class RetentionConfig(BaseModel):
    """Rollover and retention of one family of indices."""

    model_config = ConfigDict(extra="forbid")

    rollover_max_age: str = "1d"
    rollover_max_primary_shard_size: str = "50gb"
    delete_after: str


class SetupConfig(BaseModel):
    """What `mlsiem setup` installs; every field has a default that suits a single cluster."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = "default"
    shards: int = Field(1, ge=1, le=64)
    # 0 replicas on one node (a green cluster), 1 as soon as a second node joins.
    auto_expand_replicas: str = "0-1"
    # None: the engine's default, 1s while the index is searched; a shard nobody searched for 30 s skips
    # its refreshes until the next search, which waits for one (so nothing is ever stale to a reader).
    # An explicit value refreshes on that schedule always, searched or not.
    refresh_interval: str | None = None
    total_fields_limit: int = Field(2000, ge=500, le=20000)
    logs_retention: RetentionConfig = RetentionConfig(delete_after="30d")
    metrics_retention: RetentionConfig = RetentionConfig(delete_after="90d")
    alerts_retention: RetentionConfig = RetentionConfig(rollover_max_age="30d", delete_after="365d")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_namespace(value)


@dataclass(frozen=True)
class Template:
    kind: str  # "component" or "index"
    name: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        return f"/_{self.kind}_template/{self.name}"


def fingerprint(body: Any) -> str:
    """A short stable hash of a body: setup compares it with the stored one to stay idempotent."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _stamped(body: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "managed_by": "mlsiem",
        "mlsiem_version": TEMPLATE_VERSION,
        "mlsiem_fingerprint": fingerprint(body),
    }
    return {**body, "_meta": meta}


def _settings_component(cfg: SetupConfig) -> dict[str, Any]:
    index: dict[str, Any] = {
        "number_of_shards": cfg.shards,
        "auto_expand_replicas": cfg.auto_expand_replicas,
        "mapping": {"total_fields": {"limit": cfg.total_fields_limit}},
    }
    if cfg.refresh_interval is not None:
        index["refresh_interval"] = cfg.refresh_interval
    return {"template": {"settings": {"index": index, "analysis": ANALYSIS}}}


BASELINES_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date"},
        "baseline": {
            "properties": {
                "id": {"type": "keyword"},
                "source": {"type": "keyword"},
                "start": {"type": "date"},
                "end": {"type": "date"},
                "row_count": {"type": "long"},
            }
        },
        "mlsiem": {
            "properties": {
                "model": {"properties": {"name": {"type": "keyword"}, "version": {"type": "keyword"}}}
            }
        },
        # The profile is read back whole by the detector job, never searched inside.
        "profile": {"type": "object", "enabled": False},
    },
}

STATE_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date"},
        "state": {
            "properties": {
                "kind": {"type": "keyword"},
                "detector": {"type": "keyword"},
                "checkpoint": {"type": "date"},
                "owner": {"type": "keyword"},
                "expires": {"type": "date"},
            }
        },
        "data": {"type": "object", "enabled": False},
    },
}


def lifecycle_policies(cfg: SetupConfig) -> list[LifecyclePolicy]:
    logs = [f".ds-{STREAMS[k][1]}" for k in ("inference", "pipeline")]
    return [
        LifecyclePolicy(
            name="mlsiem-logs",
            description="mlsiem inference and pipeline events",
            index_patterns=tuple(logs),
            **cfg.logs_retention.model_dump(),
        ),
        LifecyclePolicy(
            name="mlsiem-metrics",
            description="mlsiem drift metrics",
            index_patterns=(f".ds-{STREAMS['drift'][1]}",),
            **cfg.metrics_retention.model_dump(),
        ),
        LifecyclePolicy(
            name="mlsiem-alerts",
            description="mlsiem alerts",
            index_patterns=("mlsiem-alerts-*",),
            **cfg.alerts_retention.model_dump(),
        ),
    ]


LifecycleSettings = Callable[[str, str | None], dict[str, str]]


def build_templates(cfg: SetupConfig, lifecycle_settings: LifecycleSettings | None) -> list[Template]:
    """Component templates first (index templates refer to them), then the index templates.

    `lifecycle_settings(policy, rollover_alias)` gives the engine's index settings that attach a policy,
    or is None when the engine has no lifecycle management.
    """

    def attach(policy: str, alias: str | None = None) -> dict[str, Any]:
        return {"settings": lifecycle_settings(policy, alias)} if lifecycle_settings else {}

    components = [Template("component", "mlsiem-settings", _stamped(_settings_component(cfg)))]
    for kind in (*STREAMS, "alert"):
        body = {"template": {"settings": {"analysis": ANALYSIS}, "mappings": mapping_for(kind)}}
        components.append(Template("component", f"mlsiem-{kind}-mappings", _stamped(body)))

    indexes = []
    for kind, (name, pattern, policy) in STREAMS.items():
        body = {
            "index_patterns": [pattern],
            "data_stream": {},
            "priority": TEMPLATE_PRIORITY,
            "composed_of": ["mlsiem-settings", f"mlsiem-{kind}-mappings"],
            "template": attach(policy),
            "version": TEMPLATE_VERSION,
        }
        indexes.append(Template("index", name, _stamped(body)))
    alias = alerts_alias(cfg.namespace)
    alerts = {
        "index_patterns": [f"{alias}-*"],
        "priority": TEMPLATE_PRIORITY,
        "composed_of": ["mlsiem-settings", "mlsiem-alert-mappings"],
        "template": attach("mlsiem-alerts", alias),
        "version": TEMPLATE_VERSION,
    }
    indexes.append(Template("index", alias, _stamped(alerts)))
    for index, mapping in ((BASELINES_INDEX, BASELINES_MAPPING), (STATE_INDEX, STATE_MAPPING)):
        body = {
            "index_patterns": [index],
            "priority": TEMPLATE_PRIORITY,
            "composed_of": ["mlsiem-settings"],
            "template": {"mappings": mapping},
            "version": TEMPLATE_VERSION,
        }
        indexes.append(Template("index", index, _stamped(body)))
    return components + indexes
