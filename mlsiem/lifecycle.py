"""Lifecycle policies as data, and their two renderings: Elasticsearch ILM and OpenSearch ISM.

A policy says when the write index rolls over and when old indices are deleted. Setup describes it once
(`LifecyclePolicy`); the adapter renders it for the engine it talks to.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"^\d+(d|h|m|s)$")
_SIZE = re.compile(r"^\d+(b|kb|mb|gb|tb)$")


class LifecyclePolicy(BaseModel):
    """Hot (rollover) then delete: what a SIEM index of telemetry or alerts needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    rollover_max_age: str = Field("1d", description="roll the write index over after this age")
    rollover_max_primary_shard_size: str = Field(
        "50gb", description="... or once a primary shard is this big"
    )
    delete_after: str = Field("30d", description="delete a rolled index this long after its rollover")
    index_patterns: tuple[str, ...] = Field(
        description="concrete indices the policy manages (ISM attaches by pattern)"
    )
    priority: int = 200

    @field_validator("rollover_max_age", "delete_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a duration such as 12h or 30d")
        return value

    @field_validator("rollover_max_primary_shard_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not _SIZE.match(value.lower()):
            raise ValueError(f"{value!r} is not a size such as 50gb")
        return value.lower()


def to_ilm(policy: LifecyclePolicy, meta: dict[str, Any]) -> dict[str, Any]:
    """The body of `PUT _ilm/policy/<name>`."""
    return {
        "policy": {
            "_meta": {"description": policy.description, **meta},
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {
                        "rollover": {
                            "max_age": policy.rollover_max_age,
                            "max_primary_shard_size": policy.rollover_max_primary_shard_size,
                        }
                    },
                },
                "delete": {"min_age": policy.delete_after, "actions": {"delete": {}}},
            },
        }
    }


def to_ism(policy: LifecyclePolicy, meta: dict[str, Any]) -> dict[str, Any]:
    """The body of `PUT _plugins/_ism/policies/<name>`; the marker rides in the description (no `_meta`)."""
    marker = " ".join(f"{key}={value}" for key, value in sorted(meta.items()))
    return {
        "policy": {
            "description": f"{policy.description} [{marker}]",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [
                        {
                            "rollover": {
                                "min_index_age": policy.rollover_max_age,
                                "min_primary_shard_size": policy.rollover_max_primary_shard_size,
                            }
                        }
                    ],
                    "transitions": [
                        {"state_name": "delete", "conditions": {"min_rollover_age": policy.delete_after}}
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": list(policy.index_patterns), "priority": policy.priority}],
        }
    }
