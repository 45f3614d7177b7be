"""`--output fluent://host:port`: forward ECS documents to a Fluentd / Fluent Bit / mlsiem forward peer.

Each batch goes as Forward-mode messages, one per kind, tagged `mlsiem.<kind>` (inference or pipeline)
so the peer can route each kind to its own output, with EventTime timestamps from `@timestamp`. An
mlsiem peer (`--listen forward://...`) passes the documents through as the `ecs` format, ids kept.

Our own small client instead of `fluent-logger`: fluent-logger (0.11) cannot authenticate (it has no
HELO / PING / PONG) and cannot wait for acknowledgements. With a shared key (`--forward-shared-key-file`
or `$MLSIEM_FORWARD_SHARED_KEY`, the same sources as the forward input) every connection does the
handshake of `forward_auth` and checks that the server knows the key too. `?require_ack=true` on the URL
sends a `chunk` id with every message and counts it delivered only when the peer answers `{"ack": id}`
(Fluentd's `require_ack_response`): at-least-once instead of at-most-once.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import select
import socket
import struct
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgpack
from pydantic import SecretStr

from mlsiem.errors import ConfigError
from shipper.records import Normalized
from shipper.sinks.base import SendResult, SinkUnavailable
from shipper.sources.forward_auth import MAX_HANDSHAKE_BYTES, ClientHandshake, ForwardAuthError

log = logging.getLogger("mlsiem.shipper.fluent")
UNASKED_HELO_WAIT = 0.1  # without a key: how long to look for a HELO that says the peer wants one


def parse_fluent_url(url: str) -> tuple[str, int, bool]:
    """`fluent://host[:port][?require_ack=true]` as (host, port, require_ack)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--output {url!r}: the port is not a number from 0 to 65535") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"require_ack"}
    if parts.scheme != "fluent" or not parts.hostname or unknown:
        raise ConfigError(f"--output {url!r}: expected fluent://host:port[?require_ack=true]")
    ack = query.get("require_ack", ["false"])[-1].lower()
    if ack not in ("true", "false", "1", "0", ""):
        raise ConfigError(f"--output {url!r}: require_ack is true or false, not {ack!r}")
    return parts.hostname, port or 24224, ack in ("true", "1", "")


class FluentSink:
    name = "fluent"

    def __init__(
        self,
        url: str,
        retry_budget: float = 30.0,
        timeout: float = 5.0,
        shared_key: SecretStr | None = None,
        hostname: str | None = None,
    ) -> None:
        self.host, self.port, self.require_ack = parse_fluent_url(url)
        self.url = f"fluent://{self.host}:{self.port}"
        self.retry_budget = retry_budget
        self.timeout = timeout
        self.shared_key = shared_key
        self.hostname = hostname or socket.gethostname()
        self._socket: socket.socket | None = None
        self._replies = msgpack.Unpacker(raw=True, max_buffer_size=MAX_HANDSHAKE_BYTES)

    def send(self, events: list[Normalized]) -> SendResult:
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

    def _deliver(self, tag: str, events: list[Normalized], chunk: str) -> None:
        sock = self._connect()
        option: dict[str, Any] = {"size": len(events)}
        if self.require_ack:
            option["chunk"] = chunk
        entries = [[_event_time(e.document.get("@timestamp")), e.document] for e in events]
        sock.sendall(msgpack.packb([tag, entries, option], default=str))
        if self.require_ack:
            reply = self._read_reply()
            if not isinstance(reply, dict) or reply.get(b"ack") != chunk.encode():
                raise _unexpected(reply)

    def _connect(self) -> socket.socket:
        if self._socket is not None:
            if not select.select([self._socket], [], [], 0)[0]:
                return self._socket
            self._disconnect()  # a connection we wait on says something unasked: it is closing
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock
        self._replies = msgpack.Unpacker(raw=True, max_buffer_size=MAX_HANDSHAKE_BYTES)
        if self.shared_key is not None:
            handshake = ClientHandshake(self.shared_key, hostname=self.hostname)
            try:
                sock.sendall(handshake.ping(self._read_reply("HELO")))
                handshake.check_pong(self._read_reply("PONG"))
            except TimeoutError:
                raise ForwardAuthError("no handshake from the peer (does it have a shared key?)") from None
        elif select.select([sock], [], [], UNASKED_HELO_WAIT)[0]:
            raise _unexpected(self._read_reply())
        return sock

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
