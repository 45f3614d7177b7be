"""The interface between sources and the pipeline: blocks of raw records, acknowledged in order."""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipper.records import Origin


@dataclass(slots=True)
class Block:
    """Raw records a source read at once (a file's chunk, a forward message, an OTLP request), as columns.

    One block is one queue hand-over and one worker task, and it holds no object per record beyond the
    record itself: a chunk of 1,000 lines is 1,000 bytes objects and two lists of offsets, not 1,000
    record, origin and ack objects. Record `i` is `raws[i]` (the bytes of a line, or a decoded dict);
    its origin is `origins[i]` when the source gave one per record, else `origin` with the offset
    `starts[i]` (files) or none (streams). `acks` are `(index, ack)` marks, in order: once record
    `index` and every record the source produced before it are delivered, the source gets `ack` back
    through `acknowledge`. Records between marks need none (a file's registry moves per block).
    """

    source: Source
    origin: Origin
    raws: list[Any]
    starts: list[int] | None = None
    origins: list[Origin] | None = None
    acks: list[tuple[int, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.raws)

    def origin_of(self, index: int) -> Origin:
        if self.origins is not None:
            return self.origins[index]
        if self.starts is not None:
            origin = self.origin
            return Origin(origin.source, self.starts[index], origin.path)
        return self.origin

    def all_origins(self) -> list[Origin]:
        if self.origins is not None:
            return self.origins
        origin = self.origin
        if self.starts is None:
            return [origin] * len(self.raws)
        source, path = origin.source, origin.path
        return [Origin(source, start, path) for start in self.starts]

    def absorb(self, other: Block) -> bool:
        """Append `other` when it shares this block's source and stream (a burst of forward messages
        becomes one hand-over); False when it cannot."""
        if (
            other.source is not self.source
            or other.origin != self.origin
            or self.starts is not None
            or other.starts is not None
            or (self.origins is None) != (other.origins is None)
        ):
            return False
        shift = len(self.raws)
        self.raws += other.raws
        if self.origins is not None and other.origins is not None:
            self.origins += other.origins
        self.acks += [(index + shift, ack) for index, ack in other.acks]
        return True


class Source(Protocol):
    name: str

    def records(self) -> Iterator[Block | None]:
        """Yield blocks of records; yield None when nothing is available right now (lets the pipeline
        flush)."""
        ...

    def acknowledge(self, ack: Any) -> None:
        """Everything up to and including the record carrying `ack` is delivered."""
        ...

    def close(self) -> None: ...


class RecordQueue(queue.Queue):
    """A queue of blocks whose size and bound count records, not blocks: a chunk of 1,000 lines is one
    put and one get (one lock round trip instead of 1,000), but still 1,000 records of the bound. A
    block is taken whenever the queue holds fewer records than the bound, however long."""

    def _init(self, maxsize: int) -> None:
        self.queue: deque = deque()
        self.records = 0

    def _qsize(self) -> int:
        return self.records

    def _put(self, item: Any) -> None:
        self.queue.append(item)
        self.records += len(item) or 1  # an empty item (an end marker) must count, or get() would not see it

    def _get(self) -> Any:
        item = self.queue.popleft()
        self.records -= len(item) or 1
        return item
