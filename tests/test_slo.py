"""Model SLOs: burn-rate arithmetic against hand-computed budgets, the multi-window tiers, the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from detections.config import DetectConfig, ModelConfig, load_config, model_tuning
from detections.detectors.base import ModelSetup
from detections.detectors.slo import SloDetector, SloTuning
from detections.statistics.burn_rate import BurnTier, burn_rate, evaluate
from detections.statistics.profile import ReferenceProfile
from mlsiem.errors import ConfigError

PAGE, TICKET = BurnTier("page", 12, 1, 14.4), BurnTier("ticket", 72, 6, 6.0)  # 5-minute buckets
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_burn_rates_against_hand_computed_budgets() -> None:
    # 99% under 100 ms: the budget is 1%. 1,200 requests in an hour, 180 slow: 15% bad = 15x the budget.
    assert burn_rate(180, 1_200, 0.99) == pytest.approx(15.0)
    # 99.9% available: budget 0.1%. 30 failures in 10,000 requests = 0.3% = 3x.
    assert burn_rate(30, 10_000, 0.999) == pytest.approx(3.0)
    # 14.4x over an hour spends 14.4 / 720 = 2% of a 30-day budget (the workbook's page condition).
    assert pytest.approx(0.02) == 14.4 * 1 / (30 * 24)
    assert burn_rate(5, 0, 0.99) == 0.0
    with pytest.raises(ValueError, match="objective"):
        evaluate([0], [1], 1.0, [PAGE])


def test_a_burn_at_exactly_the_page_rate_fires_within_one_short_window() -> None:
    """100 requests per 5 minutes; from bucket 24 on, 14.4 of every 1,000 bad at a 0.1% budget (14.4x)."""
    valid = np.full(96, 1_000)
    bad = np.where(np.arange(96) >= 24, 144, 0)  # 14.4% bad against a 1% budget: exactly 14.4x
    fired = {b.tier.name: b for b in evaluate(bad, valid, 0.99, [PAGE, TICKET], judged_from=24)}
    # The hour reaches 14.4x when it holds 12 burning buckets: bucket 35, whose end is 60 min after the start.
    assert fired["page"].first == 35 and fired["page"].burn_rate == pytest.approx(14.4)
    # It keeps firing while the burn lasts. The 6h ticket (6x) sees the i + 1 buckets so far (no data
    # before bucket 0): 14.4 * (i - 23) / (i + 1) >= 6 first at i = 41.
    assert fired["page"].last == 95 and fired["ticket"].first == 41


def test_a_burn_stops_alerting_within_the_short_window() -> None:
    valid = np.full(48, 1_000)
    bad = np.where((np.arange(48) >= 0) & (np.arange(48) < 30), 500, 0)  # 50x until bucket 30
    page = evaluate(bad, valid, 0.99, [PAGE])[0]
    assert page.first == 0  # 500 of 1,000 bad in the first bucket: 50x over both windows
    assert page.last == 29  # the 5-minute window is clean at bucket 30: no more firing


def test_a_steady_1x_burn_never_fires() -> None:
    rng = np.random.default_rng(1)
    valid = rng.poisson(500, 288 * 7)  # a week of 5-minute buckets
    bad = rng.binomial(valid, 0.01)  # exactly the budget on average
    assert evaluate(bad, valid, 0.99, [PAGE, TICKET], min_events=10) == []


def test_the_short_window_needs_enough_requests() -> None:
    valid, bad = np.full(24, 3), np.full(24, 3)  # 3 requests per bucket, all bad
    assert evaluate(bad, valid, 0.99, [PAGE], min_events=10) == []
    assert evaluate(bad, valid, 0.99, [PAGE], min_events=1) != []


def _response(start: datetime, valid: list[int], bad: list[int]) -> dict:
    buckets = [
        {
            "key": (start + timedelta(minutes=5 * i)).timestamp() * 1000,
            "doc_count": v,
            "latency_valid": {"doc_count": v},
            "latency_bad": {"doc_count": b},
        }
        for i, (v, b) in enumerate(zip(valid, bad, strict=True))
    ]
    return {"hits": {"total": {"value": sum(valid)}}, "aggregations": {"t": {"buckets": buckets}}}


def _detector(**tuning: object) -> SloDetector:
    setup = ModelSetup("scorer", None, [], ReferenceProfile({}, 0), "scorer:*")
    return SloDetector(setup, SloTuning.model_validate({"latency": {}, **tuning}))


def test_the_detector_pages_with_severity_from_the_tier() -> None:
    from detections.window import Window

    detector = _detector()
    window = Window("scorer", None, T0 + timedelta(hours=5), T0 + timedelta(hours=6))
    body = detector.request(window)
    assert body["query"]["bool"]["filter"][1]["range"]["@timestamp"]["gte"] == "2026-11-20T00:00:00.000Z"
    assert body["aggs"]["t"]["date_histogram"]["fixed_interval"] == "300s"
    assert body["aggs"]["t"]["aggs"]["latency_bad"] == {"filter": {"range": {"event.duration": {"gt": 1e8}}}}
    valid = [100] * 72
    bad = [1] * 60 + [30] * 12  # the last hour: 30% slow against a 1% budget (30x)
    finding = detector.judge(window, _response(T0, valid, bad)).findings[0]
    assert finding.rule.id == "mlsiem-slo-latency" and finding.rule.category == "slo"
    assert finding.severity == "critical" and finding.tier == "act"  # 30x >= 2 x 14.4
    assert finding.slo.window == "1h/5m" and finding.slo.burn_rate == pytest.approx(30.0)
    # k buckets into the burn the hour holds 30k + (12 - k) slow of 1,200: >= 14.4x from k = 6 (the
    # workbook's detection time, 1h x 14.4 / 30 = 29 min, rounded up to the 5-minute evaluation).
    assert finding.first_seen == T0 + timedelta(hours=5, minutes=30)
    assert "burns its error budget 30.0x too fast over 1h (360 of 1200 requests bad" in finding.reason
    assert finding.evidence.query.endswith("AND event.duration:>100000000")

    slow = [1] * 36 + [8] * 36  # 8x for the last 3h: the 6h window averages 4.5x, under the ticket's 6x
    assert detector.judge(window, _response(T0, valid, slow)).findings == []
    slower = [8] * 72  # 8x for 6h: a ticket
    ticket = detector.judge(window, _response(T0, valid, slower)).findings[0]
    assert ticket.severity == "medium" and ticket.tier == "watch" and ticket.slo.window == "6h/30m"


def test_slo_config_is_validated_and_merges_per_model(tmp_path) -> None:
    assert not SloDetector(ModelSetup("m", None, [], ReferenceProfile({}, 0), "m:*")).applies()
    path = tmp_path / "detect.yaml"
    path.write_text(
        "tuning:\n  slo: {availability: {objective: 0.999}}\n"
        "models:\n  - name: llm\n    tuning: {slo: {cost: {max_usd: 0.02}, latency: {threshold_ms: 2000}}}\n"
    )
    config = load_config(path)
    tuning = model_tuning(config, config.models[0], "slo")
    assert tuning.availability.objective == 0.999 and tuning.cost.max_usd == 0.02
    assert tuning.latency.threshold_ms == 2000 and tuning.latency.objective == 0.99  # the default
    for bad, message in (
        ("{latency: {objective: 1.5}}", "objective"),
        ("{latency: {threshold_ms: 100, p99: 1}}", "p99"),
        ("{tiers: [{name: page, long: 1h, short: 7m, factor: 14.4}]}", "not a whole number of 7m"),
        ("{tiers: [{name: page, long: 5m, short: 1h, factor: 14.4}]}", "must be shorter"),
        ("{tiers: [{name: page, long: 1h, short: 5m, factor: 0.5}]}", "factor"),
        ("{durability: {}}", "durability"),
    ):
        path.write_text(f"tuning:\n  slo: {bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_config(path)
    with pytest.raises(Exception, match="threshold_ms"):
        ModelConfig(name="m", tuning={"slo": {"latency": {"threshold_ms": -1}}})
    assert DetectConfig().tuning.slo.latency is None
