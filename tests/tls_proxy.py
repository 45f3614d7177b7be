"""A real TLS + authentication endpoint for tests: nginx in front of the local engine.

Production SIEMs sit behind TLS and ask for credentials; the local engine speaks plain HTTP without
security. This module builds what a secured cluster looks like from the outside: a self-signed CA and a
server certificate for localhost / 127.0.0.1 (made with `cryptography`), an htpasswd file, and an nginx
with two TLS listeners that proxy to the engine:

- `basic_url` asks for HTTP basic authentication (auth_basic, salted SHA-1 `{SSHA}` entries: nginx
  checks that scheme itself, so it does not depend on which crypt(3) schemes the system library has).
  Users listed as readers get what a read-only role gets from a secured cluster: 403 with a
  `security_exception` body for every PUT, POST or DELETE;
- `api_key_url` accepts exactly `Authorization: ApiKey <key>`, as Elasticsearch and OpenSearch do
  with API keys, and answers 401 to anything else.

nginx runs in the foreground as our child process (`daemon off`) with its pid file, logs and temp
directories under the given directory; `stop()` ends it. The Debian package's own service is never used.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlsiem.local_engine import free_port


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its certificate (PEM file) and key, able to sign server certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    pem_path: Path


def make_authority(directory: Path, name: str) -> Authority:
    """A self-signed CA, written as `<name>.pem` in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_path = directory / f"{name}.pem"
    pem_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(cert, key, pem_path)


def issue_certificate(
    authority: Authority, directory: Path, purpose: Literal["server", "client"] = "server"
) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 signed by `authority`, for a TLS server or a TLS
    client: (`<purpose>.pem`, `<purpose>.key`) in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if purpose == "server" else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False
        )
        .sign(authority.key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{purpose}.pem", directory / f"{purpose}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def htpasswd_line(user: str, password: str) -> str:
    """One htpasswd entry in the `{SSHA}` scheme: base64(sha1(password + salt) + salt)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


def nginx_binary() -> str:
    """The nginx executable (`make nginx` installs it); /usr/sbin is not on a normal user's PATH."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise RuntimeError("nginx is not installed: run `make nginx` (the TLS tests need it)")
    return found


_CONFIG = """\
{user}
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {run}/access.log;
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    client_max_body_size 200m;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream engine {{ server 127.0.0.1:{upstream}; keepalive 8; }}
    upstream forbidden {{ server 127.0.0.1:{forbidden_port}; }}
    # Chosen in the content phase, so auth_basic has already checked the password.
    map "$remote_user:$request_method" $backend {{
        default engine;
{reader_rules}
    }}
    proxy_http_version 1.1;
    proxy_request_buffering off;
    proxy_read_timeout 120s;
    proxy_set_header Host $host;
    proxy_set_header Connection "";
    proxy_set_header Authorization "";
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto https;

    server {{
        listen 127.0.0.1:{basic_port} ssl;
        server_name localhost;
        auth_basic "mlsiem test cluster";
        auth_basic_user_file {htpasswd};
        location / {{ proxy_pass http://$backend; }}
    }}
    server {{
        listen 127.0.0.1:{forbidden_port};
        default_type application/json;
        location / {{ return 403 '{forbidden}'; }}
    }}
    server {{
        listen 127.0.0.1:{api_key_port} ssl;
        server_name localhost;
        location / {{
            if ($http_authorization != "ApiKey {api_key}") {{ return 401; }}
            proxy_pass http://engine;
        }}
    }}
}}
"""


# What OpenSearch's security plugin answers a user whose role does not allow the action.
_FORBIDDEN = json.dumps(
    {
        "error": {
            "type": "security_exception",
            "reason": "no permissions for this action (read-only role)",
        },
        "status": 403,
    }
)


class NginxProxy:
    """nginx terminating TLS and checking credentials in front of the engine at `upstream_port`."""

    def __init__(
        self,
        directory: Path,
        upstream_port: int,
        users: Mapping[str, str],
        api_key: str,
        cert: Path,
        key: Path,
        readers: tuple[str, ...] = (),
    ) -> None:
        if '"' in api_key or "\\" in api_key:
            raise ValueError("the API key must not contain quotes or backslashes (it goes into nginx.conf)")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.basic_port = free_port()
        self.api_key_port = free_port()
        htpasswd = directory / "htpasswd"
        htpasswd.write_text("".join(htpasswd_line(user, password) for user, password in users.items()))
        run = directory / "run"
        run.mkdir(exist_ok=True)
        # As root the workers would switch to `nobody`, who cannot enter pytest's private temp dirs.
        user_line = "user root root;" if os.geteuid() == 0 else ""
        self.config = directory / "nginx.conf"
        self.config.write_text(
            _CONFIG.format(
                user=user_line,
                run=run,
                cert=cert,
                key=key,
                upstream=upstream_port,
                basic_port=self.basic_port,
                api_key_port=self.api_key_port,
                htpasswd=htpasswd,
                api_key=api_key,
                forbidden=_FORBIDDEN,
                forbidden_port=free_port(),
                reader_rules="\n".join(
                    f'        "~^{user}:(PUT|POST|DELETE)$" forbidden;' for user in readers
                ),
            )
        )
        self.error_log = run / "error.log"
        self.process: subprocess.Popen | None = None

    @property
    def basic_url(self) -> str:
        return f"https://localhost:{self.basic_port}"

    @property
    def api_key_url(self) -> str:
        return f"https://localhost:{self.api_key_port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start nginx and wait until both listeners accept connections."""
        command = [
            nginx_binary(),
            "-p",
            str(self.directory),
            "-c",
            str(self.config),
            "-e",
            str(self.error_log),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"nginx exited with {self.process.returncode}: {stderr}{self._log()}")
            if all(_accepts(port) for port in (self.basic_port, self.api_key_port)):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within {timeout} s{self._log()}")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM to the master, which ends its workers); SIGKILL the group if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        finally:
            if self.process.stderr:
                self.process.stderr.close()

    def _log(self) -> str:
        text = self.error_log.read_text(errors="replace") if self.error_log.exists() else ""
        return f"\nnginx error log:\n{text[-2000:]}" if text else ""


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
