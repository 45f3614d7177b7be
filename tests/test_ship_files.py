"""`mlsiem ship` from files into the real engine: once, re-shipped, killed, rotated both ways."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from mlsiem.adapter import Engine
from mlsiem.local_engine import LocalEngine
from tests.shipping import append_lines, count, exactly_once, ship_process, wait_for


def _finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def test_ship_once_then_again_changes_nothing(
    tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str
) -> None:
    log = tmp_path / "inference.jsonl"
    append_lines(log, range(3000))
    log.write_text(log.read_text() + "this is not json\n")
    first = _finish(ship_process(tmp_path, local_engine.url, namespace, str(log), "--json"))
    assert (first["records"], first["events"], first["shipped"], first["dead_lettered"]) == (
        3001,
        3000,
        3000,
        1,
    )
    assert count(engine, namespace) == 3000 and exactly_once(engine, namespace, range(3000))
    dead = [json.loads(line) for line in Path(first["dead_letter_file"]).read_text().splitlines()]
    assert dead[-1]["raw"] == "this is not json" and "JSON" in dead[-1]["reason"]

    again = _finish(ship_process(tmp_path, local_engine.url, namespace, str(log), "--json"))
    assert again["records"] == 0  # the registry knows the file is delivered

    (tmp_path / "shipper" / "registry.json").unlink()  # forget progress: ids make re-shipping harmless
    third = _finish(ship_process(tmp_path, local_engine.url, namespace, str(log), "--json"))
    assert (third["shipped"], third["duplicates"]) == (0, 3000)
    assert count(engine, namespace) == 3000


def test_sigkill_mid_run_then_restart_ships_every_event_exactly_once(
    tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str
) -> None:
    log = tmp_path / "big.jsonl"
    total = 30_000
    append_lines(log, range(total))
    proc = ship_process(tmp_path, local_engine.url, namespace, str(log), "--batch-size", "300")
    wait_for(lambda: proc.poll() is not None or count(engine, namespace) >= 3000, timeout=120, interval=0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = count(engine, namespace)
    assert partial < total, "the run finished before it could be killed; the test proves nothing"
    _finish(ship_process(tmp_path, local_engine.url, namespace, str(log), "--json"), timeout=300)
    assert count(engine, namespace) == total
    assert exactly_once(engine, namespace, range(total))


def test_follow_survives_rename_rotation(
    tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    append_lines(app, range(0, 500))
    proc = ship_process(tmp_path, local_engine.url, namespace, str(logs / "app.log*"), "--follow")
    try:
        wait_for(lambda: count(engine, namespace) == 500)
        append_lines(app, range(500, 700))
        app.rename(logs / "app.log.1")  # rename-and-create, as logrotate does by default
        append_lines(logs / "app.log.1", range(700, 750))  # the writer still had the old file open
        append_lines(app, range(750, 1000))
        wait_for(lambda: count(engine, namespace) >= 1000)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert count(engine, namespace) == 1000 and exactly_once(engine, namespace, range(1000))


def test_follow_survives_copytruncate(
    tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    append_lines(app, range(0, 400))
    proc = ship_process(tmp_path, local_engine.url, namespace, str(logs / "app.log*"), "--follow")
    try:
        wait_for(lambda: count(engine, namespace) == 400)
        append_lines(app, range(400, 600))
        shutil.copyfile(app, logs / "app.log.1")  # copytruncate: copy, then truncate in place
        with open(app, "r+") as handle:
            handle.truncate(0)
        append_lines(app, range(600, 900))
        wait_for(lambda: count(engine, namespace) >= 900)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert count(engine, namespace) == 900 and exactly_once(engine, namespace, range(900))


def test_stdin(tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str) -> None:
    lines = tmp_path / "lines.jsonl"
    append_lines(lines, range(250))
    with open(lines, "rb") as stdin:
        proc = ship_process(tmp_path, local_engine.url, namespace, "-", "--json", stdin=stdin.fileno())
        report = _finish(proc)
    assert report["shipped"] == 250 and count(engine, namespace) == 250


def test_several_files_read_once_are_read_once(
    tmp_path: Path, local_engine: LocalEngine, engine: Engine, namespace: str
) -> None:
    """Files finish at different times while earlier batches are still in flight; none is read twice."""
    for part in range(4):
        append_lines(tmp_path / f"part{part}.jsonl", range(part * 5000, part * 5000 + 5000 - part * 1000))
    files = [str(tmp_path / f"part{part}.jsonl") for part in range(4)]
    report = _finish(
        ship_process(tmp_path, local_engine.url, namespace, *files, "--json", "--batch-size", "500")
    )
    total = sum(5000 - part * 1000 for part in range(4))
    assert (report["records"], report["events"], report["shipped"], report["duplicates"]) == (
        total,
        total,
        total,
        0,
    )
