"""Blocks through the pipeline: a file's chunk is one block, batches cut through blocks, and the
registry never passes an event that is not delivered, whatever the cut."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig
from shipper.records import Origin
from shipper.sinks.base import Encoded, SendResult
from shipper.sources.base import Block
from shipper.sources.files import FileSource
from shipper.sources.lines import CHUNK
from shipper.sources.registry import Registry
from tests.shipping import native_line


class CheckingSink:
    """Records every batch and, at each send, what the registry on disk says is delivered."""

    name = "checking"

    def __init__(self, registry_path: Path) -> None:
        self.registry_path = registry_path
        self.batches: list[list[dict]] = []
        self.registry_at_send: list[int] = []

    def send(self, events: list[Encoded]) -> SendResult:
        states = Registry(self.registry_path).states() if self.registry_path.exists() else []
        self.registry_at_send.append(states[0].offset if states else 0)
        self.batches.append([orjson.loads(event.json) for event in events])
        return SendResult(delivered=len(events))

    def close(self) -> None:
        return None


@pytest.mark.parametrize("processes", [1, 2])
def test_batches_cut_through_blocks_and_the_registry_trails_delivery(tmp_path: Path, processes: int) -> None:
    log = tmp_path / "app.jsonl"
    lines = [native_line(seq) for seq in range(5000)]  # ~1.45 MB: two 1 MiB chunks, two blocks
    lines[7] = ""  # blank: no record, no event
    lines[2500] = "not json"  # a rejection inside a block
    log.write_text("".join(line + "\n" for line in lines))
    registry_path = tmp_path / "registry.json"
    sink = CheckingSink(registry_path)
    pipeline = Pipeline(
        [FileSource([str(log)], Registry(registry_path), max_line_bytes=CHUNK)],
        Normalizer(NormalizeConfig()),
        sink,
        DeadLetterWriter(tmp_path / "dead.ndjson"),
        config=PipelineConfig(batch_events=333, checkpoint_interval=0, processes=processes),
    )
    stats = pipeline.run()

    shipped = [doc for batch in sink.batches for doc in batch]
    assert len(shipped) == 4998 and stats.shipped == 4998 and stats.dead_lettered == 1
    assert all(len(batch) <= 333 for batch in sink.batches) and len(sink.batches) >= 15
    # Two senders: batches may reach the sink in either order, each in reading order, every event once.
    batches = sorted([[doc["mlsiem"]["features"]["seq"] for doc in batch] for batch in sink.batches])
    assert [seq for batch in batches for seq in batch] == [seq for seq in range(5000) if seq not in (7, 2500)]
    # When a batch is sent, the registry may only cover events of batches sent (and delivered) before it.
    for batch, registry_offset in zip(sink.batches, sink.registry_at_send, strict=True):
        assert registry_offset <= batch[0]["mlsiem"]["log"]["offset"]
    assert [s.offset for s in Registry(registry_path).states()] == [log.stat().st_size]
    dead = [json.loads(line) for line in (tmp_path / "dead.ndjson").read_text().splitlines()]
    assert [d["raw"] for d in dead] == ["not json"]


def test_a_burst_of_forward_messages_becomes_one_block_with_each_ack_in_place() -> None:
    source = object()
    origin = Origin("forward:app", None, None)
    first = Block(source, origin, [b"{}", b"{}"], acks=[(1, "message-1")])  # type: ignore[arg-type]
    assert first.absorb(Block(source, origin, [b"{}"] * 3, acks=[(2, "message-2")]))  # type: ignore[arg-type]
    assert len(first) == 5 and first.acks == [(1, "message-1"), (4, "message-2")]
    other_tag = Block(source, Origin("forward:other", None, None), [b"{}"], acks=[(0, "x")])  # type: ignore[arg-type]
    assert not first.absorb(other_tag) and len(first) == 5
    lines = Block(source, Origin("file:abc", None, "/a.log"), [b"{}", b"{}"], starts=[0, 3])  # type: ignore[arg-type]
    assert not lines.absorb(first)  # records with offsets keep their own block
    assert [o.offset for o in lines.all_origins()] == [0, 3] and lines.origin_of(1) == Origin(
        "file:abc", 3, "/a.log"
    )
