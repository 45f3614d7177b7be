"""Detector state in `mlsiem-state`: a checkpoint per detector and a lock per job, both with expiry.

The lock is a document created with `op_type: create`; a second job instance finds it taken and waits.
An expired lock (its holder died) is taken over with optimistic concurrency (`if_seq_no` /
`if_primary_term`), so two instances racing for it cannot both win.
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mlsiem.adapter import Engine
from mlsiem.errors import EngineError
from mlsiem.indices import STATE_INDEX
from mlsiem.timefmt import iso


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class DetectorState:
    def __init__(self, engine: Engine, job: str = "default") -> None:
        self.engine = engine
        self.job = job
        self.owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"

    # -- checkpoints -------------------------------------------------------------------------------

    def checkpoint(self, detector: str) -> datetime | None:
        found = self.engine.get_document(STATE_INDEX, f"checkpoint:{self.job}:{detector}")
        if not found or not found.get("found", True):
            return None
        return _parse(found["_source"]["state"]["checkpoint"])

    def advance(self, detector: str, until: datetime) -> None:
        document = {
            "@timestamp": iso(datetime.now(UTC)),
            "state": {"kind": "checkpoint", "detector": f"{self.job}:{detector}", "checkpoint": iso(until)},
        }
        self.engine.index_document(STATE_INDEX, f"checkpoint:{self.job}:{detector}", document, refresh=True)

    # -- the job lock ------------------------------------------------------------------------------

    def _lock_document(self, ttl: timedelta, now: datetime) -> dict[str, Any]:
        return {
            "@timestamp": iso(now),
            "state": {"kind": "lock", "detector": self.job, "owner": self.owner, "expires": iso(now + ttl)},
        }

    def acquire(self, ttl: timedelta = timedelta(minutes=10), now: datetime | None = None) -> bool:
        """Take the job lock (or renew it when we hold it). False when another live instance holds it."""
        now = now or datetime.now(UTC)
        doc_id = f"lock:{self.job}"
        if self.engine.create_document(STATE_INDEX, doc_id, self._lock_document(ttl, now), refresh=True):
            return True
        current = self.engine.get_document(STATE_INDEX, doc_id)
        if not current:
            return self.acquire(ttl, now)
        lock = current["_source"]["state"]
        if lock["owner"] != self.owner and _parse(lock["expires"]) > now:
            return False
        params = {
            "if_seq_no": current["_seq_no"],
            "if_primary_term": current["_primary_term"],
            "refresh": "true",
        }
        try:
            self.engine.request(
                "PUT",
                f"/{STATE_INDEX}/_doc/{doc_id}",
                body=self._lock_document(ttl, now),
                params=params,
                what="take over the job lock",
            )
        except EngineError as exc:
            if exc.status == 409:
                return False  # another instance took it over first
            raise
        return True

    def release(self) -> None:
        doc_id = f"lock:{self.job}"
        current = self.engine.get_document(STATE_INDEX, doc_id)
        if current and current["_source"]["state"]["owner"] == self.owner:
            params = {
                "if_seq_no": current["_seq_no"],
                "if_primary_term": current["_primary_term"],
                "refresh": "true",
            }
            self.engine.request("DELETE", f"/{STATE_INDEX}/_doc/{doc_id}", params=params, ignore=(404, 409))
