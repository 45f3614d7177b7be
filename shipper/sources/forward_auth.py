"""Shared-key authentication of the forward protocol (HELO / PING / PONG), as Fluentd's `<security>`.

The handshake, byte for byte as Fluentd's in_forward / out_forward and Fluent Bit's out_forward do it:

    server: ["HELO", {"nonce": <16 random bytes>, "auth": <user salt or "">, "keepalive": true}]
    client: ["PING", client_hostname, shared_key_salt,
             sha512_hex(shared_key_salt + client_hostname + nonce + shared_key),
             username or "", sha512_hex(auth_salt + username + password) or ""]
    server: ["PONG", true, "", server_hostname,
             sha512_hex(shared_key_salt + server_hostname + nonce + shared_key)]
        or  ["PONG", false, "<reason>", "", ""], and it closes the connection.

Both sides prove they know the key without sending it; the nonce makes a recorded PING useless on another
connection. Fluent Bit sends its 16 random salt bytes as a MessagePack *str* that is not UTF-8, so the
handshake is decoded with raw bytes (`raw=True`), never as text. Digests are compared in constant time.
User authentication (`users`) is the spec's optional second factor; it is on when users are configured.
Nothing here logs or formats the key, a digest or a password: reasons name only what failed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from mlsiem.errors import ConfigError

SHARED_KEY_ENV = "MLSIEM_FORWARD_SHARED_KEY"
MAX_HANDSHAKE_BYTES = 64 * 1024


class ForwardSecurity(BaseModel):
    """The server's `<security>`: the shared key, the hostname it answers with, optional users."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shared_key: SecretStr
    # Not the bare host name: Fluentd's out_forward refuses a PONG that carries its own self_hostname,
    # which a Fluentd on the same machine would have by default.
    self_hostname: str = Field(
        default_factory=lambda: f"mlsiem-{socket.gethostname()}", min_length=1, max_length=255
    )
    users: dict[str, SecretStr] = Field(default_factory=dict)


class ForwardAuthError(Exception):
    """The peer failed the handshake; the message is safe to log (no key, digest or password)."""


def load_shared_key(
    key_file: Path | None, environ: Mapping[str, str] = os.environ, env: str = SHARED_KEY_ENV
) -> SecretStr | None:
    """The shared key from `key_file` (first line), else the variable `env`, else None.

    Keys never come from argv: command lines are visible to every local user in the process list.
    """
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"forward shared key file {key_file}: cannot read the key ({reason})") from None
        key = text.splitlines()[0].strip() if text.strip() else ""
        if not key:
            raise ConfigError(f"forward shared key file {key_file}: the file holds no key")
        return SecretStr(key)
    value = environ.get(env)
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(f"${env} is set but empty: unset it or give a key")
    return SecretStr(value.strip())


def load_users(users_file: Path | None, listener: str = "forward") -> dict[str, SecretStr]:
    """`username:password` lines (blank lines and `#` comments skipped) for user authentication; the
    forward and OTLP listeners read the same file format. `listener` names the file in errors."""
    if users_file is None:
        return {}
    option = f"{listener} users file {users_file}"
    try:
        lines = users_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{option}: cannot read the users ({reason})") from None
    users: dict[str, SecretStr] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, password = line.partition(":")
        if not colon or not name.strip() or not password:
            raise ConfigError(f"{option}: line {number} is not username:password")  # no echo: a secret
        users[name.strip()] = SecretStr(password)
    if not users:
        raise ConfigError(f"{option}: the file names no user")
    return users


def hexdigest(*parts: bytes) -> bytes:
    """sha512_hex of the concatenated parts, as ASCII bytes (the form both sides compare)."""
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest().encode("ascii")


def _text(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return None


def _printable(value: bytes, limit: int = 64) -> str:
    """A peer-supplied name fit for a log line (no control characters, bounded)."""
    text = value[:limit].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)


