"""The data-quality detector on the real engine: its aggregations give the offline verdicts, and it alerts.

Events are shipped through the normalizer like any telemetry; the same rows, as columns, go through
the offline path (`window_counts` on raw values). Both must produce the same results, check by check.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from detections import baselines
from detections.config import DetectConfig, ModelConfig
from detections.detectors.base import ModelSetup
from detections.detectors.data_quality import DataQualityDetector, DataQualityTuning
from detections.job import DetectorJob
from detections.statistics import build_profile
from detections.statistics.columns import CategoricalColumn
from detections.statistics.quality import judge, window_counts
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.indices import alerts_alias, inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin

T0 = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
MODEL = "loan-scorer"
ROWS = 600


def _rows(rng: np.random.Generator, broken: bool) -> list[dict[str, Any]]:
    """Clean rows, or rows with every kind of data-quality failure (and one clean feature)."""
    rows = []
    for i in range(ROWS):
        income: float | None = round(float(rng.normal(50_000, 10_000)), 2)
        age = round(float(rng.normal(40, 8)), 1)
        region = str(rng.choice(["north", "south", "east", "west"]))
        channel = str(rng.choice(["web", "ios", "android"], p=[0.5, 0.3, 0.2]))
        score = round(float(rng.beta(2, 5)), 4)
        if broken:
            income = None if i % 5 < 2 else income  # 40% missing
            age = 150.0 + i if i % 10 == 0 else age  # 10% beyond the reference's maximum
            region = "atlantis" if i % 20 < 3 else region  # 15% a new category
            channel = "web"  # stuck
            score = 1.5 if i % 20 == 0 else score  # 5% outside the valid range [0, 1]
        rows.append({"income": income, "age": age, "region": region, "channel": channel, "score": score})
    return rows


def _ship(engine: Engine, namespace: str, rows: list[dict[str, Any]], start: datetime) -> None:
    normalizer = Normalizer(NormalizeConfig(namespace=namespace))
    lines = []
    for i, row in enumerate(rows):
        at = start + timedelta(seconds=i * 3600 / len(rows))
        record = {
            "type": "inference",
            "id": f"{start.isoformat()}-{i}",
            "ts": at.isoformat().replace("+00:00", "Z"),
            "model": {"name": MODEL, "version": "1", "type": "classification"},
            "features": {k: v for k, v in row.items() if v is not None},
            "prediction": {"label": "approve", "score": 0.7},
            "latency_ms": 30.0,
            "outcome": "success",
        }
        events, rejected = normalizer.normalize(orjson.dumps(record), Origin("test", i, None))
        assert not rejected, rejected
        for event in events:
            index = {"create": {"_index": inference_stream(namespace), "_id": event.event_id}}
            lines += [orjson.dumps(index), orjson.dumps(event.document)]
    response = engine.bulk(b"\n".join(lines) + b"\n", refresh="wait_for")
    assert not response["errors"]


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray | CategoricalColumn]:
    columns: dict[str, np.ndarray | CategoricalColumn] = {}
    for name in ("income", "age", "score"):
        columns[name] = np.array([math.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)
    for name in ("region", "channel"):
        labels = sorted({r[name] for r in rows})
        codes = np.array([labels.index(r[name]) for r in rows])
        columns[name] = CategoricalColumn(np.array(labels, dtype=object), codes)
    return columns


@pytest.fixture(scope="module")
def shipped(engine: Engine) -> dict[str, Any]:
    namespace = "dataquality"
    run_setup(engine, SetupConfig(namespace=namespace))
    rng = np.random.default_rng(21)
    reference, clean, broken = _rows(rng, False), _rows(rng, False), _rows(rng, True)
    reference += _rows(rng, False)
    _ship(engine, namespace, reference[:ROWS], T0)
    _ship(engine, namespace, reference[ROWS:], T0 + timedelta(hours=1))
    _ship(engine, namespace, clean, T0 + timedelta(hours=2))
    _ship(engine, namespace, broken, T0 + timedelta(hours=3))
    return {"namespace": namespace, "reference": reference, "clean": clean, "broken": broken}


def _strip(result: Any) -> dict[str, Any]:
    data = result.to_dict()
    for key in ("p_value", "raw_p_value", "effect"):
        data[key] = None if data[key] is None else pytest.approx(data[key], rel=1e-9, abs=1e-300)
    return data


@pytest.mark.parametrize("period", ["clean", "broken"])
def test_engine_aggregations_give_the_offline_results(
    engine: Engine, shipped: dict[str, Any], period: str
) -> None:
    profile = build_profile(_columns(shipped["reference"]), multivariate=False)
    features = list(profile.features)
    tuning = DataQualityTuning(valid_ranges={"score": (0.0, 1.0)})
    detector = DataQualityDetector(ModelSetup(MODEL, None, features, profile, "b"), tuning)
    start = T0 + timedelta(hours=2 if period == "clean" else 3)
    window = Window(MODEL, None, start, start + timedelta(hours=1))
    response = engine.search(inference_stream(shipped["namespace"]), detector.request(window))
    assert response["hits"]["total"]["value"] == ROWS

    from detections.aggregations import parse_quality

    online_windows = parse_quality(response, profile, features, detector._bounds())
    current = _columns(shipped[period])
    offline_windows = {
        n: window_counts(profile.features[n], current[n], tuning.valid_ranges.get(n)) for n in features
    }
    for name in features:
        online, offline = online_windows[name], offline_windows[name]
        assert (online.present, online.missing, online.below, online.above) == (
            offline.present,
            offline.missing,
            offline.below,
            offline.above,
        ), name
        assert (online.minimum, online.maximum, dict(online.categories)) == (
            offline.minimum,
            offline.maximum,
            dict(offline.categories),
        ), name
    valid = dict(tuning.valid_ranges)
    online_results = judge(profile.features, online_windows, valid_ranges=valid)
    offline_results = judge(profile.features, offline_windows, valid_ranges=valid)
    assert [_strip(r) for r in online_results] == [_strip(r) for r in offline_results]
    failed = {(r.feature, r.check) for r in offline_results if r.failed}
    if period == "clean":
        assert not failed
    else:
        assert failed == {
            ("income", "missing"),
            ("age", "out_of_range"),
            ("region", "new_category"),
            ("channel", "constant"),
            ("score", "out_of_range"),
        }
        verdict = detector.judge(window, response)
        (finding,) = verdict.findings
        assert finding.rule.id == "mlsiem-data-quality" and finding.severity == "high"
        assert finding.quality is not None and finding.quality.check == "constant"
        hits = engine.search(
            inference_stream(shipped["namespace"]),
            {
                "size": 0,
                "track_total_hits": True,
                "query": {"query_string": {"query": finding.evidence.query}},
            },
        )
        assert hits["hits"]["total"]["value"] == ROWS  # every event of the window is stuck at "web"


def test_the_detector_job_raises_one_alert_with_the_reason(engine: Engine, shipped: dict[str, Any]) -> None:
    """Only income breaks (40% missing): one alert, its reason, and an evidence query for those events."""
    namespace = "dataqualityjob"
    run_setup(engine, SetupConfig(namespace=namespace))
    rng = np.random.default_rng(5)
    broken = _rows(rng, False)
    for i, row in enumerate(broken):
        row["income"] = None if i % 5 < 2 else row["income"]
    _ship(engine, namespace, shipped["reference"][:ROWS], T0)
    _ship(engine, namespace, shipped["reference"][ROWS:], T0 + timedelta(hours=1))
    _ship(engine, namespace, shipped["clean"], T0 + timedelta(hours=2))
    _ship(engine, namespace, broken, T0 + timedelta(hours=3))
    profile = baselines.profile_from_events(
        engine, Window(MODEL, None, T0, T0 + timedelta(hours=2)), namespace
    )
    baselines.store(engine, MODEL, None, profile, T0 + timedelta(hours=2))
    config = DetectConfig(
        namespace=namespace,
        window=timedelta(hours=1),
        suppression=timedelta(hours=1),
        models=[ModelConfig(name=MODEL, detectors=["data_quality"])],
    )
    job = DetectorJob(engine, config)
    job.state.advance(baselines.baseline_id(MODEL, None), T0 + timedelta(hours=2))
    report = job.run_once(T0 + timedelta(hours=4, minutes=1))
    assert report.windows == 2, report.notes
    engine.refresh(alerts_alias(namespace))
    alerts = [h["_source"] for h in engine.search(alerts_alias(namespace), {"size": 50})["hits"]["hits"]]
    assert len(alerts) == 1, [a["event"]["reason"] for a in alerts]
    (alert,) = alerts
    assert alert["rule"]["id"] == "mlsiem-data-quality" and alert["rule"]["category"] == "data_quality"
    assert alert["mlsiem"]["alert"]["tier"] == "act"
    assert alert["event"]["reason"] == f"{MODEL}: income: 40% missing, was 0%"
    assert alert["event"]["start"].startswith("2026-11-21T03:00")
    quality = alert["mlsiem"]["quality"]
    assert quality["check"] == "missing" and quality["feature"] == "income"
    assert quality["reference_value"] == "0" and quality["current_value"] == "0.4"
    assert alert["mlsiem"]["evidence"]["event_count"] == 240
    hits = engine.search(
        inference_stream(namespace),
        {
            "size": 0,
            "track_total_hits": True,
            "query": {"query_string": {"query": alert["mlsiem"]["evidence"]["query"]}},
        },
    )
    assert hits["hits"]["total"]["value"] == 240  # the evidence query finds exactly the events missing income
