"""TLS and authentication end to end: the real CLI and the adapter against nginx (TLS + basic auth, or
TLS + API key) in front of the session's engine.

Every `mlsiem` run here goes through `Cli.run`, which fails the test when the password, the API key (or
its secret half) or the basic-auth header value shows in stdout or stderr; after each test every file
under MLSIEM_HOME (registry, dead-letter file, spool) is searched the same way.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from cli import app
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings, load_settings
from mlsiem.errors import EngineError
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.local_engine import LocalEngine
from mlsiem.templates import SetupConfig
from tests.shipping import append_lines, count, exactly_once, native_line, wait_for
from tests.tls_proxy import NginxProxy, issue_certificate, make_authority

USER = "shipper"
PASSWORD = "pw-" + secrets.token_hex(12)
API_KEY_SECRET = "k-" + secrets.token_hex(12)
API_KEY = base64.b64encode(f"mlsiem-test:{API_KEY_SECRET}".encode()).decode()
BASIC_HEADER = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
READER, READER_PASSWORD = "analyst", "ro-" + secrets.token_hex(12)  # a read-only role: writes get 403
SECRETS = {
    "password": PASSWORD,
    "API key": API_KEY,
    "API key secret": API_KEY_SECRET,
    "basic": BASIC_HEADER,
    "reader password": READER_PASSWORD,
}
# Words that must not name a command-line option, except one that takes the path of a file holding the
# secret (`--...-file`): secrets come from the environment or files only.
SECRET_WORDS = ("password", "passwd", "api-key", "apikey", "shared-key", "secret", "token", "credential")


def leaked(data: bytes | str) -> list[str]:
    """Names of the secrets that occur in `data`."""
    raw = data.encode() if isinstance(data, str) else data
    return [name for name, value in SECRETS.items() if value.encode() in raw]


@dataclass
class Endpoint:
    """A TLS endpoint with authentication, and what a client needs (or must not have) to use it."""

    proxy: NginxProxy
    ca: Path
    wrong_ca: Path
    password_file: Path
    api_key_file: Path

    def basic_env(self) -> dict[str, str]:
        return {"MLSIEM_CA_CERTS": str(self.ca), "MLSIEM_USERNAME": USER, "MLSIEM_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, local_engine: LocalEngine) -> Iterator[Endpoint]:
    directory = tmp_path_factory.mktemp("tls")
    authority = make_authority(directory, "mlsiem-test-ca")
    wrong = make_authority(directory, "some-other-ca")
    cert, key = issue_certificate(authority, directory)
    password_file, api_key_file = directory / "password", directory / "api-key"
    password_file.write_text(PASSWORD + "\n")
    api_key_file.write_text(API_KEY + "\n")
    users = {USER: PASSWORD, READER: READER_PASSWORD}
    proxy = NginxProxy(directory / "nginx", local_engine.port, users, API_KEY, cert, key, readers=(READER,))
    proxy.start()
    try:
        yield Endpoint(proxy, authority.pem_path, wrong.pem_path, password_file, api_key_file)
    finally:
        proxy.stop()


class Cli:
    """Runs `python -m mlsiem` with a private MLSIEM_HOME and checks every output for secrets."""

    def __init__(self, home: Path) -> None:
        self.home = home
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MLSIEM_", "REQUESTS_", "CURL_"))}
        self.base_env = {**base, "MLSIEM_HOME": str(home)}

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**self.base_env, **extra}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mlsiem", *args]

    def run(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        out = subprocess.run(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(env),
            timeout=120,
            check=False,
        )
        shown = leaked(out.stdout + out.stderr)
        assert not shown, f"mlsiem {' '.join(args)} printed the {', '.join(shown)}"
        assert "Traceback" not in out.stderr, out.stderr
        return out

    def assert_files_clean(self) -> None:
        for path in self.home.rglob("*"):
            if path.is_file():
                assert not leaked(path.read_bytes()), f"{path} holds {leaked(path.read_bytes())}"


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path / "home")
    yield runner
    runner.assert_files_clean()


def error_line(out: subprocess.CompletedProcess) -> str:
    """The one error line a failing command prints."""
    assert out.returncode != 0, out.stdout
    assert out.stderr.startswith("mlsiem: error: "), out.stderr
    return out.stderr


# -- it works with credentials and the CA ---------------------------------------------------------------


def test_setup_ship_detect_through_tls_and_basic_auth(
    cli: Cli, endpoint: Endpoint, engine: Engine, namespace: str, tmp_path: Path
) -> None:
    env = endpoint.basic_env()
    url = endpoint.proxy.basic_url
    setup = cli.run("setup", "--url", url, "--namespace", namespace, "--json", env=env)
    assert setup.returncode == 0, setup.stderr
    assert json.loads(setup.stdout)["engine"] == f"opensearch {engine.version} at {url}"

    events = tmp_path / "events.jsonl"
    events.write_text("".join(native_line(s) + "\n" for s in range(5)) + "{not json\n")
    shipped = cli.run("ship", "--url", url, "--namespace", namespace, "--json", str(events), env=env)
    assert shipped.returncode == 0, shipped.stderr
    stats = json.loads(shipped.stdout)
    assert (stats["shipped"], stats["dead_lettered"]) == (5, 1)
    dead_letter = Path(stats["dead_letter_file"])
    assert dead_letter.is_relative_to(cli.home) and "{not json" in dead_letter.read_text()
    assert exactly_once(engine, namespace, range(5))

    # A fresh registry reads the file again: the engine already holds every event, none doubles.
    again = cli.run(
        "ship", "--url", url, "--namespace", namespace, "--json", "--registry", str(tmp_path / "r2.json"),
        str(events), env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["shipped"], json.loads(again.stdout)["duplicates"]) == (0, 5)
    assert count(engine, namespace) == 5 and exactly_once(engine, namespace, range(5))

    detect = cli.run("detect", "--once", "--url", url, "--namespace", namespace, "--json", env=env)
    assert detect.returncode == 0, detect.stderr
    report = json.loads(detect.stdout)
    assert report["windows"] >= 1 and report["error"] is None


def test_api_key_from_the_environment_and_from_a_file(cli: Cli, endpoint: Endpoint, engine: Engine) -> None:
    url = endpoint.proxy.api_key_url
    namespace = "t" + secrets.token_hex(5)
    by_env = cli.run(
        "setup", "--url", url, "--namespace", namespace, "--json",
        env={"MLSIEM_CA_CERTS": str(endpoint.ca), "MLSIEM_API_KEY": API_KEY},
    )  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    by_file = cli.run(
        "ship", "--url", url, "--namespace", namespace, "--json", "-",
        env={"MLSIEM_CA_CERTS": str(endpoint.ca), "MLSIEM_API_KEY_FILE": str(endpoint.api_key_file)},
    )  # fmt: skip
    # `-` reads stdin, which subprocess.run gives as empty: the run connects, sets up and ships nothing.
    assert by_file.returncode == 0, by_file.stderr
    assert engine.exists(f"/_data_stream/{inference_stream(namespace)}")

    wrong = cli.run(
        "setup", "--url", url, "--namespace", namespace,
        env={"MLSIEM_CA_CERTS": str(endpoint.ca), "MLSIEM_API_KEY": base64.b64encode(b"x:y").decode()},
    )  # fmt: skip
    assert f"connecting: {url} refused the credentials (401)" in error_line(wrong)
    basic_here = cli.run("setup", "--url", url, env=endpoint.basic_env())
    assert "refused the credentials (401)" in error_line(basic_here)


def test_engine_adapter_with_secret_files(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("MLSIEM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLSIEM_CA_CERTS", str(endpoint.ca))
    monkeypatch.setenv("MLSIEM_USERNAME", USER)
    monkeypatch.setenv("MLSIEM_PASSWORD_FILE", str(endpoint.password_file))
    secured = Engine.connect(load_settings(url=endpoint.proxy.basic_url))
    namespace = "t" + secrets.token_hex(5)
    run_setup(secured, SetupConfig(namespace=namespace))
    stream = inference_stream(namespace)
    document = {"@timestamp": "2026-11-25T10:00:00Z", "event": {"kind": "event"}}
    action = {"create": {"_index": stream, "_id": "tls-1"}}
    body = (json.dumps(action) + "\n" + json.dumps(document) + "\n").encode()
    assert secured.bulk(body, refresh=True)["errors"] is False
    assert not secured.create_document(stream, "tls-1", document)  # 409 through the proxy: already there
    assert secured.count(stream) == 1
    assert not leaked(repr(secured.settings)) and not leaked(secured.description)

    monkeypatch.setenv("MLSIEM_PASSWORD", "not-the-password")
    with pytest.raises(EngineError) as refused:
        Engine.connect(load_settings(url=endpoint.proxy.basic_url))
    assert refused.value.status == 401 and endpoint.proxy.basic_url in str(refused.value)


@pytest.mark.parametrize("client", ["opensearch", "elasticsearch"])
def test_both_clients_verify_and_authenticate(endpoint: Endpoint, client: str) -> None:
    """The two official clients under the adapter word TLS and credential failures the same way."""
    url = endpoint.proxy.basic_url
    base = {"url": url, "engine": client, "username": USER}
    with pytest.raises(EngineError) as untrusted:
        Engine.connect(ConnectionSettings(**base, password=PASSWORD))
    assert f"the TLS certificate of {url} failed verification" in str(untrusted.value)
    with pytest.raises(EngineError) as refused:
        Engine.connect(ConnectionSettings(**base, password="wrong", ca_certs=endpoint.ca))
    assert refused.value.status == 401 and f"{url} refused the credentials (401)" in str(refused.value)
    for error in (untrusted.value, refused.value):
        assert not leaked(str(error)) and "wrong" not in str(error)


# -- and refuses clearly without them ---------------------------------------------------------------


@pytest.mark.parametrize("ca", ["none", "wrong"])
def test_tls_is_verified_by_default(cli: Cli, endpoint: Endpoint, ca: str) -> None:
    env = endpoint.basic_env()
    if ca == "none":
        del env["MLSIEM_CA_CERTS"]
    else:
        env["MLSIEM_CA_CERTS"] = str(endpoint.wrong_ca)
    commands = [["setup", "--json"]] if ca == "none" else [["ship", "--json", "-"]]
    for command in commands:
        out = cli.run(*command, "--url", endpoint.proxy.basic_url, env=env)
        message = error_line(out)
        assert out.returncode == 1 and out.stdout == ""
        assert f"the TLS certificate of {endpoint.proxy.basic_url} failed verification" in message
        assert "point MLSIEM_CA_CERTS at the CA that signed it, or pass --insecure" in message
        expected = f"MLSIEM_CA_CERTS={endpoint.wrong_ca}" if ca == "wrong" else "MLSIEM_CA_CERTS is not set"
        assert expected in message


def test_bad_or_missing_credentials_are_named_without_secrets(cli: Cli, endpoint: Endpoint) -> None:
    url = endpoint.proxy.basic_url
    wrong = {"MLSIEM_CA_CERTS": str(endpoint.ca), "MLSIEM_USERNAME": USER, "MLSIEM_PASSWORD": PASSWORD[::-1]}
    for command in (["setup", "--json"], ["ship", "--json", "-"]):
        out = cli.run(*command, "--url", url, env=wrong)
        assert out.returncode == 1 and out.stdout == ""
        assert error_line(out).strip() == (
            f"mlsiem: error: connecting: {url} refused the credentials (401); "
            "check MLSIEM_USERNAME / MLSIEM_PASSWORD or MLSIEM_API_KEY"
        )
        assert PASSWORD[::-1] not in out.stderr
    out = cli.run("setup", "--url", url, env={"MLSIEM_CA_CERTS": str(endpoint.ca)})
    assert error_line(out).strip() == (
        f"mlsiem: error: connecting: {url} asks for credentials (401) and none are set; set MLSIEM_USERNAME "
        "and MLSIEM_PASSWORD (or MLSIEM_PASSWORD_FILE), or MLSIEM_API_KEY (or MLSIEM_API_KEY_FILE)"
    )


def test_a_read_only_role_is_told_apart_from_bad_credentials(cli: Cli, endpoint: Endpoint) -> None:
    env = {"MLSIEM_CA_CERTS": str(endpoint.ca), "MLSIEM_USERNAME": READER, "MLSIEM_PASSWORD": READER_PASSWORD}
    out = cli.run(
        "setup", "--url", endpoint.proxy.basic_url, "--namespace", "t" + secrets.token_hex(5), env=env
    )
    message = error_line(out)
    assert out.returncode == 1
    assert f"{endpoint.proxy.basic_url} accepted the credentials but denied this request (403)" in message
    assert "security_exception: no permissions for this action (read-only role)" in message
    assert "needs a role that allows it" in message


def test_the_wrong_scheme_is_refused_clearly(cli: Cli, endpoint: Endpoint, local_engine: LocalEngine) -> None:
    url = endpoint.proxy.basic_url.replace("https://", "http://")
    out = cli.run("setup", "--url", url, "--json", env=endpoint.basic_env())
    assert out.returncode == 1 and out.stdout == ""
    assert error_line(out).strip() == (
        f"mlsiem: error: connecting: {url} answered 400 to plain HTTP and asks for HTTPS; use an https:// URL"
    )
    plain = f"https://127.0.0.1:{local_engine.port}"  # the engine itself serves plain HTTP
    out = cli.run("setup", "--url", plain, env=endpoint.basic_env())
    assert error_line(out).strip() == (
        f"mlsiem: error: connecting: {plain} does not speak TLS; use an http:// URL if it serves plain HTTP"
    )


def test_insecure_skips_verification_and_says_so(
    cli: Cli, endpoint: Endpoint, engine: Engine, namespace: str, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    append_lines(events, range(3))
    env = {"MLSIEM_USERNAME": USER, "MLSIEM_PASSWORD_FILE": str(endpoint.password_file)}
    out = cli.run(
        "ship", "--insecure", "--url", endpoint.proxy.basic_url, "--namespace", namespace, "--json",
        str(events), env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["shipped"] == 3
    # One warning line and nothing else (no urllib3 warning per request, from any thread).
    assert out.stderr == "warning: TLS certificate verification is off (--insecure)\n"
    assert exactly_once(engine, namespace, range(3))


def test_credentials_in_the_url_are_refused_without_echo(cli: Cli, endpoint: Endpoint) -> None:
    port = endpoint.proxy.basic_port
    for args in (["setup", "--json"], ["ship", "--json", "-"]):
        out = cli.run(*args, "--url", f"https://{USER}:{PASSWORD}@localhost:{port}", env={})
        assert out.returncode == 2
        assert "url: the URL carries credentials; give them in MLSIEM_USERNAME" in error_line(out)
        assert USER not in out.stderr  # not even the user name is echoed back
    # Malformed URLs are refused as such, without quoting the credentials they hold either.
    for url in (f"ftp://{USER}:{PASSWORD}@localhost", f"{USER}:{PASSWORD}@localhost:{port}"):
        out = cli.run("setup", "--url", url, env={})
        assert out.returncode == 2 and "engine connection settings are not usable: url:" in error_line(out)
        assert USER not in out.stderr


# -- secrets never reach argv, outputs or files -------------------------------------------------------


def _commands(command: Any, ctx: Any) -> Iterator[Any]:
    """Every command under `command` (groups are walked through their own list, lazily loaded ones too)."""
    yield command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _commands(sub, sub.context_class(sub, parent=ctx, info_name=name))


def test_no_command_line_option_takes_a_secret() -> None:
    root = typer.main.get_command(app)
    options = [
        opt
        for command in _commands(root, root.context_class(root, info_name="mlsiem"))
        for param in command.params
        for opt in param.opts
    ]
    assert "--url" in options and "--insecure" in options  # the walk reached the engine commands
    offending = [
        opt
        for opt in options
        if any(word in opt.lower().replace("_", "-") for word in SECRET_WORDS) and not opt.endswith("-file")
    ]
    assert offending == []


def test_follow_keeps_secrets_out_of_argv_and_spool_across_a_proxy_outage(
    cli: Cli, endpoint: Endpoint, local_engine: LocalEngine, engine: Engine, namespace: str, tmp_path: Path
) -> None:
    # A proxy of its own, so it can go away mid-run without disturbing the other tests.
    authority = make_authority(tmp_path, "outage-ca")
    cert, key = issue_certificate(authority, tmp_path)
    proxy = NginxProxy(tmp_path / "nginx", local_engine.port, {USER: PASSWORD}, API_KEY, cert, key)
    proxy.start()
    events = tmp_path / "events.jsonl"
    append_lines(events, range(5))
    spool = cli.home / "shipper" / "spool"
    env = {
        "MLSIEM_CA_CERTS": str(authority.pem_path),
        "MLSIEM_USERNAME": USER,
        "MLSIEM_PASSWORD_FILE": str(endpoint.password_file),
    }
    args = ["ship", "--follow", "--url", proxy.basic_url, "--namespace", namespace, "--no-progress"]
    args += ["--retry-seconds", "1", "--batch-size", "5", str(events)]
    process = subprocess.Popen(
        cli.command(*args), env=cli.env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: count(engine, namespace) == 5, timeout=30)
        for name in ("cmdline", "environ"):
            assert not leaked(Path(f"/proc/{process.pid}/{name}").read_bytes()), name

        proxy.stop()
        append_lines(events, range(5, 10))
        wait_for(lambda: spool.is_dir() and any(p.is_file() for p in spool.rglob("*")), timeout=30)
        spooled = [p for p in spool.rglob("*") if p.is_file()]
        assert not any(leaked(p.read_bytes()) for p in spooled)
        assert any(b'"seq":7' in p.read_bytes() or b'"seq": 7' in p.read_bytes() for p in spooled)

        proxy.start()
        wait_for(lambda: count(engine, namespace) == 10, timeout=30)
        assert exactly_once(engine, namespace, range(10))
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        proxy.stop()
    assert process.returncode == 0, stderr
    assert not leaked(stdout + stderr), leaked(stdout + stderr)
    assert "Traceback" not in stderr
