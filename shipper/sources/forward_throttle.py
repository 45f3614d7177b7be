"""Rate limits of the forward input: token buckets per peer address, enforced by not reading.

A peer over its events/s or bytes/s budget is not dropped and not answered with an error: the server
simply stops reading its socket until the bucket has refilled, so TCP flow control slows the sender
down (its own buffer absorbs the burst, as Fluent Bit's and Fluentd's do) and nothing is lost. All
connections from one address share one budget, so opening more connections does not buy more rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; taking more than there are goes into debt.

    Debt instead of refusal: a message is already read when its size is known, so it is taken whole and
    the reader waits until the debt is repaid (`take` returns how long).
    """

    def __init__(self, rate: float, burst: float | None = None, now: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self.tokens = self.burst
        self._now = now
        self._stamp = now()

    def take(self, amount: float) -> float:
        """Take `amount` tokens; the seconds to wait before the next read (0 when within budget)."""
        now = self._now()
        self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass(slots=True)
class PeerThrottle:
    """The budgets of one peer address (shared by its connections) and the time it spent throttled."""

    events: TokenBucket | None
    bytes: TokenBucket | None
    connections: int = 0
    on_throttled: Callable[[float], None] = field(default=lambda seconds: None)

    async def took_bytes(self, count: int) -> None:
        if self.bytes is not None:
            await self._wait(self.bytes.take(count))

    async def took_events(self, count: int) -> None:
        if self.events is not None:
            await self._wait(self.events.take(count))

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.on_throttled(seconds)
            await asyncio.sleep(seconds)


class Throttles:
    """One `PeerThrottle` per peer address while it has connections (forgotten when the last closes)."""

    def __init__(
        self,
        events_per_second: float | None,
        bytes_per_second: float | None,
        on_throttled: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.events_per_second = events_per_second
        self.bytes_per_second = bytes_per_second
        self.on_throttled = on_throttled
        self._peers: dict[str, PeerThrottle] = {}

    def open(self, peer: str) -> PeerThrottle:
        throttle = self._peers.get(peer)
        if throttle is None:
            events = TokenBucket(self.events_per_second) if self.events_per_second else None
            size = TokenBucket(self.bytes_per_second) if self.bytes_per_second else None
            throttle = self._peers[peer] = PeerThrottle(events, size, on_throttled=self.on_throttled)
        throttle.connections += 1
        return throttle

    def close(self, peer: str) -> None:
        throttle = self._peers.get(peer)
        if throttle is not None:
            throttle.connections -= 1
            if throttle.connections <= 0:
                del self._peers[peer]
