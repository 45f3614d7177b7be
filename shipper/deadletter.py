"""The dead-letter file: every record that could not become an event, kept whole with its reason.

One JSON line per record: `{"@timestamp", "reason", "raw", "source", "offset", "path"}`. `raw` is the
record's text exactly; bytes that were not UTF-8 are kept as surrogate escapes (read the line with
`json.loads` and call `raw.encode("utf-8", "surrogateescape")` to get the original bytes back). Lines are
written with one `write` each on a file opened for appending and flushed at once, so concurrent
writers and a crash never interleave or lose a whole line. The file holds raw telemetry (prompts
included), so it is created readable by its owner only (0600).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

from mlsiem.errors import ConfigError
from shipper.records import Rejected


class DeadLetterWriter:
    """Appends rejected records to a JSON-lines file (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None

    def _open(self) -> IO[bytes]:
        if self._handle is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                raise ConfigError(
                    f"dead-letter file {self.path}: cannot open it: {exc.strerror or exc}"
                ) from None
            self._handle = os.fdopen(descriptor, "ab", buffering=0)
        return self._handle

    def write(self, rejected: Rejected) -> None:
        origin = rejected.origin
        line = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "reason": rejected.reason,
            "raw": rejected.raw,
            "source": origin.source if origin else None,
            "offset": origin.offset if origin else None,
            "path": origin.path if origin else None,
        }
        # ensure_ascii keeps surrogate escapes (undecodable bytes) representable.
        data = (json.dumps(line, ensure_ascii=True) + "\n").encode("ascii")
        with self._lock:
            handle = self._open()
            view = memoryview(data)
            while view:  # unbuffered, O_APPEND: normally one write(2) for the whole line
                view = view[handle.write(view) or 0 :]
            self.count += 1

    def write_all(self, records: Iterable[Rejected]) -> None:
        for record in records:
            self.write(record)

    def flush(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.flush()
                os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> DeadLetterWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
