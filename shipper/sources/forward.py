"""A Fluentd forward protocol server (`--listen forward://127.0.0.1:24224`).

It accepts what `fluent-logger`, Fluent Bit's and Fluentd's `forward` outputs send over TCP: Message
(`[tag, time, record, option?]`), Forward (`[tag, [[time, record], ...], option?]`) and PackedForward
(`[tag, bin, option?]`, gzip-compressed when `option.compressed == "gzip"`), with times as integers or
the EventTime extension. When a message carries `option.chunk`, the server answers `{"ack": chunk}`
only after every record of that message is delivered (in the engine, the dead-letter file or the
spool), so a client that resends unacknowledged chunks loses nothing; resent records get the same ids.

Records whose only payload is a JSON line (`log` or `message`, as Fluent Bit's tail input sends) are
normalized from that line; others are normalized as the record itself.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import itertools
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgpack

from mlsiem.errors import ConfigError
from shipper.records import Origin
from shipper.sources.base import RawRecord

MAX_MESSAGE_BYTES = 16 << 20


def parse_listen_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "forward" or not parts.hostname:
        raise ConfigError(f"--listen {url!r}: expected forward://host:port")
    return parts.hostname, parts.port or 24224


@dataclass(frozen=True, slots=True)
class ChunkAck:
    key: tuple[int, int]  # (connection, message number): one ack slot per message
    chunk: str | None
    last: bool
    writer: asyncio.StreamWriter | None


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0 and len(data) == 8:  # EventTime: uint32 seconds, uint32 nanoseconds (big endian)
        return int.from_bytes(data[:4], "big") + int.from_bytes(data[4:], "big") / 1e9
    return msgpack.ExtType(code, data)


def _entries(message: list) -> tuple[str, list[tuple[Any, Any]], dict]:
    """(tag, [(time, record)], option) from any of the three modes; ValueError for anything else."""
    if not isinstance(message, list) or len(message) < 2 or not isinstance(message[0], str):
        raise ValueError("not a forward protocol message ([tag, ...])")
    tag, body = message[0], message[1]
    if isinstance(body, (int, float)):  # Message mode
        if len(message) < 3:
            raise ValueError("Message mode needs [tag, time, record]")
        option = message[3] if len(message) > 3 and isinstance(message[3], dict) else {}
        return tag, [(body, message[2])], option
    option = message[2] if len(message) > 2 and isinstance(message[2], dict) else {}
    if isinstance(body, list):  # Forward mode
        return tag, [tuple(entry) for entry in body if isinstance(entry, list) and len(entry) == 2], option
    if isinstance(body, (bytes, str)):  # PackedForward (optionally CompressedPackedForward)
        data = body.encode("latin-1") if isinstance(body, str) else body
        if option.get("compressed") == "gzip":
            data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_MESSAGE_BYTES + 1)
            if len(data) > MAX_MESSAGE_BYTES:
                raise ValueError("compressed chunk expands beyond the message size limit")
        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, max_buffer_size=MAX_MESSAGE_BYTES)
        unpacker.feed(data)
        return (
            tag,
            [tuple(entry) for entry in unpacker if isinstance(entry, list) and len(entry) == 2],
            option,
        )
    raise ValueError(f"unknown forward mode (second element is {type(body).__name__})")


def _payload(record: Any) -> bytes | dict[str, Any]:
    if isinstance(record, dict):
        for key in ("log", "message"):
            line = record.get(key)
            if isinstance(line, str) and line.lstrip().startswith("{") and len(record) <= 3:
                return line.strip().encode()
        return record
    return msgpack.packb(record, default=str) if not isinstance(record, bytes) else record


class ForwardSource:
    """Runs the server on its own event loop thread; `records()` hands what arrives to the pipeline."""

    name = "forward"

    def __init__(self, url: str, buffer_records: int = 10_000) -> None:
        self.host, self.port = parse_listen_url(url)
        self._records: queue.Queue = queue.Queue(buffer_records)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._ids = itertools.count()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="forward-server")
        self._started = threading.Event()
        self.rejected_messages = 0
        self._start()

    def _start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, self.host, self.port, limit=MAX_MESSAGE_BYTES), self._loop
        )
        try:
            self._server = future.result(timeout=10)
        except OSError as exc:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise ConfigError(
                f"--listen forward://{self.host}:{self.port}: cannot listen ({exc.strerror})"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(self._ids)
        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, max_buffer_size=MAX_MESSAGE_BYTES)
        try:
            while not self._closed.is_set():
                data = await reader.read(65536)
                if not data:
                    break
                unpacker.feed(data)
                for message in unpacker:
                    await self._accept(connection, message, writer)
        except (ValueError, msgpack.UnpackException, ConnectionError) as exc:
            self.rejected_messages += 1
            del exc  # a broken stream cannot be resynchronised: close it; the client resends its chunk
        finally:
            writer.close()

    async def _accept(self, connection: int, message: Any, writer: asyncio.StreamWriter) -> None:
        tag, entries, option = _entries(message)
        chunk = option.get("chunk") if isinstance(option.get("chunk"), str) else None
        key = (connection, next(self._ids))
        if not entries:
            if chunk:
                writer.write(msgpack.packb({"ack": chunk}))
            return
        for number, (_, record) in enumerate(entries):
            ack = ChunkAck(key, chunk, number == len(entries) - 1, writer)
            item = RawRecord(_payload(record), Origin(f"forward:{tag}", None, None), self, ack)
            while True:
                try:
                    self._records.put_nowait(item)
                    break
                except queue.Full:
                    await asyncio.sleep(0.05)  # the pipeline is behind: stop reading this socket

    def records(self) -> Iterator[RawRecord | None]:
        while not self._closed.is_set():
            try:
                yield self._records.get(timeout=0.2)
            except queue.Empty:
                yield None

    def acknowledge(self, ack: ChunkAck) -> None:
        if ack.last and ack.chunk and ack.writer is not None:
            writer, payload = ack.writer, msgpack.packb({"ack": ack.chunk})
            self._loop.call_soon_threadsafe(lambda: None if writer.is_closing() else writer.write(payload))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
