"""OTLP/JSON as real GenAI clients write it (tests/data/otlp/README.md says which package made each file)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from shipper.normalize.vocab import GENAI_PROVIDERS, provider_name
from tests.normalizing import assert_conforms, normalize_lines, one

DATA = Path(__file__).resolve().parent / "data" / "otlp"


def lines(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8").splitlines()


# ------------------------------------------------------------------------------------- OpenLLMetry 0.40


def test_openllmetry_request_type_gives_the_operation_and_model_type() -> None:
    events, rejected = normalize_lines(lines("openllmetry-0.40.14.jsonl"))
    assert rejected == []
    assert_conforms(events)
    chat = one(events, message="openai.chat")  # `llm.request.type: chat`, no `gen_ai.operation.name`
    assert chat["event"]["action"] == "chat"
    assert chat["gen_ai"]["operation"] == {"name": "chat"}
    assert chat["mlsiem"]["model"] == {"type": "llm", "name": "gpt-4o-mini-2024-07-18"}
    # `gen_ai.completion.0.finish_reason`
    assert chat["gen_ai"]["response"]["finish_reasons"] == ["stop"]
    assert chat["gen_ai"]["usage"] == {"input_tokens": 14, "output_tokens": 7}
    assert chat["mlsiem"]["llm"]["completion"] == "Paris is the capital of France."
    embedding = one(events, message="openai.embeddings")  # `llm.request.type: embedding`
    assert embedding["event"]["action"] == "embeddings"
    assert embedding["gen_ai"]["operation"] == {"name": "embeddings"}
    assert embedding["mlsiem"]["model"] == {"type": "embedding", "name": "text-embedding-3-small"}
    assert "finish_reasons" not in embedding["gen_ai"]["response"]


# ------------------------------------------------------------------------------------- LiteLLM callback


def test_litellm_callback_spans() -> None:
    events, rejected = normalize_lines(lines("litellm-1.110.2-otel.jsonl"))
    assert rejected == []  # its `raw_gen_ai_request` child spans carry no GenAI attribute: left out
    assert_conforms(events)
    assert len(events) == 4
    chats = [e.document for e in events if e.document["event"]["action"] == "chat"]
    embeddings = [e.document for e in events if e.document["event"]["action"] == "embeddings"]
    assert len(chats) == 2 and len(embeddings) == 2  # `chat`/`acompletion`, `embedding`/`aembedding`
    for chat in chats:
        assert chat["gen_ai"]["operation"] == {"name": "chat"}
        assert chat["gen_ai"]["response"]["finish_reasons"] == ["stop"]  # sent as the string '["stop"]'
        assert chat["mlsiem"]["model"]["type"] == "llm"
        assert chat["mlsiem"]["llm"]["cost_usd"] == pytest.approx(6.3e-06)  # gen_ai.cost.total_cost
        assert chat["user"] == {"id": "u-42"}  # metadata.user_api_key_user_id
        assert chat["gen_ai"]["provider"] == {"name": "openai"}
    for embedding in embeddings:
        assert embedding["gen_ai"]["operation"] == {"name": "embeddings"}
        assert embedding["mlsiem"]["model"] == {"type": "embedding", "name": "text-embedding-3-small"}
        assert embedding["mlsiem"]["llm"]["cost_usd"] == pytest.approx(1e-07)
        assert embedding["user"] == {"id": "u-42"}
        assert "provider" not in embedding["gen_ai"] and "labels" not in embedding  # `gen_ai.system: ""`


def test_litellm_values_that_do_not_fit() -> None:
    export = json.loads(lines("litellm-1.110.2-otel.jsonl")[0])
    attributes = export["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    changed = {
        "gen_ai.response.finish_reasons": {"stringValue": '["stop", "length"]'},
        "gen_ai.cost.total_cost": {"stringValue": "free"},
        "metadata.user_api_key_user_id": {"stringValue": ""},
    }
    for attribute in attributes:
        attribute["value"] = changed.get(attribute["key"], attribute["value"])
    events, _ = normalize_lines([json.dumps(export)])
    chat = events[0].document
    assert chat["gen_ai"]["response"]["finish_reasons"] == ["stop", "length"]
    assert "cost_usd" not in chat["mlsiem"]["llm"] and "user" not in chat
    assert chat["labels"]["malformed_fields"] == "mlsiem.llm.cost_usd"


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


# ------------------------------------------------------------------------------------- base64 ids


def _hex_ids(node: Any) -> Any:
    """What the Collector's file exporter would have written: the same export with hex ids."""
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and v else _hex_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def test_base64_ids_of_the_protobuf_json_mapping_become_hex() -> None:
    raw = lines("openai-v2-2.4b0-protobuf-json-base64-ids.jsonl")
    assert json.loads(raw[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"].endswith("==")
    events, rejected = normalize_lines(raw)
    assert rejected == []
    assert_conforms(events)
    pairs = [
        pair
        for line in raw  # line by line, so that offsets agree
        for pair in zip(
            normalize_lines([line])[0],
            normalize_lines([json.dumps(_hex_ids(json.loads(line)))])[0],
            strict=True,
        )
    ]
    assert len(pairs) == len(events) == 8
    for event, expected in pairs:
        trace_id = event.document["trace"]["id"]
        assert len(trace_id) == 32 and int(trace_id, 16) >= 0 and len(event.document["span"]["id"]) == 16
        # the same documents as from hex ids (log records' content-hash ids aside: their raw bytes differ)
        if expected.event_id == f"{trace_id}-{event.document['span']['id']}":  # a span
            assert event.document == expected.document
        else:
            assert {**event.document, "event": {}} == {**expected.document, "event": {}}


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("traceId", "VlvjjDnNjlNJ6sUD6XVO", "traceId 'VlvjjDnNjlNJ6sUD6XVO' is neither 32 hex digits"),
        ("traceId", "not an id at all", "traceId 'not an id at all' is neither 32 hex digits"),
        ("spanId", "AAAAAAAAAAAAAAAAAAAAAA==", "spanId 'AAAAAAAAAAAAAAAAAAAAAA==' is neither 16 hex digits"),
        ("spanId", 12345, "spanId 'int' is neither 16 hex digits nor base64 of 8 bytes"),
    ],
)
def test_ids_neither_hex_nor_base64_of_the_right_size_are_dead_lettered(
    field: str, value: Any, problem: str
) -> None:
    export = json.loads(lines("openai-v2-2.4b0-protobuf-json-base64-ids.jsonl")[0])
    spans = export["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0][field] = value
    line = json.dumps(export)
    events, rejected = normalize_lines([line])
    assert len(events) == len(spans) - 1  # the others still become events
    assert len(rejected) == 1 and rejected[0].raw == line
    assert f"span chat gpt-4o-mini: {problem}" in rejected[0].reason
