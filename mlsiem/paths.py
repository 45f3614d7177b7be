"""Where mlsiem's files are: its data inside the installed packages, its state and caches in user folders.

Data (the Sigma pack, the dashboards, the local engine's Maven project) ships as package data and is
found through `importlib.resources`, so a wheel install and the editable install of a checkout read it
the same way; in a checkout the packages `sigma_rules`, `dashboards` and `engine` are the repository's
top-level folders, the one source of truth. Nothing is ever written under the install tree: state goes
to `$MLSIEM_HOME`, else `$XDG_STATE_HOME/mlsiem`, else `~/.local/state/mlsiem`; caches (the engine's
compiled launcher and classpath) to `$XDG_CACHE_HOME/mlsiem`, else `~/.cache/mlsiem`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from mlsiem.errors import MlsiemError

APP_NAME = "mlsiem"


def package_folder(package: str) -> Path:
    """The folder of an installed package whose files are data (`sigma_rules`, `engine`, `dashboards`).

    Readers glob and walk these folders, so they must be real directories: a zipped install is refused.
    """
    folder = resources.files(package)
    if not isinstance(folder, Path) or not folder.is_dir():
        raise MlsiemError(f"package {package!r} is not installed as plain files ({folder}); reinstall mlsiem")
    return folder


def source_checkout() -> Path | None:
    """The repository root when mlsiem runs from a source checkout (editable install), else None.

    Only files that exist in a checkout alone (the docs) are looked up this way.
    """
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "sigma_rules").is_dir() else None


def _xdg(variable: str, fallback: str) -> Path:
    """An XDG base directory: the variable when it holds an absolute path (the spec ignores relative ones)."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


def state_dir() -> Path:
    """Local state (engine data, logs, pid files, shipper registry, spool, dead letters)."""
    home = os.environ.get("MLSIEM_HOME")
    return Path(home) if home else _xdg("XDG_STATE_HOME", ".local/state") / APP_NAME


def cache_dir() -> Path:
    """Rebuildable files (the local engine's compiled launcher and resolved classpath)."""
    return _xdg("XDG_CACHE_HOME", ".cache") / APP_NAME
