"""The local engine's control: start, status, stop, and the errors a user meets."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlsiem.errors import LocalEngineError
from mlsiem.local_engine import LocalEngine, engine_project, free_port, resolve_classpath


def test_session_engine_is_a_real_opensearch_219(local_engine: LocalEngine) -> None:
    status = local_engine.status()
    assert status.running
    assert status.version is not None and status.version.startswith("2.19.")
    assert status.cluster_status in ("green", "yellow")
    assert [n.alive for n in status.nodes] == [True]


def _cli_status(home: Path, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLSIEM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "mlsiem", "engine", "status", "--port", str(port), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.mark.engine  # starts an engine of its own
def test_start_status_stop_cycle(tmp_path: Path) -> None:
    port = free_port()
    engine = LocalEngine(port=port, heap="512m", root=tmp_path / "engine" / str(port))
    assert not engine.status().running
    first = engine.start()
    try:
        assert first.running and first.start_seconds is not None
        pids = [n.pid for n in first.nodes]
        again = engine.start()  # a second start while running is a no-op
        assert again.running and [n.pid for n in again.nodes] == pids
        assert again.start_seconds is None
        shown = _cli_status(tmp_path, port)
        assert shown.returncode == 0, shown.stderr
        report = json.loads(shown.stdout)
        assert report["running"] and report["version"].startswith("2.19.")
        assert report["nodes"][0]["rss_mb"] > 50
    finally:
        assert engine.stop()
    assert not engine.status().running
    assert _cli_status(tmp_path, port).returncode == 1
    assert not engine.stop()  # nothing left to stop
    assert not list(engine.root.glob("node-*.pid"))


def test_port_taken_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(LocalEngineError, match=rf"port {port} on 127.0.0.1 is taken.*--port"):
            LocalEngine(port=port, root=tmp_path).start()
    assert not list(tmp_path.glob("node-*.pid"))


def test_missing_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk-here"))
    with pytest.raises(LocalEngineError, match=r"Java was not found.*JDK 17"):
        LocalEngine(port=free_port(), root=tmp_path).start()


def test_missing_maven_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "engine"
    shutil.copytree(engine_project(), project, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on it
    with pytest.raises(LocalEngineError, match="Maven was not found"):
        resolve_classpath(project, cache=tmp_path / "cache")  # an empty cache: a build is needed


@pytest.mark.engine  # starts an engine of its own
def test_three_node_cluster_survives_losing_a_node(tmp_path: Path) -> None:
    from mlsiem.adapter import Engine
    from mlsiem.config import ConnectionSettings
    from mlsiem.installer import run_setup
    from mlsiem.templates import SetupConfig

    cluster = LocalEngine(port=free_port(), nodes=3, heap="384m", root=tmp_path)
    status = cluster.start(timeout=300)
    try:
        assert [n.alive for n in status.nodes] == [True, True, True]
        engine = Engine.connect(ConnectionSettings(url=cluster.url))
        assert engine.request("GET", "/_cluster/health")["number_of_nodes"] == 3
        run_setup(engine, SetupConfig(namespace="threenodes"))
        for i in range(20):
            engine.create_document(
                "mlsiem-alerts-threenodes", f"a{i}", {"@timestamp": "2026-11-25T00:00:00Z"}
            )
        engine.refresh("mlsiem-alerts-threenodes")
        health = engine.request("GET", "/_cluster/health?wait_for_status=green&timeout=60s")
        assert health["status"] == "green"  # auto_expand_replicas gave every shard a replica
        assert cluster.stop(node=2)
        after = engine.request("GET", "/_cluster/health?wait_for_nodes=2&timeout=60s")
        assert after["number_of_nodes"] == 2 and after["status"] in ("green", "yellow")
        assert engine.count("mlsiem-alerts-threenodes") == 20  # nothing lost with one node gone
    finally:
        cluster.stop()
    assert not cluster.status().running
