"""`mlsiem ship` and `mlsiem normalize` give every event of a file the same `event.id`.

Log records carry no id of their own and get the content hash of their origin; both commands name a
file by its identity (the hash of its first line), so the hash and the id agree whichever ran.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.commands import run
from tests.shipping import ship_process

DATA = Path(__file__).resolve().parent / "data" / "otlp"


def _ids(lines: list[str]) -> list[tuple[str, str]]:
    documents = [json.loads(line) for line in lines if line.strip()]
    return sorted((d["event"]["id"], d["event"].get("action", "")) for d in documents)


def test_ship_and_normalize_give_the_same_ids(tmp_path: Path) -> None:
    log = tmp_path / "otel" / "openai-v2.jsonl"  # spans with own ids and log records without
    log.parent.mkdir()
    shutil.copy(DATA / "openai-v2-2.1b0.jsonl", log)
    normalized = run("normalize", str(log))
    assert normalized.returncode == 0, normalized.stderr
    out = tmp_path / "out.ndjson"
    proc = ship_process(tmp_path, "http://127.0.0.1:9", "default", str(log), "--output", f"file:{out}")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    from_normalize = _ids(normalized.stdout.splitlines())
    from_ship = _ids(out.read_text().splitlines())
    assert len(from_normalize) == 11  # 4 spans + 7 log records
    assert from_ship == from_normalize
    span_ids = [i for i, action in from_ship if action == "chat"]
    assert len(span_ids) == 4 and all(len(i) == 32 + 1 + 16 for i in span_ids)  # `<traceId>-<spanId>`

    moved = tmp_path / "elsewhere.jsonl"  # a renamed or copied file keeps its identity and its ids
    shutil.copy(log, moved)
    assert _ids(run("normalize", str(moved)).stdout.splitlines()) == from_normalize
