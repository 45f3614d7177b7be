"""What the OTLP/HTTP and OTLP gRPC servers share: requests in, an answer once they are delivered.

A request becomes one raw record per file-exporter line (`otlp_decode`) with the origin `otlp` (the
same for both transports, so a client that switches transport and resends gets the same ids). The
server thread that received it waits until the pipeline acknowledged every record: each is then in
the engine, the dead-letter file or the spool, and only then does the client hear success. A client
that retries after a timeout or a lost answer resends the same content; spans keep their own ids and
log records get content-hash ids, so a resent request never makes a second document.

Answers other than success, each a decision:
- the spool is (nearly) full, or `max_pending` requests already await delivery: 503 / UNAVAILABLE
  with Retry-After at once, nothing taken (the client keeps the data and retries);
- over the `rate_items` rate: 429 / RESOURCE_EXHAUSTED with Retry-After, nothing taken;
- delivery not acknowledged within `ack_timeout` (the engine is slow or away and no spool takes it):
  503 / UNAVAILABLE; what was taken is still delivered, and the client's retry is deduplicated.
- records the pipeline rejected (dead-lettered with their reasons) are reported in the answer's
  `partial_success` (the rejected count and the first reason); a record rejected whole counts all of
  its spans or log records.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from shipper.metrics import BoundedLabel
from shipper.records import Normalized, Origin, Rejected
from shipper.sources.base import Block
from shipper.sources.otlp_decode import Decoded, Signal
from shipper.sources.otlp_settings import OtlpInput

log = logging.getLogger("mlsiem.shipper.otlp")
ORIGIN_SOURCE = "otlp"


class OtlpMetrics:
    """Prometheus metrics of the OTLP receivers, in the shipper's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.requests = Counter(
            "mlsiem_shipper_otlp_requests",
            "OTLP export requests by transport, signal and answer",
            ["transport", "signal", "outcome"],
            registry=r,
        )
        self.items = Counter(
            "mlsiem_shipper_otlp_items", "Spans and log records received", ["signal"], registry=r
        )
        self.rejected = Counter(
            "mlsiem_shipper_otlp_items_rejected",
            "Spans and log records reported rejected in partial_success",
            ["signal"],
            registry=r,
        )
        self.metric_points_dropped = Counter(
            "mlsiem_shipper_otlp_metric_points_dropped",
            "Metric data points received and dropped (spans carry the same numbers)",
            ["metric"],
            registry=r,
        )
        self.auth_failures = Counter(
            "mlsiem_shipper_otlp_auth_failures", "OTLP requests refused for authentication", registry=r
        )
        self.latency = Histogram(
            "mlsiem_shipper_otlp_request_seconds",
            "From a request's arrival to its answer",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self._metric_label = BoundedLabel(32)

    def dropped_points(self, points: dict[str, int]) -> None:
        for name, count in points.items():
            self.metric_points_dropped.labels(metric=self._metric_label(name)).inc(count)


@dataclass
class Request:
    """One export request on its way: how many records are not acknowledged yet, what was rejected."""

    signal: Signal
    records: int
    done: threading.Event = field(default_factory=threading.Event)
    rejected: int = 0
    reason: str | None = None
    skip: int = 0  # dead-letter writes already counted from the normalizer's answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reject(self, count: int, reason: str) -> None:
        with self.lock:
            self.rejected += count
            self.reason = self.reason or reason


@dataclass(frozen=True, slots=True)
class RequestOrigin(Origin):
    """The origin of a record from an OTLP request: `otlp`, plus the request it belongs to (not part of
    the origin's identity, so not of any id)."""

    request: Any = field(default=None, compare=False, hash=False, repr=False)
    items: int = field(default=0, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class RecordAck:
    key: int
    request: Request


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a request: `status` ok | busy (503) | throttled (429) | timeout (503)."""

    status: str
    rejected: int = 0
    message: str = ""
    retry_after: int = 0


class RateLimit:
    """A token bucket over items per second (a burst of one second's worth)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._tokens = rate or 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self, items: int) -> float:
        """0 when `items` may pass now (and takes them), else the seconds until they could."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            need = min(items, self.rate)  # a request larger than the burst passes once the bucket is full
            if self._tokens >= need:
                self._tokens -= items
                return 0.0
            return (need - self._tokens) / self.rate


class OtlpIntake:
    """The Source side of a receiver: records() for the pipeline, submit() for the server threads."""

    name = "otlp"

    def __init__(
        self,
        settings: OtlpInput,
        metrics: OtlpMetrics,
        max_line_bytes: int,
        congested: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.max_line_bytes = max_line_bytes
        self.congested = congested
        self._records: queue.Queue[Block] = queue.Queue()
        self._keys = itertools.count()
        self._pending = 0
        self._lock = threading.Lock()
        self._rate = RateLimit(settings.rate_items)
        self._closed = threading.Event()

    def submit(self, decoded: Decoded, signal: Signal) -> Outcome:
        """Queue the request's records and wait for their delivery (or answer at once: busy, rate)."""
        settings = self.settings
        if decoded.metric_points:
            self.metrics.dropped_points(decoded.metric_points)
        if not decoded.lines:
            return Outcome("ok")
        wait = self._rate.take(decoded.items)
        if wait:
            return Outcome(
                "throttled", message="over the receiver's rate (rate_items)", retry_after=max(1, round(wait))
            )
        with self._lock:
            busy = self._pending >= settings.max_pending
            if not busy and self.congested():
                busy = True
            if busy or self._closed.is_set():
                why = "the shipper is shutting down" if self._closed.is_set() else "the shipper is behind"
                return Outcome("busy", message=f"{why}; retry later", retry_after=settings.retry_after)
            self._pending += 1
        request = Request(signal, len(decoded.lines))
        self.metrics.items.labels(signal=signal).inc(decoded.items)
        raws = [line for line, _ in decoded.lines]
        origins = [RequestOrigin(ORIGIN_SOURCE, None, None, request, items) for _, items in decoded.lines]
        acks = [(index, RecordAck(next(self._keys), request)) for index in range(len(raws))]
        self._records.put(Block(self, Origin(ORIGIN_SOURCE), raws, origins=origins, acks=acks))  # type: ignore[arg-type]
        if not request.done.wait(settings.ack_timeout):
            return Outcome(
                "timeout",
                message="not delivered in time (engine slow or away); retry (resent data is deduplicated)",
                retry_after=settings.retry_after,
            )
        if request.rejected:
            self.metrics.rejected.labels(signal=signal).inc(request.rejected)
        return Outcome("ok", request.rejected, request.reason or "")

    # -- Source --------------------------------------------------------------------------------------

    def records(self) -> Iterator[Block | None]:
        while not self._closed.is_set() or not self._records.empty():
            try:
                yield self._records.get(timeout=0.2)
            except queue.Empty:
                if self._closed.is_set():
                    return
                yield None

    def acknowledge(self, ack: RecordAck) -> None:
        request = ack.request
        with request.lock:
            request.records -= 1
            finished = request.records == 0
        if finished:
            with self._lock:
                self._pending -= 1
            request.done.set()

    def close(self) -> None:
        self._closed.set()


# -- the pipeline taps that report rejections back to the request ------------------------------------


class RejectionCounter:
    """Wraps the normalizer: a record from an OTLP request that yields no event counts all its items as
    rejected (with the reason); the dead-letter writes that answer caused are then not counted again."""

    def __init__(self, normalizer: Any) -> None:
        self.inner = normalizer

    def normalize(self, raw: Any, origin: Origin) -> tuple[list[Normalized], list[Rejected]]:
        events, rejected = self.inner.normalize(raw, origin)
        request = getattr(origin, "request", None)
        if request is not None and rejected:
            with request.lock:
                request.skip += len(rejected)
            if not events:
                request.reject(origin.items, rejected[0].reason)  # type: ignore[attr-defined]
        return events, rejected


class DeadLetterCounter:
    """Wraps the dead-letter writer: an event of an OTLP request the sink refused counts as rejected."""

    def __init__(self, writer: Any) -> None:
        self.inner = writer

    def write(self, rejected: Rejected) -> None:
        self.inner.write(rejected)
        request = getattr(rejected.origin, "request", None)
        if request is None:
            return
        with request.lock:
            if request.skip:
                request.skip -= 1
                return
        request.reject(1, rejected.reason)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def peer_of(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else str(address or "local")


__all__ = ["DeadLetterCounter", "OtlpIntake", "OtlpMetrics", "Outcome", "RejectionCounter", "peer_of"]
