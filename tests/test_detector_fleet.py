"""Several detector job processes share one cycle through leases in mlsiem-state (real engine, real
processes): every model-window is judged once, the alerts equal a single instance's, and the models of
a process killed mid-cycle are finished by the others once its lease expired."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from detections import baselines
from detections.state import DetectorState
from detections.statistics.columns import CategoricalColumn
from detections.statistics.profile import build_profile
from mlsiem.adapter import Engine
from mlsiem.indices import STATE_INDEX, alerts_alias, inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
MODELS = [f"fleet-test-{i:02d}" for i in range(30)]
REGIONS = np.array(["north", "south", "east"], dtype=object)
PER_WINDOW = 60


def _columns(rng: np.random.Generator, n: int, drifted: bool) -> dict:
    return {
        "income": rng.normal(65_000 if drifted else 50_000, 10_000, n),
        "age": rng.normal(40, 10, n),
        "tenure": rng.exponential(5, n),
        "region": CategoricalColumn(REGIONS, rng.integers(0, 3, n)),
        "prediction.score": rng.beta(5, 2, n),
    }


@pytest.fixture(scope="module")
def fleet(engine: Engine) -> tuple[list[str], datetime]:
    """30 models (every fifth drifts in the second window), two 10-minute windows, in two namespaces
    holding the same events: one for a single instance, one for three."""
    rng = np.random.default_rng(21)
    profile = build_profile(_columns(rng, 600, False))
    namespaces = ["fleetone", "fleetthree", "fleetkill"]
    lines: dict[str, list[bytes]] = {ns: [] for ns in namespaces}
    for number, model in enumerate(MODELS):
        baselines.store(engine, model, None, profile, T0)
        for window in range(2):
            data = _columns(rng, PER_WINDOW, drifted=window == 1 and number % 5 == 0)
            for row in range(PER_WINDOW):
                at = T0 + window * WINDOW + timedelta(seconds=row * WINDOW.total_seconds() / PER_WINDOW)
                document = {
                    "@timestamp": at.isoformat().replace("+00:00", "Z"),
                    "event": {"kind": "event", "dataset": "mlsiem.inference", "outcome": "success"},
                    "mlsiem": {
                        "model": {"name": model},
                        "features": {
                            "income": float(data["income"][row]),
                            "age": float(data["age"][row]),
                            "tenure": float(data["tenure"][row]),
                            "region": str(REGIONS[data["region"].codes[row]]),
                        },
                        "prediction": {"score": float(data["prediction.score"][row])},
                    },
                }
                for ns in namespaces:
                    action = {"create": {"_index": inference_stream(ns), "_id": f"{model}-{window}-{row}"}}
                    lines[ns] += [orjson.dumps(action), orjson.dumps(document)]
    for ns in namespaces:
        run_setup(engine, SetupConfig(namespace=ns))
        assert not engine.bulk(b"\n".join(lines[ns]) + b"\n", refresh="wait_for")["errors"]
        state = DetectorState(engine, job=ns)
        for model in MODELS:  # both windows are due
            state.advance(baselines.baseline_id(model, None), T0)
    engine.refresh("mlsiem-baselines")
    return namespaces, T0 + 2 * WINDOW + timedelta(seconds=1)


def _config(tmp_path: Path, namespace: str, instance: str, **fleet: object) -> Path:
    path = tmp_path / f"{namespace}-{instance}.yaml"
    settings = {
        "namespace": namespace,
        "window": "10m",
        "bucket": "1m",
        "suppression": "10m",
        "models": [{"name": m} for m in MODELS],
        "fleet": {"instance": instance, "lease": "3s", "shards": 8, "chunk_size": 2, **fleet},
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    return path


def _detect(url: str, config: Path, now: datetime, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "mlsiem", "detect", "--once", "--json", "--url", url),
            *("--config", str(config), "--now", now.isoformat(), *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _report(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    return json.loads(out)


def _alerts(engine: Engine, namespace: str) -> dict[str, tuple]:
    """The detectors' alerts (the Sigma pack's are not in every run): id -> what an analyst sees."""
    engine.refresh(alerts_alias(namespace))
    body = {"size": 500, "query": {"term": {"rule.ruleset": "mlsiem detectors"}}}
    hits = engine.search(alerts_alias(namespace), body)["hits"]["hits"]
    return {
        h["_id"]: (
            h["_source"]["rule"]["id"],
            h["_source"]["mlsiem"]["alert"]["severity"],
            h["_source"]["mlsiem"]["alert"]["occurrences"],
            h["_source"]["event"]["reason"],
        )
        for h in hits
    }


@pytest.fixture(scope="module")
def solo(engine: Engine, local_engine, fleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """One instance over the whole cycle: its report and its alerts, the reference for the others."""
    (single_ns, _, _), now = fleet
    report = _report(
        _detect(local_engine.url, _config(tmp_path_factory.mktemp("solo"), single_ns, "solo"), now)
    )
    return report, _alerts(engine, single_ns)


def _expected() -> set[str]:
    return {
        f"{baselines.baseline_id(m, None)}@{(T0 + k * WINDOW).isoformat()}" for m in MODELS for k in range(2)
    }


def test_three_instances_judge_every_window_once_with_a_single_instances_alerts(
    engine: Engine, local_engine, fleet, solo, tmp_path: Path
) -> None:
    (_, three_ns, _), now = fleet
    single, alone = solo
    processes = [_detect(local_engine.url, _config(tmp_path, three_ns, f"part-{k}"), now) for k in range(3)]
    reports = [_report(p) for p in processes]

    models_judged = Counter(j for r in reports for j in r["judged"] if not j.startswith("sigma/"))
    assert set(models_judged) == _expected() and set(models_judged.values()) == {1}  # each exactly once
    assert {j for j in single["judged"] if not j.startswith("sigma/")} == _expected()
    # The Sigma pack is shared per rule group the same way: each group's window judged by one instance.
    sigma_judged = Counter(j for r in reports for j in r["judged"] if j.startswith("sigma/"))
    assert set(sigma_judged) == {j for j in single["judged"] if j.startswith("sigma/")}
    assert len(sigma_judged) >= 4 and set(sigma_judged.values()) == {1}
    assert sum(1 for r in reports if r["judged"]) >= 2  # the work was actually shared

    assert alone and _alerts(engine, three_ns) == alone  # same ids, rules, severities, reasons, occurrences
    drifted = {m for i, m in enumerate(MODELS) if i % 5 == 0}
    flagged = {f["group"].get("mlsiem.model.name") for r in reports for f in r["findings"]}
    assert drifted <= flagged


def test_a_killed_instances_models_are_taken_over_after_its_lease_expires(
    engine: Engine, local_engine, fleet, solo, tmp_path: Path
) -> None:
    (_, _, kill_ns), now = fleet
    config = _config(tmp_path, kill_ns, "victim", chunk_size=1)
    victim = _detect(local_engine.url, config, now, "--no-sigma")
    leases = {
        "bool": {"filter": [{"term": {"state.kind": "lease"}}, {"prefix": {"state.detector": kill_ns}}]}
    }
    held = {"bool": {"filter": [leases, {"term": {"state.owner": "victim"}}]}}
    deadline = time.monotonic() + 120
    while not engine.count(STATE_INDEX, held):  # kill it while it holds a lease, in the middle of its work
        assert time.monotonic() < deadline, "the victim never took a lease"
        time.sleep(0.05)
        engine.refresh(STATE_INDEX)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    survivors = [
        _detect(local_engine.url, _config(tmp_path, kill_ns, f"survivor-{k}"), now, "--no-sigma")
        for k in range(2)
    ]
    reports = [_report(p) for p in survivors]

    keys = [baselines.baseline_id(m, None) for m in MODELS]
    ids = [f"checkpoint:{kill_ns}:{k}" for k in keys]
    docs = engine.request("POST", f"/{STATE_INDEX}/_mget", body={"ids": ids})["docs"]
    assert all(_until(d) == T0 + 2 * WINDOW for d in docs)  # the cycle was finished
    by_victim = {k for k, d in zip(keys, docs, strict=True) if d["_source"]["state"]["owner"] == "victim"}
    assert len(by_victim) < len(MODELS)  # it died mid-cycle
    judged = Counter(j for r in reports for j in r["judged"])
    assert set(judged.values()) == {1}
    # Every window judged exactly once: all of a model's by the victim before it died, else by a survivor.
    assert set(judged) == {j for j in _expected() if j.split("@")[0] not in by_victim}
    engine.refresh(STATE_INDEX)
    assert not engine.count(STATE_INDEX, leases)  # the victim's lease was taken over and released
    assert _alerts(engine, kill_ns) == solo[1]  # no duplicate (nor missing) alerts


def _until(doc: dict) -> datetime:
    return datetime.fromisoformat(doc["_source"]["state"]["checkpoint"].replace("Z", "+00:00"))
