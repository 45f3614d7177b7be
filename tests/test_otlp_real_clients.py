"""OTLP/JSON as real GenAI clients write it (tests/data/otlp/README.md says which package made each file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipper.normalize.vocab import GENAI_PROVIDERS, provider_name
from tests.normalizing import assert_conforms, normalize_lines, one

DATA = Path(__file__).resolve().parent / "data" / "otlp"


def lines(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8").splitlines()


# ------------------------------------------------------------------------------------- provider names


def test_openllmetry_provider_spelling_becomes_the_well_known_name() -> None:
    events, rejected = normalize_lines(lines("openllmetry-0.40.14.jsonl"))
    assert rejected == []
    assert_conforms(events)
    chat = one(events, message="openai.chat")  # OpenLLMetry writes `gen_ai.system: OpenAI`
    assert chat["gen_ai"]["provider"] == {"name": "openai"} and chat["gen_ai"]["system"] == "openai"


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("OpenAI", "openai"),
        ("Azure OpenAI", "azure.ai.openai"),
        ("azure", "azure.ai.openai"),
        ("az.ai.openai", "azure.ai.openai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("Anthropic", "anthropic"),
        ("Bedrock", "aws.bedrock"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("Vertex AI", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("MistralAI", "mistral_ai"),
        ("xai", "x_ai"),
        ("IBM watsonx.ai", "ibm.watsonx.ai"),
        ("my-gateway", "my-gateway"),  # not a known provider: kept as sent
    ],
)
def test_provider_spellings(spelling: str, name: str) -> None:
    assert provider_name(spelling) == name


def test_well_known_names_map_to_themselves() -> None:
    assert all(provider_name(name) == name for name in GENAI_PROVIDERS)
