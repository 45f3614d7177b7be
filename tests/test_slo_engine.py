"""The SLO detector on the real engine: its aggregations give the burn rates the offline arithmetic
gives on the same events, and a latency burn pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from detections.detectors.base import ModelSetup
from detections.detectors.slo import SloDetector, SloTuning
from detections.statistics.burn_rate import BurnTier, evaluate
from detections.statistics.profile import ReferenceProfile
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
MODEL = "slo-model"


@pytest.mark.engine
def test_the_engine_burn_rates_are_the_offline_ones(engine: Engine, namespace: str) -> None:
    rng = np.random.default_rng(8)
    run_setup(engine, SetupConfig(namespace=namespace))
    seconds = rng.uniform(0, 6 * 3600, 6_000)
    slow_share = np.where(seconds >= 5 * 3600 + 1800, 0.3, 0.005)  # 30% slow in the last 30 minutes
    latency_ms = np.where(rng.random(6_000) < slow_share, 250.0, 40.0)
    failed = rng.random(6_000) < 0.0005
    cost = rng.uniform(0.001, 0.01, 6_000)
    lines = []
    for i in range(6_000):
        doc = {
            "@timestamp": (T0 + timedelta(seconds=float(seconds[i]))).isoformat().replace("+00:00", "Z"),
            "event": {
                "kind": "event",
                "dataset": "mlsiem.inference",
                "duration": int(latency_ms[i] * 1e6),
                "outcome": "failure" if failed[i] else "success",
            },
            "mlsiem": {"model": {"name": MODEL}, "llm": {"cost_usd": float(cost[i])}},
        }
        lines.append(orjson.dumps({"create": {"_index": inference_stream(namespace), "_id": f"e{i}"}}))
        lines.append(orjson.dumps(doc))
    assert not engine.bulk(b"\n".join(lines) + b"\n", refresh="wait_for")["errors"]

    tuning = SloTuning.model_validate(
        {"latency": {"objective": 0.99, "threshold_ms": 100}, "availability": {}, "cost": {"max_usd": 0.05}}
    )
    detector = SloDetector(ModelSetup(MODEL, None, [], ReferenceProfile({}, 0), MODEL), tuning)
    window = Window(MODEL, None, T0 + timedelta(hours=5), T0 + timedelta(hours=6))
    response = engine.search(inference_stream(namespace), detector.request(window))
    buckets = response["aggregations"]["t"]["buckets"]
    assert len(buckets) == 72

    index = (seconds // 300).astype(int)
    valid = np.bincount(index, minlength=72)
    slow = np.bincount(index, weights=latency_ms > 100, minlength=72)
    assert [b["latency_valid"]["doc_count"] for b in buckets] == valid.tolist()
    assert [b["latency_bad"]["doc_count"] for b in buckets] == slow.astype(int).tolist()
    assert [b["availability_bad"]["doc_count"] for b in buckets] == np.bincount(
        index, weights=failed, minlength=72
    ).astype(int).tolist()
    tiers = [BurnTier("page", 12, 1, 14.4), BurnTier("ticket", 72, 6, 6.0)]
    offline = evaluate(slow, valid, 0.99, tiers, judged_from=60, min_events=10)

    findings = detector.judge(window, response).findings
    assert [f.rule.id for f in findings] == ["mlsiem-slo-latency"]  # failures and cost within budget
    page = next(b for b in offline if b.tier.name == "page")
    assert findings[0].slo.burn_rate == pytest.approx(page.burn_rate)
    assert findings[0].first_seen == T0 + timedelta(minutes=5 * (page.first + 1))
    assert findings[0].severity in ("high", "critical") and findings[0].tier == "act"
    matched = engine.search(
        inference_stream(namespace),
        {
            "size": 0,
            "track_total_hits": True,
            "query": {"query_string": {"query": findings[0].evidence.query}},
        },
    )
    assert matched["hits"]["total"]["value"] == findings[0].evidence.event_count
