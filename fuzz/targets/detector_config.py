"""Fuzz target: the detector job's YAML configuration (`detections/config.py` `load_config`).

Each input is a whole `detect.yaml`, written to disk and loaded as `mlsiem detect --config FILE` loads
it (also with the command line's overrides). The contract: a ConfigError that names the file and the
problem, or a `DetectConfig` whose window holds at least two buckets and whose delay is within
the windows the job looks back over; a URL password in the file never
appears in the error.

Seeds: the example configuration of docs/detections.md and a few variations of it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from detections.config import load_config
from fuzz.checks import Bug, expect_config_error, scratch_dir

DOCS = Path(__file__).resolve().parents[2] / "docs" / "detections.md"


def _documented_example() -> bytes:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return next((b for b in blocks if "window:" in b), "window: 1h\n").encode()


SEEDS: list[bytes] = [
    _documented_example(),
    b"namespace: prod\nwindow: 30m\nbucket: 1m\nsigma: false\nmodels: []\n",
    b"models:\n  - name: support-bot\n    detectors: [operational]\n    min_window_events: 10\n"
    b"webhooks:\n  - url: http://127.0.0.1:8080/hook\n    insecure: true\n    retries: 0\n    timeout: 0.5\n",
    b"alpha: 0.05\narl0: 370\nmultivariate_sample: 5000\nmax_backfill_windows: 48\nfleet: {lease: 15m}\n",
    b"window: 10m\nbucket: 1m\ndelay: 2m\nmax_backfill_windows: 3\n",
    b"",
]
FILE = scratch_dir("detector-config") / "detect.yaml"


def fuzz_one(data: bytes) -> None:
    FILE.write_bytes(data)
    for overrides in ({}, {"window": "2h", "namespace": "fuzz", "sigma": False}):
        config = expect_config_error(lambda o=overrides: load_config(FILE, **o), FILE, data)
        if config is not None and config.window < config.bucket * 2:
            raise Bug(f"accepted a window ({config.window}) shorter than two buckets ({config.bucket})")
        if config is not None and config.bucket < timedelta(seconds=10):
            raise Bug(f"accepted a bucket of {config.bucket}")
        longest = config.window * config.max_backfill_windows if config is not None else timedelta(0)
        if config is not None and not timedelta(0) <= config.delay <= longest:
            raise Bug(f"accepted a delay of {config.delay} that no window could wait out")
