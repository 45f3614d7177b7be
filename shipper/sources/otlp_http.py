"""The OTLP/HTTP receiver (`--listen otlp://127.0.0.1:4318`): `/v1/traces`, `/v1/logs`, `/v1/metrics`.

Bodies in protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`), plain or gzip; the
answer comes in the request's encoding: the signal's export response (with `partial_success` when
records were rejected) on success, a `google.rpc.Status` otherwise, as the OTLP specification asks.
Status codes: 400 a body that is not an export request, 401 authentication, 404 another path, 405
another method, 411 no Content-Length, 413 over `max_body_mb` (compressed or expanded), 415 another
content type or encoding, 429 over `rate_items`, 503 busy or not delivered in time (both with
Retry-After). When the answer is sent, and why: `otlp_intake`.

The server is the standard library's threading HTTP/1.1 server (keep-alive; one thread per
connection, at most `max_connections`, one more is closed at once). With TLS each connection's
handshake runs in its own thread within `handshake_timeout`, so a stalled peer holds up nobody; a
failed handshake is counted and logged with the peer and OpenSSL's reason.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import orjson
from google.protobuf.json_format import MessageToDict
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_service
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_service
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_service

from mlsiem.errors import ConfigError
from shipper.sources.forward_settings import tls_reason
from shipper.sources.otlp_auth import Authenticator
from shipper.sources.otlp_decode import OtlpDecodeError, Signal, decode_body
from shipper.sources.otlp_intake import OtlpIntake, OtlpMetrics, Outcome, peer_of
from shipper.sources.otlp_settings import OtlpInput, parse_otlp_url

log = logging.getLogger("mlsiem.shipper.otlp")
PATHS: Final[dict[str, Signal]] = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}
PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
IDLE_SECONDS: Final = 60  # a keep-alive connection with no request this long is closed


def export_response(signal: Signal, rejected: int, message: str) -> Any:
    """The signal's Export*ServiceResponse, with `partial_success` when something was rejected."""
    if signal == "traces":
        response: Any = trace_service.ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
    elif signal == "logs":
        response = logs_service.ExportLogsServiceResponse()
        if rejected:
            response.partial_success.rejected_log_records = rejected
    else:
        response = metrics_service.ExportMetricsServiceResponse()
    if rejected:
        response.partial_success.error_message = (
            f"{rejected} rejected, kept in the dead-letter file: {message}"
        )
    return response


# HTTP status -> google.rpc.Code of the Status body
_CODES: Final = {400: 3, 401: 16, 404: 5, 405: 12, 411: 3, 413: 8, 415: 12, 429: 8, 503: 14}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: OtlpHttpSource) -> None:
        self.receiver = receiver
        self.connections = 0
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            full = self.connections >= self.receiver.settings.max_connections
            if not full:
                self.connections += 1
        if full:
            log.warning(
                "otlp: refused a connection from %s: max_connections reached", peer_of(client_address)
            )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.connections_lock:
                self.connections -= 1

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.receiver.tls
        if tls is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        request.settimeout(self.receiver.settings.handshake_timeout)
        try:
            secured = tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
                return  # closed during the handshake: a probe, not a failed attempt
            self.receiver.metrics.auth_failures.inc()
            reason = "no TLS handshake in time" if isinstance(exc, TimeoutError) else tls_reason(exc)
            log.warning("otlp: TLS handshake with %s failed: %s", peer_of(client_address), reason)
            return
        try:
            self.RequestHandlerClass(secured, client_address, self)
        finally:
            secured.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlsiem-otlp"
    timeout = IDLE_SECONDS
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Access lines stay out of the shipper's log (a refused request is logged with its reason)."""

    def do_POST(self) -> None:
        self.server.receiver.handle(self)

    def _not_allowed(self) -> None:
        self.server.receiver.answer_error(self, 405, "only POST is accepted", JSON, allow="POST")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed


