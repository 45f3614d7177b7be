"""`pipeline.processes`: normalization in worker processes changes where the CPU work runs, not what
is shipped, in which order, or what the registry records."""

from __future__ import annotations

import json
from pathlib import Path

from shipper.build import build
from shipper.config import config_from
from shipper.pipeline import ShipStats
from shipper.sources.registry import Registry
from tests.shipping import native_line


def ship_to_file(tmp_path: Path, log: Path, name: str, processes: int) -> tuple[list[bytes], ShipStats]:
    out = tmp_path / f"{name}.ndjson"
    config = {
        "inputs": {"files": {"paths": [str(log)], "registry": tmp_path / f"{name}-registry.json"}},
        "output": {"to": f"file:{out}", "dead_letter": tmp_path / f"{name}-dead.ndjson"},
        "pipeline": {"processes": processes, "batch_events": 300},
    }
    pipeline = build(config_from(config))
    stats = pipeline.run()
    pipeline.sink.close()
    return out.read_bytes().splitlines(), stats


def test_worker_processes_ship_the_same_documents_in_the_same_order(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    lines = [native_line(seq) for seq in range(6000)]
    lines[10] = "not json"  # dead-lettered by a worker, in order, like any other record
    lines[4000] = '{"type": "inference"}'  # no timestamp
    log.write_text("".join(line + "\n" for line in lines))

    inline, inline_stats = ship_to_file(tmp_path, log, "inline", 1)
    parallel, parallel_stats = ship_to_file(tmp_path, log, "parallel", 2)

    assert len(parallel) == 5998 and parallel == inline  # byte for byte, in reading order
    assert len({json.loads(doc)["event"]["id"] for doc in parallel}) == 5998
    assert parallel_stats.as_dict() == inline_stats.as_dict()
    assert parallel_stats.dead_lettered == 2
    dead = (tmp_path / "parallel-dead.ndjson").read_text().splitlines()
    assert len(dead) == 2 and "not json" in dead[0]
    offsets = [s.offset for s in Registry(tmp_path / "parallel-registry.json").states()]
    assert offsets == [log.stat().st_size]
