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

Lines are framed by `shipper.sources.lines` (bounded by `max_line_bytes`). Only complete lines are
read while following; a last line without a newline is read when the file is read once (it is
complete then).
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from mlsiem.errors import ConfigError
from shipper.normalize.ids import file_identity
from shipper.records import Origin
from shipper.sources.base import Block
from shipper.sources.lines import CHUNK, LineReader
from shipper.sources.registry import Registry


@dataclass
class _Tracked:
    path: str
    handle: BinaryIO
    device: int
    inode: int
    lines: LineReader
    identity: str | None = None  # hash of the first complete line, once it exists
    rotated_at: float | None = None  # when the path stopped pointing at this file
    idle_since: float = field(default_factory=time.monotonic)

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
    """Reads `patterns` (globs); with `follow`, keeps reading new lines and new files until closed.

    `max_line_bytes` has no default here: it must be the normalizer's limit (`build` passes it)."""

    name = "files"

    def __init__(
        self,
        patterns: list[str],
        registry: Registry,
        *,
        max_line_bytes: int,
        follow: bool = False,
        poll_interval: float = 0.25,
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
                lines = LineReader(self.max_line_bytes)
                self._tracked[ident] = _Tracked(path, handle, st.st_dev, st.st_ino, lines)
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
        tracked.identity = file_identity(head)
        offset = self.registry.offset(tracked.key)
        tracked.handle.seek(offset)
        tracked.lines.restart(offset)
        return True

    # -- reading -----------------------------------------------------------------------------------

    def _read(self, tracked: _Tracked, final: bool) -> Block | None:
        """The records of the next chunk of a file, as one block; None when there are none yet."""
        try:
            size = os.fstat(tracked.handle.fileno()).st_size
        except OSError:
            return None
        lines = tracked.lines
        if tracked.identity is not None and size < lines.pos + len(lines.buffer):
            tracked.identity = None  # copytruncate: the file starts over with new content
            lines.restart(0)
        if tracked.identity is None and not self._identify(tracked, final):
            return None
        chunk = tracked.handle.read(CHUNK)
        if chunk:
            tracked.idle_since = time.monotonic()
            starts, raws, _ = lines.cut(chunk)
            self.bytes_behind += max(0, size - lines.pos - len(lines.buffer))
        else:
            starts, raws = [], []
            if final:  # a last line without newline, in a file read once
                for start, _, line in lines.finish():
                    starts, raws = [start], [line]
            self.bytes_behind += max(0, size - lines.pos)
        return self._block(tracked, starts, raws)

    def _block(self, tracked: _Tracked, starts: list[int], raws: list[bytes]) -> Block | None:
        """A record per non-blank line; one ack, the offset after the last line framed (blank lines and
        the skipped rest of an over-long line included), for the whole block."""
        if any(not line or (line[0] != 123 and not line.strip()) for line in raws):  # 123: "{"
            kept = [(s, line) for s, line in zip(starts, raws, strict=True) if line.strip()]
            starts, raws = [s for s, _ in kept], [line for _, line in kept]
        if not raws:
            return None
        identity, path, end = tracked.identity or "", tracked.path, tracked.lines.pos
        ack = FileAck(tracked.key, identity, path, tracked.device, tracked.inode, end)
        origin = Origin(f"file:{tracked.identity}", None, path)
        return Block(self, origin, raws, starts, acks=[(len(raws) - 1, ack)])

    def records(self) -> Iterator[Block | None]:
        """The records of each chunk read, as one block (the pipeline's queue takes them at once)."""
        while not self._closed:
            self._scan()
            self.bytes_behind = 0
            produced = False
            for ident, tracked in list(self._tracked.items()):
                block = self._read(tracked, final=not self.follow)
                if block is not None:
                    produced = True
                    yield block
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
            lines = tracked.lines
            return at_end and (tracked.identity is not None or lines.pos == 0) and not lines.buffer
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
