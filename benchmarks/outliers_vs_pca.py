"""The isolation-forest outlier check against the PCA multivariate check on the same injected data.

Scenarios per window of 5,000 requests (the detectors' engine responses drawn as the engine draws them,
`tests/anomaly_data.py`): unchanged; a 2% out-of-distribution burst from one client; a 10% burst; the
correlation between income and spend broken in every request (each feature's own distribution kept);
the whole population shifted by half a sigma. Prints the alert rate of each detector per scenario.

    .venv/bin/python benchmarks/outliers_vs_pca.py [--trials 40]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detections.aggregations import field_of
from detections.detectors.base import ModelSetup
from detections.detectors.multivariate import MultivariateDetector
from detections.detectors.outliers import OutliersDetector
from detections.statistics import CategoricalColumn, build_profile
from detections.window import Window
from tests.anomaly_data import engine_response, population, window

WINDOW_START = datetime(2026, 11, 20, tzinfo=UTC)


def _broken_correlation(rng: np.random.Generator, columns: dict) -> dict:
    columns = dict(columns)
    columns["spend"] = rng.permutation(columns["spend"])  # same marginal, no link to income
    return columns


def _shifted(columns: dict) -> dict:
    columns = dict(columns)
    columns["income"] = columns["income"] + 5_000
    columns["spend"] = columns["spend"] + 250
    return columns


def _pca_response(columns: dict, features: list[str], rows: np.ndarray) -> dict:
    hits = []
    for i in rows:
        source: dict = {}
        for name in features:
            values = columns[name]
            value = (
                str(values.categories[values.codes[i]])
                if isinstance(values, CategoricalColumn)
                else float(values[i])
            )
            node = source
            parts = field_of(name).split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        hits.append({"_source": source})
    return {"hits": {"total": {"value": len(columns["income"])}, "hits": hits}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    profile = build_profile(population(rng, 10_000), isolation=True)
    setup = ModelSetup("m", None, list(profile.features), profile, "m:*")
    forest, pca = OutliersDetector(setup), MultivariateDetector(setup)
    window_ = Window("m", None, WINDOW_START, WINDOW_START.replace(hour=1))
    scenarios = {
        "unchanged": (0, None),
        "2% OOD burst, one client": (100, None),
        "10% OOD burst, one client": (500, None),
        "income-spend correlation broken": (0, "corr"),
        "population shifted 0.5 sigma": (0, "shift"),
    }
    print(f"| scenario ({args.trials} windows of 5,000) | isolation forest | PCA multivariate |")
    print("| --- | --- | --- |")
    for name, (injected, change) in scenarios.items():
        hits = {"forest": 0, "pca": 0}
        for _ in range(args.trials):
            columns, ids, ips = window(rng, 5_000, injected)
            if change == "corr":
                columns = _broken_correlation(rng, columns)
            elif change == "shift":
                columns = _shifted(columns)
            data = (columns, ids, ips)
            hits["forest"] += bool(
                forest.judge(window_, engine_response(rng, forest.model, data, 2_000, 100)).findings
            )
            sample = rng.permutation(len(ids))[:2_000]
            assert profile.multivariate is not None
            response = _pca_response(columns, profile.multivariate.features, sample)
            hits["pca"] += bool(pca.judge(window_, response).findings)
        print(f"| {name} | {hits['forest'] / args.trials:.0%} | {hits['pca'] / args.trials:.0%} |")


if __name__ == "__main__":
    main()
