"""The file registry: how far each file has been delivered, kept across restarts.

A file is known by its identity (a hash of its first complete line), not by its path, so a renamed
(rotated) file keeps its progress and a new file at the old path starts from zero. The registry also
keeps inode/device and path to find files again. It is written atomically (temporary file, fsync,
rename, directory fsync) and only ever advanced to offsets the engine (or the spool) acknowledged.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mlsiem.errors import ConfigError

REGISTRY_VERSION = 1


@dataclass
class FileState:
    identity: str
    path: str
    inode: int
    device: int
    offset: int
    updated: float


class Registry:
    """Delivered offsets per file identity; thread-safe; persisted on `save()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._files: dict[str, FileState] = {}
        self._dirty = False
        if path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") != REGISTRY_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            self._files = {key: FileState(**state) for key, state in data["files"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"registry {self.path} is unreadable ({exc}); move it away to start over (files are then "
                "read from the start, and re-shipped events are recognised by their ids)"
            ) from None

    def offset(self, identity: str) -> int:
        with self._lock:
            state = self._files.get(identity)
            return state.offset if state else 0

    def advance(self, identity: str, path: str, inode: int, device: int, offset: int) -> None:
        with self._lock:
            state = self._files.get(identity)
            if state and state.offset >= offset:
                return
            self._files[identity] = FileState(identity, path, inode, device, offset, time.time())
            self._dirty = True

    def save(self) -> None:
        """Write atomically if anything changed: a crash leaves either the old or the new registry."""
        with self._lock:
            if not self._dirty:
                return
            data = {"version": REGISTRY_VERSION, "files": {k: asdict(v) for k, v in self._files.items()}}
            self._dirty = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def states(self) -> list[FileState]:
        with self._lock:
            return list(self._files.values())
