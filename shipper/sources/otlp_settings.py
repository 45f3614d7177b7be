"""Configuration of the OTLP receiver (`inputs.otlp` of a shipper config, `--listen otlp://...`).

`otlp://HOST:PORT` is OTLP/HTTP (default port 4318), `otlp+grpc://HOST:PORT` the OTLP gRPC services
(4317); the host defaults to 127.0.0.1. A receiver listening beyond loopback without a token, users or
client certificates warns (as the forward input does): anyone who can reach it can write telemetry.

Secrets are referenced, never held here: the bearer token from `token_file` (first line) or the
variable `token_env`, basic-auth users from `users_file` (`username:password` lines). Both may be
given; a request passes with either.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlsiem.errors import ConfigError
from shipper.sources.forward_settings import is_loopback, server_context

MIB: Final = 1 << 20
TOKEN_ENV: Final = "MLSIEM_OTLP_TOKEN"
DEFAULT_HOST: Final = "127.0.0.1"
SCHEMES: Final = {"otlp": ("http", 4318), "otlp+grpc": ("grpc", 4317)}
Transport = Literal["http", "grpc"]


def parse_otlp_url(url: str) -> tuple[Transport, str, int]:
    """`otlp://HOST:PORT` or `otlp+grpc://HOST:PORT` as (transport, host, port)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--listen {url!r}: the port is not a number from 0 to 65535") from None
    scheme = SCHEMES.get(parts.scheme)
    if scheme is None or parts.path not in ("", "/") or parts.query or parts.username:
        raise ConfigError(
            f"--listen {url!r}: expected otlp://HOST:PORT (OTLP/HTTP, e.g. otlp://127.0.0.1:4318) or "
            "otlp+grpc://HOST:PORT (e.g. otlp+grpc://127.0.0.1:4317)"
        )
    transport, default_port = scheme
    return transport, parts.hostname or DEFAULT_HOST, default_port if port is None else port  # type: ignore[return-value]


class OtlpTls(BaseModel):
    """The receiver's certificate chain and key (PEM); with a client CA, peers must show a certificate
    it signed (mutual TLS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, key, client CA) as bytes, for gRPC; ConfigError naming the file."""
        return self._read(self.cert_file), self._read(self.key_file), self._read(self.client_ca_file)

    @staticmethod
    def _read(path: Path | None) -> bytes | None:  # type: ignore[return]
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"inputs.otlp.tls: {path}: cannot read it ({exc.strerror or exc})") from None

    def server_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context; ConfigError naming the file when one is unusable."""
        return server_context(
            self.cert_file,
            self.key_file,
            self.client_ca_file,
            pair=f"inputs.otlp.tls: {self.cert_file} / {self.key_file}",
            ca=f"inputs.otlp.tls.client_ca_file {self.client_ca_file}",
        )


class OtlpInput(BaseModel):
    """One OTLP listener as a user configures it; each default is written here once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field("otlp://127.0.0.1:4318", description="otlp://HOST:PORT or otlp+grpc://HOST:PORT")
    token_file: Path | None = Field(None, description="bearer token (first line)")
    token_env: str = Field(TOKEN_ENV, min_length=1, description="else the bearer token from this variable")
    users_file: Path | None = Field(None, description="username:password lines (basic auth)")
    tls: OtlpTls | None = None
    max_body_mb: float = Field(16.0, gt=0, le=1024, allow_inf_nan=False, description="per request (MiB)")
    rate_items: float | None = Field(None, gt=0, description="spans + log records per second, then 429")
    max_pending: int = Field(64, ge=1, le=100_000, description="requests awaiting delivery, then 503")
    ack_timeout: float = Field(8.0, gt=0, le=600, description="seconds to await delivery, then 503")
    retry_after: int = Field(5, ge=1, le=3600, description="seconds a 429/503 answer asks clients to wait")
    max_connections: int = Field(256, ge=1, le=100_000, description="HTTP connections / gRPC calls at once")
    handshake_timeout: float = Field(10.0, gt=0, le=600, description="seconds for a TLS handshake")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        try:
            parse_otlp_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix(f"--listen {value!r}: ")) from None
        return value

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MIB)

    @property
    def max_decoded_bytes(self) -> int:
        """What a gzip body may expand to: 4x the body limit, at least 64 MiB (stops a bomb, not a
        large honest export)."""
        return max(64 * MIB, 4 * self.max_body_bytes)


def exposure_warning(url: str, settings: OtlpInput, authenticated: bool) -> str | None:
    """The warning for a receiver reachable beyond this machine without authentication."""
    _, host, _ = parse_otlp_url(url)
    tls = settings.tls
    if authenticated or is_loopback(host) or (tls is not None and tls.client_ca_file):
        return None
    return (
        f"the OTLP receiver {url} listens on {host} without authentication: anyone who can reach the port "
        f"can write telemetry. Set a token (token_file or ${settings.token_env}), users (users_file), "
        "require client certificates (tls.client_ca_file) or listen on 127.0.0.1."
    )
