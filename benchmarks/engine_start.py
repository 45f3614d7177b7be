"""How long the local engine takes to start, and how much memory it holds.

Runs several cold starts (fresh data folder each time, jars already cached), each followed by
`mlsiem setup`, and prints the median start time and resident memory. Run by hand:

    .venv/bin/python benchmarks/engine_start.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.installer import run_setup
from mlsiem.local_engine import LocalEngine, free_port, resolve_classpath


def one_run(heap: str) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as root:
        engine = LocalEngine(port=free_port(), heap=heap, root=Path(root))
        began = time.monotonic()
        status = engine.start()
        started = time.monotonic() - began
        try:
            run_setup(Engine.connect(ConnectionSettings(url=engine.url)))
            setup_done = time.monotonic() - began
            rss = sum(n.rss_mb or 0 for n in engine.status().nodes)
        finally:
            engine.stop()
        assert status.running
        return started, setup_done, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args()
    resolve_classpath()
    results = [one_run(args.heap) for _ in range(args.runs)]
    for i, (start, setup, rss) in enumerate(results, 1):
        print(f"run {i}: ready in {start:.2f} s, set up in {setup:.2f} s, {rss:.0f} MB resident")
    print(
        f"median over {args.runs} runs (heap {args.heap}): "
        f"ready {statistics.median(r[0] for r in results):.2f} s, "
        f"set up {statistics.median(r[1] for r in results):.2f} s, "
        f"{statistics.median(r[2] for r in results):.0f} MB resident"
    )


if __name__ == "__main__":
    main()
