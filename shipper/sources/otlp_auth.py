"""The OTLP receiver's request authentication: a bearer token or basic-auth users.

The `Authorization` header (HTTP) or `authorization` metadata (gRPC) is compared in constant time
with the configured secrets. A failure gives a reason that names what was wrong (no header, unknown
scheme, wrong token, unknown user or wrong password) and never any part of a secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from mlsiem.errors import ConfigError
from shipper.sources import forward_auth


def load_token(
    token_file: Path | None, env: str, environ: Mapping[str, str] = os.environ
) -> SecretStr | None:
    """The bearer token from `token_file` (first line), else the variable `env`, else None."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"OTLP token file {token_file}: cannot read the token ({reason})") from None
        token = text.splitlines()[0].strip() if text.strip() else ""
        if not token:
            raise ConfigError(f"OTLP token file {token_file}: the first line is empty")
        return SecretStr(token)
    value = environ.get(env, "").strip()
    return SecretStr(value) if value else None


def load_users(users_file: Path | None) -> dict[str, SecretStr]:
    """Basic-auth users: the forward listener's `username:password` file format."""
    return forward_auth.load_users(users_file, listener="OTLP")


class Authenticator:
    """Checks one request's `Authorization` value; `required` is False when nothing is configured."""

    def __init__(self, token: SecretStr | None, users: Mapping[str, SecretStr]) -> None:
        self._token = token.get_secret_value().encode() if token is not None else None
        self._users = {name.encode(): secret.get_secret_value().encode() for name, secret in users.items()}
        self.required = self._token is not None or bool(self._users)

    def check(self, header: str | None) -> str | None:
        """None when the request may pass; else the reason it may not (safe to log and to answer)."""
        if not self.required:
            return None
        if not header:
            return "no Authorization header"
        scheme, _, credentials = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token is not None:
            if hmac.compare_digest(credentials.strip().encode(), self._token):
                return None
            return "wrong bearer token"
        if scheme == "basic" and self._users:
            try:
                user, colon, password = base64.b64decode(credentials.strip(), validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return "malformed basic credentials"
            expected = self._users.get(user)
            if not colon or expected is None:
                hmac.compare_digest(password, b"\0" * 16)  # the same work for an unknown user
                return "unknown user or wrong password"
            return None if hmac.compare_digest(password, expected) else "unknown user or wrong password"
        accepted = " or ".join(name for name, on in (("Bearer", self._token), ("Basic", self._users)) if on)
        return f"unsupported authorization scheme (expected {accepted})"

    @property
    def challenge(self) -> str:
        """The `WWW-Authenticate` value of a 401 answer."""
        return 'Basic realm="mlsiem"' if self._users and self._token is None else 'Bearer realm="mlsiem"'
