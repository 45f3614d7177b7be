"""Durations in configuration files: `30s`, `5m`, `1h`, `1d` (shared by the job's and the detectors'
settings, so each parses them the same way)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str | timedelta, allow_zero: bool = False) -> timedelta:
    if isinstance(text, timedelta):
        if text < timedelta(0) or (not allow_zero and not text):
            raise ValueError(f"{text} is not a positive duration")
        return text
    match = _DURATION.match(str(text).strip())
    if not match or len(match.group(1)) > 9 or (int(match.group(1)) == 0 and not allow_zero):
        raise ValueError(f"{str(text)[:40]!r} is not a duration such as 30s, 5m, 1h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def short(duration: timedelta) -> str:
    """`1h`, `30m`, `90s`: the shortest exact form, for reasons and alert fields."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
