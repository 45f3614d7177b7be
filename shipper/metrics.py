"""Prometheus metrics of the shipper (`--metrics-port`), kept in a registry of its own per shipper."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


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

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
