"""The detector registry: names, rules, tunings and the docs table derive from one place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from detections.config import DetectConfig, ModelConfig, load_config, model_tuning
from detections.detectors import DETECTOR_NAMES, DETECTORS, ModelSetup, all_rules, docs_table
from detections.detectors.operational import OperationalDetector
from detections.statistics.profile import SeriesBaseline, build_profile
from detections.window import Window
from mlsiem.errors import ConfigError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "detections.md"


def test_docs_table_is_the_registrys() -> None:
    assert docs_table() in DOCS.read_text(encoding="utf-8")


def test_rule_ids_are_unique_and_every_detector_has_a_rule() -> None:
    ids = [rule.id for rule in all_rules()]
    assert len(ids) == len(set(ids))
    assert all(cls.rules for cls in DETECTORS.values())


def test_config_detector_names_come_from_the_registry() -> None:
    assert ModelConfig(name="m").detectors == list(DETECTOR_NAMES)
    with pytest.raises(ValueError, match="feature_drift"):
        ModelConfig(name="m", detectors=["no_such_detector"])


def test_model_tuning_merges_into_the_job_wide_tuning() -> None:
    config = DetectConfig.model_validate(
        {
            "tuning": {"operational": {"min_failures": 3, "practical": {"latency_p95": 3.0}}},
            "models": [{"name": "m", "tuning": {"operational": {"practical": {"error_rate": 0.2}}}}],
        }
    )
    merged = model_tuning(config, config.models[0], "operational")
    assert merged.min_failures == 3
    assert merged.practical["latency_p95"] == 3.0 and merged.practical["error_rate"] == 0.2
    assert merged.practical["request_rate"] == 2.0  # untouched default
    other = model_tuning(config, ModelConfig(name="n"), "operational")
    assert other.practical["error_rate"] == 0.05


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tuning:\n  operational:\n    surprise: 1\n", "tuning.operational.surprise"),
        ("tuning:\n  no_such_detector: {}\n", "tuning.no_such_detector"),
        ("tuning:\n  feature_drift:\n    practical: {psi: -1}\n", "must be > 0"),
        ("models:\n  - name: m\n    tuning: {nope: {}}\n", "unknown detector 'nope'"),
        ("models:\n  - name: m\n    tuning: {performance: {min_labelled: 0}}\n", "min_labelled"),
    ],
)
def test_bad_tuning_names_the_file_and_the_knob(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def _series_response(latency_ms: list[float], start: datetime) -> dict:
    buckets = []
    for i, latency in enumerate(latency_ms):
        buckets.append(
            {
                "key": int(start.timestamp() * 1000) + i * 300_000,
                "doc_count": 100,
                "latency": {"values": {"95.0": latency * 1e6}},
                "errors": {"doc_count": 0},
                "tokens_in": {"value": 0.0},
                "tokens_out": {"value": 0.0},
            }
        )
    return {"hits": {"total": {"value": 100 * len(buckets)}}, "aggregations": {"t": {"buckets": buckets}}}


def test_tuning_changes_the_judgement_without_an_engine() -> None:
    """The judgement is pure: a response in, findings out; the practical ratio comes from the tuning."""
    profile = build_profile({"x": np.arange(100.0)}, multivariate=False)
    profile.operational["latency_p95"] = SeriesBaseline("latency_p95", 40.0, 2.0, 100)
    profile.metadata["bucket_seconds"] = "300"
    setup = ModelSetup("m", None, ["x"], profile, "m:*")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    window = Window("m", None, start, start.replace(hour=1))
    response = _series_response([40.0] * 6 + [70.0] * 6, start)  # 1.75x the baseline
    default = OperationalDetector(setup).judge(window, response)
    assert [f.rule.id for f in default.findings] == ["mlsiem-ops-latency"]
    strict = OperationalDetector(setup, OperationalDetector.Tuning(practical={"latency_p95": 2.0}))
    assert strict.judge(window, response).findings == []
