"""The detector job at fleet scale: one cycle over N models (25 features each), one or several instances.

`prepare` indexes, per model, `--events` synthetic inference events (20 numeric + 5 categorical
features, a score, a label, latency and outcome) into one hour of a namespace of its own, and stores a
baseline per model (four reference populations built offline, so the models do not all share one
profile; every tenth model drifts on two features). Each timed cycle runs `DetectorJob.run_once`
(`--no-sigma`: feature and prediction drift, data quality, operational series, multivariate sample) in
fresh subprocesses, after the namespace's checkpoints are deleted so that every model's window is due
again. Code under test comes from `PYTHONPATH`: `--old PATH` adds a checkout of the code before the
fleet work (`git worktree add /tmp/fleet-old <commit>`); old and new cycles alternate in the same run.

Each result gives the wall time of the cycle, the job's own CPU (user + system of the processes) and the
engine's CPU (from `_nodes/stats`) over the same interval, per model-window, and the load average.

    .venv/bin/mlsiem engine start --port 9471 --heap 1g
    .venv/bin/python benchmarks/detector_fleet.py --url http://127.0.0.1:9471 --models 10 100 1000 \
        --runs 3 --old /tmp/fleet-old --instances 1 3
    .venv/bin/python benchmarks/detector_fleet.py --url ... --models 40 --profile   # cProfile one cycle
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from detections import baselines
from detections.statistics.columns import CategoricalColumn
from detections.statistics.profile import SeriesBaseline, build_profile
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.indices import STATE_INDEX, inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
NOW = START + timedelta(hours=1, minutes=1)
CATEGORIES = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
POPULATIONS = 4
HERE = Path(__file__).resolve().parent.parent

# One job process: times run_once and prints the numbers as JSON (run with the code under test first on
# PYTHONPATH).
WORKER = """
import json, sys, time
from datetime import datetime
from detections.config import DetectConfig
from detections.job import DetectorJob
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
url, settings, now = sys.argv[1:4]
settings = json.loads(settings)
if "fleet" not in DetectConfig.model_fields:  # the code before the fleet work
    del settings["fleet"]
config = DetectConfig.model_validate(settings)
engine = Engine.connect(ConnectionSettings(url=url, timeout=600))
job = DetectorJob(engine, config)
began, cpu = time.perf_counter(), time.process_time()
report = job.run_once(datetime.fromisoformat(now))
print(json.dumps({"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu,
                  "windows": report.windows, "alerts": report.alerts, "metrics": report.metrics}))
