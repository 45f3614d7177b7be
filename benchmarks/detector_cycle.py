"""One detector cycle (one model, 25 features, one window) against the number of events in the window.

For each size, the script indexes that many synthetic inference events (20 numeric + 5 categorical
features, a score and a label) into one hour of a namespace of its own, stores a reference profile
built offline from 50,000 rows of the same distributions, and times `ModelChecks.run` over the hour
(all detectors: feature and prediction drift, multivariate sample, operational series, performance).
Because every distribution comes from aggregations, the time should stay nearly flat as events grow.
The outlier detector (isolation forest: a 2,000-row sample plus up to 100 pre-filtered rows) is also
timed on its own: its search and its scoring.

    .venv/bin/mlsiem engine start --port 9400 --heap 2g
    .venv/bin/python benchmarks/detector_cycle.py --url http://127.0.0.1:9400 --sizes 100000 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from detections import baselines
from detections.config import DetectConfig, ModelConfig
from detections.detectors.base import ModelSetup
from detections.detectors.outliers import OutliersDetector
from detections.model_checks import ModelChecks
from detections.statistics.columns import CategoricalColumn
from detections.statistics.profile import ReferenceProfile, build_profile
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
CATEGORIES = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)


def columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray | CategoricalColumn]:
    data: dict[str, np.ndarray | CategoricalColumn] = {
        f"num_{i:02d}": rng.normal(i, 1 + i / 10, n) for i in range(20)
    }
    for i in range(5):
        data[f"cat_{i}"] = CategoricalColumn(CATEGORIES, rng.integers(0, 6, n))
    data["prediction.score"] = rng.beta(5, 2, n)
    return data


def index_events(engine: Engine, namespace: str, model: str, n: int, rng: np.random.Generator) -> None:
    stream = inference_stream(namespace)
    step = 3600 / n
    chunk = 5000
    for begin in range(0, n, chunk):
        size = min(chunk, n - begin)
        data = columns(rng, size)
        lines = []
        for row in range(size):
            at = START + timedelta(seconds=(begin + row) * step)
            features = {f"num_{i:02d}": float(data[f"num_{i:02d}"][row]) for i in range(20)}
            features.update({f"cat_{i}": str(CATEGORIES[data[f"cat_{i}"].codes[row]]) for i in range(5)})
            doc = {
                "@timestamp": at.isoformat().replace("+00:00", "Z"),
                "event": {
                    "kind": "event",
                    "dataset": "mlsiem.inference",
                    "duration": 40_000_000,
                    "outcome": "success",
                },
                "mlsiem": {
                    "model": {"name": model},
                    "features": features,
                    "prediction": {"score": float(data["prediction.score"][row]), "label": "approve"},
                },
            }
            lines.append(orjson.dumps({"create": {"_index": stream, "_id": f"{model}-{begin + row}"}}))
            lines.append(orjson.dumps(doc))
        engine.bulk(b"\n".join(lines) + b"\n")
    engine.refresh(stream)


def time_outliers(
    engine: Engine, namespace: str, profile: ReferenceProfile, window: Window, runs: int
) -> str:
    """The outlier detector alone: median seconds of its search and of its judgement (scoring)."""
    detector = OutliersDetector(ModelSetup(window.model, None, list(profile.features), profile, window.model))
    searches, judgements = [], []
    for _ in range(runs):
        began = time.perf_counter()
        response = engine.search(inference_stream(namespace), detector.request(window))
        searches.append(time.perf_counter() - began)
        began = time.perf_counter()
        detector.judge(window, response)
        judgements.append(time.perf_counter() - began)
    rows = len(response["hits"]["hits"]) + len(response["aggregations"]["prefilter"]["rows"]["hits"]["hits"])
    return (
        f"outliers: {rows} rows scored; search {statistics.median(searches):.3f} s, "
        f"scoring {statistics.median(judgements):.3f} s (medians of {runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = Engine.connect(ConnectionSettings(url=args.url, timeout=300))
    rng = np.random.default_rng(5)
    profile = build_profile(columns(rng, 50_000), isolation=True)
    results = {}
    for size in args.sizes:
        namespace, model = f"cycle{size}", f"cycle-model-{size}"
        run_setup(engine, SetupConfig(namespace=namespace))
        began = time.perf_counter()
        index_events(engine, namespace, model, size, rng)
        print(f"{size:,} events indexed in {time.perf_counter() - began:.0f} s")
        baselines.store(engine, model, None, profile, START)
        config = DetectConfig(namespace=namespace, models=[ModelConfig(name=model)])
        checks = ModelChecks(engine, config, config.models[0], profile, model)
        window = Window(model, None, START, START + timedelta(hours=1))
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            result = checks.run(window)
            times.append(time.perf_counter() - began)
        assert result.events == size, result.events
        results[size] = statistics.median(times)
        print(
            f"{size:,} events: one cycle {results[size]:.2f} s (median of {args.runs}: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")"
        )
        print(f"{size:,} events: " + time_outliers(engine, namespace, profile, window, args.runs))
    first = results[args.sizes[0]]
    for size, seconds in results.items():
        print(f"{size:>12,} events  {seconds:6.2f} s  {seconds / first:4.2f}x the smallest")


if __name__ == "__main__":
    main()
