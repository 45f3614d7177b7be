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
from itertools import accumulate
from typing import BinaryIO, Final

CHUNK: Final = 1 << 20
Line = tuple[int, int, bytes]  # (start offset, end offset, line without its newline)
_PLUS_NEWLINE = (1).__add__


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

    def cut(self, chunk: bytes) -> tuple[list[int], list[bytes], bool]:
        """The lines `chunk` completes (blank ones included: a caller decides what a record is), their
        start offsets, and whether the last of them is the head of an over-long line. Offsets are summed
        at C speed (`accumulate` over the lengths): files cut 1 MiB chunks with no Python work per line.
        `pos` is then where the next read resumes."""
        data = self.buffer + chunk if self.buffer else chunk
        self.buffer = b""
        if self.skipping:  # the rest of an over-long line: dropped up to its newline
            newline = data.find(b"\n")
            if newline < 0:
                self.pos += len(data)
                return [], [], False
            self.pos += newline + 1
            data = data[newline + 1 :]
            self.skipping = False
        lines = data.split(b"\n")
        tail = lines.pop()
        starts = list(accumulate(map(_PLUS_NEWLINE, map(len, lines)), initial=self.pos))
        end = self.pos = starts.pop()  # after the last complete line
        if len(tail) <= self.max_line_bytes:
            self.buffer = tail
            return starts, lines, False
        self.pos = end + len(tail)
        self.skipping = True
        starts.append(end)
        lines.append(tail[: self.max_line_bytes + 1])
        return starts, lines, True

    def feed(self, chunk: bytes) -> Iterator[Line]:
        """`cut`, line by line, each with its end offset (the head of an over-long line ends where the
        head ends)."""
        starts, lines, head = self.cut(chunk)
        whole = len(lines) - 1 if head else len(lines)
        for start, line in zip(starts[:whole], lines[:whole], strict=True):
            yield start, start + len(line) + 1, line
        if head:
            yield starts[-1], starts[-1] + len(lines[-1]), lines[-1]

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
