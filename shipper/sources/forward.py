"""A Fluentd forward protocol server (`--listen forward://127.0.0.1:24224`).

It accepts what `fluent-logger`, Fluent Bit's and Fluentd's `forward` outputs send over TCP, in all three
modes (decoding: `forward_protocol`). When a message carries `option.chunk`, the server answers
`{"ack": chunk}` only after every record of that message is delivered (in the engine, the dead-letter
file or the spool), so a client that resends unacknowledged chunks loses nothing; resent records get
the same ids.

Hardening, each a decision written down here:
- Binds 127.0.0.1 unless a host is given; exposed without a key or client certificates, it warns
  (`forward_settings`).
- With TLS, every connection is handshaken before anything else is read; a peer that speaks plain TCP,
  offers no or a wrong client certificate, or stalls past `handshake_timeout` is counted and logged
  (`forward_auth_failures`, with the peer and the TLS reason) and disconnected.
- With a shared key (`forward_auth`), every connection starts with HELO; a peer that sends anything but
  a valid PING, or nothing within `handshake_timeout`, gets `PONG false` (if it spoke), no record
  accepted, and is disconnected. Each failure is counted and logged with the peer address and the
  reason, never with the key or a digest. A connection closed without one byte (a port probe, or a
  client that saw HELO and knows it has no key) is not a handshake and is not counted.
- A message over `max_message_bytes` (or a chunk that decompresses over `max_decompressed_bytes`, or
  with more than `max_records` entries) closes the connection with a log line and a counter. Records
  of earlier messages are delivered and acknowledged as usual (an ack is a promise already kept); the
  oversized message is not acknowledged, so a client keeps it in its own buffer.
- Rate limits per peer address (`forward_throttle`) stop reading, never drop.
- At most `max_connections` at a time; one more is closed at once (counted, logged): the client
  reconnects with backoff, which is what Fluent Bit and Fluentd do.

Records whose only payload is a JSON line (`log` or `message`, as Fluent Bit's tail input sends) are
normalized from that line; others are normalized as the record itself. A parsed record without a time
of its own (Fluent Bit's JSON parser with `Time_Keep Off`, its default, moves the time into the entry's
EventTime) takes the entry's time as `ts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from mlsiem.errors import ConfigError
from shipper.metrics import ShipperMetrics
from shipper.records import Origin
from shipper.sources.base import Block, RecordQueue
from shipper.sources.forward_auth import (
    MAX_HANDSHAKE_BYTES,
    ForwardAuthError,
    ServerHandshake,
)
from shipper.sources.forward_protocol import (
    ForwardDecoder,
    ForwardMessage,
    ForwardProtocolError,
    MessageTooLarge,
    new_unpacker,
)
from shipper.sources.forward_settings import ForwardSettings, parse_listen_url, tls_reason
from shipper.sources.forward_throttle import PeerThrottle, Throttles

READ_BYTES = 64 * 1024
HAND_OVER = 1000  # records handed to the pipeline at once, at most
log = logging.getLogger("mlsiem.shipper.forward")


class _TlsGate(asyncio.Protocol):
    """A new connection of a TLS listener, held unread until the TLS handshake takes it over: bytes a
    stream read first (the ClientHello) would never reach the handshake, which then hangs."""

    def __init__(self, source: ForwardSource) -> None:
        self.source = source

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self.source._start_tls(transport))
        self.source._tasks.add(task)
        task.add_done_callback(self.source._tasks.discard)


@dataclass(frozen=True, slots=True)
class ChunkAck:
    key: tuple[int, int]  # (connection, message number): one ack slot per message
    chunk: str | None
    writer: asyncio.StreamWriter | None


TIME_KEYS: Final = ("ts", "@timestamp", "timestamp", "time")  # the keys formats read a record's time from


def _entry_seconds(time: Any) -> float | int | None:
    """An entry's time as epoch seconds: a number (EventTime is decoded to one), or Fluent Bit 2.1+'s
    `[time, metadata]` pair."""
    if time.__class__ is list and len(time) == 2 and time[1].__class__ is dict:
        time = time[0]
    return time if time.__class__ is float or time.__class__ is int else None


def _payload(record: Any, time: Any) -> bytes | dict[str, Any]:
    if isinstance(record, dict):
        for key in ("log", "message"):
            line = record.get(key)
            if isinstance(line, str) and line.lstrip().startswith("{") and len(record) <= 3:
                return line.strip().encode()
        if not any(key in record for key in TIME_KEYS) and (seconds := _entry_seconds(time)) is not None:
            return {**record, "ts": seconds}  # the parser kept the time only in the entry (Time_Keep Off)
        return record
    return msgpack.packb(record, default=str) if not isinstance(record, bytes) else record


class ForwardSource:
    """Runs the server on its own event loop thread; `records()` hands what arrives to the pipeline."""

    name = "forward"

    def __init__(
        self, url: str, settings: ForwardSettings | None = None, metrics: ShipperMetrics | None = None
    ) -> None:
        self.host, self.port = parse_listen_url(url)
        self.settings = settings or ForwardSettings()
        self.metrics = metrics or ShipperMetrics()
        self._records: queue.Queue = RecordQueue(self.settings.buffer_records)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._ids = itertools.count()
        self._connections = 0
        self._throttles = Throttles(
            self.settings.events_per_second,
            self.settings.bytes_per_second,
            self.metrics.forward_throttled.inc,
        )
        self._tls = self.settings.tls.server_context() if self.settings.tls is not None else None
        self._closed = threading.Event()
        self._tasks: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="forward-server")
        self._start()

    def _start(self) -> None:
        self._thread.start()
        if self._tls is None:
            listening = asyncio.start_server(self._serve, self.host, self.port, limit=READ_BYTES)
        else:
            listening = self._loop.create_server(lambda: _TlsGate(self), self.host, self.port)
        future = asyncio.run_coroutine_threadsafe(listening, self._loop)
        try:
            self._server = future.result(timeout=10)
        except OSError as exc:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise ConfigError(
                f"--listen forward://{self.host}:{self.port}: cannot listen ({exc.strerror or exc})"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else "local"
        if self._connections >= self.settings.max_connections:
            self.metrics.forward_refused.inc()
            log.warning(
                "forward: refused a connection from %s: %d connections already (max_connections)",
                peer,
                self._connections,
            )
            writer.close()
            return
        self._connections += 1
        throttle = self._throttles.open(peer)
        try:
            leftover = b""
            if self.settings.security is not None:
                leftover = await self._handshake(peer, reader, writer)
                if leftover is None:
                    return
            await self._receive(next(self._ids), peer, leftover, reader, writer, throttle)
        except ConnectionError:
            pass  # the peer went away; what it sent before is delivered, the rest it will resend
        finally:
            self._connections -= 1
            self._throttles.close(peer)
            writer.close()

    async def _start_tls(self, transport: asyncio.Transport) -> None:
        """The TLS handshake within the handshake timeout, then `_serve` on the decrypted stream; a
        failed handshake is counted and logged with the peer and OpenSSL's reason."""
        assert self._tls is not None
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else "local"
        protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=READ_BYTES), self._serve)
        try:
            secured = await self._loop.start_tls(
                transport,
                protocol,
                self._tls,
                server_side=True,
                ssl_handshake_timeout=self.settings.handshake_timeout,
            )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            transport.close()
            if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
                return  # closed during the handshake: a probe, not a failed attempt
            self.metrics.forward_auth_failures.inc()
            timed_out = isinstance(exc, TimeoutError | ConnectionAbortedError)
            reason = "no TLS handshake in time" if timed_out else tls_reason(exc)
            log.warning("forward: TLS handshake with %s failed: %s", peer, reason)
            return
        if secured is None:  # the connection closed as the handshake ended
            transport.close()
            return
        protocol.connection_made(secured)  # starts `_serve` (start_tls leaves this to its caller)

    async def _handshake(
        self, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """HELO, then the PING within the timeout; the bytes after the PING, or None when refused."""
        assert self.settings.security is not None
        handshake = ServerHandshake(self.settings.security)
        writer.write(handshake.helo())
        unpacker = new_unpacker(MAX_HANDSHAKE_BYTES, raw=True)
        received = b""
        try:
            async with asyncio.timeout(self.settings.handshake_timeout):
                while True:
                    data = await reader.read(READ_BYTES)
                    if not data and not received:  # a port probe, not a handshake: nothing to count
                        log.debug("forward: %s closed the connection without a word", peer)
                        return None
                    if not data:
                        return self._refused(peer, handshake, "closed the connection inside PING")
                    received += data
                    if len(received) > MAX_HANDSHAKE_BYTES:
                        raise ForwardAuthError("invalid ping message")
                    unpacker.feed(data)
                    for ping in unpacker:
                        writer.write(handshake.answer(ping))
                        return received[unpacker.tell() :]
        except TimeoutError:
            return self._refused(peer, handshake, f"no PING within {self.settings.handshake_timeout:g} s")
        except ConnectionError:
            return self._refused(peer, handshake, "the connection broke before PING")
        except (ValueError, msgpack.UnpackException):
            reason = "invalid ping message"
        except ForwardAuthError as exc:
            reason = str(exc)
        self._refused(peer, handshake, reason)
        with contextlib.suppress(ConnectionError):
            writer.write(ServerHandshake.refusal(reason))
            await writer.drain()
        return None

    def _refused(self, peer: str, handshake: ServerHandshake, reason: str) -> None:
        self.metrics.forward_auth_failures.inc()
        named = f" (hostname {handshake.client_hostname!r})" if handshake.client_hostname else ""
        log.warning("forward: authentication failed from %s%s: %s; disconnected", peer, named, reason)
        return None

    async def _receive(
        self,
        connection: int,
        peer: str,
        leftover: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        throttle: PeerThrottle,
    ) -> None:
        decoder = ForwardDecoder(self.settings.limits)
        data = leftover
        try:
            while not self._closed.is_set():
                if data:
                    await throttle.took_bytes(len(data))
                    await self._room()
                    for message in decoder.feed(data):
                        await throttle.took_events(len(message.entries))
                        await self._accept(connection, message, writer)
                data = await reader.read(READ_BYTES)
                if not data:
                    return
        except MessageTooLarge as exc:
            self.metrics.forward_oversized.inc()
            log.warning("forward: closed the connection from %s: %s", peer, exc)
        except ForwardProtocolError as exc:
            self.metrics.forward_protocol_errors.inc()
            log.warning("forward: closed the connection from %s: %s", peer, exc)

    async def _room(self) -> None:
        """Wait until the buffer has room before decoding more of a connection. Decoding first and
        waiting afterwards let every connection hold a decoded message (its records as objects) while
        the pipeline was behind: Fluent Bit opens several, and a forward shipper grew past 300 MB."""
        while self._records.full() and not self._closed.is_set():
            await asyncio.sleep(0.02)

    async def _accept(self, connection: int, message: ForwardMessage, writer: asyncio.StreamWriter) -> None:
        chunk = message.chunk
        key = (connection, next(self._ids))
        if not message.entries:
            if chunk:
                writer.write(msgpack.packb({"ack": chunk}))
            return
        origin = Origin(f"forward:{message.tag}", None, None)
        raws = [_payload(record, time) for time, record in message.entries]
        block = Block(self, origin, raws, acks=[(len(raws) - 1, ChunkAck(key, chunk, writer))])
        while True:  # the message's records as one block: one hand-over, however many records
            try:
                self._records.put_nowait(block)
                break
            except queue.Full:
                await asyncio.sleep(0.05)  # the pipeline is behind: stop reading this socket

    def records(self) -> Iterator[Block | None]:
        """What has arrived: the messages of one tag merged into one block (up to `HAND_OVER` records)
        the pipeline takes at once."""
        records = self._records
        while not self._closed.is_set():
            try:
                taken = records.get(timeout=0.2)
            except queue.Empty:
                yield None
                continue
            with contextlib.suppress(queue.Empty):
                while len(taken) < HAND_OVER:
                    block = records.get_nowait()
                    if not taken.absorb(block):
                        yield taken
                        taken = block
            yield taken

    def acknowledge(self, ack: ChunkAck) -> None:
        if ack.chunk and ack.writer is not None:
            writer, payload = ack.writer, msgpack.packb({"ack": ack.chunk})
            with contextlib.suppress(RuntimeError):  # closed meanwhile: the client resends, ids dedupe
                self._loop.call_soon_threadsafe(
                    lambda: None if writer.is_closing() else writer.write(payload)
                )

    def close(self) -> None:
        """Stop listening, end every connection, and stop the loop thread (records read stay queued)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports finish
