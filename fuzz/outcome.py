"""How a target tells the harness that the parser reported the input as bad (the documented outcome).

`fuzz_one` returns None either way; a target calls `reported(reason)` when the parser rejected the
input the way it promises to (a `Rejected` record, a `ConfigError`), so the harness can count reported
inputs apart from accepted ones. A reason that is not a non-empty string is itself a bug.
"""

from __future__ import annotations

_count = 0


class BadReason(AssertionError):
    """The parser reported a problem without saying what it is."""


def reported(reason: object) -> None:
    global _count
    if not isinstance(reason, str) or not reason.strip():
        raise BadReason(f"reported reason is not a non-empty string: {reason!r}")
    _count += 1


def take() -> int:
    """How many reports were made since the last call (and start counting again)."""
    global _count
    count, _count = _count, 0
    return count
