"""The customer support assistant (a RAG service) as the OpenTelemetry Collector's file exporter
writes it: one OTLP/JSON line per request, a server span with the GenAI spans below it.

Each request embeds the question (an `embeddings` span), sometimes looks an order up (an
`execute_tool` span whose arguments are the tool call), then asks the chat model with the retrieved
context (a `chat` span with `gen_ai.input.messages` / `gen_ai.output.messages`, per the GenAI
semantic conventions). The service keeps its system instructions out of the logged messages (they
hold the document store's credential), so only the questions, context and answers are telemetry.
The customer's address and id are span attributes (`client.address`, `user.name`, `enduser.id`).

Incident: a customer extracts the system prompt; the assistant finally prints it, credential included.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from demo.scenario import attacks, texts
from demo.scenario.common import Emitted, Ids, pick, spread, window
from demo.scenario.config import ScenarioConfig
from demo.scenario.manifest import Incident
from demo.scenario.population import Population
from demo.scenario.timeline import Timeline

RESOURCE = {
    "service.name": "support-assistant",
    "service.version": "1.8.2",
    "deployment.environment.name": "prod",
}
SCOPE = {"name": "support-assistant.genai", "version": "1.8.2"}
CHAT_MODEL, CHAT_DEPLOYMENT, EMBEDDING_MODEL = (
    "claude-3-5-haiku",
    "claude-3-5-haiku-20241022",
    "text-embedding-3-small",
)
TOOL_SHARE = 0.3


def otlp_value(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP/JSON `AnyValue` (64-bit integers are strings in OTLP/JSON)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [otlp_value(v) for v in value]}}
    return {"stringValue": value}


def otlp_attribute(key: str, value: Any) -> dict[str, Any]:
    """One OTLP/JSON `KeyValue`."""
    return {"key": key, "value": otlp_value(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [otlp_attribute(key, value) for key, value in values.items()]


def _nanos(epoch: float) -> str:
    return str(round(epoch * 1e6) * 1000)


class Request:
    """One request's spans, built in time order."""

    def __init__(self, rng: np.random.Generator, ids: Ids, when: float, who: dict[str, Any]) -> None:
        self.rng, self.ids, self.trace, self.root = rng, ids, ids.hex(16), ids.hex(8)
        self.start, self.clock, self.who = when, when + float(rng.uniform(0.002, 0.01)), who
        self.spans: list[dict[str, Any]] = []

    def span(
        self, name: str, seconds: float, attributes: dict[str, Any], kind: int = 3, error: str | None = None
    ) -> None:
        begin, end = self.clock, self.clock + seconds
        span = {
            "traceId": self.trace,
            "spanId": self.ids.hex(8),
            "parentSpanId": self.root,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": _nanos(begin),
            "endTimeUnixNano": _nanos(end),
            "attributes": _attributes({**attributes, **self.who, **({"error.type": error} if error else {})}),
            "status": {"code": 2, "message": error} if error else {"code": 1},
        }
        self.spans.append(span)
        self.clock = end + float(self.rng.uniform(0.001, 0.008))

    def line(self, host: str) -> dict[str, Any]:
        end = self.clock + float(self.rng.uniform(0.001, 0.01))
        server = {
            "traceId": self.trace,
            "spanId": self.root,
            "name": "POST /v1/support/ask",
            "kind": 2,
            "startTimeUnixNano": _nanos(self.start),
            "endTimeUnixNano": _nanos(end),
            "attributes": _attributes(
                {
                    "http.request.method": "POST",
                    "url.path": "/v1/support/ask",
                    "http.response.status_code": 200,
                }
            ),
            "status": {"code": 0},
        }
        resource = _attributes({**RESOURCE, "host.name": host})
        return {
            "resourceSpans": [
                {
                    "resource": {"attributes": resource},
                    "scopeSpans": [{"scope": SCOPE, "spans": [server, *self.spans]}],
                }
            ]
        }


def _messages(role: str, text: str, finish: str | None = None) -> str:
    message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if finish:
        message["finish_reason"] = finish
    return json.dumps([message])


