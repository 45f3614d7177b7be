"""`--output file:PATH` and `--output fluent://host:port` (into a real forward server)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline
from shipper.sinks.fluent import FluentSink
from shipper.sources.files import FileSource
from shipper.sources.forward import ForwardSource
from shipper.sources.registry import Registry
from tests.shipping import MAX_LINE_BYTES, append_lines, ship_process, wait_for


def test_file_output_writes_ecs_ndjson(tmp_path: Path) -> None:
    log = tmp_path / "in.jsonl"
    append_lines(log, range(120))
    out = tmp_path / "out" / "ecs.ndjson"
    proc = ship_process(
        tmp_path, "http://127.0.0.1:9", "default", str(log), "--output", f"file:{out}", "--json"
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout)["shipped"] == 120
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(documents) == 120
    assert sorted(d["mlsiem"]["features"]["seq"] for d in documents) == list(range(120))
    assert all(d["event"]["dataset"] == "mlsiem.inference" and d["ecs"]["version"] for d in documents)


def test_fluent_output_reaches_a_forward_peer(tmp_path: Path) -> None:
    peer = ForwardSource("forward://127.0.0.1:0")  # a real forward server as the peer
    received: list[dict] = []

    def collect() -> None:
        for block in peer.records():
            for raw in block.raws if block else ():
                received.append(raw if isinstance(raw, dict) else json.loads(raw))

    threading.Thread(target=collect, daemon=True).start()
    log = tmp_path / "in.jsonl"
    append_lines(log, range(50))
    sink = FluentSink(f"fluent://127.0.0.1:{peer.port}", retry_budget=10)
    sender = Pipeline(
        [FileSource([str(log)], Registry(tmp_path / "r.json"), max_line_bytes=MAX_LINE_BYTES)],
        Normalizer(NormalizeConfig()),
        sink,
        DeadLetterWriter(tmp_path / "s.dl"),
    )
    stats = sender.run()
    sink.close()
    assert stats.shipped == 50
    wait_for(lambda: len(received) == 50, timeout=30)
    peer.close()
    assert sorted(d["mlsiem"]["features"]["seq"] for d in received) == list(range(50))
    assert all(d["event"]["dataset"] == "mlsiem.inference" for d in received)  # ECS documents, as shipped
