"""Bounded line framing: the one way files, standard input and `mlsiem normalize` cut bytes into lines.

A line is the bytes up to a newline (the newline is not part of it; a carriage return before it is,
as JSON whitespace, so ids made from the line stay what they were for files). Memory is bounded by
`max_line_bytes`: a line with no newline within the limit is handed on ONCE as its first
`max_line_bytes + 1` bytes (so the normalizer refuses it with a reason naming `max_line_bytes`, into
the dead-letter file) and the rest of it is skipped up to its newline; the next line is read as usual.
A line over the limit whose newline already arrived is handed on whole, and refused the same way.

Every line comes with its byte offsets `(start, end)`: `end` is where the next read resumes after it
(past its newline, or past the head of a skipped line), which is what a file's registry records once
the line is delivered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

CHUNK: Final = 1 << 20
Line = tuple[int, int, bytes]  # (start offset, end offset, line without its newline)


class LineReader:
    """Incremental framing of one byte stream: `feed` chunks in order, `finish` at its end."""

    __slots__ = ("buffer", "max_line_bytes", "pos", "skipping")

    def __init__(self, max_line_bytes: int, pos: int = 0) -> None:
        self.max_line_bytes = max_line_bytes
        self.restart(pos)

    def restart(self, pos: int = 0) -> None:
        """Start over at byte `pos` of the stream (a resumed or truncated file)."""
        self.pos = pos  # bytes consumed into complete lines, or skipped
        self.buffer = b""  # the start of a line whose newline has not arrived yet
        self.skipping = False  # inside an over-long line: dropping bytes up to its newline

    def feed(self, chunk: bytes) -> Iterator[Line]:
        """The lines `chunk` completes, blank ones included (a caller decides what a record is)."""
        data = self.buffer + chunk if self.buffer else chunk
        self.buffer = b""
        if self.skipping:  # the rest of an over-long line: dropped up to its newline
            newline = data.find(b"\n")
            if newline < 0:
                self.pos += len(data)
                return
            self.pos += newline + 1
            data = data[newline + 1 :]
            self.skipping = False
        lines = data.split(b"\n")
        tail = lines.pop()
        pos = self.pos
        for line in lines:
            start = pos
            pos += len(line) + 1
            self.pos = pos
            yield start, pos, line
        if len(tail) > self.max_line_bytes:
            head_end = pos + self.max_line_bytes + 1
            self.pos = pos + len(tail)
            self.skipping = True
            yield pos, head_end, tail[: self.max_line_bytes + 1]
        else:
            self.buffer = tail

    def finish(self) -> Iterator[Line]:
        """The last line when the stream ends without a newline (it is complete then)."""
        if self.buffer:
            line, self.buffer = self.buffer, b""
            start = self.pos
            self.pos += len(line)
            yield start, self.pos, line


def stream_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[Line]:
    """Every line of a stream read to its end, as it arrives (a pipe's lines are not held back until a
    whole chunk is there)."""
    reader = LineReader(max_line_bytes)
    read = getattr(stream, "read1", stream.read)
    while chunk := read(CHUNK):
        yield from reader.feed(chunk)
    yield from reader.finish()
