"""The interface between the pipeline and sinks: events serialized once, as the sinks send them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

import orjson

from shipper.records import EventKind, Normalized

RETRY_SECONDS: Final = 30.0  # how long a sink retries a failing batch before it reports it pending


@dataclass(slots=True)
class Encoded:
    """One event as its sink takes it: the ECS document serialized once (JSON bytes) when it is made,
    so a batch holds bytes, not dicts, and the bulk body is a join of them. In the pipeline `json` is a
    slice (memoryview) of its block's documents joined (`shipper.parallel.packed`): anything that takes
    bytes-like objects (join, +, orjson.loads, len) takes it."""

    kind: EventKind
    event_id: str
    json: bytes | memoryview


def encode(events: Iterable[Normalized]) -> list[Encoded]:
    return [Encoded(e.kind, e.event_id, orjson.dumps(e.document)) for e in events]


@dataclass
class SendResult:
    """What happened to a batch: delivered (new), duplicates (already there: delivered too), rejected."""

    delivered: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index in the batch, reason)
    retries: int = 0


class SinkUnavailable(Exception):
    """The destination could not take the events within the retry budget; `pending` are still undelivered."""

    def __init__(self, message: str, pending: list[int]) -> None:
        super().__init__(message)
        self.pending = pending  # indices in the batch


class Sink(Protocol):
    name: str

    def send(self, events: list[Encoded]) -> SendResult:
        """Deliver `events`; raise SinkUnavailable with the undelivered indices after the retry budget."""
        ...

    def close(self) -> None: ...
