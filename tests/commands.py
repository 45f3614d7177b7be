"""The `mlsiem` command as CI runs it: a subprocess with a wide terminal, output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(
    *args: str,
    columns: int = 160,
    timeout: float = 120,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlsiem", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        check=False,
        env={**os.environ, "COLUMNS": str(columns), **(env or {})},
        timeout=timeout,
    )
