"""Property tests of the forward protocol decoder: any bytes give messages or a reported error, in time.

A quick slice for CI (a few seconds); `fuzz/targets/forward.py` runs millions of mutated inputs outside.
The hypothesis deadline is the hang guard: an input that takes seconds would fail the test.
"""

from __future__ import annotations

import gzip
import struct
from datetime import timedelta
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipper.sources.forward_protocol import (
    ForwardDecoder,
    ForwardLimits,
    ForwardMessage,
    ForwardProtocolError,
    MessageTooLarge,
    decode_stream,
)

LIMITS = ForwardLimits(max_message_bytes=256 * 1024, max_decompressed_bytes=1 << 20, max_records=5_000)
QUICK = settings(
    max_examples=100, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=6,
)
records = st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=5)
times = st.integers(min_value=0, max_value=2**32 - 1) | st.builds(
    lambda s, ns: msgpack.ExtType(0, struct.pack(">II", s, ns)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 10**9 - 1),
)
tags = st.text(min_size=1, max_size=20)


@st.composite
def valid_messages(draw: st.DrawFn) -> tuple[bytes, str, list[Any]]:
    """(wire bytes, tag, records) of one message in a mode hypothesis picks."""
    tag = draw(tags)
    batch = draw(st.lists(records, min_size=1, max_size=4))
    entries = [[draw(times), record] for record in batch]
    option = draw(
        st.fixed_dictionaries({}, optional={"chunk": st.text(max_size=12), "size": st.integers(0, 2**32)})
    )
    mode = draw(st.sampled_from(["message", "forward", "packed", "gzip"]))
    if mode == "message":
        batch = batch[:1]
        return msgpack.packb([tag, entries[0][0], batch[0], option]), tag, batch
    if mode == "forward":
        return msgpack.packb([tag, entries, option]), tag, batch
    packed = b"".join(msgpack.packb(entry) for entry in entries)
    if mode == "gzip":
        cut = draw(st.integers(0, len(packed)))  # one or two gzip members, as Fluentd may send
        packed = gzip.compress(packed[:cut]) + (gzip.compress(packed[cut:]) if cut < len(packed) else b"")
        option = {**option, "compressed": "gzip"}
    return msgpack.packb([tag, packed, option]), tag, batch


def decode_or_report(data: bytes) -> list[ForwardMessage] | ForwardProtocolError:
    try:
        return decode_stream(data, LIMITS)
    except ForwardProtocolError as exc:
        assert str(exc), "an error must say what is wrong"
        return exc


@settings(QUICK, max_examples=40)
@given(st.lists(valid_messages(), min_size=1, max_size=4))
def test_valid_messages_of_every_mode_decode_to_their_records(stream: list) -> None:
    data = b"".join(wire for wire, _, _ in stream)
    messages = decode_stream(data, LIMITS)
    assert [(m.tag, [record for _, record in m.entries]) for m in messages] == [
        (tag, batch) for _, tag, batch in stream
    ]
    # TCP may split the stream anywhere: in pieces of any size the messages are the same
    piece = data_piece(len(data))
    decoder = ForwardDecoder(LIMITS)
    tags_seen = [m.tag for i in range(0, len(data), piece) for m in decoder.feed(data[i : i + piece])]
    assert tags_seen == [tag for _, tag, _ in stream]


def data_piece(size: int) -> int:
    return max(1, size // 97)


@QUICK
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_messages_or_a_reported_error(data: bytes) -> None:
    decode_or_report(data)


@settings(QUICK, max_examples=40)
@given(valid_messages(), st.data())
def test_truncated_and_garbled_messages_are_reported(message: tuple, data: st.DataObject) -> None:
    wire = message[0]
    cut = data.draw(st.integers(1, len(wire) - 1))
    assert isinstance(decode_or_report(wire[:cut]), ForwardProtocolError)  # ends inside a message
    garbled = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 8))):
        garbled[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    decode_or_report(bytes(garbled))


@QUICK
@given(st.integers(0, 3), values, st.lists(st.integers(0, 3), max_size=3))
def test_wrong_types_in_every_position_are_reported(position: int, value: Any, _: list) -> None:
    message: list[Any] = ["tag", [[1, {"a": 1}]], {"chunk": "c"}]
    if position < len(message):
        message[position] = value
    else:
        message.append(value)
    result = decode_or_report(msgpack.packb(message))
    if isinstance(result, list):
        (decoded,) = result
        assert isinstance(decoded.tag, str) and isinstance(decoded.option, dict)


@QUICK
@given(st.binary(max_size=512), st.sampled_from(["gzip", "zstd", 7]))
def test_bad_compressed_chunks_are_reported(body: bytes, compression: Any) -> None:
    assert isinstance(
        decode_or_report(msgpack.packb(["tag", body, {"compressed": compression}])), ForwardProtocolError
    ) or (compression == "gzip" and body == b"")


@pytest.mark.parametrize(
    "data",
    [
        b"\x91" * 100_000 + b"\xc0",  # arrays nested 100,000 deep
        b"\x93\xa3tag\x91" + b"\x81\xa1k" * 50_000 + b"\xc0",  # maps nested 50,000 deep inside a message
        b"\x93\xa3tag\xdb\xff\xff\xff\xff",  # a str of 4 GiB declared
        b"\x93\xa3tag\xc6\xff\xff\xff\xff",  # a bin of 4 GiB declared
        b"\x93\xa3tag\xdd\xff\xff\xff\xff",  # an array of 4 billion entries declared
        b"\x93\xa3tag\xdf\xff\xff\xff\xff",  # a map of 4 billion pairs declared
        b"\xc1",  # the one byte MessagePack never uses
        b"\x93\xa3tag\x90\xa1x",  # the option is a string
        b"\x92\xa3tag\xc0",  # the entries are nil
        b"\x93\xa3tag\xa2\xff\xfe\x80",  # entries as a str that is not UTF-8
    ],
)
def test_hostile_shapes_are_reported_at_once(data: bytes) -> None:
    assert isinstance(decode_or_report(data), ForwardProtocolError)


def test_limits_are_enforced_before_memory_is_spent() -> None:
    decoder = ForwardDecoder(LIMITS)
    with pytest.raises(MessageTooLarge, match="max_message_bytes"):
        for _ in range(10):  # a message that never ends, fed in 64 KiB reads
            decoder.feed(b"\x93\xa3tag\xc6\x00\x10\x00\x00" if decoder.pending_bytes == 0 else b"\0" * 65536)
    many = msgpack.packb(["tag", [[1, {}]] * (LIMITS.max_records + 1)])
    with pytest.raises(MessageTooLarge, match="max_records 5000"):
        decode_stream(many, LIMITS)
    bomb = gzip.compress(b"\x92\x01\x80" * 500_000)  # 1.5 MB of tiny entries in a few KB
    with pytest.raises(MessageTooLarge, match="max_decompressed_bytes"):
        decode_stream(msgpack.packb(["tag", bomb, {"compressed": "gzip"}]), LIMITS)
    # entries that are not [time, record] pairs are kept (the pipeline dead-letters them), not dropped
    (message,) = decode_stream(msgpack.packb(["tag", [[1, {"a": 1}], "stray", [1, 2, 3]]]), LIMITS)
    assert [record for _, record in message.entries] == [{"a": 1}, "stray", [1, 2, 3]]
