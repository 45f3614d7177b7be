"""Closed vocabularies taken from the ECS layer (so there is one definition), and the pipeline actions.

Pipeline actions (`event.action` of pipeline events, tabled in docs/formats.md) get their ECS
`event.category` / `event.type` here; an action not listed is still accepted (any lower-case word) and
filed as a `configuration` / `change` event when it ends in `_changed` or `_updated`, else `process` / `info`.
"""

from __future__ import annotations

import re
from typing import Final, get_args

from mlsiem.ecs import EventCategory, EventOutcome, EventType, GuardrailAction, ModelType

OUTCOMES: Final = frozenset(get_args(EventOutcome))
MODEL_TYPES: Final = frozenset(get_args(ModelType))
GUARDRAIL_ACTIONS: Final = frozenset(get_args(GuardrailAction))
EVENT_CATEGORIES: Final = frozenset(get_args(EventCategory))
EVENT_TYPES: Final = frozenset(get_args(EventType))

# action -> (event.category, event.type, outcome implied by the action or None)
PIPELINE_ACTIONS: Final[dict[str, tuple[str, str, str | None]]] = {
    "model_registered": ("configuration", "creation", None),
    "model_deployed": ("configuration", "change", None),
    "model_promoted": ("configuration", "change", None),
    "model_rolled_back": ("configuration", "change", None),
    "model_retired": ("configuration", "deletion", None),
    "model_deleted": ("configuration", "deletion", None),
    "logging_config_changed": ("configuration", "change", None),
    "guardrail_changed": ("configuration", "change", None),
    "config_changed": ("configuration", "change", None),
    "training_started": ("process", "start", None),
    "training_completed": ("process", "end", "success"),
    "training_failed": ("process", "end", "failure"),
    "evaluation_completed": ("process", "end", None),
    "data_validation_passed": ("process", "info", "success"),
    "data_validation_failed": ("process", "info", "failure"),
    "dataset_registered": ("configuration", "creation", None),
}
ACTION_NAME: Final = re.compile(r"[a-z][a-z0-9_.-]{0,127}")


def pipeline_action(action: str) -> tuple[str, str, str | None]:
    """ECS category, type and implied outcome of a pipeline action."""
    known = PIPELINE_ACTIONS.get(action)
    if known is not None:
        return known
    if action.endswith("_changed") or action.endswith("_updated"):
        return ("configuration", "change", None)
    return ("process", "info", None)


# GenAI providers: the semantic conventions' well-known `gen_ai.provider.name` values, and the spellings
# clients send for them (OpenLLMetry's `OpenAI`, LiteLLM's `azure` / `bedrock` / `vertex_ai`, the legacy
# `gen_ai.system` values such as `az.ai.openai`). Keys are compared lower-cased without spaces, `-`, `_`.
GENAI_PROVIDERS: Final = frozenset(
    {
        "anthropic",
        "aws.bedrock",
        "azure.ai.inference",
        "azure.ai.openai",
        "cohere",
        "deepseek",
        "gcp.gemini",
        "gcp.gen_ai",
        "gcp.vertex_ai",
        "groq",
        "ibm.watsonx.ai",
        "mistral_ai",
        "openai",
        "perplexity",
        "x_ai",
    }
)
_PROVIDER_SPELLINGS: Final[dict[str, str]] = {
    "azure": "azure.ai.openai",
    "azureopenai": "azure.ai.openai",
    "azure.openai": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "azureai": "azure.ai.inference",
    "azureaiinference": "azure.ai.inference",
    "az.ai.inference": "azure.ai.inference",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "awsbedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "googlegemini": "gcp.gemini",
    "vertexai": "gcp.vertex_ai",
    "googlevertexai": "gcp.vertex_ai",
    "watsonx": "ibm.watsonx.ai",
    "watsonx.ai": "ibm.watsonx.ai",
    "ibmwatsonx": "ibm.watsonx.ai",
    "ibmwatsonx.ai": "ibm.watsonx.ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "x.ai": "x_ai",
}
_SPELLING_NOISE: Final = re.compile(r"[\s_-]+")
_PROVIDER_KEYS: Final[dict[str, str]] = {
    **{_SPELLING_NOISE.sub("", name): name for name in GENAI_PROVIDERS},
    **_PROVIDER_SPELLINGS,
}


def provider_name(name: str) -> str:
    """The well-known `gen_ai.provider.name` for a client's spelling of it; any other name as it came."""
    return _PROVIDER_KEYS.get(_SPELLING_NOISE.sub("", name.lower()), name)
