"""Detection and false-call rates of univariate drift calls: mlsiem against Evidently, alibi-detect and
NannyML, on the same windows, in the same run.

Windows have the character of real drift (issue: moderate mean shifts of 0.2-0.4 sigma, spread changes,
categorical share moves of 5-10 points) at 500 to 6,000 rows, against a 50,000-row reference; and
unchanged windows at 50 to 50,000 rows for false calls. One numeric feature (normal, or lognormal for
the skewed cells) and one categorical feature per window; a call is one feature of one window.

- mlsiem: `compare` with its defaults; "any tier" counts watch and act calls, "act" only act.
- Evidently 0.7 `DataDriftPreset` defaults (reference above 1,000 rows: normed Wasserstein >= 0.1,
  Jensen-Shannon >= 0.1).
- alibi-detect 0.13 `TabularDrift` defaults (KS / chi-square per feature, p 0.05, Bonferroni).
- NannyML 0.13 `UnivariateDriftCalculator` (Jensen-Shannon for both kinds; its default thresholds:
  JS 0.1 constant) on the window as one chunk.

Needs the peers (not in the project's extras; they pin conflicting versions): a separate environment,

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install -e . "evidently==0.7.23" "pandas<3" "alibi-detect==0.13.0" \
        "nannyml==0.13.1"
    /tmp/benchvenv/bin/python benchmarks/drift_detection_rates.py --windows 20
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np

from detections.statistics import CategoricalColumn, build_profile, compare

M = 50_000
CATEGORIES = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
SHARES = np.array([0.30, 0.25, 0.15, 0.12, 0.10, 0.08])


def moved(points: float) -> np.ndarray:
    shares = SHARES.copy()
    shares[0] += points
    shares[1:3] -= points / 2
    return shares


# name -> (numeric draw(rng, n), category shares); which feature is changed
CELLS = {
    "mean +0.2 sigma": (lambda rng, n: rng.normal(0.2, 1, n), SHARES, "x"),
    "mean +0.3 sigma": (lambda rng, n: rng.normal(0.3, 1, n), SHARES, "x"),
    "mean +0.4 sigma": (lambda rng, n: rng.normal(0.4, 1, n), SHARES, "x"),
    "spread x0.8": (lambda rng, n: rng.normal(0, 0.8, n), SHARES, "x"),
    "spread x1.25": (lambda rng, n: rng.normal(0, 1.25, n), SHARES, "x"),
    "category +5 points": (lambda rng, n: rng.normal(0, 1, n), moved(0.05), "c"),
    "category +7 points": (lambda rng, n: rng.normal(0, 1, n), moved(0.07), "c"),
    "category +10 points": (lambda rng, n: rng.normal(0, 1, n), moved(0.10), "c"),
}
DRIFT_SIZES = (500, 1_000, 2_000, 6_000)
NULL_SIZES = (50, 500, 5_000, 50_000)


def frame(x: np.ndarray, codes: np.ndarray):
    import pandas as pd

    return pd.DataFrame({"x": x, "c": CATEGORIES[codes]})


class Mlsiem:
    name = "mlsiem"

    def __init__(self, x: np.ndarray, codes: np.ndarray) -> None:
        self.profile = build_profile(
            {"x": x, "c": CategoricalColumn(CATEGORIES, codes)}, keep_samples=True, multivariate=False
        )

    def calls(self, x: np.ndarray, codes: np.ndarray) -> dict[str, tuple[bool, bool]]:
        report = compare(self.profile, {"x": x, "c": CategoricalColumn(CATEGORIES, codes)})
        return {f.feature: (f.drifted, f.tier == "act") for f in report.features}


class Evidently:
    name = "Evidently"

    def __init__(self, x: np.ndarray, codes: np.ndarray) -> None:
        self.reference = frame(x, codes)

    def calls(self, x: np.ndarray, codes: np.ndarray) -> dict[str, tuple[bool, bool]]:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=["x"], categorical_columns=["c"])
        reference = Dataset.from_pandas(self.reference, data_definition=definition)
        current = Dataset.from_pandas(frame(x, codes), data_definition=definition)
        result = Report([DataDriftPreset()]).run(current, reference).dict()
        found = {}
        for metric in result["metrics"]:
            config = metric.get("config", {})
            column = config.get("column")
            if column in ("x", "c") and "ValueDrift" in str(config.get("type", "")):
                threshold = config.get("threshold")
                value = metric["value"]
                method = str(config.get("method", ""))
                drifted = value < threshold if "p_value" in method.lower() else value >= threshold
                found[column] = (bool(drifted), bool(drifted))
        return found


class Alibi:
    name = "alibi-detect"

    def __init__(self, x: np.ndarray, codes: np.ndarray) -> None:
        from alibi_detect.cd import TabularDrift

        data = np.column_stack((x, codes.astype(float)))
        self.detector = TabularDrift(data, p_val=0.05, categories_per_feature={1: None})

    def calls(self, x: np.ndarray, codes: np.ndarray) -> dict[str, tuple[bool, bool]]:
        prediction = self.detector.predict(np.column_stack((x, codes.astype(float))), drift_type="feature")
        flags = prediction["data"]["is_drift"]
        return {"x": (bool(flags[0]), bool(flags[0])), "c": (bool(flags[1]), bool(flags[1]))}


class NannyML:
    name = "NannyML"

    def __init__(self, x: np.ndarray, codes: np.ndarray) -> None:
        import nannyml as nml

        self.calculator = nml.UnivariateDriftCalculator(
            column_names=["x", "c"],
            treat_as_categorical=["c"],
            continuous_methods=["jensen_shannon"],
            categorical_methods=["jensen_shannon"],
            chunk_number=1,
        )
        self.calculator.fit(frame(x, codes))

    def calls(self, x: np.ndarray, codes: np.ndarray) -> dict[str, tuple[bool, bool]]:
        results = self.calculator.calculate(frame(x, codes)).filter(period="analysis").to_df()
        found = {}
        for column in ("x", "c"):
            alert = bool(results[(column, "jensen_shannon", "alert")].iloc[-1])
            found[column] = (alert, alert)
        return found


def tools(which: list[str], x: np.ndarray, codes: np.ndarray) -> list:
    chosen = []
    for cls in (Mlsiem, Evidently, Alibi, NannyML):
        if cls.name in which:
            chosen.append(cls(x, codes))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", type=int, default=20, help="windows per cell")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tools", nargs="+", default=["mlsiem", "Evidently", "alibi-detect", "NannyML"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rng = np.random.default_rng(args.seed)
    reference_x, reference_codes = rng.normal(0, 1, M), rng.choice(6, M, p=SHARES)
    judges = tools(args.tools, reference_x, reference_codes)
    names = [j.name for j in judges]
    hits = {name: [] for name in [*names, "mlsiem act"]}
    began = time.monotonic()
    print("| change | rows | " + " | ".join(hits) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in hits) + " |")
    for cell, (draw, shares, changed) in CELLS.items():
        for n in DRIFT_SIZES:
            counts = dict.fromkeys(hits, 0)
            for _ in range(args.windows):
                x, codes = draw(rng, n), rng.choice(6, n, p=shares)
                for judge in judges:
                    called, act = judge.calls(x, codes).get(changed, (False, False))
                    counts[judge.name] += called
                    if judge.name == "mlsiem":
                        counts["mlsiem act"] += act
            for name in hits:
                hits[name].append(counts[name] / args.windows)
            row = " | ".join(f"{counts[name] / args.windows:.0%}" for name in hits)
            print(f"| {cell} | {n} | {row} |", flush=True)
    print("| **all changed features** | | " + " | ".join(f"**{np.mean(hits[n]):.0%}**" for n in hits) + " |")
    print()
    print("| unchanged, rows | " + " | ".join(hits) + " |")
    print("| --- | " + " | ".join("---" for _ in hits) + " |")
    for n in NULL_SIZES:
        counts = dict.fromkeys(hits, 0)
        for _ in range(args.windows):
            x, codes = rng.normal(0, 1, n), rng.choice(6, n, p=SHARES)
            for judge in judges:
                verdicts = judge.calls(x, codes)
                counts[judge.name] += sum(called for called, _ in verdicts.values())
                if judge.name == "mlsiem":
                    counts["mlsiem act"] += sum(act for _, act in verdicts.values())
        total = 2 * args.windows
        print(f"| {n} | " + " | ".join(f"{counts[name]}/{total}" for name in hits) + " |", flush=True)
    elapsed = time.monotonic() - began
    print(f"\n{args.windows} windows per cell, seed {args.seed}, {elapsed:.0f} s, pid {os.getpid()}")


if __name__ == "__main__":
    main()
