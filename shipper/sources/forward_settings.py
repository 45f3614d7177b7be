"""Configuration of the forward input: where it listens, its limits, its security (`ForwardInput`, as a
user writes it; `ForwardSettings`, as the server runs with it).

Binding: 127.0.0.1 unless a host is given. A non-loopback address without a shared key or client
certificates is allowed (a sidecar or a pod network is a legitimate place for it, and Fluentd itself
binds 0.0.0.0 without auth) but `exposure_warning` says so on stderr: anyone who can reach the port can
write telemetry.

TLS (Fluentd's `<transport tls>`, Fluent Bit's `tls on`): a certificate and key make the input speak
TLS 1.2+ only; a client CA also makes it ask every peer for a certificate that CA signed (mutual TLS,
which authenticates peers as a shared key does). The handshake-timeout limit covers the TLS handshake.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mlsiem.errors import ConfigError
from shipper.sources.forward_auth import SHARED_KEY_ENV, ForwardSecurity
from shipper.sources.forward_protocol import MIB, ForwardLimits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 24224


def parse_listen_url(url: str) -> tuple[str, int]:
    """`forward://[HOST][:PORT]` as (host, port); the host defaults to loopback, the port to 24224."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--listen {url!r}: the port is not a number from 0 to 65535") from None
    if parts.scheme != "forward" or parts.path not in ("", "/") or parts.query or parts.username:
        raise ConfigError(f"--listen {url!r}: expected forward://HOST:PORT (e.g. forward://127.0.0.1:24224)")
    return parts.hostname or DEFAULT_HOST, DEFAULT_PORT if port is None else port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ForwardTls(BaseModel):
    """The input's TLS: its certificate chain and key (PEM), and the CA of client certificates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def server_context(self) -> ssl.SSLContext:
        """A server context (TLS 1.2+); ConfigError naming the option when a file is unusable."""
        return server_context(
            self.cert_file,
            self.key_file,
            self.client_ca_file,
            pair=f"--forward-tls-cert {self.cert_file} / --forward-tls-key {self.key_file}",
            ca=f"--forward-tls-client-ca {self.client_ca_file}",
        )


def forward_tls(cert: Path | None, key: Path | None, client_ca: Path | None) -> ForwardTls | None:
    """`mlsiem ship`'s TLS options as settings (None: plain TCP); both or neither of cert and key."""
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigError("--forward-tls-client-ca: client certificates need --forward-tls-cert/-key")
        return None
    if cert is None or key is None:
        raise ConfigError("--forward-tls-cert and --forward-tls-key go together: give both")
    return ForwardTls(cert_file=cert, key_file=key, client_ca_file=client_ca)


def server_context(
    cert_file: Path, key_file: Path, client_ca_file: Path | None, pair: str, ca: str
) -> ssl.SSLContext:
    """A TLS 1.2+ server context, mutual TLS with a client CA; `pair` and `ca` name the files in errors
    (each listener's own option names)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{pair}: cannot use them as a certificate and its private key ({tls_reason(exc)})"
        ) from None
    if client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{ca}: not a readable PEM CA ({tls_reason(exc)})") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def tls_reason(exc: BaseException) -> str:
    """What OpenSSL or the OS said, in one line (`WRONG_VERSION_NUMBER`, `PEM_LIB`, `No such file or
    directory`), never file contents."""
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__)


def exposure_warning(host: str, settings: ForwardSettings) -> str | None:
    """The warning for listening beyond this machine without authentication (None when fine)."""
    tls = settings.tls
    if settings.security is not None or is_loopback(host) or (tls is not None and tls.client_ca_file):
        return None
    return (
        f"the forward input listens on {host} without authentication: anyone who can reach the port can "
        "write telemetry. Set a shared key (--forward-shared-key-file or $MLSIEM_FORWARD_SHARED_KEY), "
        "require client certificates (--forward-tls-client-ca) or listen on 127.0.0.1."
    )


class ForwardSettings(BaseModel):
    """Everything the forward input can be told; validated before a socket is opened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: ForwardLimits = Field(default_factory=ForwardLimits)
    security: ForwardSecurity | None = None
    tls: ForwardTls | None = None
    max_connections: int = Field(256, ge=1, le=100_000)
    handshake_timeout: float = Field(10.0, gt=0, le=600)
    events_per_second: float | None = Field(None, gt=0)
    bytes_per_second: float | None = Field(None, ge=1024)
    # Records received ahead of the pipeline. A forward client keeps its own buffer and resends what
    # was not acknowledged, so a deep buffer here only holds memory: a parsed record is a decoded map
    # (~4 KB of objects for a 24-feature event), and 10,000 of them plus the pipeline's read-ahead took
    # a forward shipper to 277 MB.
    buffer_records: int = Field(2_000, ge=1)


