"""Multivariate drift: mlsiem's check against NannyML's PCA data reconstruction drift, same windows.

Two kinds of data, one run:
- NannyML's synthetic datasets shipped in its wheel (car loan, multiclass, car price): the analysis
  set cut into 10 chunks; chunks 0-4 are unchanged, 5-9 drifted (NannyML's own story). Features are
  NannyML's feature columns (no id, timestamp, prediction or label).
- Generated data: a reference of 20,000 rows (five correlated numeric features, a skewed one, two
  categorical ones) and windows of 500, 2,000 and 6,000 rows that are unchanged, have drifted marginals
  (0.3-sigma mean shift of one feature and a 10-point category share move), or changed correlations
  with unchanged marginals (rho 0.8 -> 0.4, or -> 0.95).

mlsiem runs `build_profile` + `compare` (alpha 0.01, the watch tier counts as a call). NannyML runs
`DataReconstructionDriftCalculator` with its defaults (65% variance, thresholds mean +- 3 std of
reference chunks of the window's size). A domain classifier (gradient-boosted trees telling
reference rows from window rows, 5-fold cross-validated AUC against the Mann-Whitney null) runs on
the same windows with `--classifier` (slow: five model fits per window). Needs the `bench` extra. Run by hand:

    .venv/bin/python benchmarks/multivariate_vs_nannyml.py [--windows 20] [--classifier]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import norm

from detections.statistics import CategoricalColumn, build_profile, compare
from detections.statistics.profile import ReferenceProfile

warnings.filterwarnings("ignore")
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # NannyML would phone home; no network at run time
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the classifier's threads thrash on a shared machine
CHANNEL = np.array(["web", "ios", "android", "api", "partner"], dtype=object)
PLAN = np.array(["basic", "plus", "pro"], dtype=object)
NANNYML_SETS = {
    "car loan": ("load_synthetic_car_loan_dataset", ["repaid", "y_pred", "y_pred_proba"]),
    "multiclass": ("load_synthetic_multiclass_classification_dataset", ["y_true", "y_pred"]),
    "car price": ("load_synthetic_car_price_dataset", ["y_true", "y_pred"]),
}


def generate(rng: np.random.Generator, rows: int, scenario: str) -> pd.DataFrame:
    rho = {"correlation weaker": 0.4, "correlation stronger": 0.95}.get(scenario, 0.8)
    shift = 0.3 if scenario == "marginals" else 0.0
    z = rng.normal(size=(rows, 5))
    common = z[:, 0]
    frame = pd.DataFrame(
        {
            "a": common + shift,
            "b": rho * common + np.sqrt(1 - rho**2) * z[:, 1],
            "c": 0.5 * common + np.sqrt(0.75) * z[:, 2],
            "d": z[:, 3],
            "e": rng.lognormal(3.0, 0.5, rows),
        }
    )
    shares = [0.3, 0.3, 0.2, 0.12, 0.08] if scenario != "marginals" else [0.2, 0.4, 0.2, 0.12, 0.08]
    frame["channel"] = CHANNEL[rng.choice(5, rows, p=shares)]
    plan_p = np.where(z[:, 4] > 0.5, 0, np.where(z[:, 4] > -0.5, 1, 2))
    frame["plan"] = PLAN[plan_p]
    return frame


def as_columns(frame: pd.DataFrame, features: list[str]) -> dict:
    out: dict = {}
    for name in features:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[name] = values.to_numpy(dtype=np.float64)
        else:
            codes, labels = pd.factorize(values.astype("string"))
            out[name] = CategoricalColumn(np.asarray(labels, dtype=object), codes.astype(np.int32))
    return out


def mlsiem_calls(profile: ReferenceProfile, features: list[str]) -> Callable[[pd.DataFrame], bool]:
    def judge(window: pd.DataFrame) -> bool:
        report = compare(profile, as_columns(window, features))
        return bool(report.multivariate and report.multivariate.drifted)

    return judge


def nannyml_calls(reference: pd.DataFrame, features: list[str], size: int) -> Callable[[pd.DataFrame], bool]:
    import nannyml as nml

    calculator = nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=size)
    calculator.fit(reference[features])

    def judge(window: pd.DataFrame) -> bool:
        frame = calculator.calculate(window[features]).filter(period="analysis").to_df()
        return bool(frame[("reconstruction_error", "alert")].iloc[0])

    return judge


def classifier_calls(
    reference: pd.DataFrame, features: list[str], alpha: float = 0.01, seed: int = 0
) -> Callable[[pd.DataFrame], bool]:
    """A domain classifier: can trees tell reference rows from window rows? AUC against its null."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    categorical = [f for f in features if not pd.api.types.is_numeric_dtype(reference[f])]

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[features].copy()
        for name in categorical:
            out[name] = pd.Categorical(
                out[name].astype("string"), categories=sorted(reference[name].dropna().unique())
            )
        return out

    def judge(window: pd.DataFrame) -> bool:
        m = min(len(reference), max(len(window), 2_000))
        sample = reference.iloc[rng.choice(len(reference), m, replace=False)]
        data = pd.concat([encode(sample), encode(window)], ignore_index=True)
        target = np.r_[np.zeros(m), np.ones(len(window))]
        model = HistGradientBoostingClassifier(
            max_iter=60, categorical_features="from_dtype", random_state=seed
        )
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        score = cross_val_predict(model, data, target, cv=folds, method="predict_proba")[:, 1]
        n1, n0 = len(window), m
        ranks = pd.Series(score).rank().to_numpy()
        auc = (ranks[target == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
        z = (auc - 0.5) / np.sqrt((n0 + n1 + 1) / (12 * n0 * n1))
        return bool(norm.sf(z) <= alpha)

    return judge


def rate(calls: list[bool]) -> str:
    return f"{sum(calls)}/{len(calls)}"


def nannyml_datasets(rows: list[list[str]], classifier: bool) -> None:
    import nannyml as nml

    for name, (loader, outcomes) in NANNYML_SETS.items():
        reference, analysis, _ = getattr(nml, loader)()
        features = [c for c in reference.columns if c not in {"id", "timestamp", *outcomes}]
        chunks = np.array_split(analysis, 10)
        size = len(chunks[0])
        profile = build_profile(as_columns(reference, features), multivariate_features=features)
        tools = {
            "mlsiem": mlsiem_calls(profile, features),
            "NannyML PCA": nannyml_calls(reference, features, size),
        }
        if classifier:
            tools["domain classifier"] = classifier_calls(reference, features)
        for tool, judge in tools.items():
            calls = [judge(chunk) for chunk in chunks]
            rows.append([f"NannyML {name}", f"{size}", tool, rate(calls[5:]), rate(calls[:5])])
            print(" | ".join(rows[-1]), flush=True)


def generated(
    rows: list[list[str]], windows: int, sizes: tuple[int, ...], classifier: bool, seed: int = 7
) -> None:
    rng = np.random.default_rng(seed)
    reference = generate(rng, 20_000, "unchanged")
    features = list(reference.columns)
    profile = build_profile(as_columns(reference, features))
    scenarios = ("marginals", "correlation weaker", "correlation stronger", "unchanged")
    for size in sizes:
        tools = {
            "mlsiem": mlsiem_calls(profile, features),
            "NannyML PCA": nannyml_calls(reference, features, size),
        }
        if classifier:
            tools["domain classifier"] = classifier_calls(reference, features)
        data = {s: [generate(rng, size, s) for _ in range(windows)] for s in scenarios}
        for tool, judge in tools.items():
            called = {s: [judge(w) for w in data[s]] for s in scenarios}
            drifted = [c for s in scenarios[:3] for c in called[s]]
            detail = ", ".join(f"{s} {rate(called[s])}" for s in scenarios[:3])
            rows.append([f"generated ({detail})", f"{size}", tool, rate(drifted), rate(called["unchanged"])])
            print(" | ".join(rows[-1]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20, help="generated windows per scenario and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2_000, 6_000])
    parser.add_argument("--skip-nannyml-datasets", action="store_true")
    parser.add_argument("--classifier", action="store_true", help="also run the domain classifier (slow)")
    args = parser.parse_args()
    started = time.perf_counter()
    rows: list[list[str]] = []
    if not args.skip_nannyml_datasets:
        nannyml_datasets(rows, args.classifier)
    generated(rows, args.windows, tuple(args.sizes), args.classifier)
    print("| data | window rows | tool | drifted windows caught | unchanged windows flagged |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
