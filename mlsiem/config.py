"""Connection settings for the search engine, validated as data.

Credentials come from the environment or from files, never from the command line (argv shows in
process listings) and never from the URL. Secrets are `SecretStr`, so a repr or a log line cannot leak them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator, model_validator

from mlsiem.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:9200"
EngineChoice = Literal["auto", "opensearch", "elasticsearch"]


class ConnectionSettings(BaseModel):
    """How to reach one OpenSearch or Elasticsearch cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = DEFAULT_URL
    engine: EngineChoice = "auto"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_tls: bool = True
    timeout: float = 30.0

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parts = urlsplit(url)
        # Credentials first: the other message quotes the URL, and it must never quote a password.
        if "@" in parts.netloc:
            raise ValueError(
                "the URL carries credentials; give them in MLSIEM_USERNAME / MLSIEM_PASSWORD "
                "(or MLSIEM_API_KEY) instead, so they never show in process listings or logs"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = "the URL" if "@" in url else repr(url)  # `user:pass@host` without a scheme is no netloc
            raise ValueError(f"{shown} is not an http:// or https:// URL with a host")
        return url.rstrip("/")

    @field_validator("ca_certs")
    @classmethod
    def _check_ca(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"CA certificate file {str(path)!r} does not exist")
        return path

    @model_validator(mode="after")
    def _check_auth(self) -> ConnectionSettings:
        if self.api_key and (self.username or self.password):
            raise ValueError("give either an API key or a username and password, not both")
        if bool(self.username) != bool(self.password):
            raise ValueError("basic authentication needs both MLSIEM_USERNAME and MLSIEM_PASSWORD")
        return self

    @property
    def safe_url(self) -> str:
        """The URL as it may be printed (it never carries credentials, see `_check_url`)."""
        return self.url


def _secret_from_env(name: str) -> str | None:
    """`NAME` from the environment, or the contents of the file that `NAME_FILE` points to."""
    value = os.environ.get(name)
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        path = Path(file_name)
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name}: cannot read the file ({exc.strerror})") from None
    return None


def load_settings(
    url: str | None = None,
    engine: EngineChoice | None = None,
    insecure: bool = False,
    timeout: float | None = None,
) -> ConnectionSettings:
    """Settings from explicit options, then the MLSIEM_* environment, then the defaults."""
    raw: dict[str, object] = {
        "url": url or os.environ.get("MLSIEM_URL") or DEFAULT_URL,
        "engine": engine or os.environ.get("MLSIEM_ENGINE") or "auto",
        "api_key": _secret_from_env("MLSIEM_API_KEY"),
        "username": os.environ.get("MLSIEM_USERNAME") or None,
        "password": _secret_from_env("MLSIEM_PASSWORD"),
        "ca_certs": os.environ.get("MLSIEM_CA_CERTS") or None,
        "verify_tls": not insecure,
    }
    if timeout is not None:
        raw["timeout"] = timeout
    try:
        return ConnectionSettings(**raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"engine connection settings are not usable: {problems}") from None
