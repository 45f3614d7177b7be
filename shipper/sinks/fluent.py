"""`--output fluent://host:port`: forward ECS documents to a Fluentd / Fluent Bit / mlsiem forward peer.

Each batch goes as Forward-mode messages, one per kind, tagged `mlsiem.<kind>` (inference or pipeline)
so the peer can route each kind to its own output, with EventTime timestamps from `@timestamp`. An
mlsiem peer (`--listen forward://...`) passes the documents through as the `ecs` format, ids kept.

Our own small client instead of `fluent-logger`: fluent-logger (0.11) cannot authenticate (it has no
HELO / PING / PONG) and cannot wait for acknowledgements. With a shared key (`--forward-shared-key-file`
or `$MLSIEM_FORWARD_SHARED_KEY`, the same sources as the forward input) every connection does the
handshake of `forward_auth` and checks that the server knows the key too. `?require_ack=true` on the URL
sends a `chunk` id with every message and counts it delivered only when the peer answers `{"ack": id}`
(Fluentd's `require_ack_response`): at-least-once instead of at-most-once. `?tls=true` speaks TLS 1.2+
and verifies the peer's certificate and name (against `tls_ca=PEM` for a private CA); `tls_cert` and
`tls_key` present a client certificate to a peer that requires one.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgpack
import orjson
from pydantic import SecretStr

from mlsiem.errors import ConfigError
from shipper.sinks.base import RETRY_SECONDS, Encoded, SendResult, SinkUnavailable
from shipper.sources.forward_auth import MAX_HANDSHAKE_BYTES, ClientHandshake, ForwardAuthError
from shipper.sources.forward_settings import tls_reason

log = logging.getLogger("mlsiem.shipper.fluent")
UNASKED_HELO_WAIT = 0.1  # without a key: how long to look for a HELO that says the peer wants one


@dataclass(frozen=True)
class FluentTarget:
    """Where `fluent://` sends: the peer, whether to wait for acks, and the TLS context (None: TCP)."""

    host: str
    port: int
    require_ack: bool
    tls: ssl.SSLContext | None = None


_BOOLEANS = {"true": True, "1": True, "": True, "false": False, "0": False}
_USAGE = "expected fluent://host:port[?require_ack=true][&tls=true&tls_ca=PEM&tls_cert=PEM&tls_key=PEM]"


def parse_fluent_url(url: str) -> FluentTarget:
    """`fluent://host[:port]` with `require_ack` and TLS options (`tls`, and the file paths `tls_ca`,
    `tls_cert`, `tls_key`: a private CA, and a client certificate for peers that require one)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--output {url!r}: the port is not a number from 0 to 65535") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    if parts.scheme != "fluent" or not parts.hostname or set(query) - {"require_ack", "tls", *_TLS_FILES}:
        raise ConfigError(f"--output {url!r}: {_USAGE}")
    flags = {}
    for name in ("require_ack", "tls"):
        value = query.get(name, "false").lower()
        if value not in _BOOLEANS:
            raise ConfigError(f"--output {url!r}: {name} is true or false, not {value!r}")
        flags[name] = _BOOLEANS[value]
    files = {name: Path(query[name]) for name in _TLS_FILES if query.get(name)}
    if files and not flags["tls"]:
        flags["tls"] = True  # a CA or a client certificate only makes sense over TLS
    tls = _client_context(url, **files) if flags["tls"] else None
    return FluentTarget(parts.hostname, port or 24224, flags["require_ack"], tls)


_TLS_FILES = ("tls_ca", "tls_cert", "tls_key")


