"""Fuzz target: the forward protocol decoder and the shared-key handshake, on one connection's bytes.

Each input is what a peer sends on one connection. It goes through `ForwardDecoder` twice, whole and in
pieces of varying size (a decoder must not care how TCP splits the stream), and the two must agree;
the first MessagePack object also goes, decoded as the handshake decodes it (`raw=True`), to the server
side of the handshake as a PING and to the client side as a HELO and a PONG. The contract: the only
exceptions are `ForwardProtocolError` (decoding) and `ForwardAuthError` (handshake), each with a reason;
every decoded message has a string tag, an option map and `(time, record)` entries whose records the
server can turn into pipeline payloads, and none over the limits.

Seeds: valid messages of every mode (Message, Forward, PackedForward, CompressedPackedForward with one
and with two gzip members), EventTime and integer times, acks requested or not, Fluent Bit's tail
wrapping, several messages on one stream, and PING / HELO / PONG handshakes.
"""

from __future__ import annotations

import gzip
import struct

import msgpack
from pydantic import SecretStr

from fuzz.checks import Bug
from fuzz.outcome import reported
from shipper.sources.forward import _payload
from shipper.sources.forward_auth import ClientHandshake, ForwardAuthError, ForwardSecurity, ServerHandshake
from shipper.sources.forward_protocol import (
    ForwardDecoder,
    ForwardLimits,
    ForwardProtocolError,
    new_unpacker,
)

LIMITS = ForwardLimits(max_message_bytes=1 << 20, max_decompressed_bytes=4 << 20, max_records=20_000)
KEY = "fuzz-shared-key"
SECURITY = ForwardSecurity(shared_key=SecretStr(KEY), self_hostname="server")
PIECES = (1, 7, 64, 4096)

_RECORD = {
    "type": "inference",
    "ts": "2026-11-25T10:00:00Z",
    "model": {"name": "credit-scorer", "version": "3"},
    "features": {"seq": 1, "income": 40000, "region": "north"},
    "prediction": {"label": "approve", "score": 0.5},
    "latency_ms": 12.5,
}
_EVENT_TIME = msgpack.ExtType(0, struct.pack(">II", 1_764_064_800, 123_456_789))


def _seeds() -> list[bytes]:
    entries = [[1_764_064_800, _RECORD], [_EVENT_TIME, {**_RECORD, "user": "alice"}]]
    packed = b"".join(msgpack.packb(entry) for entry in entries)
    pack = msgpack.packb
    two_members = gzip.compress(packed[:40], mtime=0) + gzip.compress(packed[40:], mtime=0)
    handshake = ServerHandshake(SECURITY, nonce=b"n" * 16, auth_salt=b"a" * 16)
    client = ClientHandshake(SecretStr(KEY), hostname="client", salt=b"s" * 16)
    ping = client.ping(msgpack.unpackb(handshake.helo(), raw=True))
    return [
        pack(["app.inference", 1_764_064_800, _RECORD]),
        pack(["app.inference", _EVENT_TIME, _RECORD, {"chunk": "c1"}]),
        pack(["app", entries]),
        pack(["app", entries, {"chunk": "c2", "size": 2}]),
        pack(["app", packed, {"size": 2}]),
        pack(["app", gzip.compress(packed, mtime=0), {"compressed": "gzip", "chunk": "c3"}]),
        pack(["app", two_members, {"compressed": "gzip"}]),
        pack(["tail", [[1_764_064_800, {"log": '{"type": "inference", "model": {"name": "m"}}'}]]]),
        pack(["app", []]) + pack(["app", 1, _RECORD]) + pack(["app", entries, None]),
        ping + pack(["app", entries, {"chunk": "after-auth"}]),
        handshake.helo(),
        handshake.answer(msgpack.unpackb(ping, raw=True)),
        ServerHandshake.refusal("shared_key mismatch"),
    ]


SEEDS: list[bytes] = _seeds()


def _decode(data: bytes, piece: int | None) -> list[tuple[str, int, object]] | str:
    """The messages (tag, entry count, option) of the stream, or the reported reason."""
    decoder = ForwardDecoder(LIMITS)
    chunks = [data] if piece is None else [data[i : i + piece] for i in range(0, len(data), piece)]
    summary: list[tuple[str, int, object]] = []
    try:
        for chunk in chunks:
            for message in decoder.feed(chunk):
                _check(message)
                summary.append((message.tag, len(message.entries), message.chunk))
    except ForwardProtocolError as exc:
        return str(exc) or "(empty reason)"
    return summary


def _check(message) -> None:
    if not isinstance(message.tag, str) or not isinstance(message.option, dict):
        raise Bug(f"decoded message with tag {type(message.tag)} and option {type(message.option)}")
    if message.size > LIMITS.max_message_bytes or len(message.entries) > LIMITS.max_records:
        raise Bug("a message over the limits was accepted")
    for entry in message.entries:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise Bug(f"entry is not a (time, record) pair: {entry!r:.80}")
        payload = _payload(entry[1], entry[0])  # the entry time: a map without one takes it
        if not isinstance(payload, bytes | dict):
            raise Bug(f"record payload is {type(payload)}")


def _handshake(data: bytes) -> None:
    unpacker = new_unpacker(64 * 1024, raw=True)
    try:
        unpacker.feed(data[: 64 * 1024])
        first = next(iter(unpacker), None)
    except (ValueError, msgpack.UnpackException):
        return
    server = ServerHandshake(SECURITY, nonce=b"n" * 16, auth_salt=b"a" * 16)
    client = ClientHandshake(SecretStr(KEY), hostname="client", salt=b"s" * 16)
    for step in (server.answer, client.ping, client.check_pong):
        try:
            step(first)
        except ForwardAuthError as exc:
            if not str(exc) or KEY in str(exc):
                raise Bug(f"handshake error without a reason or with the key: {exc!r}") from None


def fuzz_one(data: bytes) -> None:
    whole = _decode(data, None)
    split = _decode(data, max(PIECES[len(data) % len(PIECES)], len(data) // 256))  # bounded feeds
    if whole != split and not (isinstance(whole, str) and isinstance(split, str)):
        raise Bug(f"the decoder depends on how the stream is split: {whole!r:.200} vs {split!r:.200}")
    if isinstance(whole, str):
        reported(whole)
    _handshake(data)
