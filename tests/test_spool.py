"""The disk spool's segments: whole or absent, read back exactly, and a record's text written once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shipper.sinks.base import Encoded
from shipper.spool import Spool, SpoolFull


def encoded(number: int) -> Encoded:
    return Encoded("inference", f"id-{number}", orjson.dumps({"n": number, "message": "x" * 50}))


def test_events_of_one_record_spool_its_text_once_and_read_back_whole(tmp_path: Path) -> None:
    request = '{"resourceSpans": [' + ", ".join(f'{{"span": {i}}}' for i in range(500)) + "]}"
    other = '{"type": "inference", "ts": 1}'
    events = [encoded(i) for i in range(502)]
    raws = [request] * 500 + [other, other + " "]  # 500 spans of one request, two records of their own
    spool = Spool(tmp_path)
    segment = spool.write(events, raws)

    assert segment.read_bytes().count(b"resourceSpans") == 1  # not 500 times
    assert spool.size == segment.stat().st_size < 2 * len(request) + 502 * 120
    read_events, read_raws = Spool.read(segment)
    assert read_raws == raws
    assert read_events == events


def test_segments_written_before_the_shared_text_still_read(tmp_path: Path) -> None:
    segment = tmp_path / "000000000001.seg"
    segment.write_bytes(b'{"kind":"inference","id":"a","raw":"line a","doc":{"n":1}}\n')
    events, raws = Spool.read(segment)
    assert raws == ["line a"] and events == [Encoded("inference", "a", b'{"n":1}')]


def test_a_full_spool_refuses_the_segment_and_keeps_nothing_of_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=500)
    with pytest.raises(SpoolFull, match="is full"):
        spool.write([encoded(i) for i in range(10)], [f"raw {i}" for i in range(10)])
    assert spool.segments() == [] and spool.size == 0
