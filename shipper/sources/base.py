"""The interface between sources and the pipeline."""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shipper.records import Origin


@dataclass(slots=True)
class RawRecord:
    """One raw record and how to acknowledge it.

    `ack` is opaque to the pipeline: the source that made the record gets it back once the record and
    all records the source produced before it are delivered.
    """

    raw: bytes | dict[str, Any]
    origin: Origin
    source: Source
    ack: Any = None


class Source(Protocol):
    name: str

    def records(self) -> Iterator[RawRecord | list[RawRecord] | None]:
        """Yield records, one at a time or as a list read at once (cheaper: one queue hand-over per
        list); yield None when nothing is available right now (lets the pipeline flush)."""
        ...

    def acknowledge(self, ack: Any) -> None:
        """Everything up to and including the record carrying `ack` is delivered."""
        ...

    def close(self) -> None: ...


class RecordQueue(queue.Queue):
    """A queue of record lists whose size and bound count records, not lists: a chunk of 1,000 lines
    is one put and one get (one lock round trip instead of 1,000), but still 1,000 records of the
    bound. A list is taken whenever the queue holds fewer records than the bound, however long."""

    def _init(self, maxsize: int) -> None:
        self.queue: deque = deque()
        self.records = 0

    def _qsize(self) -> int:
        return self.records

    def _put(self, item: list) -> None:
        self.queue.append(item)
        self.records += len(item) or 1  # an empty list (an end marker) must count, or get() would not see it

    def _get(self) -> list:
        item = self.queue.popleft()
        self.records -= len(item) or 1
        return item
