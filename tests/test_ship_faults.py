"""The engine goes away mid-run: events wait in the disk spool and arrive exactly once when it returns."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.local_engine import LocalEngine, free_port
from tests.shipping import append_lines, count, exactly_once, ship_process, wait_for

pytestmark = pytest.mark.engine  # two tests start engines of their own, which the fixture check cannot see


def test_engine_stopped_and_restarted_mid_run(tmp_path: Path) -> None:
    port = free_port()
    own = LocalEngine(port=port, heap="512m", root=tmp_path / "engine")
    own.start()
    namespace = "faults"
    try:
        engine = Engine.connect(ConnectionSettings(url=own.url))
        logs = tmp_path / "logs"
        logs.mkdir()
        app = logs / "app.log"
        append_lines(app, range(0, 2000))
        proc = ship_process(
            tmp_path, own.url, namespace, str(app), "--follow", "--retry-seconds", "1", "--batch-size", "200"
        )
        wait_for(lambda: count(engine, namespace) == 2000, timeout=90)
        own.stop()
        append_lines(app, range(2000, 5000))  # written while the engine is down
        spool = tmp_path / "shipper" / "spool"
        wait_for(lambda: any(spool.glob("*.seg")), timeout=60)  # the shipper spooled what it could not send
        time.sleep(1)
        own.start()
        engine = Engine.connect(ConnectionSettings(url=own.url))
        append_lines(app, range(5000, 6000))
        wait_for(lambda: count(engine, namespace) >= 6000, timeout=120)
        wait_for(lambda: not any(spool.glob("*.seg")), timeout=30)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert count(engine, namespace) == 6000 and exactly_once(engine, namespace, range(6000))
        dead = tmp_path / "shipper" / "dead-letter.ndjson"
        assert not dead.exists() or not dead.read_text().strip(), dead.read_text()
    finally:
        own.stop()


def test_metrics_endpoint(tmp_path: Path, local_engine: LocalEngine, namespace: str) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    app = tmp_path / "app.log"
    append_lines(app, range(100))
    proc = ship_process(
        tmp_path, local_engine.url, namespace, str(app), "--follow", "--metrics-port", str(metrics_port)
    )
    try:

        def shipped() -> bool:
            try:
                text = (
                    urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)
                    .read()
                    .decode()
                )
            except OSError:
                return False
            return "mlsiem_shipper_events_shipped_total 100.0" in text

        wait_for(shipped, timeout=60)
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
        assert "mlsiem_shipper_records_read_total 100.0" in text
        assert "mlsiem_shipper_bulk_latency_seconds_count" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_bulk_rejections_from_a_tiny_write_queue_are_retried(tmp_path: Path) -> None:
    """A real node with one write thread and a queue of one answers 429 under concurrent bulks."""
    port = free_port()
    tiny = LocalEngine(
        port=port,
        heap="512m",
        root=tmp_path / "engine",
        settings={"thread_pool.write.size": "1", "thread_pool.write.queue_size": "1"},
    )
    tiny.start()
    try:
        log = tmp_path / "app.log"
        append_lines(log, range(12_000))
        proc = ship_process(
            tmp_path, tiny.url, "tiny", str(log), "--json", "--batch-size", "100", "--workers", "6"
        )
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
        report = json.loads(out)
        engine = Engine.connect(ConnectionSettings(url=tiny.url))
        assert report["retries"] > 0, "the engine never pushed back: the test proves nothing"
        assert report["shipped"] == 12_000 and count(engine, "tiny") == 12_000
        assert exactly_once(engine, "tiny", range(12_000))
    finally:
        tiny.stop()


def test_shipper_started_while_the_engine_is_down_spools_and_delivers_later(
    tmp_path: Path, local_engine: LocalEngine, namespace: str
) -> None:
    """Like Filebeat, `mlsiem ship` starts against an engine that does not answer yet: it warns, reads
    on and spools; a later run (here against the live engine) delivers the spool exactly once."""
    app = tmp_path / "app.log"
    append_lines(app, range(300))
    nowhere = f"http://127.0.0.1:{free_port()}"
    proc = ship_process(tmp_path, nowhere, namespace, str(app), "--follow", "--retry-seconds", "1")
    spool = tmp_path / "shipper" / "spool"
    wait_for(lambda: any(spool.glob("*.seg")), timeout=60)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "cannot reach" in err.decode() and "events wait until it answers" in err.decode()
    proc = ship_process(tmp_path, local_engine.url, namespace, str(app), "--follow")
    engine = Engine.connect(ConnectionSettings(url=local_engine.url))
    wait_for(lambda: count(engine, namespace) >= 300, timeout=90)
    wait_for(lambda: not any(spool.glob("*.seg")), timeout=30)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert exactly_once(engine, namespace, range(300))
