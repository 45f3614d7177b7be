"""Offline drift on 1,000,000 reference x 1,000,000 current rows (20 numeric + 5 categorical features):
mlsiem against Evidently's `DataDriftPreset`, same data, same run. mlsiem's side is what `mlsiem gate`
runs (`compare_files` + `evaluate`).

Each measurement runs in a fresh subprocess (so peak memory is that tool's alone, from
`resource.getrusage`), alternating between the two tools; the medians over the runs are printed with
their ratio. Both read the same Parquet files; "compute" is the drift computation on data already in
memory (numpy columns for mlsiem, pandas frames for Evidently), "total" adds reading the files.
Needs the `bench` extra (`pip install -e '.[bench]'`). Run by hand:

    .venv/bin/python benchmarks/drift_vs_evidently.py --rows 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMERIC, CATEGORICAL = 20, 5
LABELS = ["web", "ios", "android", "api", "partner", "batch"]


def write_data(folder: Path, rows: int) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    paths = []
    for name, shift in (("reference", 0.0), ("current", 1.0)):
        columns = {}
        for i in range(NUMERIC):
            moved = shift * 0.3 if i < 3 else 0.0  # three numeric features drift by 0.3 sigma
            columns[f"num_{i:02d}"] = (
                rng.normal(moved, 1.0, rows) if i % 2 else rng.lognormal(moved, 0.5, rows)
            )
        shares = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
        for j in range(CATEGORICAL):
            p = shares if (j or not shift) else np.array([0.2, 0.25, 0.2, 0.15, 0.12, 0.08])
            columns[f"cat_{j}"] = pa.array(
                np.asarray(LABELS, dtype=object)[rng.choice(6, rows, p=p)].tolist()
            )
        path = folder / f"{name}.parquet"
        pq.write_table(pa.table(columns), path)
        paths.append(path)
    return paths[0], paths[1]


def run_mlsiem(reference: Path, current: Path) -> dict:
    """What `mlsiem gate` runs: `compare_files` (read, profile, drift in both tiers, data quality, the
    multivariate check) and `evaluate`; reading alone is timed apart to split read from compute."""
    from detections.datafiles import read_columns
    from detections.gate import GateConfig, compare_files, evaluate

    began = time.perf_counter()
    read_columns(reference, "reference"), read_columns(current, "current")
    loaded = time.perf_counter()
    config = GateConfig()
    comparison = compare_files(reference, current, config)
    evaluate(comparison, config)
    done = time.perf_counter()
    read = loaded - began
    return {
        "read": read,
        "compute": (done - loaded) - read,
        "drifted": sorted(f.feature for f in comparison.report.drifted),
    }


def run_evidently(reference: Path, current: Path) -> dict:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    began = time.perf_counter()
    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    loaded = time.perf_counter()
    definition = DataDefinition(
        numerical_columns=[c for c in ref.columns if c.startswith("num_")],
        categorical_columns=[c for c in ref.columns if c.startswith("cat_")],
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = snapshot.dict()
    done = time.perf_counter()
    count = next(
        m["value"]["count"] for m in result["metrics"] if m["metric_name"].startswith("DriftedColumnsCount")
    )
    return {"read": loaded - began, "compute": done - loaded, "drifted_count": count}


def child(tool: str, reference: Path, current: Path) -> None:
    result = run_mlsiem(reference, current) if tool == "mlsiem" else run_evidently(reference, current)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(tool: str, reference: Path, current: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", tool, str(reference), str(current)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as folder:
        reference, current = write_data(Path(folder), args.rows)
        results: dict[str, list[dict]] = {"mlsiem": [], "evidently": []}
        for run in range(args.runs):
            for tool in ("mlsiem", "evidently"):
                results[tool].append(measure(tool, reference, current))
                print(f"run {run + 1} {tool}: {results[tool][-1]}", flush=True)
    print(
        f"\n{args.rows:,} x {args.rows:,} rows, {NUMERIC} numeric + {CATEGORICAL} categorical, "
        f"{args.runs} runs"
    )
    summary = {}
    for tool, runs in results.items():
        summary[tool] = {
            key: statistics.median(r[key] for r in runs) for key in ("read", "compute", "peak_rss_mb")
        }
        summary[tool]["total"] = statistics.median(r["read"] + r["compute"] for r in runs)
        s = summary[tool]
        print(
            f"{tool:10s} compute {s['compute']:7.2f} s   total {s['total']:7.2f} s   "
            f"peak RSS {s['peak_rss_mb']:7.0f} MB"
        )
    for key in ("compute", "total"):
        print(f"speed-up ({key}): {summary['evidently'][key] / summary['mlsiem'][key]:.1f}x")


if __name__ == "__main__":
    main()