def _ask(request: Request, question: str, context: str | None, answer: str, error: str | None = None) -> None:
    rng = request.rng
    request.span(
        f"embeddings {EMBEDDING_MODEL}",
        float(rng.uniform(0.06, 0.2)),
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": EMBEDDING_MODEL,
            "gen_ai.usage.input_tokens": len(question) // 4 + 2,
            "server.address": "api.openai.com",
            "server.port": 443,
        },
    )
    if context is not None and rng.random() < TOOL_SHARE:
        arguments = json.dumps({"order_ref": f"CS-{int(rng.integers(100_000, 999_999))}"})
        call = [
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "name": "lookup_order_status", "arguments": arguments}],
            }
        ]
        request.span(
            "execute_tool lookup_order_status",
            float(rng.uniform(0.05, 0.4)),
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order_status",
                "gen_ai.tool.call.id": f"toolu_{request.ids.hex(10)}",
                "gen_ai.input.messages": json.dumps(call),
            },
            kind=1,
        )
    prompt = f"Context:\n{context}\n\nQuestion: {question}" if context else question
    tokens_in, tokens_out = len(prompt) // 4 + 12, 0 if error else len(answer) // 4 + 4
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": CHAT_MODEL,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        "server.address": "api.anthropic.com",
        "server.port": 443,
        "gen_ai.input.messages": _messages("user", prompt),
    }
    if not error:
        attributes.update(
            {
                "gen_ai.response.id": f"msg_{request.ids.hex(12)}",
                "gen_ai.response.model": CHAT_DEPLOYMENT,
                "gen_ai.response.finish_reasons": ["end_turn"],
                "gen_ai.output.messages": _messages("assistant", answer, "end_turn"),
            }
        )
    seconds = float(rng.lognormal(np.log(0.35), 0.3)) + tokens_out / 120.0
    request.span(f"chat {CHAT_MODEL}", seconds, attributes, error=error)


def _who(name: str, ip: str) -> dict[str, Any]:
    return {"client.address": ip, "user.name": name, "enduser.id": name}


def generate(
    rng: np.random.Generator,
    config: ScenarioConfig,
    timeline: Timeline,
    people: Population,
    incidents: dict[str, Incident],
) -> list[Emitted]:
    """Ordinary support questions over the whole timeline plus the system prompt extraction."""
    ids = Ids(rng)
    emitted: list[Emitted] = []
    for when in timeline.arrivals(rng, config.rates.agent_per_hour).tolist():
        customer = f"cust-{int(rng.integers(10_000, 99_999))}"
        request = Request(rng, ids, when, _who(customer, pick(rng, people.customer_ips)))
        question, context, answer = texts.support_question(rng)
        failed = rng.random() < 0.003
        _ask(request, question, context, answer, error="overloaded_error" if failed else None)
        emitted.append(
            Emitted(when, None, request.line(f"rag-0{1 + int(rng.integers(2))}"), events=len(request.spans))
        )
    emitted += _extraction(rng, ids, incidents["system_prompt_extraction"])
    return emitted


def _extraction(rng: np.random.Generator, ids: Ids, incident: Incident) -> list[Emitted]:
    """Six attempts; the fifth makes the assistant print its instructions with the credential."""
    begin, end = window(incident)
    who = _who(incident.entity["user.name"], incident.entity["source.ip"])
    emitted = []
    for n, when in enumerate(spread(rng, len(attacks.EXTRACTIONS), begin, end).tolist()):
        request = Request(rng, ids, when, who)
        leak = n == 4
        secrets: tuple[str, ...] = ()
        if leak:
            answer, secrets = attacks.leaked_system_prompt(rng)
        else:
            answer = pick(rng, attacks.EXTRACTION_DEFLECTIONS)
        _ask(request, attacks.EXTRACTIONS[n], None, answer)
        line = request.line("rag-01")
        emitted.append(Emitted(when, incident.kind, line, events=len(request.spans), secrets=secrets))
    return emitted
