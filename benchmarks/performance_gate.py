"""The cost of the gate's performance check at a million rows: `compare_files` on two 1M-row Parquet
files (8 numeric features, one categorical, a binary label, prediction and score) without and with
`performance:`; medians of 3 runs each, interleaved, and their ratio.

    .venv/bin/python benchmarks/performance_gate.py
"""

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detections.gate import GateConfig, compare_files
from detections.performance_check import PerformanceConfig


def main(folder: Path) -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    for name, acc in (("ref", 0.94), ("cur", 0.93)):
        y = rng.integers(0, 2, n)
        yhat = np.where(rng.random(n) < acc, y, 1 - y)
        cols = {f"x{i}": rng.normal(size=n) for i in range(8)}
        cols.update(
            channel=rng.choice(np.array(["web", "ios", "android"], dtype=object), n),
            y=y,
            yhat=yhat,
            p=rng.random(n),
        )
        pq.write_table(pa.table(cols), folder / f"{name}.parquet")
    plain = GateConfig(exclude=["y", "yhat", "p"])
    labelled = GateConfig(performance=PerformanceConfig(label="y", prediction="yhat", score="p"))
    times = {"plain": [], "labelled": []}
    for _ in range(3):
        for key, config in (("plain", plain), ("labelled", labelled)):
            t = time.perf_counter()
            compare_files(folder / "ref.parquet", folder / "cur.parquet", config)
            times[key].append(time.perf_counter() - t)
    m = {k: statistics.median(v) for k, v in times.items()}
    print(m, "ratio", m["labelled"] / m["plain"])


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        main(Path(directory))
