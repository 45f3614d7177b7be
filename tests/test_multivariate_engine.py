"""The multivariate detector on the real engine: its sample (categorical fields too) gives the offline
verdict on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from detections.aggregations import parse_sample, sample_request
from detections.detectors.base import ModelSetup
from detections.detectors.multivariate import MultivariateDetector
from detections.statistics import CategoricalColumn, build_profile
from detections.statistics.multivariate import encode, multivariate_drift
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
MODEL = "joint-model"
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)


def _rows(rng: np.random.Generator, n: int, rho: float) -> dict:
    z = rng.normal(size=(n, 2))
    return {
        "income": np.round(50_000 + 10_000 * z[:, 0], 2),
        "spend": np.round(2_000 + 500 * (rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]), 2),
        "region": CategoricalColumn(REGIONS, rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int32)),
    }


def _ship(engine: Engine, namespace: str, columns: dict, start: datetime) -> None:
    normalizer = Normalizer(NormalizeConfig(namespace=namespace))
    region = columns["region"]
    lines = []
    for i in range(len(columns["income"])):
        record = {
            "type": "inference",
            "id": f"{start.isoformat()}-{i}",
            "ts": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "model": {"name": MODEL, "version": "1", "type": "classification"},
            "features": {
                "income": float(columns["income"][i]),
                "spend": float(columns["spend"][i]),
                "region": str(region.categories[region.codes[i]]),
            },
            "prediction": {"label": "approve", "score": float(i % 100) / 100},
        }
        events, rejected = normalizer.normalize(orjson.dumps(record), Origin("test", i, None))
        assert not rejected, rejected
        for event in events:
            lines.append(
                orjson.dumps({"create": {"_index": inference_stream(namespace), "_id": event.event_id}})
            )
            lines.append(orjson.dumps(event.document))
    assert not engine.bulk(b"\n".join(lines) + b"\n", refresh="wait_for")["errors"]


@pytest.mark.engine
@pytest.mark.parametrize("rho", [0.8, 0.1])
def test_the_engine_sample_gives_the_offline_verdict(engine: Engine, namespace: str, rho: float) -> None:
    rng = np.random.default_rng(3)
    reference = _rows(rng, 5_000, 0.8)
    profile = build_profile(reference)
    model = profile.multivariate
    assert model is not None and model.features == ["income", "spend", "region"]
    run_setup(engine, SetupConfig(namespace=namespace))
    current = _rows(rng, 1_500, rho)
    _ship(engine, namespace, current, T0)
    window = Window(MODEL, None, T0, T0 + timedelta(hours=1))

    response = engine.search(inference_stream(namespace), sample_request(window, model.features, 2_000))
    sample = parse_sample(response, model.features, model.categories)
    assert sample["region"].dtype == object and len(sample["income"]) == 1_500
    online = multivariate_drift(model, encode(model, sample), 0.01)
    offline = multivariate_drift(model, encode(model, current), 0.01)
    assert online.drifted == offline.drifted == (rho < 0.5)
    assert online.tier == offline.tier and online.severity == offline.severity
    for name in ("score", "statistic", "p_value", "mean_shift", "mean_p_value"):
        assert getattr(online, name) == pytest.approx(getattr(offline, name), rel=1e-9, abs=1e-12), name

    setup = ModelSetup(MODEL, None, model.features, profile, "baseline", multivariate_sample=2_000)
    detector = MultivariateDetector(setup, MultivariateDetector.Tuning())
    judgement = detector.judge(window, engine.search(inference_stream(namespace), detector.request(window)))
    assert len(judgement.findings) == (1 if rho < 0.5 else 0)
    if judgement.findings:
        assert judgement.findings[0].tier == online.tier == "act"
