"""The LLM proxy's telemetry: LiteLLM `StandardLoggingPayload` lines for every call it routes.

Two applications call the proxy: the employees' internal assistant (one key per team, each employee
with a main model and an occasional second one) and the customer web chat (gpt-4o-mini, customers
identified by `end_user`). The proxy trusts X-Forwarded-For (LiteLLM's `use_x_forwarded_for`), so
`requester_ip_address` is the customer's address, not the chat backend's. Latency is time to first
token plus output tokens at the model's speed; cost uses the providers' list prices.

Incidents: a latency spike on gpt-4o-mini (the provider degrades), and the attacks that come
through the proxy (prompt injection, jailbreaks, pasted secrets, cost harvesting on a stolen key, a
burst of requests for models the key may not use).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from demo.scenario import attacks, texts
from demo.scenario.common import Emitted, Ids, inside, pick, spread, window
from demo.scenario.config import ScenarioConfig
from demo.scenario.manifest import Incident
from demo.scenario.population import Caller, Population
from demo.scenario.timeline import Timeline

# model group -> provider, deployment, USD per 1M input / output tokens, output tokens per second
MODELS: dict[str, tuple[str, str, float, float, float]] = {
    "gpt-4o": ("openai", "gpt-4o-2024-08-06", 2.5, 10.0, 60.0),
    "gpt-4o-mini": ("openai", "gpt-4o-mini-2024-07-18", 0.15, 0.6, 90.0),
    "claude-3-5-sonnet": ("anthropic", "claude-3-5-sonnet-20241022", 3.0, 15.0, 55.0),
    "o1": ("openai", "o1-2024-12-17", 15.0, 60.0, 90.0),
}
API_BASE = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"}
CUSTOMER_SHARE = 0.4
SPIKE_MODEL = "gpt-4o-mini"  # the busiest model: enough calls per detector window even in short runs
ASSISTANT_AGENT, WEBCHAT_AGENT = "northwind-assistant/4.2.0 (web)", "northwind-webchat/1.9.3"


def _key(alias: str) -> dict[str, Any]:
    """The proxy's metadata about the virtual key a call used (its hash, never the key)."""
    return {
        "user_api_key_hash": hashlib.sha256(f"sk-litellm-{alias}".encode()).hexdigest(),
        "user_api_key_alias": alias,
    }


class Proxy:
    """Builds payloads; one instance per run (holds the random stream)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.ids = rng, Ids(rng)

    def payload(
        self,
        when: float,
        group: str,
        caller: tuple[str, str, str, str],
        ip: str,
        messages: list[dict],
        answer: str | None,
        user_agent: str,
        *,
        output_tokens: int | None = None,
        slow: float = 1.0,
        error: tuple[str, str, str] | None = None,
        guardrail: tuple[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One routed call. `caller` = (end_user, user id, team, key alias); `error` = (code, class, text)."""
        rng = self.rng
        provider, deployment, price_in, price_out, speed = MODELS.get(group, ("", group, 0.0, 0.0, 50.0))
        end_user, user_id, team, alias = caller
        prompt_chars = sum(len(m["content"]) for m in messages)
        tokens_in = int(prompt_chars / 3.9) + 8
        tokens_out = output_tokens if output_tokens is not None else int(len(answer or "") / 3.8) + 5
        if error is not None and error[0] in ("400", "401", "403"):  # refused by the proxy itself
            tokens_in = tokens_out = 0
            duration = float(rng.uniform(0.01, 0.08))
        elif error is not None:
            tokens_out = 0
            duration = float(rng.uniform(0.1, 0.6))
        else:
            duration = (float(rng.lognormal(np.log(0.45), 0.3)) + tokens_out / speed) * slow
        call_id = self.ids.hex(12)
        record: dict[str, Any] = {
            "id": f"chatcmpl-{call_id}",
            "trace_id": self.ids.hex(16),
            "call_type": "acompletion",
            "stream": False,
            "response_cost": round((tokens_in * price_in + tokens_out * price_out) / 1e6, 6),
            "status": "failure" if error else "success",
            "custom_llm_provider": provider,
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
            "startTime": round(when, 6),
            "endTime": round(when + duration, 6),
            "model": deployment,
            "model_group": group,
            "api_base": API_BASE.get(provider, ""),
            "metadata": {
                **_key(alias),
                "user_api_key_user_id": user_id,
                "user_api_key_team_alias": team,
                "requester_ip_address": ip,
            },
            "cache_hit": False,
            "request_tags": [team] if team else [],
            "end_user": end_user,
            "requester_ip_address": ip,
            "user_agent": user_agent,
            "messages": messages,
            "model_parameters": params or {"temperature": 0.3, "max_tokens": 1024},
        }
        if error is None and answer is not None:
            record["response"] = {
                "id": f"chatcmpl-{call_id[:12]}",
                "object": "chat.completion",
                "created": int(when + duration),
                "model": deployment,
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}
                ],
                "usage": {
                    "prompt_tokens": tokens_in,
                    "completion_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                },
            }
        else:
            record["response"] = None
        if error is not None:
            code, error_class, text = error
            record["error_str"] = text
            record["error_information"] = {
                "error_code": code,
                "error_class": error_class,
                "llm_provider": provider or None,
            }
        if guardrail is not None:
            name, status = guardrail
            record["guardrail_information"] = [
                {
                    "guardrail_name": name,
                    "guardrail_mode": "pre_call",
                    "guardrail_status": status,
                    "duration": 0.02,
                }
            ]
        return record


