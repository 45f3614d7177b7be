"""Detector state in `mlsiem-state`: a checkpoint per model (or finding source) and leases on the work.

Several job instances share a cycle without a coordinator. The work is cut into units (a shard of the
models, a group of Sigma rules); an instance works on a unit only while it holds the unit's lease, a
document `lease:<job>:<unit>` with an owner and an expiry:
- absent: taken with `op_type: create` (of two instances racing, one gets a 409);
- expired (its holder died) or ours: taken over / renewed with optimistic concurrency (`if_seq_no` /
  `if_primary_term`), so two instances racing for it cannot both win;
- released: deleted by its holder when the unit is done.
A checkpoint moves only under the lease: the holder renews the lease just before it writes a batch's
results, and the checkpoints themselves are written with `if_seq_no` against the values it read, so a
window is judged once even if a paused holder wakes after its lease was taken over.
Lease expiry uses the wall clock (it is about processes being alive), never the job's `--now`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

from mlsiem.adapter import Engine
from mlsiem.errors import EngineError
from mlsiem.indices import STATE_INDEX
from mlsiem.timefmt import iso


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def default_instance() -> str:
    """This process's name among the job instances (host and process id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Checkpoint:
    """Where a model's (or a source's) judged windows end, and the document version it was read at."""

    until: datetime
    seq_no: int
    primary_term: int


@dataclass(frozen=True)
class Lease:
    unit: str
    seq_no: int
    primary_term: int
    expires: datetime


class DetectorState:
    def __init__(self, engine: Engine, job: str = "default", owner: str | None = None) -> None:
        self.engine = engine
        self.job = job
        self.owner = owner or default_instance()

    # -- checkpoints -------------------------------------------------------------------------------

    def _checkpoint_id(self, key: str) -> str:
        return f"checkpoint:{self.job}:{key}"

    def _checkpoint_document(self, key: str, until: datetime) -> dict[str, Any]:
        return {
            "@timestamp": iso(datetime.now(UTC)),
            "state": {
                "kind": "checkpoint",
                "detector": f"{self.job}:{key}",
                "checkpoint": iso(until),
                "owner": self.owner,
            },
        }

    def checkpoints(self, keys: list[str]) -> dict[str, Checkpoint | None]:
        """The checkpoints of many keys in one (real-time) `_mget`."""
        if not keys:
            return {}
        ids = [self._checkpoint_id(k) for k in keys]
        docs = self.engine.request(
            "POST", f"/{STATE_INDEX}/_mget", body={"ids": ids}, what="read checkpoints"
        )["docs"]
        found: dict[str, Checkpoint | None] = {}
        for key, doc in zip(keys, docs, strict=True):
            if doc.get("found"):
                until = _parse(doc["_source"]["state"]["checkpoint"])
                found[key] = Checkpoint(until, int(doc["_seq_no"]), int(doc["_primary_term"]))
            else:
                found[key] = None
        return found

    def checkpoint(self, key: str) -> datetime | None:
        found = self.checkpoints([key])[key]
        return found.until if found else None

    def advance(self, key: str, until: datetime) -> None:
        """Set a checkpoint unconditionally (setting up a job; the job itself uses `advance_from`)."""
        document = self._checkpoint_document(key, until)
        self.engine.index_document(STATE_INDEX, quote(self._checkpoint_id(key), safe=":"), document)

    def advance_from(self, moves: list[tuple[str, Checkpoint | None, datetime]]) -> list[str]:
        """Move checkpoints from the versions read (None: absent) to new values, in one `_bulk`, each only
        if nobody moved it since. The keys whose checkpoint had moved (and stay unchanged) come back."""
        if not moves:
            return []
        lines = []
        for key, read, until in moves:
            if read is None:
                action: dict[str, Any] = {"create": {"_index": STATE_INDEX, "_id": self._checkpoint_id(key)}}
            else:
                action = {
                    "index": {
                        "_index": STATE_INDEX,
                        "_id": self._checkpoint_id(key),
                        "if_seq_no": read.seq_no,
                        "if_primary_term": read.primary_term,
                    }
                }
            lines += [orjson.dumps(action), orjson.dumps(self._checkpoint_document(key, until))]
        items = self.engine.bulk(b"\n".join(lines) + b"\n").get("items", [])
        lost = []
        for (key, _, _), item in zip(moves, items, strict=True):
            outcome = next(iter(item.values()))
            if outcome.get("status") == 409:
                lost.append(key)
            elif outcome.get("status") not in (200, 201):
                raise EngineError(
                    f"checkpoint {key} not written: {outcome.get('error')}", outcome.get("status")
                )
        return lost

    # -- leases on units of work -------------------------------------------------------------------

    def _lease_id(self, unit: str) -> str:
        """The lease document's id, escaped for a URL path (units are named like `models/3`)."""
        return quote(f"lease:{self.job}:{unit}", safe=":")

    def _lease_document(self, unit: str, expires: datetime) -> dict[str, Any]:
        return {
            "@timestamp": iso(datetime.now(UTC)),
            "state": {
                "kind": "lease",
                "detector": f"{self.job}:{unit}",
                "owner": self.owner,
                "expires": iso(expires),
            },
        }

    def _write_lease(self, unit: str, ttl: timedelta, current: dict[str, Any] | None) -> Lease | None:
        """Create the lease (current None) or replace the version read; None when another instance won."""
        expires = datetime.now(UTC) + ttl
        doc_id = self._lease_id(unit)
        if current is None:
            path, params = f"/{STATE_INDEX}/_create/{doc_id}", None
        else:
            path = f"/{STATE_INDEX}/_doc/{doc_id}"
            params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
        written = self.engine.request(
            "PUT",
            path,
            body=self._lease_document(unit, expires),
            params=params,
            what=f"lease {unit}",
            ignore=(409,),
        )
        if written is None:
            return None
        return Lease(unit, int(written["_seq_no"]), int(written["_primary_term"]), expires)

    def acquire(self, unit: str, ttl: timedelta) -> Lease | None:
        """The unit's lease if it is free, expired or ours; None while another live instance holds it."""
        current = self.engine.get_document(STATE_INDEX, self._lease_id(unit))
        if current is None or not current.get("found", True):
            return self._write_lease(unit, ttl, None)
        lease = current["_source"]["state"]
        if lease["owner"] != self.owner and _parse(lease["expires"]) > datetime.now(UTC):
            return None
        return self._write_lease(unit, ttl, current)

    def renew(self, lease: Lease, ttl: timedelta) -> Lease | None:
        """Extend a held lease; None if it was lost (it expired and another instance took it over)."""
        current = {"_seq_no": lease.seq_no, "_primary_term": lease.primary_term}
        return self._write_lease(lease.unit, ttl, current)

    def release(self, lease: Lease) -> None:
        """Free the unit for the next instance (nothing happens if the lease was lost meanwhile)."""
        params = {"if_seq_no": lease.seq_no, "if_primary_term": lease.primary_term}
        self.engine.request(
            "DELETE", f"/{STATE_INDEX}/_doc/{self._lease_id(lease.unit)}", params=params, ignore=(404, 409)
        )

    def holder(self, unit: str) -> str | None:
        """Who holds the unit's lease now (expired or not), for reports and tests."""
        current = self.engine.get_document(STATE_INDEX, self._lease_id(unit))
        return current["_source"]["state"]["owner"] if current and current.get("found", True) else None
