"""The interface between sources and the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shipper.records import Origin


@dataclass(slots=True)
class RawRecord:
    """One raw record and how to acknowledge it.

    `ack` is opaque to the pipeline: the source that made the record gets it back once the record and
    all records the source produced before it are delivered.
    """

    raw: bytes | dict[str, Any]
    origin: Origin
    source: Source
    ack: Any = None


class Source(Protocol):
    name: str

    def records(self) -> Iterator[RawRecord | list[RawRecord] | None]:
        """Yield records, one at a time or as a list read at once (cheaper: one queue hand-over per
        list); yield None when nothing is available right now (lets the pipeline flush)."""
        ...

    def acknowledge(self, ack: Any) -> None:
        """Everything up to and including the record carrying `ack` is delivered."""
        ...

    def close(self) -> None: ...
