"""Prediction-output collapse for the three model types: the statistics and the detector's verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from detections.detectors.base import ModelSetup
from detections.detectors.output_collapse import OutputCollapseDetector, outputs_request, token_metadata
from detections.statistics import CategoricalColumn, build_profile, collapse
from detections.statistics.profile import ReferenceProfile
from detections.window import Window

WINDOW = Window("m", None, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 1, tzinfo=UTC))
LABELS = np.array(["approve", "review", "deny"], dtype=object)


def _stats(values: np.ndarray) -> dict:
    if not values.size:
        return {"count": 0, "avg": None, "std_deviation": None}
    return {"count": int(values.size), "avg": float(values.mean()), "std_deviation": float(values.std())}


def _response(labels=(), scores=(), values=(), tokens=()) -> dict:
    """The aggregations `outputs_request` gets back, computed from raw outputs."""
    tokens = np.asarray(tokens, dtype=float)
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    n = max(len(labels), len(scores), len(values), len(tokens))
    return {
        "hits": {"total": {"value": n}},
        "aggregations": {
            "labels": {"buckets": [{"key": k, "doc_count": v} for k, v in counts.items()]},
            "score": _stats(np.asarray(scores, dtype=float)),
            "value": _stats(np.asarray(values, dtype=float)),
            "tokens": _stats(tokens),
            "empty": {"doc_count": int((tokens == 0).sum())},
        },
    }


def _classifier(rng: np.random.Generator) -> OutputCollapseDetector:
    n = 5_000
    profile = build_profile(
        {
            "income": rng.normal(50, 10, n),
            "prediction.label": CategoricalColumn(LABELS, rng.choice(3, n, p=[0.6, 0.3, 0.1])),
            "prediction.score": rng.beta(2, 2, n),
        }
    )
    return OutputCollapseDetector(ModelSetup("m", None, ["income"], profile, "m:*"))


def _llm(rng: np.random.Generator) -> tuple[OutputCollapseDetector, np.ndarray]:
    tokens = rng.poisson(180, 3_000).astype(float)
    tokens[:30] = 0  # 1% empty completions are normal
    metadata = token_metadata(_response(tokens=tokens))
    profile = ReferenceProfile({}, 3_000, metadata)
    return OutputCollapseDetector(ModelSetup("m", None, [], profile, "m:*")), tokens


def test_a_classifier_answering_one_class_is_a_collapse_and_its_usual_mix_is_not() -> None:
    rng = np.random.default_rng(1)
    detector = _classifier(rng)
    normal = rng.choice(LABELS, 800, p=[0.6, 0.3, 0.1])
    assert detector.judge(WINDOW, _response(normal, rng.beta(2, 2, 800))).findings == []
    stuck = np.where(rng.random(800) < 0.97, "approve", normal)
    finding = detector.judge(WINDOW, _response(stuck, rng.beta(2, 2, 800))).findings[0]
    assert finding.rule.id == "mlsiem-anomaly-output-collapse" and finding.severity == "high"
    assert "of 800 predictions are 'approve' (reference 59%)" in finding.reason
    assert finding.anomaly.method == "output_collapse:one_class"


def test_a_constant_score_is_a_collapse() -> None:
    rng = np.random.default_rng(2)
    detector = _classifier(rng)
    labels = rng.choice(LABELS, 500, p=[0.6, 0.3, 0.1])
    finding = detector.judge(WINDOW, _response(labels, np.full(500, 0.73))).findings[0]
    assert (
        "the prediction score is stuck at 0.73" in finding.reason
        and "0.0% of the reference's" in finding.reason
    )


def test_a_regression_stuck_at_a_constant_is_a_collapse() -> None:
    rng = np.random.default_rng(3)
    profile = build_profile({"x": rng.normal(size=2_000), "prediction.value": rng.normal(300, 40, 2_000)})
    detector = OutputCollapseDetector(ModelSetup("m", None, ["x"], profile, "m:*"))
    assert detector.judge(WINDOW, _response(values=rng.normal(300, 40, 400))).findings == []
    assert detector.judge(WINDOW, _response(values=rng.normal(300, 35, 400))).findings == []
    stuck = 300 + rng.normal(0, 0.5, 400)
    finding = detector.judge(WINDOW, _response(values=stuck)).findings[0]
    assert "the prediction value is stuck at 300" in finding.reason


def test_llm_output_tokens_collapsing_to_zero_or_exploding() -> None:
    rng = np.random.default_rng(4)
    detector, tokens = _llm(rng)
    assert detector.judge(WINDOW, _response(tokens=rng.choice(tokens, 600))).findings == []
    empty = rng.choice(tokens, 600)
    empty[:240] = 0
    finding = detector.judge(WINDOW, _response(tokens=empty)).findings[0]
    assert "completions have 0 output tokens (reference 1.0%)" in finding.reason
    assert finding.evidence.query.endswith("AND gen_ai.usage.output_tokens:0")
    runaway = rng.choice(tokens, 600) * 4
    finding = detector.judge(WINDOW, _response(tokens=runaway)).findings[0]
    assert "output tokens per completion rose 4.0x" in finding.reason and finding.severity == "medium"


def test_the_checks_hold_their_false_alarm_rate_on_unchanged_windows() -> None:
    rng = np.random.default_rng(5)
    classifier, (llm, tokens) = _classifier(rng), _llm(rng)
    alerts = 0
    for _ in range(200):
        labels = rng.choice(LABELS, 300, p=[0.6, 0.3, 0.1])
        alerts += bool(classifier.judge(WINDOW, _response(labels, rng.beta(2, 2, 300))).findings)
        alerts += bool(llm.judge(WINDOW, _response(tokens=rng.choice(tokens, 300))).findings)
    assert alerts <= 2


def test_statistics_edges() -> None:
    assert collapse.one_class({}, {"a": 1}, 0.01) is None
    assert collapse.one_class({"a": 99, "b": 1}, {"a": 95, "b": 5}, 0.01) is None  # was already 95% one class
    assert collapse.constant_output("value", 1, 0.0, 1.0, 0.01) is None
    assert collapse.constant_output("value", 100, 0.0, 0.0, 0.01) is None  # the reference was constant too
    without_reference = collapse.empty_output(100, 60, 0.0, 0, 0.01)
    assert without_reference is not None and without_reference.p_value < 1e-6
    assert collapse.output_explosion(100, 900.0, 0.0, 1.0, 100, 0.01) is None


def test_the_request_is_aggregations_only() -> None:
    body = outputs_request(WINDOW)
    assert body["size"] == 0 and set(body["aggs"]) == {"labels", "score", "value", "tokens", "empty"}
    with pytest.raises(ValueError):
        OutputCollapseDetector.Tuning(class_share=0.4)
