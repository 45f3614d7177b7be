"""What every target asserts about a parser's answer: reported problems carry a reason, nothing is lost,
nothing a parser accepted is invalid, configuration errors name their file and do not echo secrets."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml

from fuzz.outcome import reported
from mlsiem.ecs import DOCUMENT_MODELS
from mlsiem.errors import ConfigError
from shipper.records import Normalized, Rejected

T = TypeVar("T")
_CREDENTIALS = re.compile(r"://[^/\s:@'\"]+:([^/\s@'\"]{4,})@")


class Bug(AssertionError):
    """The parser broke its contract on this input."""


def scratch_dir(name: str) -> Path:
    """A private folder for the files a target writes (one per process and target)."""
    memory = Path("/dev/shm")  # files in memory: a target writes one per input
    base = memory if memory.is_dir() and os.access(memory, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=f"mlsiem-fuzz-{name}-", dir=base))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def check_records(
    data: bytes | str | dict[str, Any],
    events: list[Normalized],
    rejected: list[Rejected],
    report: bool = True,
) -> None:
    """The normalizer's contract for one record (see shipper/normalizer.py); `report`: count a
    rejection as the input's reported outcome."""
    if not events and not rejected:
        blank = isinstance(data, bytes | str) and not data.strip()
        if not blank:
            raise Bug("record gave neither events nor a rejection: it would be lost")
    for record in rejected:
        reason = record.reason
        if reason.startswith("internal error"):
            raise Bug(f"the normalizer crashed on the record: {reason}")
        if isinstance(data, bytes) and record.raw.encode("utf-8", "surrogateescape") != data:
            raise Bug("the rejected record is not kept whole for the dead-letter file")
        if report:
            reported(reason)
        elif not isinstance(reason, str) or not reason.strip():
            raise Bug(f"rejected without a reason: {reason!r}")
    for event in events:
        document = event.document
        if not event.event_id or document.get("event", {}).get("id") != event.event_id:
            raise Bug(f"event id {event.event_id!r} missing or not the document's event.id")
        DOCUMENT_MODELS[event.kind].model_validate(document)
        orjson.dumps(document)


def expect_config_error(load: Callable[[], T], path: Path, data: bytes) -> T | None:
    """Run a loader: its result, or None after checking its ConfigError names the file and the problem
    and does not repeat a password from a URL in the input."""
    try:
        return load()
    except ConfigError as exc:
        message = str(exc)
        if str(path) not in message:
            raise Bug(f"the error does not name the file {path}: {message[:300]}") from None
        if not message.replace(str(path), "").strip(" :"):
            raise Bug(f"the error names the file but not the problem: {message[:300]}") from None
        text = data.decode("utf-8", "replace")
        leaked = [secret for secret in _CREDENTIALS.findall(text) if secret in message]
        if leaked and _parses(data):  # a YAML syntax error quotes its line: only validation must not
            raise Bug(f"the error repeats a URL password from the input: {message[:300]}") from None
        reported(message)
        return None


def _parses(data: bytes) -> bool:
    try:
        yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception:
        return False
    return True
