"""A bounded, durable disk spool for events the sink cannot take right now.

Each batch becomes one segment file, written to a temporary name, fsynced and renamed into place, so
a crash leaves whole segments or none. Segments are replayed oldest first and deleted only after the
sink took them (re-sending a segment is harmless: events are created with their deterministic ids).
The spool refuses a segment that would take it over `max_bytes`; the pipeline then waits, which
pushes back on the sources (files stay unread, forward clients get no ack).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Final

import orjson

from shipper.sinks.base import Encoded

MAX_BYTES: Final = 1 << 30


class SpoolFull(Exception):
    """Writing this batch would exceed the spool's size limit."""


class Spool:
    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.tmp"):
            stale.unlink()  # a segment whose write was interrupted: its events were never acknowledged
        self._lock = threading.Lock()
        segments = self.segments()
        self._next = int(segments[-1].stem) + 1 if segments else 1
        self._bytes = sum(p.stat().st_size for p in segments)

    @property
    def size(self) -> int:
        return self._bytes

    def __bool__(self) -> bool:
        return bool(self.segments())

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("*.seg"))

    def write(self, events: list[Encoded], raws: list[str]) -> Path:
        # `{"kind":..,"id":..,"raw":..,"doc":<the document as it was serialized>}`, without re-encoding it.
        # The events of one record (an OTLP request's spans, a batch line) share their raw text: it is
        # written once, with the first of them; the others name that line (`"raw_at": index`), so a
        # 500-span request spools its text once, not 500 times.
        first: dict[int, int] = {}
        lines = []
        for index, (e, raw) in enumerate(zip(events, raws, strict=True)):
            at = first.setdefault(id(raw), index)
            head = {"kind": e.kind, "id": e.event_id, **({"raw": raw} if at == index else {"raw_at": at})}
            lines.append(orjson.dumps(head)[:-1] + b',"doc":' + e.json + b"}")
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} is full ({self._bytes} of {self.max_bytes} bytes)")
            number = self._next
            self._next += 1
            final = self.directory / f"{number:012d}.seg"
            tmp = final.with_suffix(".tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
            self._bytes += len(data)
        return final

    @staticmethod
    def read(segment: Path) -> tuple[list[Encoded], list[str]]:
        events: list[Encoded] = []
        raws: list[str] = []
        for line in segment.read_bytes().splitlines():
            item = orjson.loads(line)
            events.append(Encoded(item["kind"], item["id"], orjson.dumps(item["doc"])))
            raws.append(item["raw"] if "raw" in item else raws[item["raw_at"]])
        return events, raws

    def remove(self, segment: Path) -> None:
        with self._lock:
            size = segment.stat().st_size
            segment.unlink()
            self._bytes -= size
