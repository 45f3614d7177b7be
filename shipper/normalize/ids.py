"""Deterministic event ids: the same record always gets the same `_id`, so re-shipping never duplicates.

Rule: a record's own id when its format has one (LiteLLM `id`, OTLP `<traceId>-<spanId>`, the SDK's
uuid, a mapping's `id` path); otherwise a 128-bit BLAKE2b hash of the origin's source, the byte offset
and the raw bytes. A file's source is `file:<file_identity>` (a hash of its first line, not its path),
the same for `mlsiem ship` and `mlsiem normalize`, so both give an event the same id. The n-th extra
event of one record (OTLP log records, exploded batches) gets `<id>-<n>`. An own id too long for the
engine's `_id` (512 bytes) is hashed too.

Consequence, by design: two byte-identical lines at the same offset of the same source are one event;
on stdin (no offsets) identical lines collapse into one.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from shipper.records import Origin

MAX_OWN_ID: Final = 256


def file_identity(head: bytes) -> str:
    """A file's identity from its first `max_line_bytes` bytes: the hash of its first line (without the
    newline; all of `head` when it holds none). It survives renames, rotation and copies; the file's
    events have the origin source `file:<identity>`."""
    newline = head.find(b"\n")
    return hashlib.sha256(head if newline < 0 else head[:newline]).hexdigest()[:24]


_SOURCE_HASHES: dict[str, Any] = {}  # source -> BLAKE2b state after `<source>\0`


def content_id(origin: Origin, raw: bytes) -> str:
    """The hash id of a record that carries no id of its own: BLAKE2b of `<source>\0<offset>\0<raw>`.

    A stream's records share their source, so the hash state after `<source>\0` is kept per source and
    copied (BLAKE2b is a stream hash: the same digest as hashing the whole text, for less work)."""
    source, offset = origin.source, origin.offset
    start = _SOURCE_HASHES.get(source) if source.__class__ is str else None
    if start is None:
        start = hashlib.blake2b(f"{source}\0".encode("utf-8", "surrogateescape"), digest_size=16)
        if source.__class__ is str:
            if len(_SOURCE_HASHES) >= 1024:
                _SOURCE_HASHES.clear()
            _SOURCE_HASHES[source] = start
    digest = start.copy()
    if offset.__class__ is int:
        digest.update(b"%d\0" % offset)
    else:
        digest.update(f"{offset}\0".encode("utf-8", "surrogateescape"))
    digest.update(raw)
    return digest.hexdigest()


def usable_own_id(own_id: str) -> str:
    """The record's own id, hashed when it would not fit the engine's `_id`."""
    if len(own_id) <= MAX_OWN_ID:
        return own_id
    return "h" + hashlib.blake2b(own_id.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
