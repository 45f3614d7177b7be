"""Files: globs read once, or followed through rotation.

Identity. A file is known by the hash of its first complete line (plus device and inode in the
registry key). Events take `file:<first-line hash>` as their source identity and their byte offset
as position, so a rotated file's events keep their ids, and re-reading a file after a crash or a
copy makes the same ids again (the engine then answers 409 and nothing is duplicated).

Rotation. Rename-and-create: the open handle keeps reading the renamed file to its end, then closes
once the path points elsewhere and the file stays idle; the new file at the path starts at 0.
Copytruncate: a file that shrinks below what was read starts over at 0 (its new first line gives it
a new identity); lines written between the last read and the copy are found in the copy when the
glob matches it (the copy is a new inode: read from 0, its already-shipped lines answer 409).

Only complete lines are read while following; a last line without a newline is read when the file
is read once (it is complete then).
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from mlsiem.errors import ConfigError
from shipper.records import Origin
from shipper.sources.base import RawRecord
from shipper.sources.registry import Registry

CHUNK = 1 << 20


@dataclass
class _Tracked:
    path: str
    handle: BinaryIO
    device: int
    inode: int
    identity: str | None = None  # hash of the first complete line, once it exists
    pos: int = 0  # bytes consumed into complete lines (or skipped)
    buffer: bytes = b""
    rotated_at: float | None = None  # when the path stopped pointing at this file
    idle_since: float = field(default_factory=time.monotonic)
    skipping: bool = False  # inside an over-long line, dropping until its newline

    @property
    def key(self) -> str:
        return f"{self.identity}:{self.device}:{self.inode}"


@dataclass(frozen=True, slots=True)
class FileAck:
    key: str
    identity: str
    path: str
    device: int
    inode: int
    offset: int


class FileSource:
    """Reads `patterns` (globs); with `follow`, keeps reading new lines and new files until closed."""

    name = "files"

    def __init__(
        self,
        patterns: list[str],
        registry: Registry,
        follow: bool = False,
        poll_interval: float = 0.25,
        max_line_bytes: int = 1 << 20,
        close_inactive: float = 2.0,
    ) -> None:
        self.patterns = patterns
        self.registry = registry
        self.follow = follow
        self.poll_interval = poll_interval
        self.max_line_bytes = max_line_bytes
        self.close_inactive = close_inactive
        self._tracked: dict[tuple[int, int], _Tracked] = {}
        self._finished_files: set[tuple[int, int]] = set()  # read once to the end: never opened again
        self._closed = False
        self.bytes_behind = 0
        if not follow:
            missing = [p for p in patterns if not glob.glob(p)]
            if missing:
                raise ConfigError(f"no file matches {', '.join(map(repr, missing))}")

    # -- discovery ---------------------------------------------------------------------------------

    def _paths(self) -> list[str]:
        found: list[str] = []
        for pattern in self.patterns:
            found.extend(sorted(glob.glob(pattern)))
        return [p for p in dict.fromkeys(found) if os.path.isfile(p)]

    def _scan(self) -> None:
        current: dict[str, tuple[int, int]] = {}
        for path in self._paths():
            try:
                st = os.stat(path)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            current[path] = ident
            if ident not in self._tracked and ident not in self._finished_files:
                try:
                    handle = open(path, "rb")  # noqa: SIM115 (kept open across polls; closed in _drop)
                except OSError:
                    continue
                self._tracked[ident] = _Tracked(path, handle, st.st_dev, st.st_ino)
        now = time.monotonic()
        for ident, tracked in self._tracked.items():
            if current.get(tracked.path) != ident and tracked.rotated_at is None:
                tracked.rotated_at = now  # renamed away or deleted: finish reading, then close

    def _identify(self, tracked: _Tracked, final: bool) -> bool:
        """Find the file's identity from its first line; resume at the registry's offset for it."""
        tracked.handle.seek(0)
        head = tracked.handle.read(self.max_line_bytes)
        newline = head.find(b"\n")
        if newline < 0 and not (final and head):
            return False
        first = head if newline < 0 else head[:newline]
        tracked.identity = hashlib.sha256(first).hexdigest()[:24]
        tracked.pos = self.registry.offset(tracked.key)
        tracked.handle.seek(tracked.pos)
        tracked.buffer = b""
        return True

    # -- reading -----------------------------------------------------------------------------------

    def _read(self, tracked: _Tracked, final: bool) -> Iterator[RawRecord]:
        try:
            size = os.fstat(tracked.handle.fileno()).st_size
        except OSError:
            return
        if tracked.identity is not None and size < tracked.pos + len(tracked.buffer):
            tracked.identity = None  # copytruncate: the file starts over with new content
            tracked.pos, tracked.buffer, tracked.skipping = 0, b"", False
        if tracked.identity is None and not self._identify(tracked, final):
            return
        chunk = tracked.handle.read(CHUNK)
        if not chunk:
            if final and tracked.buffer:  # a last line without newline, in a file read once
                line, tracked.buffer = tracked.buffer, b""
                yield from self._lines(tracked, [line], newline=False)
            self.bytes_behind += max(0, size - tracked.pos)
            return
        tracked.idle_since = time.monotonic()
        data = tracked.buffer + chunk
        tracked.buffer = b""
        if tracked.skipping:  # the rest of an over-long line: dropped up to its newline
            newline = data.find(b"\n")
            if newline < 0:
                tracked.pos += len(data)
                return
            tracked.pos += newline + 1
            data = data[newline + 1 :]
            tracked.skipping = False
        lines = data.split(b"\n")
        tail = lines.pop()
        yield from self._lines(tracked, lines, newline=True)
        if len(tail) > self.max_line_bytes:
            # No newline within the limit: the head goes on as a record one byte over the limit (so the
            # normalizer rejects it, with its reason, into the dead-letter file) and the rest is skipped.
            yield from self._lines(tracked, [tail[: self.max_line_bytes + 1]], newline=False)
            tracked.pos += len(tail) - self.max_line_bytes - 1
            tracked.skipping = True
        else:
            tracked.buffer = tail
        self.bytes_behind += max(0, size - tracked.pos - len(tracked.buffer))

    def _lines(self, tracked: _Tracked, lines: list[bytes], newline: bool) -> Iterator[RawRecord]:
        """Records for consecutive lines starting at `tracked.pos`; advances it past them."""
        source = f"file:{tracked.identity}"
        step = 1 if newline else 0
        pos = tracked.pos
        for line in lines:
            start = pos
            pos += len(line) + step
            if not line.strip():
                continue  # a blank line is no record; its bytes still count as read
            ack = FileAck(
                tracked.key, tracked.identity or "", tracked.path, tracked.device, tracked.inode, pos
            )
            yield RawRecord(line, Origin(source, start, tracked.path), self, ack)
        tracked.pos = pos

    def records(self) -> Iterator[RawRecord | None]:
        while not self._closed:
            self._scan()
            self.bytes_behind = 0
            produced = False
            for ident, tracked in list(self._tracked.items()):
                for record in self._read(tracked, final=not self.follow):
                    produced = True
                    yield record
                if self._finished(tracked):
                    self._drop(ident)
            if not self.follow and not self._tracked:
                return
            if not produced:
                yield None
                if self.follow:
                    time.sleep(self.poll_interval)

    def _finished(self, tracked: _Tracked) -> bool:
        if not self.follow:
            at_end = tracked.handle.tell() >= os.fstat(tracked.handle.fileno()).st_size
            return at_end and (tracked.identity is not None or tracked.pos == 0) and not tracked.buffer
        idle = time.monotonic() - tracked.idle_since >= self.close_inactive
        return tracked.rotated_at is not None and idle

    def _drop(self, ident: tuple[int, int]) -> None:
        self._tracked.pop(ident).handle.close()
        if not self.follow:
            self._finished_files.add(ident)

    def acknowledge(self, ack: FileAck) -> None:
        self.registry.advance(ack.key, ack.path, ack.inode, ack.device, ack.offset)

    def checkpoint(self) -> None:
        self.registry.save()

    def close(self) -> None:
        self._closed = True
        for ident in list(self._tracked):
            self._drop(ident)
        self.registry.save()
