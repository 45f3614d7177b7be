"""LiteLLM proxy StandardLoggingPayload lines to ECS documents."""

from __future__ import annotations

import json

from shipper.normalizer import NormalizeConfig
from tests.normalizing import assert_conforms, example_lines, normalize_lines, one


def test_success_payload() -> None:
    events, rejected = normalize_lines(example_lines("litellm.jsonl"))
    assert rejected == []
    assert len(events) == 3
    assert_conforms(events)
    doc = one(events, event__id="chatcmpl-litellm-0001")
    assert doc["mlsiem"]["source"]["format"] == "litellm"
    assert doc["@timestamp"] == "2025-03-01T12:00:00.500000Z"
    assert doc["event"]["start"] == doc["@timestamp"] and doc["event"]["end"] == "2025-03-01T12:00:01.750000Z"
    assert doc["event"]["duration"] == 1_250_000_000
    assert doc["event"]["outcome"] == "success" and doc["event"]["action"] == "chat"
    assert doc["gen_ai"] == {
        "provider": {"name": "openai"},
        "system": "openai",
        "operation": {"name": "chat"},
        "request": {"model": "gpt-4o", "temperature": 0.3, "max_tokens": 512},
        "response": {"id": "chatcmpl-9f2", "model": "gpt-4o-2024-08-06", "finish_reasons": ["stop"]},
        "usage": {"input_tokens": 120, "output_tokens": 42},
    }
    assert doc["user"] == {"id": "u-42", "name": "customer-991", "group": {"id": "team-7", "name": "support"}}
    assert doc["source"] == {"ip": "203.0.113.9"}
    assert doc["tags"] == ["prod", "support"]
    assert doc["trace"] == {"id": "b1946ac9-2f1d-4a5c-9d0e-1f2a3b4c5d6e"}
    assert doc["labels"]["api_key_alias"] == "support-bot-prod"
    assert doc["labels"]["server_address"] == "api.openai.com"
    llm = doc["mlsiem"]["llm"]
    assert llm["cost_usd"] == 0.00123 and llm["cache_hit"] is False
    assert llm["guardrail"] == {"action": "allowed", "policies": ["presidio-pii"]}
    assert llm["prompt"] == (
        "system: You are a helpful support agent.\n"
        "user: Here is my API key [REDACTED:openai_key], why does it fail?"
    )
    assert llm["completion"] == "Please rotate that key now."
    assert doc["mlsiem"]["model"] == {"type": "llm", "name": "gpt-4o"}


def test_failure_payload_and_old_guardrail_shape() -> None:
    events, _ = normalize_lines(example_lines("litellm.jsonl"))
    doc = one(events, event__id="chatcmpl-litellm-0002")
    assert doc["event"]["outcome"] == "failure"
    assert doc["event"]["type"] == ["denied"]  # the guardrail intervened
    assert doc["error"] == {
        "type": "RateLimitError",
        "code": "429",
        "message": "litellm.RateLimitError: AnthropicException - rate limit exceeded",
    }
    assert doc["http"] == {"response": {"status_code": 429}}
    assert doc["mlsiem"]["llm"]["guardrail"] == {"action": "blocked", "policies": ["prompt-injection"]}
    assert doc["gen_ai"]["request"]["model"] == "claude-sonnet"  # the model group the caller asked for
    assert doc["gen_ai"]["response"]["model"] == "claude-3-5-sonnet-20241022"
    assert "user" in doc and "name" not in doc["user"]  # an empty end_user is no name
    assert "should-not-leak" not in json.dumps(doc)  # only the host of api_base is kept
    assert doc["labels"]["server_address"] == "api.anthropic.com"


def test_embedding_payload() -> None:
    events, _ = normalize_lines(example_lines("litellm.jsonl"))
    doc = one(events, event__id="emb-0003")
    assert doc["gen_ai"]["operation"] == {"name": "embeddings"}
    assert doc["mlsiem"]["model"] == {"type": "embedding", "name": "text-embedding-3-small"}
    assert doc["mlsiem"]["llm"]["prompt"] == "find invoices from march"
    assert "completion" not in doc["mlsiem"]["llm"]  # vectors are not text
    assert doc["mlsiem"]["llm"]["cache_hit"] is True


def test_masked_entities_mean_modified_and_policies_none_hash() -> None:
    payload = json.loads(example_lines("litellm.jsonl")[0])
    payload["guardrail_information"] = [
        {
            "guardrail_name": "presidio",
            "guardrail_status": "guardrail_intervened",
            "masked_entity_count": {"EMAIL": 1},
        }
    ]
    hashed, _ = normalize_lines([json.dumps(payload)], NormalizeConfig(content_policy="hash"))
    none, _ = normalize_lines([json.dumps(payload)], NormalizeConfig(content_policy="none"))
    llm = hashed[0].document["mlsiem"]["llm"]
    assert llm["guardrail"] == {"action": "modified", "policies": ["presidio"]}
    assert "prompt" not in llm and "completion" not in llm
    assert len(llm["prompt_sha256"]) == 64 and llm["prompt_length"] == 125
    assert set(none[0].document["mlsiem"]["llm"]) == {"cost_usd", "cache_hit", "guardrail"}
    assert_conforms(hashed + none)


def test_missing_start_time_is_rejected() -> None:
    events, rejected = normalize_lines(['{"id": "x", "call_type": "completion", "response_cost": 0}'])
    assert events == []
    assert rejected[0].reason == "litellm: LiteLLM payload has no valid `startTime` (epoch seconds)"


def test_provider_spellings_become_the_conventions_names_in_every_format() -> None:
    """LiteLLM's `custom_llm_provider` and a native record's provider read like the OTLP format's."""
    litellm = json.loads(example_lines("litellm.jsonl")[0])
    native = {"type": "inference", "ts": "2026-12-01T10:00:00Z", "model": "m", "llm": {"operation": "chat"}}
    for spelling, name in (("azure", "azure.ai.openai"), ("bedrock", "aws.bedrock"), ("OpenAI", "openai")):
        native["llm"]["provider"] = spelling
        events, rejected = normalize_lines(
            [json.dumps({**litellm, "custom_llm_provider": spelling}), json.dumps(native)]
        )
        assert rejected == []
        assert [e.document["gen_ai"]["provider"]["name"] for e in events] == [name, name]
        assert [e.document["gen_ai"]["system"] for e in events] == [name, name]
    native["llm"]["provider"] = "in-house-llm"  # not a well-known provider: kept as sent
    (event,), _ = normalize_lines([json.dumps(native)])
    assert event.document["gen_ai"]["provider"]["name"] == "in-house-llm"
