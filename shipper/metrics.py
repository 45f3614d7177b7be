"""Prometheus metrics of the shipper (`--metrics-port`), kept in a registry of its own per shipper.

Label values must stay few (every value is a time series in the scraper): a label fed from data
(a model, a source, a peer) goes through `BoundedLabel`, which folds values past its cap into `other`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class BoundedLabel:
    """The values a metric label may take: the first `cap` distinct ones, then `other`."""

    OTHER = "other"

    def __init__(self, cap: int = 50) -> None:
        self.cap = cap
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self.cap:
            return self.OTHER
        self._seen.add(value)
        return value


class ShipperMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.read = Counter("mlsiem_shipper_records_read", "Raw records read from sources", registry=r)
        self.events = Counter("mlsiem_shipper_events", "Events normalized from the records", registry=r)
        self.shipped = Counter("mlsiem_shipper_events_shipped", "Events the sink took (new)", registry=r)
        self.duplicates = Counter(
            "mlsiem_shipper_events_duplicate", "Events already present in the engine (409)", registry=r
        )
        self.failed = Counter("mlsiem_shipper_events_failed", "Events the sink rejected", registry=r)
        self.dead_lettered = Counter(
            "mlsiem_shipper_dead_lettered", "Records and events written to the dead-letter file", registry=r
        )
        self.retries = Counter("mlsiem_shipper_retries", "Bulk retries", registry=r)
        self.spooled = Counter(
            "mlsiem_shipper_events_spooled", "Events written to the disk spool", registry=r
        )
        self.bytes_behind = Gauge("mlsiem_shipper_bytes_behind", "Unread bytes in followed files", registry=r)
        self.spool_bytes = Gauge("mlsiem_shipper_spool_bytes", "Bytes waiting in the disk spool", registry=r)
        self.bulk_latency = Histogram(
            "mlsiem_shipper_bulk_latency_seconds",
            "Latency of one bulk request",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        # The forward input (`--listen forward://`): refused peers, broken streams, throttling.
        self.forward_auth_failures = Counter(
            "mlsiem_shipper_forward_auth_failures", "Forward handshakes that failed or never came", registry=r
        )
        self.forward_protocol_errors = Counter(
            "mlsiem_shipper_forward_protocol_errors",
            "Forward connections closed on a broken stream",
            registry=r,
        )
        self.forward_oversized = Counter(
            "mlsiem_shipper_forward_oversized_messages", "Forward messages over a size limit", registry=r
        )
        self.forward_refused = Counter(
            "mlsiem_shipper_forward_connections_refused", "Forward connections over the limit", registry=r
        )
        self.forward_throttled = Counter(
            "mlsiem_shipper_forward_throttled_seconds", "Time forward peers were not read (rate)", registry=r
        )

        # Input limits (shipper.normalize.limits), by limit name: events cut, records refused.
        self.truncated = Counter(
            "mlsiem_shipper_events_truncated", "Events shipped cut at a limit", ["limit"], registry=r
        )
        self.over_limit = Counter(
            "mlsiem_shipper_records_over_limit",
            "Records dead-lettered for passing a limit",
            ["limit"],
            registry=r,
        )
        self._limit_label = BoundedLabel(16)

    def limit_hit(self, family: str, limit: str) -> None:
        """Count one event cut (`truncated`) or one record refused (`over_limit`) at `limit`."""
        counter = self.truncated if family == "truncated" else self.over_limit
        counter.labels(limit=self._limit_label(limit)).inc()

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
