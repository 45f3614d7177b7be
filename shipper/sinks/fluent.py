"""`--output fluent://host:port`: forward ECS documents to a Fluentd / Fluent Bit peer with fluent-logger.

The tag is `mlsiem.<kind>` (inference or pipeline), so the peer can route each kind to its own output.
"""

from __future__ import annotations

import time
from datetime import datetime
from urllib.parse import urlsplit

from fluent import sender

from mlsiem.errors import ConfigError
from shipper.records import Normalized
from shipper.sinks.base import SendResult, SinkUnavailable


def parse_fluent_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "fluent" or not parts.hostname:
        raise ConfigError(f"--output {url!r}: expected fluent://host:port")
    return parts.hostname, parts.port or 24224


class FluentSink:
    name = "fluent"

    def __init__(self, url: str, retry_budget: float = 30.0, timeout: float = 5.0) -> None:
        host, port = parse_fluent_url(url)
        self.url = f"fluent://{host}:{port}"
        self.retry_budget = retry_budget
        # No in-memory buffering inside the client: a failed emit must be visible here, not later.
        self._sender = sender.FluentSender("mlsiem", host=host, port=port, timeout=timeout, bufmax=0)

    def send(self, events: list[Normalized]) -> SendResult:
        result = SendResult()
        deadline = time.monotonic() + self.retry_budget
        for index, event in enumerate(events):
            seconds = _epoch(event.document.get("@timestamp"))
            while not self._sender.emit_with_time(event.kind, seconds, event.document):
                self._sender.clear_last_error()
                if time.monotonic() >= deadline:
                    raise SinkUnavailable(
                        f"{self.url} does not accept events", list(range(index, len(events)))
                    )
                result.retries += 1
                time.sleep(0.5)
            result.delivered += 1
        return result

    def close(self) -> None:
        self._sender.close()


def _epoch(timestamp: object) -> int:
    if isinstance(timestamp, str):
        try:
            return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return int(time.time())
