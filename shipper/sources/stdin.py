"""Standard input (`-`): lines read as they come, framed like files (`shipper.sources.lines`).

A stream cannot be replayed, so acknowledging is a no-op; the byte offset in the stream is the
position, so piping the same file twice gives the same event ids (and no second document).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import BinaryIO

from shipper.records import Origin
from shipper.sources.base import RawRecord
from shipper.sources.lines import stream_lines


class StdinSource:
    """`max_line_bytes` has no default: it must be the normalizer's limit (`build` passes it)."""

    name = "stdin"

    def __init__(self, *, max_line_bytes: int, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdin.buffer
        self.max_line_bytes = max_line_bytes
        self._closed = False

    def records(self) -> Iterator[RawRecord | None]:
        for start, _, line in stream_lines(self.stream, self.max_line_bytes):
            if self._closed:
                return
            if line.strip():
                yield RawRecord(line, Origin("stdin", start, None), self, None)

    def acknowledge(self, ack: object) -> None:
        return None

    def close(self) -> None:
        self._closed = True
