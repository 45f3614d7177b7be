"""Detection and false-call rates of the data-quality checks, per feature-window, by simulation.

Every window draws a fresh reference and a fresh current window of the same size and runs the
production decision (`statistics.quality.judge`, default floors, alpha 0.01) on the counts the check
sees. Unchanged data gives the false-call rate; broken data (a missing-value spike, corrupt values
beyond the range, a new category, a stuck feature) the detection rate.

    .venv/bin/python benchmarks/data_quality_rates.py --windows 1000
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from detections.statistics.profile import FeatureProfile, build_profile
from detections.statistics.quality import WindowCounts, judge, window_counts

Case = Callable[[np.random.Generator, int], tuple[dict[str, FeatureProfile], dict[str, WindowCounts]]]


def missing(before: float, after: float) -> Case:
    def case(rng: np.random.Generator, size: int) -> tuple[dict, dict]:
        ref, cur = int(rng.binomial(size, before)), int(rng.binomial(size, after))
        return {"x": FeatureProfile("x", "numeric", size - ref, ref)}, {
            "x": WindowCounts("numeric", size - cur, cur)
        }

    return case


def corrupt(share: float) -> Case:
    def case(rng: np.random.Generator, size: int) -> tuple[dict, dict]:
        profile = build_profile({"x": rng.normal(0, 1, size)}, multivariate=False)
        current = rng.normal(0, 1, size)
        bad = rng.random(size) < share
        current[bad] = rng.uniform(6, 9, int(bad.sum()))
        return profile.features, {"x": window_counts(profile.features["x"], current)}

    return case


def categories(new_share: float, stuck: bool = False) -> Case:
    labels, shares = np.array(["a", "b", "c", "d"], dtype=object), [0.4, 0.3, 0.2, 0.1]

    def case(rng: np.random.Generator, size: int) -> tuple[dict, dict]:
        profile = build_profile({"c": rng.choice(labels, size, p=shares)}, multivariate=False)
        current = rng.choice(labels, size, p=shares)
        current[rng.random(size) < new_share] = "new"
        if stuck:
            current[:] = "a"
        return profile.features, {"c": window_counts(profile.features["c"], current)}

    return case


CASES: dict[str, tuple[str, Case]] = {
    "missing 5% -> 5%": ("missing", missing(0.05, 0.05)),
    "missing 0% -> 30%": ("missing", missing(0.0, 0.3)),
    "missing 5% -> 35%": ("missing", missing(0.05, 0.35)),
    "missing 0% -> 40%": ("missing", missing(0.0, 0.4)),
    "range unchanged": ("out_of_range", corrupt(0.0)),
    "range 10% corrupt": ("out_of_range", corrupt(0.10)),
    "categories unchanged": ("new_category", categories(0.0)),
    "new category 10%": ("new_category", categories(0.10)),
    "categories unchanged (stuck?)": ("constant", categories(0.0)),
    "stuck at 'a' (40% before)": ("constant", categories(0.0, stuck=True)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 200, 1000, 5000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| case | check | " + " | ".join(f"{s} rows" for s in args.sizes) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in args.sizes) + " |")
    for name, (check, case) in CASES.items():
        rates = []
        for size in args.sizes:
            calls = 0
            for _ in range(args.windows):
                profiles, windows = case(rng, size)
                calls += any(r.failed and r.check == check for r in judge(profiles, windows))
            rates.append(f"{calls / args.windows:.1%}")
        print(f"| {name} | {check} | " + " | ".join(rates) + " |")


if __name__ == "__main__":
    main()
