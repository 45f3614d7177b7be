"""What flows between the shipper's stages: a raw record's origin, normalized events, rejected records.

Sources produce raw records with an `Origin`; formats + normalization turn each into zero or more
`Normalized` events (one OTLP export line can carry many) or a `Rejected` record with its reason; sinks
deliver `Normalized` events and the dead-letter file keeps `Rejected` ones. The event id is
deterministic (origin + content), so shipping the same record twice never makes a second document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal["inference", "pipeline"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a raw record came from.

    `source` names the stream stably across restarts: `file:<fingerprint>` for a file (its identity
    survives renames), `forward:<tag>`, `stdin`, `sdk`. `offset` is the record's byte offset in a file
    (None for streams); `path` becomes `log.file.path`.
    """

    source: str
    offset: int | None = None
    path: str | None = None


@dataclass(slots=True)
class Normalized:
    """One ECS document ready for its data stream (`kind` selects logs-mlsiem.<kind>-<namespace>)."""

    kind: EventKind
    event_id: str
    document: dict[str, Any]


@dataclass(slots=True)
class Rejected:
    """A record that could not become an event: kept whole in the dead-letter file with the reason."""

    reason: str
    raw: str
    origin: Origin | None = None
