"""Helpers for the shipper tests: telemetry lines, running `mlsiem ship`, counting in the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from shipper.normalizer import NormalizeConfig

MAX_LINE_BYTES = NormalizeConfig().max_line_bytes  # what `build` gives sources by default


def native_line(seq: int, with_id: bool = False) -> str:
    """One native inference event; `seq` is unique per test and findable as mlsiem.features.seq."""
    record = {
        "type": "inference",
        "ts": f"2026-11-25T10:{(seq // 60) % 60:02d}:{seq % 60:02d}Z",
        "model": {"name": "credit-scorer", "version": "3", "type": "classification"},
        "features": {"seq": seq, "income": 40000 + seq % 1000, "region": "north"},
        "prediction": {"label": "approve", "score": 0.5},
        "latency_ms": 12.5,
        "user": "alice",
    }
    if with_id:
        record["id"] = f"evt-{seq}"
    return json.dumps(record)


def append_lines(path: Path, seqs: range) -> None:
    with open(path, "a") as handle:
        handle.write("".join(native_line(s) + "\n" for s in seqs))


def ship_process(
    home: Path, url: str, namespace: str, *args: str, stdin: int | None = None
) -> subprocess.Popen:
    env = {**os.environ, "MLSIEM_HOME": str(home)}
    command = [
        sys.executable,
        "-m",
        "mlsiem",
        "ship",
        "--url",
        url,
        "--namespace",
        namespace,
        "--no-progress",
        *args,
    ]
    return subprocess.Popen(
        command, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def count(engine: Engine, namespace: str) -> int:
    stream = inference_stream(namespace)
    if not engine.exists(f"/_data_stream/{stream}"):
        return 0
    engine.refresh(stream)
    return engine.count(stream)


def exactly_once(engine: Engine, namespace: str, seqs: range) -> bool:
    """Every seq present once: the count, the sum and the sum of squares all match (exact in doubles here)."""
    stream = inference_stream(namespace)
    engine.refresh(stream)
    body = {"size": 0, "aggs": {"s": {"extended_stats": {"field": "mlsiem.features.seq"}}}}
    stats = engine.search(stream, body)["aggregations"]["s"]
    expected = (len(seqs), float(sum(seqs)), float(sum(s * s for s in seqs)))
    return (stats["count"], stats["sum"] or 0.0, stats["sum_of_squares"] or 0.0) == expected


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
