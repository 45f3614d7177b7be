"""Decoding the Fluentd forward protocol v1: bytes in, forward messages out, or a `ForwardProtocolError`.

Pure (no sockets, no clock), so it can be fuzzed and reasoned about on its own. It understands the
three modes, Message (`[tag, time, record, option?]`), Forward (`[tag, [[time, record], ...], option?]`)
and PackedForward (`[tag, bin, option?]`, gzip-compressed when `option.compressed == "gzip"`, possibly
several gzip members one after another, as Fluentd's compressed buffer chunks are), with times as
integers, floats or the EventTime extension.

Every size is bounded before memory is spent on it: a message on the wire (`max_message_bytes`), a
decompressed chunk (`max_decompressed_bytes`) and the records of one message (`max_records`). A broken
stream cannot be resynchronised, so every error ends the stream; an entry that is not a `[time,
record]` pair inside an otherwise valid message is kept (the pipeline dead-letters it) instead of
being dropped in silence.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import msgpack
from pydantic import BaseModel, ConfigDict, Field

MIB = 1 << 20


class ForwardLimits(BaseModel):
    """How much one forward message may carry; larger ones end the connection, unacknowledged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_message_bytes: int = Field(16 * MIB, ge=1024, le=1024 * MIB)
    max_decompressed_bytes: int = Field(64 * MIB, ge=1024, le=4096 * MIB)
    max_records: int = Field(250_000, ge=1, le=100_000_000)


class ForwardProtocolError(ValueError):
    """The stream is not the forward protocol (or breaks a limit); the message says what and where."""


class MessageTooLarge(ForwardProtocolError):
    """A message over one of the `ForwardLimits` (size on the wire, decompressed size, records)."""


@dataclass(frozen=True, slots=True)
class ForwardMessage:
    """One decoded message: its tag, its entries `(time, record)`, its option map and wire size."""

    tag: str
    entries: list[tuple[Any, Any]]
    option: dict[str, Any]
    size: int

    @property
    def chunk(self) -> str | None:
        """The id the client wants acknowledged (`{"ack": chunk}`) once the entries are delivered."""
        chunk = self.option.get("chunk")
        return chunk if isinstance(chunk, str) else None


def event_time_hook(code: int, data: bytes) -> Any:
    """EventTime (ext 0: uint32 seconds, uint32 nanoseconds, big endian) as float seconds."""
    if code == 0 and len(data) == 8:
        return int.from_bytes(data[:4], "big") + int.from_bytes(data[4:], "big") / 1e9
    return msgpack.ExtType(code, data)


def new_unpacker(limit: int, raw: bool = False, max_items: int | None = None) -> msgpack.Unpacker:
    """A streaming unpacker whose every declared length is bounded: `limit` bytes, `max_items` elements.

    The element bound matters on its own: the unpacker allocates a list for the length an array header
    declares before any element arrives, so a few bytes of nested headers could otherwise reserve
    gigabytes.
    """
    items = min(limit, max_items) if max_items is not None else limit
    return msgpack.Unpacker(
        raw=raw,
        ext_hook=event_time_hook,
        max_buffer_size=limit,
        max_str_len=limit,
        max_bin_len=limit,
        max_array_len=items,
        max_map_len=items,
        max_ext_len=limit,
    )


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress one or more concatenated gzip members, refusing to produce more than `limit` bytes."""
    out: list[bytes] = []
    produced = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            part = inflater.decompress(rest, limit - produced + 1)
        except zlib.error as exc:
            raise ForwardProtocolError(f"CompressedPackedForward: bad gzip data ({exc})") from None
        produced += len(part)
        if produced > limit or inflater.unconsumed_tail:
            raise MessageTooLarge(
                f"CompressedPackedForward: the chunk expands beyond {limit} bytes (max_decompressed_bytes)"
            )
        if not inflater.eof:
            raise ForwardProtocolError("CompressedPackedForward: truncated gzip data")
        out.append(part)
        rest = inflater.unused_data
    return b"".join(out)


def _pair(entry: Any) -> tuple[Any, Any]:
    """`[time, record]` as a pair; anything else is kept whole as the record (it will be dead-lettered)."""
    if isinstance(entry, list) and len(entry) == 2:
        return entry[0], entry[1]
    return None, entry


def _unpack_error(exc: Exception, limits: ForwardLimits) -> ForwardProtocolError:
    """The unpacker's complaint as ours; a declared length over a bound is a message too large."""
    if "exceeds max_" in str(exc):
        return MessageTooLarge(
            f"a declared length is over the limits ({exc}; max_records {limits.max_records}, "
            f"max_message_bytes {limits.max_message_bytes})"
        )
    return ForwardProtocolError(f"not MessagePack ({type(exc).__name__}: {exc})")