def _messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def generate(
    rng: np.random.Generator,
    config: ScenarioConfig,
    timeline: Timeline,
    people: Population,
    incidents: dict[str, Incident],
) -> list[Emitted]:
    """Ordinary assistant and web-chat traffic, the two provider incidents, and the proxy's attacks."""
    proxy = Proxy(rng)
    times = timeline.arrivals(rng, config.rates.llm_per_hour)
    slow = inside(times, incidents["latency_spike"])
    staff = rng.choice(len(people.employees), size=times.size, p=people.employee_weights)
    emitted: list[Emitted] = []
    for i, when in enumerate(times.tolist()):
        if rng.random() < CUSTOMER_SHARE:
            customer = f"cust-{int(rng.integers(10_000, 99_999))}"
            ip = pick(rng, people.customer_ips)
            prompt, answer = texts.customer_prompt(rng)
            group, system, agent = "gpt-4o-mini", texts.WEBCHAT_SYSTEM, WEBCHAT_AGENT
            caller = (customer, "u-webchat", "digital", "webchat-prod")
            guardrail: tuple[str, str] | None = ("lakera-prompt-injection", "success")
        else:
            person: Caller = people.employees[int(staff[i])]
            prompt, answer = texts.employee_prompt(rng, person.team)
            group = person.models[0] if len(person.models) == 1 or rng.random() < 0.85 else person.models[1]
            ip, system, agent = person.ip, texts.ASSISTANT_SYSTEM, ASSISTANT_AGENT
            caller = (person.name, person.user_id, person.team, f"assistant-{person.team}")
            guardrail = None
        error = None
        if rng.random() < 0.002:  # the rare upstream failure of ordinary operation
            error = (
                "500",
                "InternalServerError",
                "litellm.InternalServerError: upstream connection reset by peer",
            )
        spike = group == SPIKE_MODEL and bool(slow[i])
        kind = "latency_spike" if spike else None
        record = proxy.payload(
            when,
            group,
            caller,
            ip,
            _messages(system, prompt),
            answer,
            agent,
            slow=float(rng.uniform(3.6, 4.6)) if spike else 1.0,
            error=error,
            guardrail=guardrail,
        )
        emitted.append(Emitted(when, kind, record))
    emitted += _chat_attack(proxy, incidents["prompt_injection"], attacks.injection, injection=True)
    emitted += _chat_attack(proxy, incidents["jailbreak"], attacks.jailbreak, injection=False)
    emitted += _secrets(proxy, people, incidents["secrets_in_prompts"])
    emitted += _denied(proxy, people, incidents["denied_model_burst"])
    emitted += _cost_harvesting(proxy, incidents["cost_harvesting"])
    return emitted


