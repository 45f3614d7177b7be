"""Connection settings: credentials only from the environment or files, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsiem.config import load_settings
from mlsiem.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MLSIEM_URL",
        "MLSIEM_ENGINE",
        "MLSIEM_API_KEY",
        "MLSIEM_API_KEY_FILE",
        "MLSIEM_USERNAME",
        "MLSIEM_PASSWORD",
        "MLSIEM_PASSWORD_FILE",
        "MLSIEM_CA_CERTS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_point_at_the_local_engine_with_tls_verification_on() -> None:
    settings = load_settings()
    assert settings.url == "http://127.0.0.1:9200"
    assert settings.verify_tls and settings.engine == "auto"


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(url="https://admin:hunter2secret@siem.example:9200")
    assert "MLSIEM_USERNAME" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)


def test_password_from_file_and_never_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("MLSIEM_USERNAME", "shipper")
    monkeypatch.setenv("MLSIEM_PASSWORD_FILE", str(secret))
    settings = load_settings(url="https://siem.example:9200")
    assert settings.password is not None and settings.password.get_secret_value() == "s3cr3t-from-file"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.model_dump())


def test_unreadable_secret_file_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSIEM_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"MLSIEM_API_KEY_FILE=.*cannot read"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLSIEM_API_KEY": "k", "MLSIEM_USERNAME": "u", "MLSIEM_PASSWORD": "p"}, "not both"),
        ({"MLSIEM_USERNAME": "u"}, "needs both"),
        ({"MLSIEM_CA_CERTS": "/nonexistent/ca.pem"}, "does not exist"),
        ({"MLSIEM_URL": "ftp://host"}, "not an http"),
        ({"MLSIEM_ENGINE": "solr"}, "engine"),
    ],
)
def test_bad_settings_are_clear(env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()
