"""The Fluentd forward input, with the real fluent-logger client and raw protocol messages over TCP."""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from fluent import sender

from mlsiem.adapter import Engine
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig
from shipper.sinks.engine import EngineSink
from shipper.sources.forward import ForwardSource
from tests.shipping import count, exactly_once, native_line, wait_for


@pytest.fixture
def forward(engine: Engine, namespace: str, tmp_path: Path) -> Iterator[ForwardSource]:
    run_setup(engine, SetupConfig(namespace=namespace))
    source = ForwardSource("forward://127.0.0.1:0")
    pipeline = Pipeline(
        [source],
        Normalizer(NormalizeConfig()),
        EngineSink(engine, namespace=namespace),
        DeadLetterWriter(tmp_path / "dead.ndjson"),
        config=PipelineConfig(flush_interval=0.2),
    )
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    yield source
    pipeline.stop()
    runner.join(timeout=30)
    assert not runner.is_alive()


def records(seqs: range) -> list[dict]:
    return [json.loads(native_line(seq)) for seq in seqs]


def test_fluent_logger_message_mode(forward: ForwardSource, engine: Engine, namespace: str) -> None:
    client = sender.FluentSender("mlsiem", host="127.0.0.1", port=forward.port, nanosecond_precision=True)
    for record in records(range(200)):
        assert client.emit("inference", record), client.last_error
    client.close()
    wait_for(lambda: count(engine, namespace) == 200)
    assert exactly_once(engine, namespace, range(200))


def _ack(sock: socket.socket) -> dict:
    unpacker = msgpack.Unpacker(raw=False)
    sock.settimeout(30)
    while True:
        unpacker.feed(sock.recv(4096))
        for message in unpacker:
            return message


def test_forward_packed_and_compressed_modes_ack_only_after_delivery(
    forward: ForwardSource, engine: Engine, namespace: str
) -> None:
    now = int(time.time())
    event_time = msgpack.ExtType(0, struct.pack(">II", now, 123456789))
    with socket.create_connection(("127.0.0.1", forward.port)) as sock:
        sock.sendall(
            msgpack.packb(["app", [[now, r] for r in records(range(0, 100))], {"chunk": "c-forward"}])
        )
        assert _ack(sock) == {"ack": "c-forward"}
        assert count(engine, namespace) == 100  # acknowledged means already in the engine

        packed = b"".join(msgpack.packb([event_time, r]) for r in records(range(100, 250)))
        sock.sendall(msgpack.packb(["app", packed, {"chunk": "c-packed", "size": 150}]))
        assert _ack(sock) == {"ack": "c-packed"}
        assert count(engine, namespace) == 250

        packed = b"".join(msgpack.packb([now, r]) for r in records(range(250, 400)))
        option = {"chunk": "c-gzip", "compressed": "gzip"}
        sock.sendall(msgpack.packb(["app", gzip.compress(packed), option]))
        assert _ack(sock) == {"ack": "c-gzip"}

        # Fluent Bit's tail input wraps each line: {"log": "<the JSON line>"}
        lines = [{"log": native_line(seq)} for seq in range(400, 410)]
        sock.sendall(msgpack.packb(["tail", [[now, line] for line in lines], {"chunk": "c-tail"}]))
        assert _ack(sock) == {"ack": "c-tail"}
    assert count(engine, namespace) == 410 and exactly_once(engine, namespace, range(410))


def test_a_resent_chunk_does_not_duplicate(forward: ForwardSource, engine: Engine, namespace: str) -> None:
    message = msgpack.packb(["app", [[int(time.time()), r] for r in records(range(50))], {"chunk": "again"}])
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", forward.port)) as sock:
            sock.sendall(message)
            assert _ack(sock) == {"ack": "again"}
    assert count(engine, namespace) == 50


def test_garbage_closes_the_connection_but_not_the_server(
    forward: ForwardSource, engine: Engine, namespace: str
) -> None:
    with socket.create_connection(("127.0.0.1", forward.port)) as sock:
        sock.sendall(b"\xc1\xc1\xc1 definitely not msgpack")
        sock.settimeout(10)
        assert sock.recv(100) == b""  # closed by the server
    client = sender.FluentSender("mlsiem", host="127.0.0.1", port=forward.port)
    assert client.emit("inference", records(range(7, 8))[0])
    client.close()
    wait_for(lambda: count(engine, namespace) == 1)