def _chat_attack(proxy: Proxy, incident: Incident, text, injection: bool) -> list[Emitted]:  # type: ignore[no-untyped-def]
    """A web-chat customer trying one phrasing after another; the guardrail stops about half (four of
    eight injections, five of nine jailbreaks: enough for the repeated-blocks rule to have a say)."""
    rng = proxy.rng
    begin, end = window(incident)
    count = 8 if injection else 9
    ip, customer = incident.entity["source.ip"], incident.entity["user.name"]
    emitted = []
    for n, when in enumerate(spread(rng, count, begin, end).tolist()):
        prompt = text(rng, n)
        blocked = n % 2 == (1 if injection else 0)
        if blocked:
            error = (
                "400",
                "GuardrailRaisedException",
                "Violated guardrail policy: " + ("prompt injection detected" if injection else "jailbreak"),
            )
            guardrail = ("lakera-prompt-injection", "guardrail_intervened")
            answer = None
        else:
            error, guardrail = None, ("lakera-prompt-injection", "success")
            answer = pick(rng, attacks.INJECTION_ANSWERS) if injection else attacks.refusal(rng)
        record = proxy.payload(
            when,
            "gpt-4o-mini",
            (customer, "u-webchat", "digital", "webchat-prod"),
            ip,
            _messages(texts.WEBCHAT_SYSTEM, prompt),
            answer,
            WEBCHAT_AGENT,
            error=error,
            guardrail=guardrail,
        )
        emitted.append(Emitted(when, incident.kind, record))
    return emitted


def _secrets(proxy: Proxy, people: Population, incident: Incident) -> list[Emitted]:
    rng = proxy.rng
    person = people.employee(incident.entity["user.name"])
    pasted = attacks.pasted_secrets(rng)
    begin, end = window(incident)
    emitted = []
    for (prompt, secrets), when in zip(pasted, spread(rng, len(pasted), begin, end).tolist(), strict=True):
        answer = (
            "The file looks syntactically fine; the error usually means the credentials are wrong or "
            "rotated. Check them in the console and rotate anything you have shared."
        )
        record = proxy.payload(
            when,
            "gpt-4o",
            (person.name, person.user_id, person.team, f"assistant-{person.team}"),
            person.ip,
            _messages(texts.ASSISTANT_SYSTEM, prompt),
            answer,
            ASSISTANT_AGENT,
        )
        emitted.append(Emitted(when, incident.kind, record, secrets=secrets))
    return emitted


def _denied(proxy: Proxy, people: Population, incident: Incident) -> list[Emitted]:
    """The same request against one premium model after another; the key allows gpt-4o-mini only."""
    rng = proxy.rng
    person = people.employee(incident.entity["user.name"])
    begin, end = window(incident)
    prompt = (
        f"Summarize the attached quarterly operations report in ten bullet points "
        f"(report OPS-{int(rng.integers(100, 999))})."
    )
    emitted = []
    for model, when in zip(
        attacks.DENIED_MODELS, spread(rng, len(attacks.DENIED_MODELS), begin, end).tolist(), strict=True
    ):
        error = (
            "401",
            "ProxyException",
            "Authentication Error - key not allowed to access model. This key can only access "
            f"models=['gpt-4o-mini']. Tried to access {model}",
        )
        record = proxy.payload(
            when,
            model,
            (person.name, person.user_id, person.team, f"assistant-{person.team}"),
            person.ip,
            _messages(texts.ASSISTANT_SYSTEM, prompt),
            None,
            ASSISTANT_AGENT,
            error=error,
        )
        record["custom_llm_provider"] = ""
        record["api_base"] = ""
        emitted.append(Emitted(when, incident.kind, record))
    return emitted


def _cost_harvesting(proxy: Proxy, incident: Incident) -> list[Emitted]:
    """Huge prompts with maximal reasoning outputs on o1 through a leaked service key."""
    rng = proxy.rng
    begin, end = window(incident)
    user, ip = incident.entity["user.name"], incident.entity["source.ip"]
    emitted = []
    for when in spread(rng, 40, begin, end).tolist():
        padding = texts.catalogue_text(rng, int(rng.integers(36_000, 60_000)))
        prompt = (
            "Rewrite the following product catalogue in twelve languages, keep every detail and expand "
            "each entry to at least 2000 words:\n" + padding
        )
        answer = texts.catalogue_text(rng, int(rng.integers(6_000, 9_000)))
        record = proxy.payload(
            when,
            "o1",
            (user, "u-svc-07", "marketing", "content-generator"),
            ip,
            [{"role": "user", "content": prompt}],
            answer,
            "OpenAI/Python 1.51.0",
            output_tokens=int(rng.integers(22_000, 30_000)),
            params={"max_completion_tokens": 32_768, "reasoning_effort": "high"},
        )
        emitted.append(Emitted(when, incident.kind, record))
    return emitted
