"""Data-quality checks: calibration on unchanged data, power on broken data, and the gate's verdicts.

Calibration: at every size from 30 to 1,000,000 rows, the false calls per feature-window stay at most
1%, shown with a one-sided 95% Clopper-Pearson upper bound over seeded simulations. Each check is
measured on its raw test (no practical floor), which is the stronger claim: the floors only remove
calls. Every simulated window gets a freshly drawn reference. Big sizes simulate the counts the check
sees (binomial or multinomial draws, or the exact law of a sample's extremes) instead of raw rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from scipy.stats import beta

from detections.datafiles import DataFileError
from detections.gate import GateConfig, compare_files, evaluate, load_gate_config
from detections.statistics import build_profile
from detections.statistics.profile import FeatureProfile, ReferenceProfile
from detections.statistics.quality import (
    QualityRule,
    WindowCounts,
    beyond_range_p_value,
    constant_p_value,
    fisher_increase,
    judge,
    new_category_p_value,
    range_explained,
    unseen_bound,
    unseen_mass_bound,
    window_counts,
)
from mlsiem.errors import ConfigError
from tests.commands import run

ALPHA = 0.01
SIZES = (30, 200, 1_000, 10_000, 100_000, 1_000_000)
NO_FLOORS = QualityRule(missing_floor=0, range_floor=0, new_category_floor=0)


def upper_bound(calls: int, windows: int, confidence: float = 0.95) -> float:
    return float(beta.ppf(confidence, calls + 1, windows - calls))


def _assert_calibrated(calls: int, windows: int, what: str) -> None:
    bound = upper_bound(calls, windows)
    assert bound <= 0.01, f"{what}: {calls}/{windows} false calls, 95% upper bound {bound:.4f}"


def _assert_level(calls: int, windows: int, what: str) -> None:
    """A raw test of level alpha: its rate may reach alpha (large samples), not beyond the noise."""
    limit = ALPHA + 4 * math.sqrt(ALPHA * (1 - ALPHA) / windows)
    assert calls / windows <= limit, f"{what}: raw test rejects {calls}/{windows}"


# -- calibration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("share", [0.0, 0.05, 0.3])
def test_missing_is_calibrated(size: int, share: float) -> None:
    rng = np.random.default_rng(size + int(share * 100))
    windows = 20_000
    reference = rng.binomial(size, share, windows)
    current = rng.binomial(size, share, windows)
    p = fisher_increase(reference, size, current, size)
    _assert_level(int((p <= ALPHA).sum()), windows, f"missing {share:.0%} at {size}")
    rise = (current - reference) / size
    calls = int(((p <= ALPHA) & (rise >= QualityRule().missing_floor)).sum())  # the check: test and floor
    _assert_calibrated(calls, windows, f"missing {share:.0%} at {size}")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("ratio", [1, 10])
def test_out_of_range_is_calibrated(size: int, ratio: int) -> None:
    """The number of new values beyond a reference's extremes, drawn from its exact law: the reference's
    outside mass is (E1 + E2) / (E1 + E2 + G) (uniform spacings), then a binomial."""
    rng = np.random.default_rng(size * ratio)
    windows = 20_000
    n, m = size, size * ratio if size * ratio <= 1_000_000 else size
    edges = rng.exponential(size=(windows, 2)).sum(axis=1)
    inside = rng.gamma(n - 1, size=windows)
    beyond = rng.binomial(m, edges / (edges + inside))
    p = beyond_range_p_value(n, m, beyond)
    _assert_level(int((p <= ALPHA).sum()), windows, f"out of range at n={n}, m={m}")
    effect = beyond / m - range_explained(n)
    calls = int(((p <= ALPHA) & (effect >= QualityRule().range_floor)).sum())
    _assert_calibrated(calls, windows, f"out of range at n={n}, m={m}")


@pytest.mark.parametrize("size", [30, 200, 2_000])
def test_out_of_range_on_raw_rows_and_ties(size: int) -> None:
    """The whole path on raw rows gives the exact test's p-value; integer data (ties) stays within level."""
    rng = np.random.default_rng(size)
    windows, raw = 400, 0
    for i in range(windows):
        draw = (lambda k: rng.normal(0, 1, k)) if i % 2 else (lambda k: rng.poisson(4, k).astype(float))
        reference, current = draw(size), draw(size)
        profile = build_profile({"x": reference}, multivariate=False)
        counts = {"x": window_counts(profile.features["x"], current)}
        (result,) = [r for r in judge(profile.features, counts, NO_FLOORS) if r.check == "out_of_range"]
        beyond = int(((current < reference.min()) | (current > reference.max())).sum())
        assert result.raw_p_value == beyond_range_p_value(size, size, beyond)
        raw += result.failed
    _assert_level(raw, windows, f"out of range, raw rows at {size}")


