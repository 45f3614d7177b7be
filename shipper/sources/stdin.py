"""Standard input (`-`): lines read as they come.

A stream cannot be replayed, so acknowledging is a no-op; the byte offset in the stream is the
position, so piping the same file twice gives the same event ids (and no second document).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import BinaryIO

from shipper.records import Origin
from shipper.sources.base import RawRecord


class StdinSource:
    name = "stdin"

    def __init__(self, stream: BinaryIO | None = None, max_line_bytes: int = 1 << 20) -> None:
        self.stream = stream or sys.stdin.buffer
        self.max_line_bytes = max_line_bytes
        self._closed = False

    def records(self) -> Iterator[RawRecord | None]:
        pos = 0
        while not self._closed:
            line = self.stream.readline(self.max_line_bytes + 2)
            if not line:
                return
            start = pos
            pos += len(line)
            body = line.rstrip(b"\r\n")
            if body.strip():
                yield RawRecord(body, Origin("stdin", start, None), self, None)

    def acknowledge(self, ack: object) -> None:
        return None

    def close(self) -> None:
        self._closed = True
