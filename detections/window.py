"""A detection window: one model (and version) over [start, end), as an engine query and as evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlsiem.timefmt import iso


@dataclass(frozen=True)
class Window:
    model: str
    version: str | None
    start: datetime
    end: datetime

    def query(self, *extra: Mapping[str, Any]) -> dict[str, Any]:
        """Events of this model (and version) in [start, end)."""
        filters: list[Mapping[str, Any]] = [
            {"term": {"mlsiem.model.name": self.model}},
            {"range": {"@timestamp": {"gte": iso(self.start), "lt": iso(self.end)}}},
        ]
        if self.version:
            filters.append({"term": {"mlsiem.model.version": self.version}})
        return {"bool": {"filter": [*filters, *extra]}}

    def lucene(self) -> str:
        """The same selection as a query string: the evidence an analyst pastes into Discover."""
        parts = [f'mlsiem.model.name:"{self.model}"']
        if self.version:
            parts.append(f'mlsiem.model.version:"{self.version}"')
        parts.append(f'@timestamp:["{iso(self.start)}" TO "{iso(self.end)}"}}')
        # The detectors count calls (aggregations.CALLS_ONLY): the evidence finds what was counted.
        parts.append('NOT event.kind:"enrichment"')
        return " AND ".join(parts)