CATEGORY_SHARES = {
    "dominant": np.array([0.9, 0.07, 0.03]),
    "two": np.array([0.85, 0.15]),
    "spread": np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05]),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", list(CATEGORY_SHARES))
def test_constant_is_calibrated(size: int, shape: str) -> None:
    rng = np.random.default_rng(size + len(shape))
    shares = CATEGORY_SHARES[shape]
    windows = 1500
    reference = rng.multinomial(size, shares, windows)
    current = rng.multinomial(size, shares, windows)
    calls = 0
    for ref, cur in zip(reference, current, strict=True):
        present = np.flatnonzero(cur)
        if present.size == 1:  # stuck: one class holds the whole window
            calls += constant_p_value(ref.astype(float), size, int(present[0])) <= ALPHA
    _assert_calibrated(calls, windows, f"constant ({shape}) at {size}")


def test_numeric_constant_is_calibrated_on_a_heavy_mode() -> None:
    """A count feature that is 0 in 90% of rows: windows of 30 are often all zero, and that is normal."""
    rng = np.random.default_rng(5)
    windows, calls, stuck = 600, 0, 0
    for _ in range(windows):
        draw = lambda k: np.where(rng.random(k) < 0.9, 0.0, rng.poisson(3, k) + 1.0)  # noqa: E731
        profile = build_profile({"x": draw(200)}, multivariate=False)
        counts = {"x": window_counts(profile.features["x"], draw(30))}
        stuck += counts["x"].minimum == counts["x"].maximum
        calls += any(r.failed for r in judge(profile.features, counts) if r.check == "constant")
    assert stuck > 10  # the case happened
    _assert_calibrated(calls, windows, "numeric constant, 90% zeros at 30 rows")


def _zipf(categories: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, categories + 1) ** exponent
    return weights / weights.sum()


