"""The multivariate check: calibration on unchanged data, power for joint drift, both directions,
categorical features, and a verdict that ignores identifier, timestamp and prediction columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import beta

from detections.datafiles import DataFileError
from detections.gate import GateConfig, compare_files, evaluate
from detections.statistics import CategoricalColumn, ReferenceProfile, build_profile, compare
from detections.statistics.multivariate import (
    PcaModel,
    encode,
    excluded_reason,
    multivariate_drift,
    select_features,
)

ALPHA = 0.01
CHANNEL = np.array(["web", "ios", "android", "api", "kiosk"], dtype=object)
SHARES = (0.4, 0.3, 0.2, 0.07, 0.03)


def draw(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, rho: float = 0.8, shares: tuple = SHARES
) -> dict:
    """Two correlated features, a skewed one, an independent one and a categorical one."""
    z = rng.normal(size=(n, 3))
    return {
        "x": z[:, 0] + shift,
        "y": rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1],
        "amount": rng.lognormal(3.0, 0.5, n),
        "w": z[:, 2],
        "channel": CategoricalColumn(CHANNEL, rng.choice(5, size=n, p=shares).astype(np.int32)),
    }


def calls(profile: ReferenceProfile, rng: np.random.Generator, n: int, windows: int, **change) -> int:
    model = profile.multivariate
    assert model is not None
    return sum(
        multivariate_drift(model, encode(model, draw(rng, n, **change)), ALPHA).drifted
        for _ in range(windows)
    )


def upper_bound(k: int, n: int) -> float:
    return float(beta.ppf(0.95, k + 1, n - k))


@pytest.mark.parametrize(("n", "windows"), [(30, 400), (200, 400), (2_000, 200), (50_000, 46)])
def test_unchanged_windows_are_rarely_flagged(n: int, windows: int) -> None:
    rng = np.random.default_rng(n)
    total = 0
    for _ in range(2):  # fresh references: the rate conditional on one reference varies
        total += calls(build_profile(draw(rng, 20_000)), rng, n, windows // 2)
    assert upper_bound(total, windows) <= 1 / 15, total  # the goal, with 95% confidence
    assert total / windows <= 0.02, total  # and near alpha


def test_a_million_rows_of_unchanged_data_and_a_tiny_shift_are_not_called() -> None:
    rng = np.random.default_rng(11)
    profile = build_profile(draw(rng, 100_000))
    assert calls(profile, rng, 1_000_000, 1) == 0
    assert calls(profile, rng, 1_000_000, 1, shift=0.02) == 0  # significant, far below the floor


@pytest.mark.parametrize(
    ("change", "n"),
    [
        ({"shift": 0.3}, 500),  # a marginal moved
        ({"shares": (0.3, 0.4, 0.2, 0.07, 0.03)}, 1_000),  # a category share moved 10 points
        ({"rho": 0.3}, 500),  # correlation weaker, marginals unchanged
        ({"rho": 0.95}, 2_000),  # correlation stronger: the reconstruction error FALLS
    ],
)
def test_joint_drift_is_caught_in_90_percent_of_windows(change: dict, n: int) -> None:
    rng = np.random.default_rng(5)
    profile = build_profile(draw(rng, 20_000))
    caught = calls(profile, rng, n, 40, **change)
    assert caught >= 36, caught


def test_a_fall_of_the_reconstruction_error_is_drift() -> None:
    rng = np.random.default_rng(6)
    profile = build_profile(draw(rng, 20_000))
    report = compare(profile, draw(rng, 5_000, rho=0.99))
    joint = report.multivariate
    assert joint is not None and joint.drifted and joint.score < -0.2
    assert joint.metric == "reconstruction_error" and "down" in joint.reason
    assert joint.tier == "act" and joint.severity in ("medium", "high", "critical")


def test_correlation_change_with_unchanged_marginals_is_multivariate_only() -> None:
    rng = np.random.default_rng(7)
    profile = build_profile(draw(rng, 20_000), keep_samples=True)
    current = draw(rng, 5_000)
    current["y"] = rng.permutation(current["y"])
    report = compare(profile, current)
    assert report.drifted == []
    assert report.multivariate is not None and report.multivariate.drifted and report.multivariate.score > 0.5


def with_unrelated_columns(rng: np.random.Generator, columns: dict) -> dict:
    n = len(columns["x"])
    ids = np.array([f"{i:032x}" for i in rng.permutation(10 * n)[:n]], dtype=object)
    return {
        "id": np.arange(n, dtype=np.float64) + 1_000,
        **columns,
        "user_id": CategoricalColumn(ids, np.arange(n, dtype=np.int32)),
        "timestamp": np.linspace(1.7e9, 1.7e9 + n, n),
        "prediction": rng.random(n),
        "y_pred": CategoricalColumn(
            np.array(["a", "b"], dtype=object), rng.integers(0, 2, n).astype(np.int32)
        ),
    }


@pytest.mark.parametrize("change", [{}, {"shift": 0.3}, {"rho": 0.3}])
def test_the_verdict_ignores_identifier_timestamp_and_prediction_columns(change: dict) -> None:
    rng = np.random.default_rng(8)
    reference, current = draw(rng, 5_000), draw(rng, 1_000, **change)
    plain = compare(build_profile(reference), current).multivariate
    wider = compare(
        build_profile(with_unrelated_columns(rng, reference)), with_unrelated_columns(rng, current)
    ).multivariate
    assert plain is not None and wider is not None
    assert wider.features == plain.features == ["x", "y", "amount", "w", "channel"]
    assert set(wider.excluded) == {"id", "user_id", "timestamp", "prediction", "y_pred"}
    assert (wider.drifted, wider.tier, wider.score, wider.p_value) == (
        plain.drifted,
        plain.tier,
        plain.score,
        plain.p_value,
    )


def test_which_columns_are_identifiers() -> None:
    rng = np.random.default_rng(9)
    n = 500
    assert excluded_reason("row", np.arange(n, dtype=np.float64)) is not None
    assert excluded_reason("counter", rng.permutation(n).astype(np.float64)) == (
        "an integer sequence (every value distinct)"
    )
    assert excluded_reason("income", rng.integers(20_000, 200_000, n).astype(np.float64)) is None
    assert excluded_reason("created_at", rng.random(n)) == "a timestamp by its name"
    assert excluded_reason("customerId", rng.random(n)) == "an identifier by its name"
    assert excluded_reason("prediction.score", rng.random(n)) == "a prediction or label column"
    assert excluded_reason("paid_amount", rng.random(n)) is None
    assert excluded_reason("valid", rng.random(n)) is None
    columns = draw(rng, n)
    assert select_features(columns, exclude=["w"]) == (
        ["x", "y", "amount", "channel"],
        {"w": "excluded by the configuration"},
    )
    assert select_features(columns, features=["x", "w"])[0] == ["x", "w"]
    with pytest.raises(ValueError, match="not among the columns: nope"):
        select_features(columns, features=["x", "nope"])


def test_model_round_trips_and_a_version_1_model_still_loads() -> None:
    rng = np.random.default_rng(10)
    profile = build_profile(draw(rng, 5_000))
    again = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))
    assert again.multivariate is not None and again.multivariate.to_dict() == profile.multivariate.to_dict()
    old = build_profile({k: v for k, v in draw(rng, 5_000).items() if k != "channel"}).multivariate
    assert old is not None
    document = {
        k: v
        for k, v in old.to_dict().items()
        if k not in ("categories", "discarded", "eigenvalues", "excluded", "version")
    }
    legacy = PcaModel.from_dict(document)
    assert legacy.version == 1 and not legacy.has_mean_test
    verdict = multivariate_drift(legacy, encode(legacy, draw(rng, 2_000, rho=0.0)), ALPHA)
    assert verdict.drifted and verdict.metric == "reconstruction_error"
    with pytest.raises(ValueError, match="newer than this release"):
        PcaModel.from_dict({**document, "version": 99})


def _write(path: Path, columns: dict) -> Path:
    names = list(columns)
    rows = zip(
        *(c.categories[c.codes] if isinstance(c, CategoricalColumn) else c for c in columns.values()),
        strict=True,
    )
    path.write_text(",".join(names) + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    return path


def test_the_gate_selects_features_and_fails_on_multivariate_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    reference = _write(tmp_path / "ref.csv", with_unrelated_columns(rng, draw(rng, 3_000)))
    current = draw(rng, 2_000)
    current["y"] = rng.permutation(current["y"])
    drifted = _write(tmp_path / "cur.csv", with_unrelated_columns(rng, current))
    config = GateConfig.model_validate({"fail_on": {"multivariate": True}})
    comparison = compare_files(reference, drifted, config)
    joint = comparison.report.multivariate
    assert joint is not None and joint.features == ["x", "y", "amount", "w", "channel"]
    verdict = evaluate(comparison, config)
    assert not verdict.passed and any("multivariate drift (act" in r for r in verdict.reasons)
    assert comparison.to_dict()["multivariate"]["tier"] == "act"
    narrow = GateConfig.model_validate({"multivariate": {"features": ["amount", "w", "channel"]}})
    assert not compare_files(reference, drifted, narrow).report.multivariate.drifted  # type: ignore[union-attr]
    with pytest.raises(DataFileError, match="multivariate features not among the compared columns: nope"):
        compare_files(reference, drifted, GateConfig.model_validate({"multivariate": {"exclude": ["nope"]}}))
    with pytest.raises(ValueError, match="both in features and exclude: x"):
        GateConfig.model_validate({"multivariate": {"features": ["x", "y"], "exclude": ["x"]}})
