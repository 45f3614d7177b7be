"""Standard input (`-`): lines read as they come, framed like files (`shipper.sources.lines`).

A stream cannot be replayed, so acknowledging is a no-op; the byte offset in the stream is the
position, so piping the same file twice gives the same event ids (and no second document).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import BinaryIO

from shipper.records import Origin
from shipper.sources.base import Block
from shipper.sources.lines import CHUNK, LineReader


class StdinSource:
    """`max_line_bytes` has no default: it must be the normalizer's limit (`build` passes it)."""

    name = "stdin"

    def __init__(self, *, max_line_bytes: int, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdin.buffer
        self.max_line_bytes = max_line_bytes
        self._closed = False

    def records(self) -> Iterator[Block | None]:
        """A block per read (a pipe's lines are handed on as they arrive, not held for a whole chunk)."""
        lines = LineReader(self.max_line_bytes)
        read = getattr(self.stream, "read1", self.stream.read)
        origin = Origin("stdin", None, None)
        while not self._closed:
            chunk = read(CHUNK)
            if chunk:
                starts, raws, _ = lines.cut(chunk)
            else:
                framed = list(lines.finish())
                starts, raws = [start for start, _, _ in framed], [line for _, _, line in framed]
            kept = [(start, line) for start, line in zip(starts, raws, strict=True) if line.strip()]
            if kept:
                yield Block(self, origin, [line for _, line in kept], [start for start, _ in kept])
            if not chunk:
                return

    def acknowledge(self, ack: object) -> None:
        return None

    def close(self) -> None:
        self._closed = True