def _client_context(
    url: str, tls_ca: Path | None = None, tls_cert: Path | None = None, tls_key: Path | None = None
) -> ssl.SSLContext:
    """TLS 1.2+, the peer's certificate verified (against `tls_ca` or the system's CAs) with its name."""
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(f"--output {url!r}: tls_cert and tls_key go together")
    try:
        context = ssl.create_default_context(cafile=tls_ca)
    except (OSError, ssl.SSLError) as exc:
        why = tls_reason(exc)
        raise ConfigError(f"--output {url!r}: tls_ca {tls_ca}: not a readable PEM CA ({why})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls_cert is not None:
        try:
            context.load_cert_chain(tls_cert, tls_key)
        except (OSError, ssl.SSLError) as exc:
            why = tls_reason(exc)
            raise ConfigError(
                f"--output {url!r}: tls_cert {tls_cert} / tls_key {tls_key}: cannot use them ({why})"
            ) from None
    return context


class FluentSink:
    name = "fluent"

    def __init__(
        self,
        url: str,
        retry_budget: float = RETRY_SECONDS,
        timeout: float = 5.0,
        shared_key: SecretStr | None = None,
        hostname: str | None = None,
    ) -> None:
        target = parse_fluent_url(url)
        self.host, self.port, self.require_ack = target.host, target.port, target.require_ack
        self.tls = target.tls
        self.url = f"fluent://{self.host}:{self.port}"
        self.retry_budget = retry_budget
        self.timeout = timeout
        self.shared_key = shared_key
        self.hostname = hostname or socket.gethostname()
        self._socket: socket.socket | None = None
        self._replies = msgpack.Unpacker(raw=True, max_buffer_size=MAX_HANDSHAKE_BYTES)

    def send(self, events: list[Encoded]) -> SendResult:
        result = SendResult()
        deadline = time.monotonic() + self.retry_budget
        by_kind: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_kind.setdefault(event.kind, []).append(index)
        pending = list(by_kind.items())
        while pending:
            kind, indices = pending[0]
            chunk = base64.b64encode(os.urandom(16)).decode()
            try:
                self._deliver(f"mlsiem.{kind}", [events[i] for i in indices], chunk)
            except (OSError, ForwardAuthError, ValueError) as exc:
                self._disconnect()
                if time.monotonic() >= deadline:
                    left = sorted(i for _, group in pending for i in group)
                    raise SinkUnavailable(f"{self.url} does not accept events ({exc})", left) from None
                if result.retries == 0:
                    log.warning("fluent output %s: %s; retrying for %g s", self.url, exc, self.retry_budget)
                result.retries += 1
                time.sleep(0.5)
                continue
            result.delivered += len(indices)
            pending.pop(0)
        return result

    def _deliver(self, tag: str, events: list[Encoded], chunk: str) -> None:
        sock = self._connect()
        option: dict[str, Any] = {"size": len(events)}
        if self.require_ack:
            option["chunk"] = chunk
        documents = [orjson.loads(e.json) for e in events]
        entries = [[_event_time(d.get("@timestamp")), d] for d in documents]
        sock.sendall(msgpack.packb([tag, entries, option], default=str))
        if self.require_ack:
            reply = self._read_reply()
            if not isinstance(reply, dict) or reply.get(b"ack") != chunk.encode():
                raise _unexpected(reply)

    def _connect(self) -> socket.socket:
        if self._socket is not None:
            if not self._poll(0):
                return self._socket
            self._disconnect()  # a connection we wait on says something unasked: it is closing
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except ssl.SSLError as exc:
                sock.close()
                raise ConnectionError(f"TLS handshake failed: {exc.reason or exc}") from None
        self._socket = sock
        self._replies = msgpack.Unpacker(raw=True, max_buffer_size=MAX_HANDSHAKE_BYTES)
        if self.shared_key is not None:
            handshake = ClientHandshake(self.shared_key, hostname=self.hostname)
            try:
                sock.sendall(handshake.ping(self._read_reply("HELO")))
                handshake.check_pong(self._read_reply("PONG"))
            except TimeoutError:
                raise ForwardAuthError("no handshake from the peer (does it have a shared key?)") from None
        elif self._poll(UNASKED_HELO_WAIT):
            raise _unexpected(self._read_reply())
        return sock

    def _poll(self, wait: float) -> bool:
        """Whether the peer sent something (or closed) within `wait` seconds. Over TLS, records that
        carry no data (TLS 1.3 session tickets arrive after the handshake) do not count."""
        sock = self._socket
        assert sock is not None
        if not isinstance(sock, ssl.SSLSocket):
            return bool(select.select([sock], [], [], wait)[0])
        deadline = time.monotonic() + wait
        while not sock.pending():
            if not select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return False
            sock.setblocking(False)
            try:
                data = sock.recv(4096)
            except ssl.SSLWantReadError:
                continue  # TLS records only: nothing for us yet
            finally:
                sock.settimeout(self.timeout)
            if data:
                self._replies.feed(data)
            return True
        return True

    def _read_reply(self, expected: str = "a reply") -> Any:
        assert self._socket is not None
        while True:
            for reply in self._replies:
                return reply
            data = self._socket.recv(4096)
            if not data:
                raise ConnectionError(f"the peer closed the connection while {expected} was due")
            self._replies.feed(data)

    def _disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        self._disconnect()


def _unexpected(reply: Any) -> Exception:
    """The error for a reply that is not the ack we wait for (a HELO means the peer wants a key)."""
    if isinstance(reply, list) and reply and reply[0] in (b"HELO", b"PONG"):
        return ForwardAuthError(
            "the peer requires shared-key authentication "
            "(--forward-shared-key-file or $MLSIEM_FORWARD_SHARED_KEY)"
        )
    return ValueError("the peer did not acknowledge the chunk")


def _event_time(timestamp: object) -> msgpack.ExtType:
    """`@timestamp` as the forward protocol's EventTime (seconds, nanoseconds); now when unparseable."""
    seconds = time.time()
    if isinstance(timestamp, str):
        with contextlib.suppress(ValueError):
            seconds = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    whole = int(seconds)
    return msgpack.ExtType(0, struct.pack(">II", whole % (1 << 32), int((seconds - whole) * 1e9) % 10**9))
