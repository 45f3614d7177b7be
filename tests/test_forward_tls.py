"""The forward input and the fluent:// output over TLS, with and without client certificates.

Real TLS on loopback: a CA and certificates made with `cryptography` (tests/tls_proxy.py), our forward
server and our fluent:// client (Python's ssl, OpenSSL underneath) on both ends, and a raw TLS client
for what a misbehaving peer does.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest

from mlsiem.errors import ConfigError
from mlsiem.local_engine import free_port
from shipper.sinks.base import Encoded, SinkUnavailable
from shipper.sinks.fluent import FluentSink, parse_fluent_url
from shipper.sources.forward import ForwardSource
from shipper.sources.forward_settings import ForwardSettings, ForwardTls, exposure_warning, forward_tls
from tests.shipping import ship_process, wait_for
from tests.test_ship_forward import collect, event, failures
from tests.tls_proxy import Authority, issue_certificate, make_authority


@dataclass(frozen=True)
class Pki:
    ca: Authority
    server: tuple[Path, Path]
    client: tuple[Path, Path]
    stranger_ca: Authority  # signs a client certificate the server must not accept
    stranger: tuple[Path, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = make_authority(root, "forward-ca")
    (root / "client").mkdir()
    stranger_ca = make_authority(root, "stranger-ca")
    (root / "stranger").mkdir()
    return Pki(
        ca,
        issue_certificate(ca, root),
        issue_certificate(ca, root / "client", "client"),
        stranger_ca,
        issue_certificate(stranger_ca, root / "stranger", "client"),
    )


def _server(pki: Pki, client_ca: bool = False, handshake_timeout: float = 10) -> ForwardSource:
    cert, key = pki.server
    tls = ForwardTls(cert_file=cert, key_file=key, client_ca_file=pki.ca.pem_path if client_ca else None)
    return ForwardSource(
        "forward://127.0.0.1:0", ForwardSettings(tls=tls, handshake_timeout=handshake_timeout)
    )


def _documents(n: int) -> list[Encoded]:
    return [event(seq) for seq in range(n)]


def test_fluent_output_over_tls_delivers_with_acks(pki: Pki) -> None:
    source = _server(pki)
    received = collect(source)
    sink = FluentSink(f"fluent://127.0.0.1:{source.port}?require_ack=true&tls_ca={pki.ca.pem_path}")
    assert sink.send(_documents(30)).delivered == 30
    assert sink.send(_documents(30)[:5]).delivered == 5  # the connection is reused after TLS 1.3 tickets
    assert sorted(d["mlsiem"]["features"]["seq"] for d in received) == sorted([*range(30), *range(5)])
    sink.close()
    source.close()


def test_plain_tcp_and_a_wrong_ca_are_refused_and_counted(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    source = _server(pki)
    received = collect(source)
    plain = FluentSink(f"fluent://127.0.0.1:{source.port}?require_ack=true", retry_budget=0, timeout=10)
    with pytest.raises(SinkUnavailable):
        plain.send(_documents(1))
    wrong_ca = FluentSink(
        f"fluent://127.0.0.1:{source.port}?tls_ca={pki.stranger_ca.pem_path}", retry_budget=0, timeout=10
    )
    with pytest.raises(SinkUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        wrong_ca.send(_documents(1))
    system_cas = FluentSink(f"fluent://127.0.0.1:{source.port}?tls=true", retry_budget=0, timeout=10)
    with pytest.raises(SinkUnavailable, match="CERTIFICATE_VERIFY_FAILED"):  # self-signed: not trusted
        system_cas.send(_documents(1))
    wait_for(lambda: failures(source) >= 1, timeout=10)
    assert received == []
    assert "TLS handshake with 127.0.0.1 failed" in caplog.text
    source.close()


def test_client_certificates_are_required_when_a_client_ca_is_set(pki: Pki) -> None:
    source = _server(pki, client_ca=True)
    received = collect(source)
    base = f"fluent://127.0.0.1:{source.port}?require_ack=true&tls_ca={pki.ca.pem_path}"
    anonymous = FluentSink(base, retry_budget=0, timeout=10)
    with pytest.raises(SinkUnavailable):
        anonymous.send(_documents(1))
    stranger_cert, stranger_key = pki.stranger
    stranger = FluentSink(
        f"{base}&tls_cert={stranger_cert}&tls_key={stranger_key}", retry_budget=0, timeout=10
    )
    with pytest.raises(SinkUnavailable):
        stranger.send(_documents(1))
    cert, key = pki.client
    known = FluentSink(f"{base}&tls_cert={cert}&tls_key={key}")
    assert known.send(_documents(10)).delivered == 10
    assert len(received) == 10
    wait_for(lambda: failures(source) >= 2, timeout=10)
    known.close()
    source.close()


def test_a_peer_that_never_starts_tls_is_dropped_after_the_handshake_timeout(pki: Pki) -> None:
    source = _server(pki, handshake_timeout=2)
    with socket.create_connection(("127.0.0.1", source.port)) as sock:
        sock.settimeout(10)
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server
        assert 1.5 < time.monotonic() - started < 30
    wait_for(lambda: failures(source) >= 1, timeout=5)
    source.close()


def test_tls_options_are_checked_with_clear_errors(pki: Pki, tmp_path: Path) -> None:
    cert, key = pki.server
    with pytest.raises(ConfigError, match="go together"):
        forward_tls(cert, None, None)
    with pytest.raises(ConfigError, match="need --forward-tls-cert"):
        forward_tls(None, None, pki.ca.pem_path)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(ConfigError, match=r"--forward-tls-cert .*cannot use them"):
        ForwardSource("forward://127.0.0.1:0", ForwardSettings(tls=forward_tls(not_pem, key, None)))
    with pytest.raises(ConfigError, match="--forward-tls-client-ca"):
        ForwardSource("forward://127.0.0.1:0", ForwardSettings(tls=forward_tls(cert, key, not_pem)))
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        parse_fluent_url(f"fluent://h:1?tls_cert={cert}")
    with pytest.raises(ConfigError, match="tls_ca"):
        parse_fluent_url(f"fluent://h:1?tls_ca={not_pem}")
    assert parse_fluent_url(f"fluent://h:1?tls_ca={pki.ca.pem_path}").tls is not None  # a CA implies TLS
    assert parse_fluent_url("fluent://h:1").tls is None
    mutual = ForwardSettings(tls=forward_tls(cert, key, pki.ca.pem_path))
    assert exposure_warning("0.0.0.0", mutual) is None  # client certificates authenticate peers
    assert exposure_warning("0.0.0.0", ForwardSettings(tls=forward_tls(cert, key, None))) is not None


def test_mlsiem_ship_listens_with_tls(pki: Pki, tmp_path: Path) -> None:
    cert, key = pki.server
    port, out = free_port(), tmp_path / "out.ndjson"
    process = ship_process(
        tmp_path,
        "http://127.0.0.1:9",
        "default",
        "--listen",
        f"forward://127.0.0.1:{port}",
        "--forward-tls-cert",
        str(cert),
        "--forward-tls-key",
        str(key),
        "--output",
        f"file:{out}",
    )
    context = ssl.create_default_context(cafile=pki.ca.pem_path)
    deadline = time.monotonic() + 60
    sock = None
    while sock is None and time.monotonic() < deadline:
        assert process.poll() is None
        with contextlib.suppress(OSError):
            sock = context.wrap_socket(
                socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"
            )
        time.sleep(0.2)
    assert sock is not None, "mlsiem ship did not listen"
    with sock:
        entries = [[int(time.time()), json.loads(e.json)] for e in _documents(3)]
        sock.sendall(msgpack.packb(["mlsiem.inference", entries, {"chunk": "c1"}]))
        unpacker = msgpack.Unpacker(raw=False)
        while (reply := next(unpacker, None)) is None:
            unpacker.feed(sock.recv(4096))
        assert reply == {"ack": "c1"}
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert len(out.read_text().splitlines()) == 3
