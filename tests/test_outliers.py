"""The isolation-forest outlier check: storage, calibration, power, evidence and the offline report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from detections.detectors.base import ModelSetup
from detections.detectors.outliers import OutliersDetector, OutliersTuning
from detections.statistics import build_profile
from detections.statistics.isolation import (
    ForestModel,
    encode,
    fit_forest,
    outlier_scores,
    outlier_test,
    score,
)
from detections.statistics.outlier_report import outlier_report
from detections.statistics.profile import ReferenceProfile
from detections.window import Window
from tests.anomaly_data import OOD_CLIENT, engine_response, ood, population, window

WINDOW = Window("credit", None, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 1, tzinfo=UTC))


def _detector(profile: ReferenceProfile) -> OutliersDetector:
    return OutliersDetector(ModelSetup("credit", None, list(profile.features), profile, "credit:*"))


def test_the_stored_forest_scores_as_scikit_learn_and_reloads_identically() -> None:
    rng = np.random.default_rng(1)
    reference = population(rng, 4_000)
    reference["income"][:40] = np.nan  # missing values take the sentinel, in the fit and the scoring
    model = fit_forest(reference)
    matrix = encode(model, reference)
    order = np.random.default_rng(model.seed).permutation(4_000)
    forest = IsolationForest(n_estimators=len(model.trees), max_samples=256, random_state=model.seed)
    forest.fit(matrix[order[:2_000]])
    current = encode(model, {**population(rng, 3_000), **{"age": rng.uniform(-50, 500, 3_000)}})
    assert np.array_equal(score(model, current), -forest.score_samples(current))

    document = json.loads(json.dumps(ReferenceProfile({}, 0, isolation=model).to_dict()))
    reloaded = ReferenceProfile.from_dict(document).isolation
    assert reloaded is not None and reloaded.threshold == model.threshold
    assert np.array_equal(outlier_scores(reloaded, current), outlier_scores(model, current))


def test_a_bad_stored_forest_is_a_clear_error() -> None:
    model = fit_forest(population(np.random.default_rng(2), 600)).to_dict()
    with pytest.raises(ValueError, match="isolation forest version 99"):
        ForestModel.from_dict({**model, "version": 99})
    model["trees"][0]["left"] = model["trees"][0]["left"][:-1]
    with pytest.raises(ValueError, match="isolation tree 0: node arrays of different lengths"):
        ForestModel.from_dict(model)


def test_out_of_range_values_and_unseen_categories_outrank_every_row_inside() -> None:
    rng = np.random.default_rng(3)
    model = fit_forest(population(rng, 2_000))
    current = population(rng, 3)
    current["age"][0] = 1_000.0
    current["income"][1] = np.nan  # the reference never missed it
    current["region"].codes[2] = -1
    scores = outlier_scores(model, encode(model, current))
    assert np.all(scores > 1.0)
    unseen = {**population(rng, 1), "region": np.array(["atlantis"], dtype=object)}
    assert outlier_scores(model, encode(model, unseen))[0] > 1.0


def test_unchanged_windows_alert_in_at_most_one_percent() -> None:
    """300 windows of 5,000 unchanged requests, over 4 references (the threshold's own luck included)."""
    rng = np.random.default_rng(10)
    alerts = trials = 0
    for _ in range(4):
        detector = _detector(build_profile(population(rng, 10_000), isolation=True))
        for _ in range(75):
            data = window(rng, 5_000, 0)
            judgement = detector.judge(WINDOW, engine_response(rng, detector.model, data, 2_000, 100))
            alerts += bool(judgement.findings)
            trials += 1
    assert alerts <= 0.01 * trials, f"{alerts} false alerts in {trials} windows"


def test_a_burst_of_two_percent_is_alerted_with_its_requests_and_client() -> None:
    """100 windows of 5,000 requests, 100 of them out of distribution from one client."""
    rng = np.random.default_rng(11)
    detector = _detector(build_profile(population(rng, 10_000), isolation=True))
    alerted, coverage = 0, []
    for _ in range(100):
        data = window(rng, 5_000, 100)
        injected = {i for i in data[1] if i.startswith("ood-")}
        judgement = detector.judge(WINDOW, engine_response(rng, detector.model, data, 2_000, 100))
        if not judgement.findings:
            continue
        alerted += 1
        finding = judgement.findings[0]
        assert finding.rule.id == "mlsiem-anomaly-outliers" and finding.rule.category == "anomaly"
        ids = finding.evidence.sample_event_ids
        coverage.append(len(injected.intersection(ids)) / len(injected))
        assert finding.evidence.query.startswith(WINDOW.lucene() + " AND event.id:(")
        assert all(f'"{i}"' in finding.evidence.query for i in ids)
        assert f"outlying requests came from {OOD_CLIENT}" in finding.reason
        assert finding.anomaly.top_sources[0].startswith(OOD_CLIENT)
        assert finding.anomaly.outlier_share > finding.anomaly.expected_share
    assert alerted >= 95
    assert np.mean(coverage) >= 0.8, np.mean(coverage)


def test_the_alert_groups_outliers_only_when_one_source_dominates() -> None:
    rng = np.random.default_rng(12)
    detector = _detector(build_profile(population(rng, 5_000), isolation=True))
    columns, ids, _ = window(rng, 5_000, 150)
    spread = [f"192.0.2.{i % 50}" for i in range(len(ids))]
    response = engine_response(rng, detector.model, (columns, ids, spread), 2_000, 100)
    finding = detector.judge(WINDOW, response).findings[0]
    assert "came from" not in finding.reason


def test_a_window_below_the_minimum_is_not_judged() -> None:
    rng = np.random.default_rng(13)
    detector = _detector(build_profile(population(rng, 2_000), isolation=True))
    response = engine_response(rng, detector.model, window(rng, 40, 20), 2_000, 100)
    assert detector.judge(WINDOW, response).findings == []


def test_the_request_is_bounded_and_prefilters_what_the_forest_never_saw() -> None:
    detector = _detector(build_profile(population(np.random.default_rng(14), 2_000), isolation=True))
    body = detector.request(WINDOW)
    assert body["size"] == 2_000 and body["track_total_hits"] is True
    assert body["aggs"]["prefilter"]["aggs"]["rows"]["top_hits"]["size"] == 100
    should = body["aggs"]["prefilter"]["filter"]["bool"]["should"]
    low = detector.model.ranges["income"][0]
    assert {"range": {"mlsiem.features.income": {"lt": low}}} in should
    assert {
        "range": {"mlsiem.prediction.score": {"gt": detector.model.ranges["prediction.score"][1]}}
    } in should
    with pytest.raises(ValueError, match="excess_floors"):
        OutliersTuning(excess_floors=(0.05, 0.01))


def test_the_share_test_is_exact_at_the_threshold() -> None:
    model = fit_forest(population(np.random.default_rng(15), 1_000))
    assert model.calibration_rows == 500 and model.rank == 496
    assert model.expected_share == pytest.approx(5 / 501)
    none_above = outlier_test(model, np.zeros(1_000), 0.01)
    assert none_above.outliers == 0 and none_above.p_value == 1.0 and not none_above.called
    many = outlier_test(model, np.r_[np.full(60, 2.0), np.zeros(940)], 0.01)  # scores are at most 2
    assert many.outliers == 60 and many.p_value < 1e-6 and many.tier == "act"


def test_the_offline_report_lists_the_top_rows() -> None:
    rng = np.random.default_rng(16)
    model = fit_forest(population(rng, 5_000))
    current = population(rng, 3_000)
    bad = ood(rng, 60)
    for name in ("income", "spend", "prediction.score"):
        current[name][:60] = bad[name]
    report = outlier_report(model, current, 0.01)
    assert report.test.called and report.scored_rows == 3_000
    assert {row["row"] for row in report.top_rows} <= set(range(60))
    assert report.to_dict()["top_rows"][0]["anomaly_score"] > 1.0
    assert outlier_report(model, population(rng, 3_000), 0.01).test.called is False


def test_older_profiles_without_a_forest_still_load() -> None:
    profile = build_profile(population(np.random.default_rng(17), 600))
    document = profile.to_dict()
    del document["isolation"]
    assert ReferenceProfile.from_dict(document).isolation is None
    assert not _detector(profile).applies()


def test_the_window_length_does_not_change_the_request() -> None:
    detector = _detector(build_profile(population(np.random.default_rng(18), 600), isolation=True))
    day = Window("credit", None, WINDOW.start, WINDOW.start + timedelta(days=1))
    assert detector.request(day)["size"] == detector.request(WINDOW)["size"]
