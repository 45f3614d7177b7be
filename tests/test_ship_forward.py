"""The Fluentd forward input, with the real fluent-logger client and raw protocol messages over TCP."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
from fluent import sender
from pydantic import SecretStr
from typer.testing import CliRunner

from cli import app
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError
from mlsiem.installer import run_setup
from mlsiem.local_engine import free_port
from mlsiem.templates import SetupConfig
from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig
from shipper.records import Origin
from shipper.sinks.base import Encoded, SinkUnavailable, encode
from shipper.sinks.engine import EngineSink
from shipper.sinks.fluent import FluentSink
from shipper.sources.forward import ForwardSource
from shipper.sources.forward_auth import (
    SHARED_KEY_ENV,
    ClientHandshake,
    ForwardAuthError,
    ForwardSecurity,
    ServerHandshake,
    load_shared_key,
    load_users,
)
from shipper.sources.forward_protocol import ForwardLimits
from shipper.sources.forward_settings import (
    ForwardInput,
    ForwardSettings,
    exposure_warning,
    parse_listen_url,
)
from tests.shipping import count, exactly_once, native_line, ship_process, wait_for


@pytest.fixture
def serve(engine: Engine, namespace: str, tmp_path: Path) -> Iterator[Callable[..., ForwardSource]]:
    """Starts a forward server with the given settings, shipping through a real pipeline into the engine."""
    run_setup(engine, SetupConfig(namespace=namespace))
    running: list[tuple[Pipeline, threading.Thread]] = []

    def start(settings: ForwardSettings | None = None) -> ForwardSource:
        source = ForwardSource("forward://127.0.0.1:0", settings)
        pipeline = Pipeline(
            [source],
            Normalizer(NormalizeConfig()),
            EngineSink(engine, namespace=namespace),
            DeadLetterWriter(tmp_path / "dead.ndjson"),
            config=PipelineConfig(flush_interval=0.2),
        )
        runner = threading.Thread(target=pipeline.run, daemon=True)
        runner.start()
        running.append((pipeline, runner))
        return source

    yield start
    for pipeline, runner in running:
        pipeline.stop()
        runner.join(timeout=30)
        assert not runner.is_alive()


@pytest.fixture
def forward(serve: Callable[..., ForwardSource]) -> ForwardSource:
    return serve()


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


# -- shared-key authentication: a client written here from the spec, independent of our own client ----

KEY = "s3cret-shared-key"


def secured(**overrides: object) -> ForwardSettings:
    security = ForwardSecurity(shared_key=SecretStr(KEY), self_hostname="mlsiem-server")
    return ForwardSettings(security=security, **overrides)


def sha512_hex(*parts: bytes) -> str:
    return hashlib.sha512(b"".join(parts)).hexdigest()


_unpackers: weakref.WeakKeyDictionary[socket.socket, msgpack.Unpacker] = weakref.WeakKeyDictionary()


def read_one(sock: socket.socket) -> object:
    """The next MessagePack object from the server, strings as bytes (the salt need not be UTF-8)."""
    unpacker = _unpackers.setdefault(sock, msgpack.Unpacker(raw=True))
    sock.settimeout(30)
    while True:
        for message in unpacker:
            return message
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("closed by the server")
        unpacker.feed(data)


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(30)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def handshake(
    sock: socket.socket, key: str, hostname: bytes = b"client-host", server: bytes = b"mlsiem-server"
) -> list:
    helo = read_one(sock)
    assert isinstance(helo, list) and helo[0] == b"HELO"
    options = helo[1]
    nonce = options[b"nonce"]
    assert len(nonce) == 16 and options[b"auth"] == b"" and options[b"keepalive"] is True
    salt = bytes(range(200, 216))  # not UTF-8: Fluent Bit sends its random salt bytes as a str
    digest = sha512_hex(salt, hostname, nonce, key.encode())
    ping = msgpack.packb(["PING", hostname, salt, digest, "", ""])
    ping = ping.replace(b"\xc4\x10" + salt, b"\xb0" + salt)  # send the salt as fixstr, as Fluent Bit does
    sock.sendall(ping)
    pong = read_one(sock)
    assert isinstance(pong, list) and pong[0] == b"PONG"
    if pong[1] is True:  # the server proves it knows the key too
        assert pong[3] == server
        assert pong[4].decode() == sha512_hex(salt, pong[3], nonce, KEY.encode())
    return pong


def test_a_client_with_the_shared_key_ships(
    serve: Callable[..., ForwardSource], engine: Engine, namespace: str
):
    source = serve(secured())
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        assert handshake(sock, KEY)[1:3] == [True, b""]
        message = ["app", [[int(time.time()), r] for r in records(range(30))], {"chunk": "c-auth"}]
        sock.sendall(msgpack.packb(message))
        assert read_one(sock) == {b"ack": b"c-auth"}
    assert count(engine, namespace) == 30 and exactly_once(engine, namespace, range(30))
    assert failures(source) == 0


def event(seq: int) -> Encoded:
    events, _ = Normalizer(NormalizeConfig()).normalize(native_line(seq), Origin("test"))
    return encode(events)[0]


def failures(source: ForwardSource) -> float:
    return source.metrics.registry.get_sample_value("mlsiem_shipper_forward_auth_failures_total") or 0.0


def test_a_wrong_key_is_refused_and_nothing_is_shipped(
    serve: Callable[..., ForwardSource], engine: Engine, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = serve(secured())
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        assert handshake(sock, "not-the-key") == [b"PONG", False, b"shared_key mismatch", b"", b""]
        with contextlib.suppress(OSError):  # the server closes; what is sent anyway must not count
            sock.sendall(msgpack.packb(["app", [[int(time.time()), r] for r in records(range(5))]]))
        assert closed_by_server(sock)
    wait_for(lambda: failures(source) == 1, timeout=10)
    time.sleep(0.5)
    assert count(engine, namespace) == 0
    logged = caplog.text
    assert "shared_key mismatch" in logged and "127.0.0.1" in logged and "client-host" in logged
    assert KEY not in logged and "not-the-key" not in logged


def test_a_client_that_skips_ping_ships_nothing(
    serve: Callable[..., ForwardSource], engine: Engine, namespace: str
) -> None:
    source = serve(secured())
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        sock.sendall(
            msgpack.packb(["app", [[int(time.time()), r] for r in records(range(5))], {"chunk": "x"}])
        )
        assert read_one(sock)[0] == b"HELO"
        assert read_one(sock) == [b"PONG", False, b"invalid ping message", b"", b""]
        assert closed_by_server(sock)
    # fluent-logger 0.11 has no shared-key support: it ignores HELO and its records are refused the same way
    client = sender.FluentSender("mlsiem", host="127.0.0.1", port=source.port)
    client.emit("inference", records(range(5, 6))[0])
    client.close()
    wait_for(lambda: failures(source) == 2, timeout=10)
    time.sleep(0.5)
    assert count(engine, namespace) == 0


def test_a_silent_client_is_dropped_after_the_handshake_timeout(serve: Callable[..., ForwardSource]) -> None:
    source = serve(secured(handshake_timeout=0.5))
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        assert read_one(sock)[0] == b"HELO"
        started = time.monotonic()
        assert closed_by_server(sock)
        assert time.monotonic() - started < 10
    wait_for(lambda: failures(source) == 1, timeout=10)


def collect(source: ForwardSource) -> list[dict]:
    """What a peer receives, acknowledged at once (the records are ECS documents already)."""
    received: list[dict] = []

    def run() -> None:
        for block in source.records():
            for raw in block.raws if block else ():
                received.append(raw if isinstance(raw, dict) else json.loads(raw))
            for _, ack in block.acks if block else ():
                source.acknowledge(ack)

    threading.Thread(target=run, daemon=True).start()
    return received


def test_our_fluent_output_authenticates_against_our_forward_input() -> None:
    source = ForwardSource("forward://127.0.0.1:0", secured())
    received = collect(source)
    documents = [event(seq) for seq in range(40)]
    sink = FluentSink(f"fluent://127.0.0.1:{source.port}?require_ack=true", shared_key=SecretStr(KEY))
    assert sink.send(documents).delivered == 40
    assert len(received) == 40  # acknowledged means received
    assert sorted(d["mlsiem"]["features"]["seq"] for d in received) == list(range(40))
    sink.close()

    wrong = FluentSink(f"fluent://127.0.0.1:{source.port}", retry_budget=0, shared_key=SecretStr("wrong"))
    with pytest.raises(SinkUnavailable, match="shared_key mismatch"):
        wrong.send(documents[:1])
    keyless = FluentSink(f"fluent://127.0.0.1:{source.port}?require_ack=true", retry_budget=0)
    with pytest.raises(SinkUnavailable, match="requires shared-key authentication"):
        keyless.send(documents[:1])  # HELO instead of an ack (or before sending: then it sends nothing)
    wait_for(lambda: failures(source) >= 1, timeout=10)
    time.sleep(0.3)
    assert len(received) == 40
    source.close()


def test_our_fluent_output_refuses_a_server_that_does_not_know_the_key(forward: ForwardSource) -> None:
    sink = FluentSink(
        f"fluent://127.0.0.1:{forward.port}", retry_budget=0, timeout=1, shared_key=SecretStr(KEY)
    )
    with pytest.raises(SinkUnavailable, match="no handshake from the peer"):
        sink.send([event(1)])


# -- limits --------------------------------------------------------------------------------------------


def test_an_oversized_message_closes_the_connection_and_keeps_what_was_acknowledged(
    serve: Callable[..., ForwardSource], engine: Engine, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    limits = ForwardLimits(max_message_bytes=64 * 1024, max_decompressed_bytes=128 * 1024)
    source = serve(ForwardSettings(limits=limits))
    now = int(time.time())
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        sock.sendall(msgpack.packb(["app", [[now, r] for r in records(range(20))], {"chunk": "small"}]))
        assert _ack(sock) == {"ack": "small"}
        big = msgpack.packb(["app", [[now, r] for r in records(range(20, 400))], {"chunk": "big"}])
        assert len(big) > 64 * 1024
        with contextlib.suppress(OSError):
            sock.sendall(big)
        assert closed_by_server(sock)
    assert "exceeds the limit of 65536 bytes" in caplog.text
    oversized = "mlsiem_shipper_forward_oversized_messages_total"
    assert source.metrics.registry.get_sample_value(oversized) == 1
    time.sleep(0.5)
    assert count(engine, namespace) == 20 and exactly_once(engine, namespace, range(20))
    bomb = gzip.compress(b"".join(msgpack.packb([now, {"pad": "x" * 1000}]) for _ in range(300)))
    assert len(bomb) < 4096  # 300 KB that compresses to almost nothing
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        sock.sendall(msgpack.packb(["app", bomb, {"compressed": "gzip", "chunk": "bomb"}]))
        assert closed_by_server(sock)
    assert source.metrics.registry.get_sample_value(oversized) == 2
    assert "expands beyond 131072 bytes" in caplog.text


def test_connections_over_the_limit_are_closed_at_once(forward: ForwardSource, serve) -> None:
    source = serve(ForwardSettings(max_connections=1))
    first = socket.create_connection(("127.0.0.1", source.port))
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", source.port)) as second:
        assert closed_by_server(second)
    refused = "mlsiem_shipper_forward_connections_refused_total"
    assert source.metrics.registry.get_sample_value(refused) == 1
    first.sendall(msgpack.packb(["app", [[int(time.time()), records(range(1))[0]]], {"chunk": "one"}]))
    assert _ack(first) == {"ack": "one"}
    first.close()
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", source.port)) as third:
        third.sendall(msgpack.packb(["app", [[int(time.time()), records(range(1, 2))[0]]], {"chunk": "two"}]))
        assert _ack(third) == {"ack": "two"}


def test_the_rate_limit_slows_a_peer_down_without_losing_anything(
    serve: Callable[..., ForwardSource], engine: Engine, namespace: str
) -> None:
    source = serve(ForwardSettings(events_per_second=200))
    now = int(time.time())
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        for part in range(4):  # 600 events at 200/s with a 200-event burst: at least 2 s of throttling
            seqs = range(part * 150, (part + 1) * 150)
            sock.sendall(msgpack.packb(["app", [[now, r] for r in records(seqs)], {"chunk": f"p{part}"}]))
        for part in range(4):  # several acks may come in one read: one unpacker for all of them
            assert read_one(sock) == {b"ack": f"p{part}".encode()}
    assert time.monotonic() - started >= 1.5
    throttled = source.metrics.registry.get_sample_value("mlsiem_shipper_forward_throttled_seconds_total")
    assert throttled >= 1.5
    assert count(engine, namespace) == 600 and exactly_once(engine, namespace, range(600))


# -- configuration -------------------------------------------------------------------------------------


def test_listen_url_defaults_to_loopback_and_warns_when_exposed_without_a_key() -> None:
    assert parse_listen_url("forward://") == ("127.0.0.1", 24224)
    assert parse_listen_url("forward://:24225") == ("127.0.0.1", 24225)
    assert parse_listen_url("forward://[::1]:7") == ("::1", 7)
    for bad in ("http://x:1", "forward://h:99999", "forward://h:1/path"):
        with pytest.raises(ConfigError, match="--listen"):
            parse_listen_url(bad)
    open_settings = ForwardSettings()
    assert exposure_warning("127.0.0.1", open_settings) is None
    assert exposure_warning("localhost", open_settings) is None
    assert "without authentication" in (exposure_warning("0.0.0.0", open_settings) or "")
    assert exposure_warning("0.0.0.0", secured()) is None


def test_the_shared_key_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert load_shared_key(key_file, {}).get_secret_value() == KEY  # type: ignore[union-attr]
    assert load_shared_key(None, {SHARED_KEY_ENV: KEY}).get_secret_value() == KEY  # type: ignore[union-attr]
    assert load_shared_key(None, {}) is None
    key_file.write_text("\n")
    with pytest.raises(ConfigError, match="holds no key"):
        load_shared_key(key_file, {})
    with pytest.raises(ConfigError, match="cannot read the key"):
        load_shared_key(tmp_path / "missing", {})
    assert KEY not in repr(secured()) and KEY not in str(secured().model_dump())
    users = tmp_path / "users"
    users.write_text("# forward users\nalice:pw:with:colons\n\nbob:hunter2\n")
    loaded = load_users(users)
    assert {name: p.get_secret_value() for name, p in loaded.items()} == {
        "alice": "pw:with:colons",
        "bob": "hunter2",
    }
    users.write_text("alice:pw\nbob-without-password-hunter2\n")
    with pytest.raises(ConfigError, match="line 2 is not username:password") as error:
        load_users(users)
    assert "hunter2" not in str(error.value)
    with pytest.raises(ValueError, match="users_file: user authentication needs a shared key"):
        ForwardInput().settings(None, {"alice": SecretStr("pw")})


def test_bad_forward_options_are_named(tmp_path: Path) -> None:
    listen = ["ship", "--listen", "forward://127.0.0.1:0", "--output", f"file:{tmp_path / 'out'}"]
    for args, message in (
        (["--forward-max-connections", "0"], "--forward-max-connections: Input should be greater than"),
        (["--forward-rate-events", "-1"], "--forward-rate-events: Input should be greater than 0"),
        (["--forward-max-message-mb", "0"], "--forward-max-message-mb: Input should be greater than 0"),
        (["--forward-max-message-mb", "0.0001"], r"--forward-max-message-mb: .* \(in bytes\)"),
        (["--forward-rate-mb", "0.0001"], r"--forward-rate-mb: .* \(in bytes/s\)"),
    ):
        result = CliRunner().invoke(app, listen + args)  # `main` prints a ConfigError and exits 2
        assert isinstance(result.exception, ConfigError) and re.search(message, str(result.exception)), args
    settings = ForwardInput(max_message_mb=1, rate_mb=2).settings(SecretStr(KEY))
    assert settings.limits.max_message_bytes == 1 << 20 and settings.bytes_per_second == 2 << 20


def connect_when_listening(port: int, process: subprocess.Popen) -> socket.socket:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        with contextlib.suppress(OSError):
            return socket.create_connection(("127.0.0.1", port))
        time.sleep(0.2)
    raise AssertionError("mlsiem ship did not listen")


def test_mlsiem_ship_takes_the_key_from_a_file_and_warns_when_exposed(tmp_path: Path) -> None:
    key_file, out, port = tmp_path / "forward.key", tmp_path / "out.ndjson", free_port()
    key_file.write_text(KEY + "\n")
    listen = ["--listen", f"forward://127.0.0.1:{port}", "--output", f"file:{out}"]
    process = ship_process(
        tmp_path, "http://127.0.0.1:9", "default", *listen, "--forward-shared-key-file", str(key_file)
    )
    with connect_when_listening(port, process) as sock:
        assert handshake(sock, KEY, server=f"mlsiem-{socket.gethostname()}".encode())[1] is True
        sock.sendall(
            msgpack.packb(["app", [[int(time.time()), r] for r in records(range(5))], {"chunk": "k"}])
        )
        assert read_one(sock) == {b"ack": b"k"}
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert len(out.read_text().splitlines()) == 5
    assert KEY not in stderr.decode() and "without authentication" not in stderr.decode()

    port = free_port()
    exposed = ["--listen", f"forward://0.0.0.0:{port}", "--output", f"file:{out}"]
    process = ship_process(tmp_path, "http://127.0.0.1:9", "default", *exposed)
    connect_when_listening(port, process).close()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert "listens on 0.0.0.0 without authentication" in stderr.decode()


def test_user_authentication_on_top_of_the_shared_key() -> None:
    security = ForwardSecurity(shared_key=SecretStr(KEY), users={"alice": SecretStr("pw")})
    server = ServerHandshake(security)
    helo = msgpack.unpackb(server.helo(), raw=True)
    auth_salt = helo[1][b"auth"]
    assert len(auth_salt) == 16  # a non-empty auth salt asks the client for a user
    nonce, salt = helo[1][b"nonce"], b"0123456789abcdef"

    def ping(user: bytes, password: bytes) -> list:
        return [
            b"PING",
            b"client",
            salt,
            sha512_hex(salt, b"client", nonce, KEY.encode()).encode(),
            user,
            sha512_hex(auth_salt, user, password).encode(),
        ]

    pong = msgpack.unpackb(server.answer(ping(b"alice", b"pw")), raw=True)
    assert pong[1] is True
    for user, password in ((b"alice", b"wrong"), (b"mallory", b"pw")):
        with pytest.raises(ForwardAuthError, match="username/password mismatch"):
            ServerHandshake(security, nonce=nonce, auth_salt=auth_salt).answer(ping(user, password))
    client = ClientHandshake(SecretStr(KEY), hostname="client", username="alice", password=SecretStr("pw"))
    fresh = ServerHandshake(security)
    our_ping = client.ping(msgpack.unpackb(fresh.helo(), raw=True))
    client.check_pong(msgpack.unpackb(fresh.answer(msgpack.unpackb(our_ping, raw=True)), raw=True))