def _unpacked_entries(data: bytes, limits: ForwardLimits) -> list[tuple[Any, Any]]:
    unpacker = new_unpacker(max(len(data), 1024), max_items=limits.max_records)
    unpacker.feed(data)
    entries: list[tuple[Any, Any]] = []
    try:
        for entry in unpacker:
            entries.append(_pair(entry))
            if len(entries) > limits.max_records:
                raise MessageTooLarge(
                    f"PackedForward: more than {limits.max_records} entries in one message (max_records)"
                )
    except (ValueError, msgpack.UnpackException) as exc:
        if isinstance(exc, ForwardProtocolError):
            raise
        raise _unpack_error(exc, limits) from None
    if unpacker.tell() != len(data):
        raise ForwardProtocolError("PackedForward: the entries end in the middle of an entry")
    return entries


def decode_message(message: Any, size: int, limits: ForwardLimits) -> ForwardMessage:
    """One unpacked MessagePack object as a forward message, in whichever of the three modes it is."""
    if not isinstance(message, list) or not 2 <= len(message) <= 4:
        raise ForwardProtocolError("not a forward protocol message (expected an array [tag, ...])")
    tag, body = message[0], message[1]
    if not isinstance(tag, str):
        raise ForwardProtocolError(f"the tag is {type(tag).__name__}, expected a string")
    if isinstance(body, int | float) and not isinstance(body, bool):  # Message mode
        if len(message) < 3:
            raise ForwardProtocolError(f"tag {tag!r}: Message mode needs [tag, time, record]")
        option = message[3] if len(message) > 3 else {}
        entries = [(body, message[2])]
    elif isinstance(body, list):  # Forward mode
        if len(message) > 3:
            raise ForwardProtocolError(f"tag {tag!r}: Forward mode is [tag, entries, option?]")
        if len(body) > limits.max_records:
            raise MessageTooLarge(
                f"tag {tag!r}: {len(body)} entries in one message, the limit is {limits.max_records}"
            )
        option = message[2] if len(message) > 2 else {}
        entries = [_pair(entry) for entry in body]
    elif isinstance(body, bytes | str):  # PackedForward, CompressedPackedForward
        if len(message) > 3:
            raise ForwardProtocolError(f"tag {tag!r}: PackedForward mode is [tag, entries, option?]")
        option = message[2] if len(message) > 2 else {}
        data = body.encode("utf-8") if isinstance(body, str) else body
        if isinstance(option, dict) and option.get("compressed") == "gzip":
            data = gunzip(data, limits.max_decompressed_bytes)
        elif isinstance(option, dict) and option.get("compressed") not in (None, "text"):
            raise ForwardProtocolError(f"tag {tag!r}: unknown compression {option.get('compressed')!r}")
        entries = _unpacked_entries(data, limits)
    else:
        raise ForwardProtocolError(
            f"tag {tag!r}: unknown forward mode (the second element is {type(body).__name__})"
        )
    if option is None:
        option = {}
    if not isinstance(option, dict):
        raise ForwardProtocolError(f"tag {tag!r}: the option is {type(option).__name__}, expected a map")
    return ForwardMessage(tag, entries, option, size)


class ForwardDecoder:
    """Feeds a connection's bytes in, hands complete forward messages out (one decoder per stream)."""

    def __init__(self, limits: ForwardLimits | None = None) -> None:
        self.limits = limits or ForwardLimits()
        # The unpacker may hold one partial message plus one read; our own check below is the real limit.
        self._unpacker = new_unpacker(
            2 * self.limits.max_message_bytes + MIB, max_items=self.limits.max_records
        )
        self._fed = 0
        self._consumed = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet make a complete message."""
        return self._fed - self._consumed

    def feed(self, data: bytes) -> list[ForwardMessage]:
        """The messages `data` completes; `ForwardProtocolError` when the stream is broken."""
        try:
            self._unpacker.feed(data)
        except msgpack.BufferFull:
            raise self._too_large() from None
        self._fed += len(data)
        messages: list[ForwardMessage] = []
        try:
            for message in self._unpacker:
                end = self._unpacker.tell()
                size, self._consumed = end - self._consumed, end
                if size > self.limits.max_message_bytes:
                    raise self._too_large(size)
                messages.append(decode_message(message, size, self.limits))
        except ForwardProtocolError:
            raise
        except (ValueError, msgpack.UnpackException) as exc:  # includes StackError (nesting) and bad UTF-8
            raise _unpack_error(exc, self.limits) from None
        if self.pending_bytes > self.limits.max_message_bytes:
            raise self._too_large(self.pending_bytes)
        return messages

    def _too_large(self, size: int | None = None) -> MessageTooLarge:
        have = f"{size} bytes" if size else "more"
        return MessageTooLarge(
            f"a message of {have} exceeds the limit of {self.limits.max_message_bytes} bytes "
            "(max_message_bytes)"
        )


def decode_stream(data: bytes, limits: ForwardLimits | None = None) -> list[ForwardMessage]:
    """All messages of a complete stream; `ForwardProtocolError` if it is broken or ends mid-message."""
    decoder = ForwardDecoder(limits)
    messages = decoder.feed(data)
    if decoder.pending_bytes:
        raise ForwardProtocolError(f"the stream ends inside a message ({decoder.pending_bytes} bytes)")
    return messages