class OtlpHttpSource(OtlpIntake):
    """The receiver: an HTTP server thread, and the Source the pipeline reads."""

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
        self.name = f"otlp-http:{port}"
        self.auth = auth
        self.tls = settings.tls.server_context() if settings.tls is not None else None
        try:
            self._server = _Server((self.host, port), self)
        except OSError as exc:
            raise ConfigError(f"--listen {settings.listen}: cannot listen ({exc.strerror or exc})") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name=self.name)
        self._thread.start()

    def handle(self, http: _Handler) -> None:
        started = time.monotonic()
        path = http.path.split("?", 1)[0]
        signal = PATHS.get(path)
        content_type = http.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        answer_type = JSON if content_type == JSON else PROTOBUF
        if signal is None:
            return self.answer_error(
                http, 404, f"no such path {path!r}: use /v1/traces, /v1/logs or /v1/metrics"
            )
        peer = peer_of(http.client_address)
        refusal = self.auth.check(http.headers.get("Authorization"))
        if refusal is not None:
            self.metrics.auth_failures.inc()
            log.warning("otlp: refused a request from %s: %s", peer, refusal)
            self._count(signal, "unauthenticated")
            return self.answer_error(http, 401, refusal, answer_type, authenticate=self.auth.challenge)
        if content_type not in (PROTOBUF, JSON):
            return self.answer_error(http, 415, f"Content-Type {content_type!r}: send {PROTOBUF} or {JSON}")
        body = self._body(http, answer_type, signal)
        if body is None:
            return None
        try:
            decoded = decode_body(signal, body, content_type == JSON, self.max_line_bytes)
        except OtlpDecodeError as exc:
            log.warning("otlp: bad %s request from %s: %s", signal, peer, exc)
            self._count(signal, "bad_request")
            return self.answer_error(http, 400, str(exc), answer_type)
        outcome = self.submit(decoded, signal)
        self._count(signal, outcome.status)
        self.metrics.latency.observe(time.monotonic() - started)
        if outcome.status != "ok":
            code = 429 if outcome.status == "throttled" else 503
            return self.answer_error(
                http, code, outcome.message, answer_type, retry_after=outcome.retry_after
            )
        return self._answer_ok(http, signal, outcome, answer_type)

    def _body(self, http: _Handler, answer_type: str, signal: Signal) -> bytes | None:
        """The request body, decompressed within the limits; None when an error was answered instead."""
        settings = self.settings
        length_header = http.headers.get("Content-Length")
        if length_header is None or not length_header.strip().isdigit():
            http.close_connection = True
            self.answer_error(http, 411, "a Content-Length is required", answer_type)
            return None
        length = int(length_header)
        if length > settings.max_body_bytes:
            http.close_connection = True  # the body stays unread: this connection cannot go on
            self._count(signal, "too_large")
            self.answer_error(
                http,
                413,
                f"body of {length} bytes is over the limit of {settings.max_body_bytes}",
                answer_type,
            )
            return None
        body = http.rfile.read(length)
        if len(body) < length:
            http.close_connection = True
            return None
        encoding = http.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding == "identity" or not encoding:
            return body
        if encoding != "gzip":
            self.answer_error(http, 415, f"Content-Encoding {encoding!r}: send gzip or none", answer_type)
            return None
        try:
            return gunzip(body, settings.max_decoded_bytes)
        except _TooLarge:
            self._count(signal, "too_large")
            limit = settings.max_decoded_bytes
            self.answer_error(http, 413, f"gzip body expands over the limit of {limit} bytes", answer_type)
        except zlib.error as exc:
            self._count(signal, "bad_request")
            self.answer_error(http, 400, f"not a gzip body: {exc}", answer_type)
        return None

    def _count(self, signal: Signal, outcome: str) -> None:
        self.metrics.requests.labels(transport="http", signal=signal, outcome=outcome).inc()

    def _answer_ok(self, http: _Handler, signal: Signal, outcome: Outcome, answer_type: str) -> None:
        response = export_response(signal, outcome.rejected, outcome.message)
        body = orjson.dumps(MessageToDict(response)) if answer_type == JSON else response.SerializeToString()
        self._send(http, 200, answer_type, body)

    def answer_error(
        self,
        http: _Handler,
        code: int,
        message: str,
        answer_type: str = JSON,
        *,
        retry_after: int = 0,
        authenticate: str | None = None,
        allow: str | None = None,
    ) -> None:
        status = status_pb2.Status(code=_CODES.get(code, 2), message=message)
        body = orjson.dumps(MessageToDict(status)) if answer_type == JSON else status.SerializeToString()
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        if authenticate:
            headers["WWW-Authenticate"] = authenticate
        if allow:
            headers["Allow"] = allow
        self._send(http, code, answer_type, body, headers)

    @staticmethod
    def _send(http: _Handler, code: int, content_type: str, body: bytes, headers: dict | None = None) -> None:
        try:
            http.send_response(code)
            http.send_header("Content-Type", content_type)
            http.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                http.send_header(name, value)
            if http.close_connection:
                http.send_header("Connection", "close")
            http.end_headers()
            http.wfile.write(body)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            http.close_connection = True  # the client went away; it resends, and ids deduplicate

    def close(self) -> None:
        """Stop listening; requests in flight still get their answers as their records are delivered."""
        if self._closed.is_set():
            return
        super().close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _TooLarge(Exception):
    pass


def gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body (one or more members) expanded, at most `limit` bytes (else `_TooLarge`)."""
    out = bytearray()
    data = body
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise _TooLarge
        if inflater.unconsumed_tail:
            raise _TooLarge
        if not inflater.eof:
            raise zlib.error("truncated gzip data")
        data = inflater.unused_data
        if not data:
            return bytes(out)
