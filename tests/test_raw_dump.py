"""What an SDK caller's record becomes in the dead-letter file when orjson cannot write it."""

from __future__ import annotations

import json

from shipper.normalize.raw_dump import dump_deep, dump_record
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin


def _nested(depth: int) -> dict:
    root = node = {}
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def test_a_record_nested_past_every_recursion_limit_is_dead_lettered_whole() -> None:
    record = _nested(5000)  # deeper than orjson (255), repr() and the interpreter's recursion limit
    events, rejected = Normalizer(NormalizeConfig()).normalize(record, Origin("sdk"))
    assert not events and len(rejected) == 1
    assert "max_depth" in rejected[0].reason
    assert rejected[0].raw == '{"a": ' * 5000 + "{}" + "}" * 5000


def test_values_orjson_refuses_are_still_written_as_json() -> None:
    class Opaque:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        __str__ = __repr__

    record = {"big": 2**70, "huge": 10**5000, "text": "caf\u00e9 \ud800", 3: (1, 2), "o": Opaque()}
    written = json.loads(dump_record(record))
    assert written["big"] == 2**70 and written["3"] == [1, 2]
    assert written["huge"] == "<int of 16610 bits>"
    assert written["text"] == "caf\u00e9 \ud800"
    assert written["o"] == "<Opaque: str() failed: RuntimeError>"


def test_the_fallback_writes_what_orjson_writes_for_plain_records() -> None:
    record = {"b": [1, 2.5, None, True, "x"], "a": {"c": "d"}}
    assert json.loads(dump_deep(record)) == json.loads(dump_record(record)) == record
    assert list(json.loads(dump_deep(record))) == ["a", "b"]  # sorted keys: deterministic text
