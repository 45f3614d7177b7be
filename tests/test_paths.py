"""Where mlsiem reads its data and writes its state: package data, user folders, one version."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mlsiem import __version__
from mlsiem.paths import cache_dir, package_folder, source_checkout, state_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("MLSIEM_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_state_defaults_to_the_users_state_folder(clean_env: Path) -> None:
    assert state_dir() == clean_env / ".local" / "state" / "mlsiem"
    assert cache_dir() == clean_env / ".cache" / "mlsiem"


def test_xdg_folders_are_used_when_absolute(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert state_dir() == tmp_path / "state" / "mlsiem"
    assert cache_dir() == tmp_path / "cache" / "mlsiem"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG spec: relative values are ignored
    assert state_dir() == clean_env / ".local" / "state" / "mlsiem"


def test_mlsiem_home_wins_for_state(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("MLSIEM_HOME", str(tmp_path / "mine"))
    assert state_dir() == tmp_path / "mine"


def test_the_checkout_keeps_its_state_local() -> None:
    """The suite (conftest) and the Makefile keep state in the project's .mlsiem/ (or an explicit
    MLSIEM_HOME), never in the user's state folder."""
    assert os.environ.get("MLSIEM_HOME") and state_dir() == Path(os.environ["MLSIEM_HOME"])
    assert "export MLSIEM_HOME ?= $(CURDIR)/.mlsiem" in (ROOT / "Makefile").read_text()


def test_package_data_is_the_checkouts_folders() -> None:
    """The editable install reads the repository's top-level folders: one source of truth."""
    assert source_checkout() == ROOT
    assert package_folder("sigma_rules") == ROOT / "sigma_rules"
    assert package_folder("dashboards") == ROOT / "dashboards"
    assert package_folder("engine") == ROOT / "engine"
    assert (package_folder("engine") / "pom.xml").is_file()


def test_version_comes_from_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == declared
    out = subprocess.run(
        [sys.executable, "-m", "mlsiem", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"mlsiem {declared}"
