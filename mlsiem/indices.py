"""The names of everything mlsiem writes, in one place (the table in README "Setup" lists them)."""

from __future__ import annotations

import re

from mlsiem.errors import ConfigError

DEFAULT_NAMESPACE = "default"
BASELINES_INDEX = "mlsiem-baselines"
STATE_INDEX = "mlsiem-state"

# A namespace becomes part of data stream names, so it follows their rules (and ECS data_stream.namespace).
_NAMESPACE = re.compile(r"^[a-z0-9_]{1,64}$")


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE.match(namespace):
        raise ConfigError(
            f"namespace {namespace!r} is not valid: use 1-64 lower-case letters, digits or underscores "
            "(it becomes part of index and data stream names)"
        )
    return namespace


def inference_stream(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"logs-mlsiem.inference-{check_namespace(namespace)}"


def pipeline_stream(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"logs-mlsiem.pipeline-{check_namespace(namespace)}"


def drift_stream(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"metrics-mlsiem.drift-{check_namespace(namespace)}"


def alerts_alias(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"mlsiem-alerts-{check_namespace(namespace)}"


def alerts_first_index(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"{alerts_alias(namespace)}-000001"


def data_streams(namespace: str = DEFAULT_NAMESPACE) -> dict[str, str]:
    """Document kind -> data stream name."""
    return {
        "inference": inference_stream(namespace),
        "pipeline": pipeline_stream(namespace),
        "drift": drift_stream(namespace),
    }
