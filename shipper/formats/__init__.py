"""Input formats: each turns one decoded record into ECS documents (`Draft`s).

`native` (the SDK's JSON lines), `otlp` (OTLP/JSON export files with GenAI telemetry), `litellm` (the
LiteLLM proxy's StandardLoggingPayload), `mapping` (a user's YAML mapping for any JSON log), `ecs`
(documents another mlsiem shipper normalized and relayed) and `auto` (detects one of these per record).
The normalizer (`shipper.normalizer`) is the entry point.
"""

from __future__ import annotations

from typing import Literal

FormatName = Literal["auto", "native", "otlp", "litellm", "mapping", "ecs"]