@dataclass(slots=True)
class ServerHandshake:
    """One connection's server side: the HELO it sent and the check of the PING that answers it."""

    security: ForwardSecurity
    nonce: bytes = field(default_factory=lambda: os.urandom(16))
    auth_salt: bytes = field(default_factory=lambda: os.urandom(16))
    client_hostname: str = ""

    def helo(self) -> bytes:
        auth = self.auth_salt if self.security.users else ""
        return msgpack.packb(["HELO", {"nonce": self.nonce, "auth": auth, "keepalive": True}])

    def answer(self, ping: Any) -> bytes:
        """The PONG for a PING decoded with `raw=True`; `ForwardAuthError` when the PING fails.

        On failure the caller sends `refusal(reason)` and closes the connection.
        """
        salt = self._check(ping)
        key = self.security.shared_key.get_secret_value().encode("utf-8")
        host = self.security.self_hostname.encode("utf-8")
        return msgpack.packb(
            ["PONG", True, "", host.decode(), hexdigest(salt, host, self.nonce, key).decode()]
        )

    @staticmethod
    def refusal(reason: str) -> bytes:
        return msgpack.packb(["PONG", False, reason, "", ""])

    def _check(self, ping: Any) -> bytes:
        if not isinstance(ping, list | tuple) or len(ping) != 6 or _text(ping[0]) != b"PING":
            raise ForwardAuthError("invalid ping message")
        hostname, salt, digest, username, password_digest = (_text(part) for part in ping[1:])
        if hostname is None or salt is None or digest is None or username is None or password_digest is None:
            raise ForwardAuthError("invalid ping message")
        self.client_hostname = _printable(hostname)
        key = self.security.shared_key.get_secret_value().encode("utf-8")
        if not hmac.compare_digest(digest, hexdigest(salt, hostname, self.nonce, key)):
            raise ForwardAuthError("shared_key mismatch")
        if self.security.users:
            password = self.security.users.get(username.decode("utf-8", "replace"))
            expected = (
                hexdigest(self.auth_salt, username, password.get_secret_value().encode("utf-8"))
                if password is not None
                else b""
            )
            if not password or not hmac.compare_digest(password_digest, expected):
                raise ForwardAuthError("username/password mismatch")
        return salt


@dataclass(slots=True)
class ClientHandshake:
    """Our side as a client (the `fluent://` output): answer HELO with PING, then check the PONG."""

    shared_key: SecretStr
    hostname: str = field(default_factory=socket.gethostname)
    username: str = ""
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    salt: bytes = field(default_factory=lambda: os.urandom(16))
    nonce: bytes = b""

    def ping(self, helo: Any) -> bytes:
        if not isinstance(helo, list | tuple) or len(helo) < 2 or _text(helo[0]) != b"HELO":
            raise ForwardAuthError("the server did not start with HELO")
        options = helo[1] if isinstance(helo[1], dict) else {}
        options = {_text(k): v for k, v in options.items()}
        nonce, auth = _text(options.get(b"nonce")), _text(options.get(b"auth")) or b""
        if nonce is None:
            raise ForwardAuthError("the server's HELO carries no nonce")
        self.nonce = nonce
        key = self.shared_key.get_secret_value().encode("utf-8")
        host = self.hostname.encode("utf-8")
        user, password = self.username.encode("utf-8"), self.password.get_secret_value().encode("utf-8")
        password_digest = hexdigest(auth, user, password) if auth else b""
        return msgpack.packb(
            [
                "PING",
                self.hostname,
                self.salt,
                hexdigest(self.salt, host, nonce, key).decode(),
                self.username if auth else "",
                password_digest.decode(),
            ]
        )

    def check_pong(self, pong: Any) -> None:
        if not isinstance(pong, list | tuple) or len(pong) != 5 or _text(pong[0]) != b"PONG":
            raise ForwardAuthError("the server did not answer PING with PONG")
        if pong[1] is not True:
            reason = _text(pong[2]) or b"no reason given"
            raise ForwardAuthError(f"the server refused the handshake: {_printable(reason, 200)}")
        host, digest = _text(pong[3]), _text(pong[4])
        key = self.shared_key.get_secret_value().encode("utf-8")
        if (
            host is None
            or digest is None
            or not hmac.compare_digest(digest, hexdigest(self.salt, host, self.nonce, key))
        ):
            raise ForwardAuthError("the server does not know the shared key (PONG digest mismatch)")
