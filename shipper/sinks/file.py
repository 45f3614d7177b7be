"""`--output file:PATH`: ECS NDJSON appended to a file, one document per line, fsynced per batch."""

from __future__ import annotations

import os
from pathlib import Path

from shipper.sinks.base import Encoded, SendResult


class FileSink:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "ab")  # noqa: SIM115 (held for the sink's life; closed in close())

    def send(self, events: list[Encoded]) -> SendResult:
        self._handle.write(b"\n".join([e.json for e in events] + [b""]))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return SendResult(delivered=len(events))

    def close(self) -> None:
        self._handle.close()
