"""A batch: events on their way to the sink, and the blocks they came from."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from shipper.parallel import BlockResult
from shipper.records import Origin
from shipper.sinks.base import Encoded
from shipper.sources.base import Block, Source


@dataclass
class Batch:
    """Events on their way to the sink, with what is needed to acknowledge them and, rarely, to find the
    raw record of one of them (a rejection by the sink, the spool): the blocks they came from."""

    seq: int
    events: list[Encoded] = field(default_factory=list)
    # (block, its result, first, last): this batch holds result.events[first:last], in order
    pieces: list[tuple[Block, BlockResult, int, int]] = field(default_factory=list)
    acks: dict[tuple[int, Any], tuple[Source, Any]] = field(default_factory=dict)
    records: int = 0
    size: int = 0
    opened: float = field(default_factory=time.monotonic)

    def add(self, block: Block, result: BlockResult, first: int, last: int, size: int) -> None:
        """Take result.events[first:last], `size` bytes of them with their action lines."""
        if last > first:
            self.events += result.events[first:last] if first or last < len(result.events) else result.events
            self.size += size
            self.pieces.append((block, result, first, last))

    def ack(self, source: Source, ack: Any) -> None:
        self.acks[(id(source), getattr(ack, "key", None))] = (source, ack)

    def owners(self, indices: Iterable[int]) -> tuple[list[Any], list[Origin]]:
        """The raw record and origin of each of these events (by index in the batch)."""
        spans, at = [], 0
        for block, result, first, last in self.pieces:
            spans.append((at, block, result, first))
            at += last - first
        starts = [span[0] for span in spans]
        cumulative: dict[int, list[int]] = {}
        raws, origins = [], []
        for index in indices:
            at, block, result, first = spans[bisect_right(starts, index) - 1]
            ends = cumulative.get(id(result))
            if ends is None:
                ends = cumulative[id(result)] = list(accumulate(result.counts))
            number = bisect_right(ends, first + index - at)  # the record that made this event
            raws.append(block.raws[number])
            origins.append(block.origin_of(number))
        return raws, origins
