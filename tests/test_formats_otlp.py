"""OTLP/JSON exports (Collector file exporter) with GenAI telemetry: both attribute generations."""

from __future__ import annotations

import json
from typing import Any

from demo.scenario.agent import otlp_attribute as kv
from shipper.normalizer import NormalizeConfig
from tests.normalizing import assert_conforms, example_lines, normalize_lines, one


def spans_line(*spans: dict[str, Any], resource: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {"resource": {"attributes": resource or []}, "scopeSpans": [{"spans": list(spans)}]}
            ]
        }
    )


def span(span_id: str, attributes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": "1740830400000000001",
        "endTimeUnixNano": "1740830400250000001",
        "attributes": attributes,
        **extra,
    }


def test_example_file() -> None:
    events, rejected = normalize_lines(example_lines("otlp-genai.jsonl"))
    assert rejected == []
    assert len(events) == 5  # 3 GenAI spans (the /healthz span is left out) + 2 log records
    assert_conforms(events)

    current = one(events, span__id="00f067aa0ba902b7", mlsiem__source__format="otlp", event__action="chat")
    assert current["event"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
    assert current["@timestamp"] == "2025-03-01T12:00:00.123456789Z"
    assert current["event"]["duration"] == 1_500_000_000
    assert current["event"]["outcome"] == "success"
    assert current["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert current["service"] == {"name": "support-bot", "version": "2.4.1", "environment": "prod"}
    assert current["host"] == {"name": "inf-7"}
    assert current["gen_ai"] == {
        "provider": {"name": "openai"},
        "system": "openai",
        "operation": {"name": "chat"},
        "request": {"model": "gpt-4o", "max_tokens": 256, "temperature": 0.2},
        "response": {"id": "chatcmpl-9f1", "model": "gpt-4o-2024-08-06", "finish_reasons": ["stop"]},
        "usage": {"input_tokens": 120, "output_tokens": 42},
    }
    assert current["labels"] == {"server_address": "api.openai.com", "server_port": 443}
    assert current["mlsiem"]["model"] == {"type": "llm", "name": "gpt-4o-2024-08-06"}
    llm = current["mlsiem"]["llm"]
    assert llm["prompt"] == (
        "system: You are a support agent.\n"
        "user: My card [REDACTED:card_number] was charged twice, mail me at [REDACTED:email]"
    )
    assert llm["completion"] == "I am sorry, I will refund it."
    assert llm["prompt_length"] == 113


def test_deprecated_attribute_generation_and_errors() -> None:
    events, _ = normalize_lines(example_lines("otlp-genai.jsonl"))
    legacy = one(events, span__id="22f067aa0ba902b9")
    assert legacy["gen_ai"]["provider"] == {"name": "anthropic"} and legacy["gen_ai"]["system"] == "anthropic"
    assert legacy["gen_ai"]["usage"] == {"input_tokens": 900, "output_tokens": 15}
    assert legacy["event"]["outcome"] == "failure" and legacy["event"]["type"] == ["error"]
    assert legacy["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert legacy["service"] == {"name": "research-agent", "environment": "staging"}
    # OpenLLMetry's indexed prompt attributes; the key in it is redacted
    assert legacy["mlsiem"]["llm"]["prompt"].endswith("My key is [REDACTED:anthropic_key]")
    assert legacy["mlsiem"]["llm"]["completion"] == "I can't help with that."

    events_span = one(events, span__id="33f067aa0ba902ba")
    assert events_span["mlsiem"]["llm"]["prompt"] == "What is the capital of France?"  # gen_ai.content.prompt
    assert events_span["mlsiem"]["llm"]["completion"] == "Paris."


def test_log_records_are_documents_of_their_own() -> None:
    events, _ = normalize_lines(example_lines("otlp-genai.jsonl"))
    user_message = one(events, event__action="gen_ai.user.message")
    # details of the call their span reports: kept, but not counted as calls (test_otlp_counting.py)
    assert user_message["event"]["kind"] == "enrichment"
    assert user_message["mlsiem"]["llm"]["prompt"] == "Reset my password, my phone is [REDACTED:phone_number]"
    assert user_message["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    choice = one(events, event__action="gen_ai.choice")
    assert choice["mlsiem"]["llm"]["completion"] == "Done: a reset link is on its way."
    assert choice["gen_ai"]["response"]["finish_reasons"] == ["stop"]
    # no id of their own: the line's content hash, numbered after the first
    assert choice["event"]["id"] == user_message["event"]["id"] + "-1"


def test_both_generations_give_the_same_fields() -> None:
    current = [
        kv("gen_ai.provider.name", "aws.bedrock"),
        kv("gen_ai.usage.input_tokens", 10),
        kv("gen_ai.usage.output_tokens", 3),
    ]
    legacy = [
        kv("gen_ai.system", "aws.bedrock"),
        kv("gen_ai.usage.prompt_tokens", 10),
        kv("gen_ai.usage.completion_tokens", 3),
    ]
    events, _ = normalize_lines([spans_line(span("a" * 16, current)), spans_line(span("b" * 16, legacy))])
    assert_conforms(events)
    first, second = (e.document for e in events)
    assert (
        first["gen_ai"]
        == second["gen_ai"]
        == {
            "provider": {"name": "aws.bedrock"},
            "system": "aws.bedrock",
            "usage": {"input_tokens": 10, "output_tokens": 3},
        }
    )


def test_status_and_structured_messages() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    unset_with_error = span("c" * 16, [kv("gen_ai.system", "openai"), kv("error.type", "timeout")], status={})
    unset = span("d" * 16, [kv("gen_ai.system", "openai")], status={"code": 0})
    text_code = span(
        "e" * 16,
        [kv("gen_ai.system", "openai")],
        status={"code": "STATUS_CODE_ERROR", "message": "token sk-proj-ABCDEFGHIJKLMNOPQRSTUV rejected"},
    )
    structured = span(
        "f" * 16,
        [
            {"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(messages)}},
            kv("gen_ai.system", "x"),
        ],
    )
    events, _ = normalize_lines([spans_line(unset_with_error, unset, text_code, structured)])
    assert_conforms(events)
    outcomes = [e.document["event"]["outcome"] for e in events]
    assert outcomes == ["failure", "success", "failure", "success"]
    assert events[2].document["error"]["message"] == "token [REDACTED:openai_key] rejected"
    assert events[3].document["mlsiem"]["llm"]["prompt"] == "hi"


def test_only_genai_telemetry_by_default() -> None:
    plain = span("1" * 16, [kv("http.request.method", "GET")])
    line = spans_line(plain)
    events, rejected = normalize_lines([line])
    assert events == []
    assert "1 span(s)/log record(s), none with GenAI attributes" in rejected[0].reason
    assert rejected[0].raw == line
    events, rejected = normalize_lines([line], NormalizeConfig(otlp_genai_only=False))
    assert rejected == [] and len(events) == 1
    assert events[0].document["http"] == {"request": {"method": "GET"}}
    assert_conforms(events)


def test_bad_spans_are_reported_and_good_ones_kept() -> None:
    good = span("2" * 16, [kv("gen_ai.system", "openai"), kv("gen_ai.usage.input_tokens", "many")])
    no_time = span("3" * 16, [kv("gen_ai.system", "openai")], startTimeUnixNano="soon", endTimeUnixNano=None)
    events, rejected = normalize_lines([spans_line(good, no_time, "junk")])  # type: ignore[arg-type]
    assert len(events) == 1
    assert events[0].document["labels"]["malformed_fields"] == "gen_ai.usage.input_tokens"
    assert len(rejected) == 1
    assert (
        "span 0af7651916cd43dd8448eb211c80319c-3333333333333333: no valid startTimeUnixNano"
        in rejected[0].reason
    )
    events, rejected = normalize_lines(['{"resourceSpans": "nope"}'], NormalizeConfig(format="otlp"))
    assert events == [] and "`resourceSpans` is not a list" in rejected[0].reason
