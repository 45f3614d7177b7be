"""Where the project's files and its local state live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENGINE_PROJECT = PROJECT_ROOT / "engine"


def state_dir() -> Path:
    """Local state (engine data, logs, pid files, registries): `$MLSIEM_HOME` or `.mlsiem/` in the project."""
    return Path(os.environ.get("MLSIEM_HOME") or PROJECT_ROOT / ".mlsiem")
