"""The outlier detector on the real engine: its sample scores as the offline path scores the same rows,
its pre-filter finds exactly the rows outside what the forest was fitted on, and the alert carries the
injected requests and their client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from detections.aggregations import parse_sample
from detections.detectors.base import ModelSetup
from detections.detectors.outliers import OutliersDetector, OutliersTuning
from detections.statistics import build_profile
from detections.statistics.isolation import encode, outlier_scores, outlier_test, outside
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin
from tests.anomaly_data import OOD_CLIENT, population, window

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
MODEL = "ood-model"


def _ship(engine: Engine, namespace: str, columns: dict, ids: list[str], ips: list[str]) -> None:
    normalizer = Normalizer(NormalizeConfig(namespace=namespace))
    region = columns["region"]
    lines = []
    for i, event_id in enumerate(ids):
        record = {
            "type": "inference",
            "id": event_id,
            "ts": (T0 + timedelta(seconds=i % 3600)).isoformat().replace("+00:00", "Z"),
            "model": {"name": MODEL, "version": "1", "type": "classification"},
            "source_ip": ips[i],
            "features": {
                "income": float(columns["income"][i]),
                "spend": float(columns["spend"][i]),
                "age": float(columns["age"][i]),
                "region": str(region.categories[region.codes[i]]),
            },
            "prediction": {"label": "approve", "score": float(columns["prediction.score"][i])},
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
def test_the_engine_path_scores_as_the_offline_path(engine: Engine, namespace: str) -> None:
    rng = np.random.default_rng(21)
    profile = build_profile(population(rng, 6_000), isolation=True)
    model = profile.isolation
    assert model is not None
    run_setup(engine, SetupConfig(namespace=namespace))
    columns, ids, ips = window(rng, 1_500, 60)
    _ship(engine, namespace, columns, ids, ips)
    window_ = Window(MODEL, None, T0, T0 + timedelta(hours=1))
    setup = ModelSetup(MODEL, None, list(profile.features), profile, "baseline")
    detector = OutliersDetector(setup, OutliersTuning(sample=2_000))
    response = engine.search(inference_stream(namespace), detector.request(window_))

    hits = response["hits"]["hits"]
    assert len(hits) == 1_500  # the whole window: the sample holds every row, so both paths see the same rows
    sample = parse_sample(response, model.features, model.categories)
    position = {event_id: i for i, event_id in enumerate(ids)}
    order = [position[h["_source"]["event"]["id"]] for h in hits]
    offline_rows = {
        name: (
            values[order]
            if isinstance(values, np.ndarray)
            else type(values)(values.categories, values.codes[order])
        )
        for name, values in columns.items()
    }
    online = outlier_scores(model, encode(model, sample))
    offline = outlier_scores(model, encode(model, offline_rows))
    assert np.array_equal(online, offline)
    assert outlier_test(model, online, 0.01) == outlier_test(model, offline, 0.01)

    prefiltered = response["aggregations"]["prefilter"]
    expected = {ids[i] for i in np.flatnonzero(outside(model, encode(model, columns)))}
    assert prefiltered["doc_count"] == len(expected)
    found = {h["_source"]["event"]["id"] for h in prefiltered["rows"]["hits"]["hits"]}
    assert found <= expected and len(found) == min(100, len(expected))

    finding = detector.judge(window_, response).findings[0]
    injected = {i for i in ids if i.startswith("ood-")}
    assert len(injected.intersection(finding.evidence.sample_event_ids)) >= 0.8 * len(injected)
    assert OOD_CLIENT in finding.reason
    matched = engine.search(
        inference_stream(namespace),
        {"size": 0, "track_total_hits": True, "query": {"query_string": {"query": finding.evidence.query}}},
    )
    assert matched["hits"]["total"]["value"] == len(finding.evidence.sample_event_ids)
