"""10,000 hostile lines: random bytes, truncated records of every format, deep nesting, huge numbers and
wrong types in known fields. Nothing raises, nothing is lost, no bug is hidden behind a rejection, and
every event that comes out still conforms to the ECS models and serializes."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from typing import Any

import orjson

from mlsiem.ecs import DOCUMENT_MODELS
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin
from tests.normalizing import MAPPINGS, example_lines

SEED_LINES = (
    example_lines("native.jsonl")
    + example_lines("otlp-genai.jsonl")
    + example_lines("litellm.jsonl")
    + example_lines("mappings/classifier.jsonl")
)
ODD_VALUES: list[Any] = [
    None, True, 0, -1, 2**70, -(2**70), 1e308, -1e-308, 3.5, "", "x", "2025-13-45T99:99:99Z", "NaN",
    [], [1, [2, [3]]], {}, {"a": {"b": None}}, ["a", 1, None], {"": 1, ".": 2, "a.b": [3]}, "\u0000\ud7ff",
]  # fmt: skip


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def with_wrong_type(rng: random.Random, line: str) -> str:
    record = json.loads(line)
    for _ in range(rng.randint(1, 4)):
        candidates = paths(record)
        target = rng.choice(candidates)
        node = record
        for step in target[:-1]:
            node = node[step]
        node[target[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    return json.dumps(record)


def deep(rng: random.Random) -> str:
    depth = rng.choice([10, 63, 64, 65, 200, 1100])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return '{"type": "inference", "ts": 1, "features": ' + opener * depth + "1" + closer * depth + "}"


def hostile_lines(count: int, seed: int = 20250301) -> list[bytes]:
    rng = random.Random(seed)
    lines: list[bytes] = []
    for _ in range(count):
        kind = rng.randrange(6)
        base = rng.choice(SEED_LINES)
        if kind == 0:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif kind == 1:
            line = base.encode()[: rng.randrange(1, len(base))]
        elif kind == 2:
            line = with_wrong_type(rng, base).encode()
        elif kind == 3:
            line = deep(rng).encode()
        elif kind == 4:
            number = rng.choice(
                ["1" * 400, "-1e400", "1e-400", "123456789012345678901234567890", "0.1e99999"]
            )
            line = base.replace("1", number, 1).encode()
        else:
            record = json.loads(base)
            line = json.dumps({**record, "extra": rng.choice(ODD_VALUES)}).encode()
        line = line.replace(b"\n", b" ")
        lines.append(line if line.strip() else b"?")
    return lines


def test_ten_thousand_hostile_lines_are_all_accounted_for() -> None:
    normalizer = Normalizer(NormalizeConfig(mapping_file=MAPPINGS / "classifier.yaml", keep_original=True))
    outcomes: Counter[str] = Counter()
    for offset, line in enumerate(hostile_lines(10_000)):
        events, rejected = normalizer.normalize(line, Origin("file:fuzz", offset))
        assert events or rejected, line  # every line is accounted for
        for record in rejected:
            assert not record.reason.startswith("internal error"), (record.reason, line)
            assert record.raw.encode("utf-8", "surrogateescape") == line  # kept whole
        for event in events:
            DOCUMENT_MODELS[event.kind].model_validate(event.document)
            orjson.dumps(event.document)
        outcomes["events" if events else "rejected"] += 1
    assert outcomes["events"] > 2000 and outcomes["rejected"] > 2000  # both paths were exercised
