"""False drift calls under no drift, by current-window size: mlsiem against Evidently's defaults.

Every window is drawn from the same distributions as the reference (nothing changed), and both tools
judge the same windows. A "false call" is one feature of one window called drifted. Evidently runs
its `DataDriftPreset` with default settings (for a reference above 1,000 rows that is the normed
Wasserstein distance >= 0.1 for numeric columns and the Jensen-Shannon distance >= 0.1 for
categorical ones); mlsiem runs `compare` with its default `DecisionRule`. Prints a Markdown table with
95% Clopper-Pearson intervals. Needs the `bench` extra. Run by hand:

    .venv/bin/python benchmarks/false_drift_rates.py --reference-rows 100000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.stats import beta

from detections.statistics import CategoricalColumn, build_profile, compare

LABELS = np.array(["web", "ios", "android", "api", "partner"], dtype=object)
SHARES = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
COUNTRY = np.array(["us", "de", "fr", "in", "br", "jp", "other"], dtype=object)
COUNTRY_SHARES = np.array([0.3, 0.15, 0.15, 0.15, 0.1, 0.1, 0.05])
DEFAULT_PLAN = {50: 200, 100: 200, 200: 200, 500: 200, 10_000: 40, 1_000_000: 4}


def draw(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    return {
        "latency": rng.lognormal(4.0, 0.6, rows),
        "score": rng.beta(2.0, 5.0, rows),
        "age": rng.normal(41.0, 12.0, rows),
        "tokens": rng.poisson(30.0, rows).astype(np.float64),
        "channel": LABELS[rng.choice(LABELS.size, rows, p=SHARES)],
        "country": COUNTRY[rng.choice(COUNTRY.size, rows, p=COUNTRY_SHARES)],
    }


def as_mlsiem(columns: dict[str, np.ndarray]) -> dict:
    out: dict = {}
    for name, values in columns.items():
        if values.dtype == object:
            labels, codes = np.unique(values, return_inverse=True)
            out[name] = CategoricalColumn(labels, codes.astype(np.int32))
        else:
            out[name] = values
    return out


def interval(calls: int, trials: int) -> str:
    low = beta.ppf(0.025, calls, trials - calls + 1) if calls else 0.0
    high = beta.ppf(0.975, calls + 1, trials - calls) if calls < trials else 1.0
    return f"{calls / trials:.1%} [{low:.1%}, {high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of windows per size")
    parser.add_argument("--sizes", type=int, nargs="*", help="window sizes to run (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(2024)
    reference = draw(rng, args.reference_rows)
    profile = build_profile(as_mlsiem(reference), keep_samples=True)
    definition = DataDefinition(
        numerical_columns=["latency", "score", "age", "tokens"], categorical_columns=["channel", "country"]
    )
    reference_data = Dataset.from_pandas(pd.DataFrame(reference), data_definition=definition)
    features = len(reference)
    print(
        f"reference {args.reference_rows:,} rows, {features} features (4 numeric, 2 categorical), no drift\n"
    )
    print(
        "| window rows | windows | mlsiem false calls / feature-window "
        "| Evidently false calls / feature-window | Evidently windows with any call "
        "| Evidently dataset drift (share >= 0.5) |"
    )
    print("| ---: | ---: | --- | --- | --- | --- |")
    for rows, windows in DEFAULT_PLAN.items():
        if args.sizes and rows not in args.sizes:
            continue
        windows = max(2, round(windows * args.scale))
        ours = theirs = theirs_any = theirs_dataset = 0
        began = time.perf_counter()
        for _ in range(windows):
            window = draw(rng, rows)
            ours += len(compare(profile, as_mlsiem(window)).drifted)
            snapshot = Report([DataDriftPreset()]).run(
                Dataset.from_pandas(pd.DataFrame(window), data_definition=definition), reference_data
            )
            counted = next(
                m["value"]
                for m in snapshot.dict()["metrics"]
                if m["metric_name"].startswith("DriftedColumnsCount")
            )
            theirs += int(counted["count"])
            theirs_any += counted["count"] > 0
            theirs_dataset += counted["share"] >= 0.5
        trials = windows * features
        print(
            f"| {rows:,} | {windows} | {interval(ours, trials)} | {interval(theirs, trials)} "
            f"| {interval(theirs_any, windows)} | {interval(theirs_dataset, windows)} |",
            flush=True,
        )
        print(f"<!-- {rows} rows took {time.perf_counter() - began:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
