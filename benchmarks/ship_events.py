"""The shipping benchmarks' input: native inference events of about 1 KB each.

85% classifier events with 24 features, 15% LLM calls with a chat prompt (half of those with a card
number and an e-mail address to redact). `ts` carries milliseconds, so Fluent Bit's JSON parser
(`Time_Format %Y-%m-%dT%H:%M:%S.%LZ`) reads it too. Deterministic: the same count gives the same file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

PROMPTS = (
    "Summarise the attached support ticket for the on-call engineer and list the next three steps. ",
    "Translate to German, keeping the tone formal: the invoice is overdue by thirty days. ",
    "What is the refund policy for annual plans that were purchased before March of last year? ",
)
SECRET = "My card 4111 1111 1111 1111 was charged twice, please email me at jane.doe@example.com. "


def classifier(rng: random.Random, i: int) -> dict[str, Any]:
    features: dict[str, Any] = {f"feature_{k:02d}": round(rng.random() * 1000, 4) for k in range(20)}
    features |= {"country": rng.choice(("DE", "FR", "US", "BR")), "channel": rng.choice(("web", "app"))}
    features |= {"account_age_days": rng.randrange(3000), "merchant_category": f"mcc-{rng.randrange(60)}"}
    return {
        "type": "inference",
        "ts": _ts(i),
        "service": {"name": "fraud-api", "version": "1.4.0", "environment": "prod"},
        "model": {"name": "fraud-scorer", "version": "7", "type": "classification"},
        "features": features,
        "prediction": {"label": rng.choice(("fraud", "ok")), "score": round(rng.random(), 4)},
        "latency_ms": round(rng.random() * 20, 2),
        "user": f"user-{rng.randrange(500)}",
        "source_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "trace_id": f"{rng.getrandbits(128):032x}",
    }


def llm_call(rng: random.Random, i: int) -> dict[str, Any]:
    prompt = rng.choice(PROMPTS) * 4 + (SECRET if i % 2 else "")
    return {
        "type": "inference",
        "ts": _ts(i),
        "service": {"name": "support-bot", "version": "2.0.1", "environment": "prod"},
        "llm": {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": rng.randrange(50, 3000),
            "output_tokens": rng.randrange(1, 500),
            "prompt": [
                {"role": "system", "content": "You are a helpful agent."},
                {"role": "user", "content": prompt},
            ],
            "completion": "Here is the answer you asked for, with the steps in order.",
            "finish_reasons": ["stop"],
            "cost_usd": 0.002,
        },
        "latency_ms": rng.randrange(100, 3000),
        "user": f"user-{rng.randrange(500)}",
        "source_ip": f"10.1.{rng.randrange(256)}.{rng.randrange(256)}",
    }


def _ts(i: int) -> str:
    return f"2026-12-01T{i // 3_600_000 % 24:02d}:{i // 60_000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z"


def write_events(path: Path, events: int, seed: int = 17) -> int:
    """Writes `events` lines to `path`; returns the file's size in bytes."""
    rng = random.Random(seed)
    with open(path, "wb") as handle:
        for start in range(0, events, 10_000):
            chunk = []
            for i in range(start, min(events, start + 10_000)):
                record = llm_call(rng, i) if rng.random() < 0.15 else classifier(rng, i)
                chunk.append(orjson.dumps(record) + b"\n")
            handle.write(b"".join(chunk))
    return path.stat().st_size
