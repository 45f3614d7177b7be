"""Bulk delivery into OpenSearch or Elasticsearch through the adapter.

Every event is a `create` with its deterministic id, so a retried or re-shipped event never becomes
a second document: the engine's 409 means "already delivered". Whole-request failures (connection,
429, 5xx) and per-item 429 / 5xx are retried with exponential backoff and full jitter; per-item 4xx
(mapping errors and the like) are rejected at once with the engine's reason, for the dead-letter file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import orjson

from mlsiem.adapter import Engine
from mlsiem.errors import EngineError
from mlsiem.indices import data_streams
from shipper.sinks.base import RETRY_SECONDS, Encoded, SendResult, SinkUnavailable

RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
ANSWER = "errors,items.*.status,items.*.error"  # all of the bulk answer that `send` reads (filter_path)


def _item_reason(item: dict) -> str:
    error = item.get("error") or {}
    if isinstance(error, dict):
        reason = f"{error.get('type')}: {error.get('reason')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return f"engine rejected the event ({item.get('status')}): {reason}"
    return f"engine rejected the event ({item.get('status')}): {error}"


class EngineSink:
    """Sends batches with `_bulk`; retries within `retry_budget` seconds, then reports what is pending."""

    name = "engine"

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        namespace: str = "default",
        retry_budget: float = RETRY_SECONDS,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        on_latency: Callable[[float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # A function instead of an Engine connects on the first delivery: a shipper started while the
        # engine is down reads on and spools, as it does when the engine goes away later.
        self._engine = engine if isinstance(engine, Engine) else None
        self._connect = None if isinstance(engine, Engine) else engine
        self.streams = data_streams(namespace)
        # The action line up to the id, per kind: `{"create":{"_index":"...","_id":` + id + `}}`.
        self._actions = {
            kind: b'{"create":{"_index":' + orjson.dumps(stream) + b',"_id":'
            for kind, stream in self.streams.items()
        }
        self.retry_budget = retry_budget
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.on_latency = on_latency
        self.sleep = sleep

    def engine(self) -> Engine:
        """The connected engine; connects first when the sink was made with a connect function."""
        if self._engine is None:
            assert self._connect is not None
            self._engine = self._connect()
        return self._engine

    def _body(self, events: list[Encoded], indices: list[int]) -> bytes:
        actions, dumps = self._actions, orjson.dumps
        parts = []
        for i in indices:
            event = events[i]
            parts.append(actions[event.kind] + dumps(event.event_id) + b"}}")
            parts.append(event.json)
        parts.append(b"")
        return b"\n".join(parts)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_initial * 2**attempt))

    def send(self, events: list[Encoded]) -> SendResult:
        result = SendResult()
        pending = list(range(len(events)))
        deadline = time.monotonic() + self.retry_budget
        attempt = 0
        last_problem = ""
        while pending:
            try:
                began = time.monotonic()
                response = self.engine().bulk(self._body(events, pending), filter_path=ANSWER)
                if self.on_latency:
                    self.on_latency(time.monotonic() - began)
            except EngineError as exc:
                if exc.status is not None and exc.status not in RETRYABLE_STATUSES:
                    # The whole request was refused (e.g. 400 on a malformed body, 401/403): not transient.
                    raise SinkUnavailable(str(exc), pending) from None
                last_problem = str(exc)
            else:
                items = response.get("items") or []
                if response.get("errors") is False and len(items) == len(pending):
                    result.delivered += len(pending)  # every item created: no need to look at each
                    break
                if len(items) != len(pending):  # a truncated answer: nothing is known, send again
                    items = [{"create": {"status": 0}}] * len(pending)
                retry = []
                for i, item in zip(pending, items, strict=True):
                    outcome = item.get("create") or next(iter(item.values()))
                    status = int(outcome.get("status", 0))
                    if status in (200, 201):
                        result.delivered += 1
                    elif status == 409:
                        result.duplicates += 1
                    elif status in RETRYABLE_STATUSES or status == 0:
                        retry.append(i)
                        last_problem = _item_reason(outcome)
                    else:
                        result.rejected.append((i, _item_reason(outcome)))
                pending = retry
                if not pending:
                    break
            if time.monotonic() >= deadline:
                where = f"{self._engine.description}: " if self._engine is not None else ""
                raise SinkUnavailable(f"{where}{last_problem}", pending)
            result.retries += 1
            self.sleep(min(self._backoff(attempt), max(0.0, deadline - time.monotonic())))
            attempt += 1
        return result

    def close(self) -> None:
        return None
