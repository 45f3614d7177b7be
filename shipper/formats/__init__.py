"""Input formats: each turns one decoded record into ECS documents (`Draft`s).

`native` (the SDK's JSON lines), `otlp` (OTLP/JSON export files with GenAI telemetry), `litellm` (the
LiteLLM proxy's StandardLoggingPayload), `mapping` (a user's YAML mapping for any JSON log) and `ecs`
(documents another mlsiem shipper normalized and relayed); `registry.FORMATS` lists them, and `auto`
detects one of them per record. The normalizer (`shipper.normalizer`) is the entry point.
"""