"""


def columns(rng: np.random.Generator, n: int, population: int, drift: bool = False) -> dict:
    data: dict = {f"num_{i:02d}": rng.normal(i + population, 1 + i / 10, n) for i in range(20)}
    if drift:
        data["num_00"] = data["num_00"] + 1.5
        data["num_01"] = data["num_01"] * 1.8
    for i in range(5):
        data[f"cat_{i}"] = CategoricalColumn(CATEGORIES, rng.integers(0, 6, n))
    data["prediction.score"] = rng.beta(5, 2, n)
    return data


def profile_of(rng: np.random.Generator, population: int, rows: int) -> object:
    data = columns(rng, rows, population)
    data["prediction.label"] = CategoricalColumn(
        np.array(["approve", "deny"], dtype=object), (data["prediction.score"] < 0.5).astype(np.int64)
    )
    profile = build_profile(data, metadata={"source": "benchmark"})
    buckets = 12
    profile.operational["latency_p95"] = SeriesBaseline.from_values("latency_p95", rng.normal(40, 2, 50))
    profile.operational["error_rate"] = SeriesBaseline.from_values("error_rate", rng.uniform(0, 0.02, 50))
    profile.operational["request_rate"] = SeriesBaseline.from_values(
        "request_rate", rng.normal(300 / buckets, 3, 50)
    )
    profile.metadata["bucket_seconds"] = "300"
    return profile


def model_name(namespace: str, i: int) -> str:
    return f"{namespace}-model-{i:05d}"


def prepare(
    engine: Engine, namespace: str, models: int, events: int, reference_rows: int, rng: np.random.Generator
) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    stream = inference_stream(namespace)
    profiles = [profile_of(rng, p, reference_rows) for p in range(POPULATIONS)]
    lines: list[bytes] = []
    for i in range(models):
        name, population = model_name(namespace, i), i % POPULATIONS
        baselines.store(engine, name, None, profiles[population], START)  # type: ignore[arg-type]
        data = columns(rng, events, population, drift=i % 10 == 9)
        score = data["prediction.score"]
        latency = rng.normal(40e6, 3e6, events)
        step = 3600 / events
        for row in range(events):
            features = {f"num_{k:02d}": float(data[f"num_{k:02d}"][row]) for k in range(20)}
            features.update({f"cat_{k}": str(CATEGORIES[data[f"cat_{k}"].codes[row]]) for k in range(5)})
            doc = {
                "@timestamp": (START + timedelta(seconds=row * step)).isoformat().replace("+00:00", "Z"),
                "event": {
                    "kind": "event",
                    "dataset": "mlsiem.inference",
                    "duration": int(latency[row]),
                    "outcome": "success" if row % 100 else "failure",
                },
                "mlsiem": {
                    "model": {"name": name},
                    "features": features,
                    "prediction": {
                        "score": float(score[row]),
                        "label": "approve" if score[row] >= 0.5 else "deny",
                    },
                },
            }
            lines.append(orjson.dumps({"create": {"_index": stream, "_id": f"{name}-{row}"}}))
            lines.append(orjson.dumps(doc))
        if len(lines) >= 20_000 or i == models - 1:
            engine.bulk(b"\n".join(lines) + b"\n")
            lines = []
    engine.refresh(stream)
    engine.refresh("mlsiem-baselines")


def reset(engine: Engine, namespace: str) -> None:
    """Forget the namespace's checkpoints (and any lease), so every model's window is due again."""
    # The job writes checkpoints without a refresh (it reads them back with the real-time _mget): refresh
    # first, or _delete_by_query misses the newest versions and those models are not due.
    engine.refresh(STATE_INDEX)
    params = {"refresh": "true", "conflicts": "proceed"}
    for query in ({"prefix": {"state.detector": f"{namespace}:"}}, {"term": {"state.detector": namespace}}):
        engine.request("POST", f"/{STATE_INDEX}/_delete_by_query", body={"query": query}, params=params)
    left = engine.count(STATE_INDEX, {"prefix": {"state.detector": f"{namespace}:"}})
    if left:
        raise RuntimeError(f"{left} checkpoint(s) of {namespace} survived the reset")


def engine_cpu_ms(engine: Engine) -> int:
    nodes = engine.request("GET", "/_nodes/stats/process")["nodes"]
    return sum(int(n["process"]["cpu"]["total_in_millis"]) for n in nodes.values())


def cycle(engine: Engine, url: str, namespace: str, models: int, code: Path, instances: int) -> dict:
    """One cycle with `instances` job processes started together; wall time until the last one ends."""
    reset(engine, namespace)
    env = {**os.environ, "PYTHONPATH": str(code)}
    cpu_before = engine_cpu_ms(engine)
    began = time.perf_counter()
    names = [{"name": model_name(namespace, i)} for i in range(models)]
    settings = [
        {"namespace": namespace, "sigma": False, "models": names, "fleet": {"instance": f"bench-{k}"}}
        for k in range(instances)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, json.dumps(settings[k]), NOW.isoformat()],
            env=env,
            stdout=subprocess.PIPE,
            cwd=str(code),
        )
        for k in range(instances)
    ]
    outputs = [json.loads(p.communicate()[0]) for p in procs]
    wall = time.perf_counter() - began
    engine_cpu = (engine_cpu_ms(engine) - cpu_before) / 1000
    return {
        "wall": max(o["wall"] for o in outputs),
        "process_wall": wall,
        "job_cpu": sum(o["cpu"] for o in outputs),
        "engine_cpu": engine_cpu,
        "windows": sum(o["windows"] for o in outputs),
        "alerts": sum(
            o["alerts"]["created"] + o["alerts"]["unchanged"] + o["alerts"]["updated"] for o in outputs
        ),
        "load": os.getloadavg()[0],
    }


def profile_cycle(engine: Engine, namespace: str, models: int) -> None:
    import cProfile
    import pstats

    from detections.config import DetectConfig, ModelConfig
    from detections.job import DetectorJob

    reset(engine, namespace)
    names = [ModelConfig(name=model_name(namespace, i)) for i in range(models)]
    job = DetectorJob(engine, DetectConfig(namespace=namespace, sigma=False, models=names))
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    report = job.run_once(NOW)
    profiler.disable()
    print(f"{report.windows} windows in {time.perf_counter() - began:.2f} s")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--models", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--events", type=int, default=300, help="events per model in the hour")
    parser.add_argument(
        "--reference-rows",
        type=int,
        default=20_000,
        help="rows behind each baseline (up to 10,000 the KS p-values are exact, and cost more)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--instances", type=int, nargs="+", default=[1])
    parser.add_argument("--old", type=Path, help="a checkout of the code before the fleet work")
    parser.add_argument("--profile", action="store_true", help="cProfile one in-process cycle")
    args = parser.parse_args()
    engine = Engine.connect(ConnectionSettings(url=args.url, timeout=600))
    rng = np.random.default_rng(21)
    for models in args.models:
        namespace = f"fleet{models}r{args.reference_rows}"
        if not engine.exists(f"/{inference_stream(namespace)}"):
            began = time.perf_counter()
            prepare(engine, namespace, models, args.events, args.reference_rows, rng)
            print(f"{models} models x {args.events} events prepared in {time.perf_counter() - began:.0f} s")
        if args.profile:
            profile_cycle(engine, namespace, models)
            continue
        codes = [("new", HERE, n) for n in args.instances]
        if args.old:
            codes.insert(0, ("old", args.old.resolve(), 1))
        results: dict[tuple[str, int], list[dict]] = {(label, n): [] for label, _, n in codes}
        for _ in range(args.runs):
            for label, code, n in codes:
                result = cycle(engine, args.url, namespace, models, code, n)
                results[(label, n)].append(result)
                print(
                    f"  {models} models {label} x{n}: "
                    + json.dumps({k: round(v, 2) for k, v in result.items()})
                )
        for (label, n), runs in results.items():
            wall = statistics.median(r["wall"] for r in runs)
            job = statistics.median(r["job_cpu"] for r in runs)
            eng = statistics.median(r["engine_cpu"] for r in runs)
            windows = runs[0]["windows"]
            print(
                f"{models:>6} models {label:>3} x{n}: cycle {wall:7.2f} s (median of {len(runs)}), "
                f"{1000 * wall / max(windows, 1):6.1f} ms per model-window; job CPU {job:6.2f} s, "
                f"engine CPU {eng:6.2f} s; windows {windows}; load "
                + ", ".join(f"{r['load']:.1f}" for r in runs)
            )


if __name__ == "__main__":
    main()
