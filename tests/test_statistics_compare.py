"""Reference profiles and `compare`: raw values and engine-style counts give the same verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detections.statistics import (
    CategoricalColumn,
    CategoryCounts,
    DecisionRule,
    NumericCounts,
    ReferenceProfile,
    SeriesBaseline,
    build_profile,
    compare,
)
from detections.statistics.binning import bin_counts
from detections.statistics.decision import null_critical_value, severity


def _columns(rng: np.random.Generator, n: int, shift: float = 0.0, new_category: bool = False) -> dict:
    labels = np.array(["web", "ios", "android", "api"], dtype=object)
    codes = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int32)
    if new_category:
        labels = np.append(labels, "kiosk")
        codes[: n // 4] = 4
    x = rng.normal(shift, 1.0, n)
    return {
        "amount": rng.lognormal(3.0 + shift, 0.5, n),
        "x": x,
        "y": x * 0.9 + rng.normal(0, 0.3, n),
        "channel": CategoricalColumn(labels, codes),
    }


def test_profile_is_json_safe_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    columns = _columns(rng, 5_000)
    columns["amount"][:50] = np.nan
    profile = build_profile(columns, metadata={"model": "fraud", "version": "3"})
    profile.operational["latency_ms"] = SeriesBaseline.from_values("latency_ms", rng.gamma(4, 20, 200))
    text = json.dumps(profile.to_dict(), allow_nan=False)
    again = ReferenceProfile.from_dict(json.loads(text))
    assert again.to_dict() == profile.to_dict()
    amount = again.features["amount"]
    assert amount.missing == 50 and amount.count == 4_950
    assert amount.quantiles["p50"] == pytest.approx(np.nanmedian(columns["amount"]))
    assert sum(amount.bin_counts) == amount.count and len(amount.bin_counts) == len(amount.edges) + 1
    assert again.features["channel"].categories["web"] > again.features["channel"].categories["api"]
    assert again.multivariate is not None and again.multivariate.features == ["amount", "x", "y", "channel"]


def test_from_dict_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unsupported profile version"):
        ReferenceProfile.from_dict({"version": 99, "features": {}, "rows": 0})
    with pytest.raises(ValueError, match="not a reference profile"):
        ReferenceProfile.from_dict({"version": 1})


def test_counts_from_the_engine_give_the_same_verdict_as_raw_values() -> None:
    rng = np.random.default_rng(2)
    reference, current = _columns(rng, 20_000), _columns(rng, 3_000, shift=0.4, new_category=True)
    profile = build_profile(reference, keep_samples=True)
    raw = compare(profile, current)
    counts = {
        name: NumericCounts(
            bin_counts(current[name], np.asarray(profile.features[name].edges)),
            mean=float(current[name].mean()),
        )
        for name in ("amount", "x", "y")
    }
    counts["channel"] = current["channel"].counts()
    binned = compare(ReferenceProfile.from_dict(profile.to_dict()), counts)
    for exact, approximate in zip(raw.features, binned.features, strict=True):
        assert approximate.metrics["psi"] == pytest.approx(exact.metrics["psi"], rel=1e-12)
        assert approximate.drifted == exact.drifted
        if exact.kind == "numeric":
            assert exact.test == "ks" and approximate.test == "ks_binned"
            assert (
                approximate.statistic <= exact.statistic <= approximate.statistic + approximate.ks_error_bound
            )
            assert approximate.metrics["wasserstein"] == pytest.approx(exact.metrics["wasserstein"], rel=0.15)
    assert {f.feature for f in raw.drifted} == {"amount", "x", "y", "channel"}
    assert "kiosk" in next(f.note for f in raw.features if f.feature == "channel")
    assert raw.summary()["drifted"] == 4 and raw.summary()["max_severity"] != "none"


def test_no_drift_gives_no_call_and_the_multivariate_check_stays_quiet() -> None:
    rng = np.random.default_rng(3)
    profile = build_profile(_columns(rng, 20_000), keep_samples=True)
    report = compare(profile, _columns(rng, 5_000))
    assert report.drifted == []
    assert report.multivariate is not None and not report.multivariate.drifted


def test_a_broken_correlation_is_multivariate_drift_only() -> None:
    rng = np.random.default_rng(4)
    profile = build_profile(_columns(rng, 20_000), keep_samples=True)
    current = _columns(rng, 5_000)
    current["y"] = rng.permutation(current["y"])  # same marginals, x and y no longer move together
    report = compare(profile, current)
    assert {f.feature for f in report.drifted} == set()
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.multivariate.score > 0.5


def test_schema_change_and_empty_windows() -> None:
    rng = np.random.default_rng(5)
    profile = build_profile(_columns(rng, 2_000))
    current = _columns(rng, 500)
    current["amount"] = np.array(["a"] * 500, dtype=object)
    current["x"] = np.full(500, np.nan)
    report = compare(profile, current)
    by_name = {f.feature: f for f in report.features}
    assert by_name["amount"].test == "schema" and by_name["amount"].drifted
    assert "numeric in the reference, categorical now" in by_name["amount"].note
    assert not by_name["x"].drifted and by_name["x"].note == "no values in the current window"
    document = json.dumps(report.to_dict(), allow_nan=False)  # NaN scores become null
    assert '"score": null' in document
    with pytest.raises(ValueError, match="not in both"):
        compare(profile, current, features=["nope"])


def test_category_counts_and_columns_agree() -> None:
    rng = np.random.default_rng(6)
    profile = build_profile(_columns(rng, 3_000))
    column = _columns(rng, 800)["channel"]
    as_counts = compare(profile, {"channel": CategoryCounts(column.counts().counts)})
    as_column = compare(profile, {"channel": column})
    assert as_counts.features[0].p_value == pytest.approx(as_column.features[0].p_value)
    as_strings = compare(profile, {"channel": column.categories[column.codes]})
    assert as_strings.features[0].score == pytest.approx(as_column.features[0].score)


def test_thresholds_rise_for_small_windows_and_severity_scales() -> None:
    rule = DecisionRule()
    small = rule.threshold("psi", None, 100_000, 50, dof=9)
    assert small == pytest.approx(null_critical_value("psi", 100_000, 50, 9, 0.01)) and small > 0.3
    assert rule.threshold("psi", None, 100_000, 100_000, dof=9) == 0.1
    custom = DecisionRule(feature_practical={"amount": 0.2})
    assert custom.threshold("psi", "amount", 10**6, 10**6, 9) == 0.2
    assert severity("psi", 0.12, 0.1, "act") == "medium" and severity("psi", 0.3, 0.1, "act") == "medium"
    assert severity("psi", 0.6, 0.1, "act") == "high" and severity("psi", 1.5, 0.1, "act") == "critical"
    assert severity("psi", 0.6, 0.2, "act") == "medium"  # a raised practical threshold scales the steps
    assert severity("psi", 0.05, 0.1, "watch") == "low"
    assert severity("psi", 5.0, 0.1, None) == "none"
    with pytest.raises(ValueError, match="alpha"):
        DecisionRule(alpha=0.0)


def test_gate_config_errors_and_file_type_errors_name_the_input(tmp_path) -> None:
    from detections.datafiles import DataFileError, file_format
    from detections.gate import load_gate_config
    from mlsiem.errors import ConfigError

    broken = tmp_path / "gate.yaml"
    broken.write_text("fail_on: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_gate_config(broken)
    broken.write_text("fail_on: {drifted_features: null, share: null}\n")
    with pytest.raises(ConfigError, match="set at least one of"):
        load_gate_config(broken)
    with pytest.raises(DataFileError, match="unknown file type"):
        file_format(tmp_path / "data.txt")
    assert file_format(tmp_path / "events.ndjson.gz") == "ndjson"
