"""Cheap, total coercions of raw JSON values into the types the ECS mapping expects.

Every function returns None instead of raising when the value does not fit, so a wrong type in one
field costs that field, never the event (the caller notes the field as malformed). Integers are range
checked against the engine's type: a token count above 2^31-1 would make the engine reject the whole
document for an `integer` field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Final

INT_MAX: Final = 2**31 - 1
LONG_MAX: Final = 2**63 - 1
_isfinite = math.isfinite

# An ISO 8601 UTC timestamp as most producers write it: passed through untouched (the fast path).
# Field ranges are checked here; days 29-31 are checked against the month below.
_ISO_UTC = re.compile(
    r"(?!0000)\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8]|(29|30|31))"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z"
)
_EPOCH_MIN, _EPOCH_MAX = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31, in seconds


def as_str(value: Any) -> str | None:
    """Strings as they are; numbers and booleans as their JSON text; anything else None."""
    cls = value.__class__
    if cls is str:
        return value
    if cls is int or cls is float:
        return repr(value) if cls is int or _isfinite(value) else None
    if cls is bool:
        return "true" if value else "false"
    return None


def as_int(value: Any, maximum: int = LONG_MAX, minimum: int = 0) -> int | None:
    """Whole numbers (also 3.0 and "3") within [minimum, maximum]."""
    cls = value.__class__
    if cls is int:
        result = value
    elif cls is float:
        if not _isfinite(value) or not value.is_integer():
            return None
        result = int(value)
    elif cls is str:
        try:
            result = int(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if minimum <= result <= maximum else None


def as_float(value: Any) -> float | None:
    """Finite numbers (also numeric strings); booleans are not numbers here."""
    cls = value.__class__
    if cls is float:
        return value if _isfinite(value) else None
    if cls is int:
        return float(value) if -1e300 < value < 1e300 else None
    if cls is str:
        try:
            result = float(value)
        except ValueError:
            return None
        return result if _isfinite(result) else None
    return None


def as_bool(value: Any) -> bool | None:
    cls = value.__class__
    if cls is bool:
        return value
    if cls is str:
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        return None
    if cls is int and value in (0, 1):
        return bool(value)
    return None


def as_str_list(value: Any) -> list[str] | None:
    """A string as a one-element list; a list keeps its scalar members as strings."""
    if value.__class__ is str:
        return [value]
    if value.__class__ is list:
        items = [text for item in value if (text := as_str(item)) is not None]
        return items or None
    return None


def epoch_to_iso(seconds: float) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string with microsecond precision (None when out of range)."""
    if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_SECOND_TEXT: dict[int, str] = {}  # epoch second -> "YYYY-MM-DDTHH:MM:SS": spans of a batch share seconds


def nanos_to_iso(nanos: int) -> str | None:
    """Epoch nanoseconds (OTLP) with all nine fraction digits kept."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    base = _SECOND_TEXT.get(seconds)
    if base is None:
        if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
            return None
        if len(_SECOND_TEXT) > 4096:
            _SECOND_TEXT.clear()
        base = _SECOND_TEXT[seconds] = datetime.fromtimestamp(seconds, UTC).isoformat()[:19]
    return f"{base}.{fraction:09d}Z"


def epoch_number_to_iso(value: float) -> str | None:
    """A bare epoch number, its unit guessed from its size: seconds, ms, µs or ns (as Filebeat does)."""
    magnitude = abs(value)
    if magnitude >= 1e17:
        value /= 1e9
    elif magnitude >= 1e14:
        value /= 1e6
    elif magnitude >= 1e11:
        value /= 1e3
    return epoch_to_iso(value)


def _valid_day(value: str) -> bool:
    try:
        datetime(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


def as_timestamp(value: Any) -> str | None:
    """An ISO 8601 string (any offset: converted to UTC) or an epoch number as ISO 8601 UTC, else None."""
    cls = value.__class__
    if cls is str:
        match = _ISO_UTC.fullmatch(value)
        if match is not None and (match.group(1) is None or _valid_day(value)):
            return value
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            number = as_float(text)
            return epoch_number_to_iso(number) if number is not None else None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            parsed = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            return None
        return parsed.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if cls is int or cls is float:
        if cls is float and not _isfinite(value):
            return None
        return epoch_number_to_iso(value)
    return None