UNSEEN_SHAPES = {
    "zipf": _zipf(800, 1.1),
    "uniform": np.full(800, 1 / 800),
    "few": np.array([0.5, 0.3, 0.15, 0.049, 0.001]),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", list(UNSEEN_SHAPES))
def test_new_category_is_calibrated(size: int, shape: str) -> None:
    rng = np.random.default_rng(size + 7 * len(shape))
    shares = UNSEEN_SHAPES[shape]
    windows = 3000
    reference = rng.multinomial(size, shares, windows)
    current = rng.multinomial(size, shares, windows)
    bound = unseen_bound((reference == 1).sum(axis=1), (reference == 2).sum(axis=1), size)
    new_rows = np.where(reference == 0, current, 0).sum(axis=1)
    calls = int((new_category_p_value(bound, size, new_rows) <= ALPHA).sum())
    _assert_calibrated(calls, windows, f"new categories ({shape}) at {size}")
    # the mapping form gives the same bound
    seen = {str(i): int(c) for i, c in enumerate(reference[0]) if c}
    assert unseen_mass_bound(seen)[1] == pytest.approx(float(bound[0]))


def test_unchanged_null_rates_are_rarely_flagged_with_the_floors() -> None:
    """The goal "5% nulls in both flagged in at most 1% of windows", through `judge` with default floors."""
    rng = np.random.default_rng(11)
    windows, calls = 1000, 0
    for i in range(windows):
        size = (30, 200, 1000, 5000)[i % 4]
        ref, cur = (int(x) for x in rng.binomial(size, 0.05, 2))
        feature = FeatureProfile("x", "numeric", size - ref, ref)
        counts = {"x": WindowCounts("numeric", size - cur, cur)}
        calls += any(r.failed for r in judge({"x": feature}, counts))
    _assert_calibrated(calls, windows, "5% nulls in both")


# -- power --------------------------------------------------------------------------------------------


def _detection_rate(rng: np.random.Generator, size: int, before: float, after: float, windows: int) -> float:
    caught = 0
    for _ in range(windows):
        ref, cur = int(rng.binomial(size, before)), int(rng.binomial(size, after))
        feature = FeatureProfile("x", "numeric", size - ref, ref)
        results = judge({"x": feature}, {"x": WindowCounts("numeric", size - cur, cur)})
        caught += any(r.failed and r.check == "missing" for r in results)
    return caught / windows


@pytest.mark.parametrize("size", [200, 1_000, 5_000, 100_000])
@pytest.mark.parametrize("before", [0.0, 0.05, 0.2])
def test_missing_spikes_of_30_points_are_caught(size: int, before: float) -> None:
    rate = _detection_rate(np.random.default_rng(size), size, before, before + 0.3, 300)
    assert rate >= 0.99, f"{before:.0%} -> {before + 0.3:.0%} at {size}: caught {rate:.1%}"


def test_missing_spike_tiers() -> None:
    feature = FeatureProfile("income", "numeric", 5000, 0)
    (result,) = judge({"income": feature}, {"income": WindowCounts("numeric", 3000, 2000)})
    assert result.failed and result.tier == "act" and result.severity == "medium"
    assert result.reason == "income: 40% missing, was 0%"
    (small,) = judge({"income": feature}, {"income": WindowCounts("numeric", 4600, 400)})
    assert small.failed and small.tier == "watch" and small.severity == "low"
    (tiny,) = judge({"income": feature}, {"income": WindowCounts("numeric", 4900, 100)})
    assert not tiny.failed and tiny.raw_p_value < 1e-12  # certain, but under the 5-point floor


@pytest.mark.parametrize("size", [200, 1_000, 10_000])
def test_values_out_of_range_are_caught(size: int) -> None:
    rng = np.random.default_rng(size)
    caught = 0
    for _ in range(100):
        profile = build_profile({"x": rng.normal(0, 1, size)}, multivariate=False)
        current = rng.normal(0, 1, size)
        current[: size // 10] = rng.uniform(5, 10, size // 10)  # 10% corrupt values, beyond the range
        results = judge(profile.features, {"x": window_counts(profile.features["x"], current)})
        (result,) = [r for r in results if r.check == "out_of_range"]
        caught += result.failed
    assert caught == 100


def test_valid_range_counts_values_outside_it() -> None:
    rng = np.random.default_rng(2)
    ages = rng.integers(18, 90, 2000).astype(float)
    profile = build_profile({"age": ages}, keep_samples=True, multivariate=False)
    current = rng.integers(18, 90, 2000).astype(float)
    current[:100] = -1.0  # 5% impossible ages
    counts = {"age": window_counts(profile.features["age"], current, (0.0, 120.0))}
    results = judge(profile.features, counts, valid_ranges={"age": (0.0, 120.0)}, samples=profile.samples)
    (result,) = [r for r in results if r.check == "out_of_range"]
    assert result.failed and result.reference_value == 0.0 and result.current_value == 0.05
    assert "outside the valid range [0, 120]" in result.reason


def test_a_stuck_feature_is_caught() -> None:
    rng = np.random.default_rng(3)
    profile = build_profile(
        {"income": rng.normal(5e4, 1e4, 2000), "region": rng.choice(["n", "s", "e", "w"], 2000)},
        multivariate=False,
    )
    current = {"income": np.full(30, 42_000.0), "region": np.array(["n"] * 30)}
    windows = {n: window_counts(profile.features[n], v) for n, v in current.items()}
    stuck = {r.feature: r for r in judge(profile.features, windows) if r.check == "constant"}
    assert stuck["income"].failed and stuck["income"].tier == "act"
    assert stuck["region"].failed and stuck["region"].reason == "region: stuck at one value ('n') in 30 rows"


@pytest.mark.parametrize("size", [200, 1_000, 10_000])
def test_new_categories_are_caught(size: int) -> None:
    rng = np.random.default_rng(size)
    shares = np.array([0.5, 0.3, 0.2])
    caught = 0
    for _ in range(100):
        profile = build_profile({"c": rng.choice(["a", "b", "c"], size, p=shares)}, multivariate=False)
        current = rng.choice(["a", "b", "c"], size, p=shares).astype(object)
        current[: size // 10] = "kiosk"
        results = judge(profile.features, {"c": window_counts(profile.features["c"], current)})
        caught += any(r.failed and r.check == "new_category" for r in results)
    assert caught == 100


def test_a_capped_profile_skips_new_categories() -> None:
    profile = build_profile({"c": np.array([f"v{i}" for i in range(50)])}, max_categories=10)
    window = window_counts(profile.features["c"], np.array(["new"] * 20 + ["v1"] * 20))
    assert not [r for r in judge(profile.features, {"c": window}) if r.check == "new_category"]


def test_a_type_change_is_a_schema_result() -> None:
    profile = build_profile({"x": np.arange(100.0)}, multivariate=False)
    window = window_counts(profile.features["x"], np.array(["a", "b"] * 50, dtype=object))
    (result,) = judge(profile.features, {"x": window})
    assert result.check == "schema" and result.failed and result.tier == "act"


def test_old_profiles_still_load() -> None:
    """The checks need nothing beyond what a stored profile always had (count, missing, min/max, bins)."""
    document = build_profile({"x": np.arange(100.0)}, multivariate=False).to_dict()
    profile = ReferenceProfile.from_dict(document)
    window = window_counts(profile.features["x"], np.full(50, math.nan))
    assert judge(profile.features, {"x": window})[0].failed


# -- the gate ------------------------------------------------------------------------------------------


def _files(folder: Path, size: int, before: float, after: float, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)

    def table(null_share: float) -> pa.Table:
        income = rng.normal(50_000, 10_000, size)
        nulls = rng.random(size) < null_share
        return pa.table(
            {
                "income": pa.array(income, mask=nulls),
                "age": rng.normal(40, 10, size).round(),
                "region": rng.choice(["north", "south", "east"], size),
            }
        )

    reference, current = folder / f"ref{size}-{seed}.csv", folder / f"cur{size}-{seed}.csv"
    pa_csv.write_csv(table(before), reference)
    pa_csv.write_csv(table(after), current)
    return reference, current


@pytest.mark.parametrize("size", [200, 5_000])
def test_gate_fails_when_40_percent_of_income_goes_missing(tmp_path: Path, size: int) -> None:
    reference, current = _files(tmp_path, size, 0.0, 0.4, size)
    result = run("gate", "-r", str(reference), "-c", str(current))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "data quality (missing, act): income:" in result.stdout and "missing, was 0%" in result.stdout
    as_json = run("gate", "-r", str(reference), "-c", str(current), "--json")
    assert as_json.returncode == 1
    assert '"check": "missing"' in as_json.stdout


@pytest.mark.parametrize("seed", range(3))
def test_gate_passes_unchanged_5_percent_nulls(tmp_path: Path, seed: int) -> None:
    reference, current = _files(tmp_path, 5_000, 0.05, 0.05, seed)
    result = run("gate", "-r", str(reference), "-c", str(current))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data quality:" in result.stdout and "none failed" in result.stdout


def test_gate_respects_allowed_features_min_severity_and_the_switch(tmp_path: Path) -> None:
    reference, current = _files(tmp_path, 5_000, 0.0, 0.4, 9)
    comparison = compare_files(reference, current)
    assert not evaluate(comparison, GateConfig()).passed
    assert evaluate(comparison, GateConfig(allowed_to_drift=["income"])).passed
    assert evaluate(comparison, GateConfig(fail_on={"data_quality": False})).passed
    assert evaluate(comparison, GateConfig(fail_on={"min_severity": "high"})).passed  # 40 points: medium
    assert not evaluate(comparison, GateConfig(fail_on={"min_severity": "medium"})).passed
    assert not evaluate(comparison, GateConfig(watch=False)).passed  # 40 points is act, not watch


def test_gate_valid_ranges_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "gate.yaml"
    bad.write_text("valid_ranges:\n  age: [120, 18]\n")
    with pytest.raises(ConfigError, match="valid range of 'age'"):
        load_gate_config(bad)
    reference, current = _files(tmp_path, 500, 0.0, 0.0, 3)
    unknown = GateConfig(valid_ranges={"height": (0, 3)})
    with pytest.raises(DataFileError, match="valid_ranges: 'height'"):
        compare_files(reference, current, unknown)
    ok = compare_files(reference, current, GateConfig(valid_ranges={"age": (18, 120)}))
    (age,) = [r for r in ok.quality if r.feature == "age" and r.check == "out_of_range"]
    assert "valid range [18, 120]" in age.reason


def test_detector_tuning_is_validated() -> None:
    from pydantic import ValidationError

    from detections.detectors.data_quality import DataQualityTuning

    with pytest.raises(ValidationError, match="floor"):
        DataQualityTuning(missing_floor=0.3, missing_act=0.2)
    with pytest.raises(ValidationError, match="valid range of 'age'"):
        DataQualityTuning(valid_ranges={"age": (120, 18)})
    assert DataQualityTuning().rule(0.01) == QualityRule()