_LIMITS = ForwardLimits.model_fields
_SETTINGS = ForwardSettings.model_fields
# ForwardSettings field -> (ForwardInput field, unit of the checked value), for errors in the user's terms.
_INPUT_FIELDS = {
    ("limits", "max_message_bytes"): ("max_message_mb", " (in bytes)"),
    ("limits", "max_decompressed_bytes"): ("max_message_mb", " (decompressed, in bytes)"),
    ("limits", "max_records"): ("max_records", ""),
    ("bytes_per_second",): ("rate_mb", " (in bytes/s)"),
}


class ForwardInput(BaseModel):
    """The forward input as a user configures it (`inputs.forward` of a shipper config; `--listen` and
    the `--forward-*` options): sizes in MiB, secrets referenced (a file or an environment variable),
    never held. `settings()` makes the `ForwardSettings` the server runs with; the defaults and bounds
    are `ForwardSettings`'s own, so they live in one place.

    A compressed chunk may expand to 4x the message limit (at least 64 MiB): gzip of JSON-like records
    compresses 5-10x, and the limit only has to stop a decompression bomb, not a large honest chunk.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field(f"forward://{DEFAULT_HOST}:{DEFAULT_PORT}", description="forward://HOST:PORT")
    shared_key_file: Path | None = Field(None, description="the handshake's shared key (first line)")
    shared_key_env: str = Field(SHARED_KEY_ENV, min_length=1, description="else the key from this variable")
    users_file: Path | None = Field(None, description="username:password lines (needs a shared key)")
    max_message_mb: float = Field(_LIMITS["max_message_bytes"].default / MIB, gt=0, allow_inf_nan=False)
    max_records: int = _LIMITS["max_records"]
    max_connections: int = _SETTINGS["max_connections"]
    handshake_timeout: float = _SETTINGS["handshake_timeout"]
    rate_events: float | None = _SETTINGS["events_per_second"]
    rate_mb: float | None = Field(None, gt=0, allow_inf_nan=False, description="MiB/s per peer address")
    tls: ForwardTls | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        try:
            parse_listen_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix(f"--listen {value!r}: ")) from None
        return value

    @model_validator(mode="after")
    def _valid_settings(self) -> ForwardInput:
        self.settings(None)  # the server's own bounds, checked now rather than when it starts
        return self

    def settings(
        self, shared_key: SecretStr | None, users: dict[str, SecretStr] | None = None
    ) -> ForwardSettings:
        """The server's settings with the secrets loaded by the caller; ValueError naming the field."""
        if users and shared_key is None:
            raise ValueError("users_file: user authentication needs a shared key as well")
        message_bytes = int(self.max_message_mb * MIB)
        options = {
            "limits": {
                "max_message_bytes": message_bytes,
                "max_decompressed_bytes": max(64 * MIB, 4 * message_bytes),
                "max_records": self.max_records,
            },
            "security": {"shared_key": shared_key, "users": users or {}} if shared_key is not None else None,
            "max_connections": self.max_connections,
            "handshake_timeout": self.handshake_timeout,
            "events_per_second": self.rate_events,
            "bytes_per_second": None if self.rate_mb is None else self.rate_mb * MIB,
            "tls": self.tls,
        }
        try:
            return ForwardSettings.model_validate(options)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                loc = tuple(str(part) for part in error["loc"])
                name, unit = _INPUT_FIELDS.get(loc, (".".join(loc), ""))
                problems.append(f"{name}: {error['msg']}{unit}")
            raise ValueError("; ".join(problems)) from None
