"""The `mlsiem` command as CI runs it: a subprocess with a wide terminal, output captured."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, columns: int = 160, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlsiem", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": str(columns)},
        timeout=timeout,
    )
