"""The OTLP gRPC receiver (`--listen otlp+grpc://127.0.0.1:4317`): TraceService, LogsService and
MetricsService `Export`, served by `grpcio` with the official service definitions.

gRPC does the framing, gzip (when the client compresses) and the message size limit
(`max_body_mb`; a larger message gets RESOURCE_EXHAUSTED from grpc itself). Answers: OK with
`partial_success` for dead-lettered records, UNAUTHENTICATED for a missing or wrong `authorization`,
INVALID_ARGUMENT for a request the decoder refuses, RESOURCE_EXHAUSTED over `rate_items` and
UNAVAILABLE when busy or not delivered in time, both with a `google.rpc.RetryInfo` in the trailing
metadata (the OTLP exporters wait that long before retrying). When the answer is sent: `otlp_intake`.

TLS and mutual TLS come from grpc's server credentials; grpc does not report failed handshakes to
the application, so they are not counted here (the HTTP receiver counts its own).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from mlsiem.errors import ConfigError
from shipper.sources.otlp_auth import Authenticator
from shipper.sources.otlp_decode import OtlpDecodeError, Signal, decode
from shipper.sources.otlp_http import export_response
from shipper.sources.otlp_intake import OtlpIntake, OtlpMetrics
from shipper.sources.otlp_settings import MIB, OtlpInput, parse_otlp_url

log = logging.getLogger("mlsiem.shipper.otlp")
WORKERS: Final = 16


class _Export:
    """One service's `Export`: the same steps for each signal."""

    def __init__(self, receiver: OtlpGrpcSource, signal: Signal) -> None:
        self.receiver, self.signal = receiver, signal

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self.receiver.export(self.signal, request, context)


class OtlpGrpcSource(OtlpIntake):
    """The receiver: a grpc server (its own thread pool), and the Source the pipeline reads."""

    def __init__(
        self,
        settings: OtlpInput,
        metrics: OtlpMetrics,
        auth: Authenticator,
        max_line_bytes: int,
        congested: Any = lambda: False,
    ) -> None:
        super().__init__(settings, metrics, max_line_bytes, congested)
        _, self.host, port = parse_otlp_url(settings.listen)
        self.name = f"otlp-grpc:{port}"
        self.auth = auth
        limit = min(settings.max_body_bytes, 2047 * MIB)
        self._server = grpc.server(
            ThreadPoolExecutor(WORKERS, thread_name_prefix=self.name),
            options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=settings.max_connections,
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Export(self, "traces"), self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Export(self, "logs"), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Export(self, "metrics"), self._server)
        address = f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"
        try:
            if settings.tls is None:
                bound = self._server.add_insecure_port(address)
            else:
                cert, key, client_ca = settings.tls.read()
                credentials = grpc.ssl_server_credentials(
                    [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
                )
                bound = self._server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            raise ConfigError(f"--listen {settings.listen}: cannot listen ({exc})") from None
        if not bound:
            raise ConfigError(f"--listen {settings.listen}: cannot listen (the address is taken or invalid)")
        self.port = bound
        self._server.start()

    def export(self, signal: Signal, request: Any, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        peer = context.peer()
        header = dict(context.invocation_metadata()).get("authorization")
        refusal = self.auth.check(header if isinstance(header, str) else None)
        if refusal is not None:
            self.metrics.auth_failures.inc()
            log.warning("otlp: refused a gRPC request from %s: %s", peer, refusal)
            self._count(signal, "unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)
        try:
            decoded = decode(signal, request, self.max_line_bytes)
        except (OtlpDecodeError, RecursionError) as exc:
            log.warning("otlp: bad %s request from %s: %s", signal, peer, exc)
            self._count(signal, "bad_request")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc) or "malformed request")
        outcome = self.submit(decoded, signal)
        self._count(signal, outcome.status)
        self.metrics.latency.observe(time.monotonic() - started)
        if outcome.status != "ok":
            info = RetryInfo(retry_delay=Duration(seconds=outcome.retry_after))
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", info.SerializeToString()),))
            code = (
                grpc.StatusCode.RESOURCE_EXHAUSTED
                if outcome.status == "throttled"
                else grpc.StatusCode.UNAVAILABLE
            )
            context.abort(code, outcome.message)
        return export_response(signal, outcome.rejected, outcome.message)

    def _count(self, signal: Signal, outcome: str) -> None:
        self.metrics.requests.labels(transport="grpc", signal=signal, outcome=outcome).inc()

    def close(self) -> None:
        """Stop taking calls; calls in flight get `ack_timeout` to be answered (not waited for here: the
        pipeline that delivers them runs on)."""
        if self._closed.is_set():
            return
        super().close()
        self._server.stop(grace=self.settings.ack_timeout)
