"""The one way a moment becomes text: ISO 8601 in UTC with a 'Z', always to the millisecond.

Millisecond precision is the resolution of the engine's `date` fields, so nothing the engine stores or
compares is lost; the fixed width makes two such strings compare as their moments do, which the alert
update script relies on when it compares `event.end` values as strings.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """`moment` as e.g. '2026-11-25T10:00:00.000Z' (sub-millisecond digits are cut, as the engine does);
    a naive datetime is taken as local time, as `datetime.astimezone` takes it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
