"""Every golden input normalizes to the pinned documents, ids and rejections (tests/normalize_golden.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest

from tests.normalize_golden import GOLDEN, digests, edge_dicts, edge_lines


def test_the_documents_are_the_pinned_ones(tmp_path: Path) -> None:
    expected = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    found = digests(tmp_path)
    assert found.keys() == expected.keys()
    changed = [
        f"{name} record {index}"
        for name, pinned in expected.items()
        for index, (old, new) in enumerate(zip(pinned, found[name], strict=True))
        if old != new
    ]
    assert not changed, (
        f"{len(changed)} records normalize differently than pinned (first: {changed[:5]}); if that is meant, "
        "regenerate with tests/normalize_golden.py"
    )


def test_the_golden_inputs_reach_the_paths_they_are_for() -> None:
    """The edge cases hold what the pinned comparison relies on (else it would pin little)."""
    text = b"\n".join(edge_lines())
    for needle in (
        b"4111 1111 1111 1111",
        b"jane.doe@example.com",
        b"AKIA",
        "é".encode(),
        b"\\ud800",
        b"\xff",
        b"a.b",
    ):
        assert needle in text
    assert any(any(type(key) is not str for key in d.get("features", {})) for d in edge_dicts())


def test_json_text_decodes_to_string_names_and_finite_numbers() -> None:
    """What RecordContext.parsed relies on (a cheaper check of feature maps): the decoder refuses NaN
    and infinities and gives plain `str` keys; the integers beyond 64 bits become floats."""
    for text in (b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e999}', b'{"a": -1e999}'):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)
    record = orjson.loads(b'{"a": {"b": 1}, "c": 18446744073709551615, "d": 184467440737095516150}')
    assert [type(key) for key in (*record, *record["a"])] == [str, str, str, str]
    assert record["c"] == 2**64 - 1 and type(record["d"]) is float
