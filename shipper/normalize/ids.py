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
from typing import Final

from shipper.records import Origin

MAX_OWN_ID: Final = 256


def file_identity(head: bytes) -> str:
    """A file's identity from its first `max_line_bytes` bytes: the hash of its first line (without the
    newline; all of `head` when it holds none). It survives renames, rotation and copies; the file's
    events have the origin source `file:<identity>`."""
    newline = head.find(b"\n")
    return hashlib.sha256(head if newline < 0 else head[:newline]).hexdigest()[:24]


def content_id(origin: Origin, raw: bytes) -> str:
    """The hash id of a record that carries no id of its own."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{origin.source}\0{origin.offset}\0".encode("utf-8", "surrogateescape"))
    digest.update(raw)
    return digest.hexdigest()


def usable_own_id(own_id: str) -> str:
    """The record's own id, hashed when it would not fit the engine's `_id`."""
    if len(own_id) <= MAX_OWN_ID:
        return own_id
    return "h" + hashlib.blake2b(own_id.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
