"""The demo's story: telemetry with ground truth -> the real shipper -> baselines -> the detector job
window by window on a simulated clock (the code path of `detect --every`, Sigma pack included) -> a
scorecard against the injected incidents.

The baselines come from the first part of the clean control period; the rest of it is watched like any
other time, so alerts there are false alerts. An incident counts as detected when an alert of one of its
expected rules covers its time (up to two windows after it ends); time to detect runs from the incident's
start to the end of the window whose run raised the alert, i.e. when the job could have reported it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from demo.scenario.catalogue import CLASSIFIER
from demo.scenario.config import ScenarioConfig
from demo.scenario.manifest import Incident, Manifest
from demo.scenario.writer import write_scenario
from detections import baselines
from detections.config import DetectConfig, ModelConfig
from detections.job import DetectorJob, align
from detections.sigma.executor import Executor
from detections.sigma.runner import sigma_sources
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.errors import MlsiemError
from mlsiem.indices import alerts_alias, inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from mlsiem.timefmt import iso
from shipper.build import build
from shipper.config import config_from

BASELINE_SHARE = 0.6  # of the control period; the rest is watched for false alerts
# The classifier's service-level objective: 99% of predictions under 100 ms (the SLO burn incident).
SLO = {"slo": {"latency": {"objective": 0.99, "threshold_ms": 100}}}
Progress = Callable[[str, float, float], None]  # (stage, done, total)


@dataclass
class DemoResult:
    engine: str
    namespace: str
    manifest: Manifest
    alerts: list[dict[str, Any]]
    scorecard: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    shipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "namespace": self.namespace,
            "timeline": self.manifest.timeline.model_dump(mode="json"),
            "control": self.manifest.control.model_dump(mode="json"),
            "shipped": self.shipped,
            "alerts": [_alert_row(a) for a in self.alerts],
            "scorecard": self.scorecard,
            "timings_seconds": self.timings,
            "notes": self.notes,
        }


def _alert_row(alert: dict[str, Any]) -> dict[str, Any]:
    mlsiem = alert.get("mlsiem", {})
    return {
        "time": alert["event"]["start"],
        "severity": mlsiem.get("alert", {}).get("severity"),
        "rule_id": alert["rule"]["id"],
        "rule": alert["rule"]["name"],
        "model": mlsiem.get("model", {}).get("name"),
        "group": mlsiem.get("alert", {}).get("group_key"),
        "reason": alert["event"].get("reason"),
        "occurrences": mlsiem.get("alert", {}).get("occurrences"),
    }


def _clear(engine: Engine, namespace: str) -> None:
    """A demo run starts from nothing in its namespace (events, metrics, alerts, detector state)."""
    engine.request("DELETE", f"/_data_stream/*-{namespace}", what="clear demo data streams", ignore=(404,))
    engine.request("DELETE", f"/{alerts_alias(namespace)}-*", what="clear demo alerts", ignore=(404,))
    body = {"query": {"prefix": {"state.detector": namespace}}}
    engine.request(
        "POST",
        "/mlsiem-state/_delete_by_query",
        body=body,
        params={"refresh": "true"},
        what="clear demo state",
        ignore=(404,),
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _models(engine: Engine, namespace: str, start: datetime, end: datetime) -> list[str]:
    body = {
        "size": 0,
        "query": {"range": {"@timestamp": {"gte": iso(start), "lt": iso(end)}}},
        "aggs": {"m": {"terms": {"field": "mlsiem.model.name", "size": 100}}},
    }
    buckets = engine.search(inference_stream(namespace), body)["aggregations"]["m"]["buckets"]
    return [b["key"] for b in buckets if b["doc_count"] >= 100]


def run_demo(
    engine: Engine,
    work: Path,
    hours: float,
    seed: int,
    namespace: str = "demo",
    start: datetime | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    note = progress or (lambda *_: None)
    timings: dict[str, float] = {}
    began = time.monotonic()
    run_setup(engine, SetupConfig(namespace=namespace))
    _clear(engine, namespace)
    run_setup(engine, SetupConfig(namespace=namespace))
    config = ScenarioConfig(seed=seed, hours=hours, **({"start": start} if start else {}))
    manifest = write_scenario(work / "telemetry", config)
    timings["setup_and_generate"] = round(time.monotonic() - began, 2)

    began = time.monotonic()
    files = sorted(str(p) for p in (work / "telemetry").glob("*.jsonl"))
    total_lines = sum(s.lines for s in manifest.files.values())
    shipper = {  # what `mlsiem ship FILES` runs, its state kept in the demo's work folder
        "inputs": {"files": {"paths": files, "registry": work / "registry.json"}},
        "normalize": {"namespace": namespace},
        "output": {"setup": False, "dead_letter": work / "dead-letter.ndjson"},  # set up above
        "spool": {"dir": work / "spool"},
    }
    pipeline = build(config_from(shipper), engine)
    stats = pipeline.run(on_progress=lambda s: note("ship", s.records, total_lines))
    pipeline.sink.close()
    if stats.dead_lettered:
        raise MlsiemError(
            f"the demo telemetry had {stats.dead_lettered} rejected records: {work / 'dead-letter.ndjson'}"
        )
    engine.request("POST", f"/logs-mlsiem.*-{namespace}/_refresh", what="refresh demo data")
    timings["ship"] = round(time.monotonic() - began, 2)

    began = time.monotonic()
    control = manifest.control
    window = timedelta(seconds=manifest.detector_window_seconds)
    baseline_end = align(control.start + (control.end - control.start) * BASELINE_SHARE, window)
    bucket = window / 5  # every drift, performance and operational incident spans two windows
    notes = []
    for model in _models(engine, namespace, control.start, baseline_end):
        try:
            profile = baselines.profile_from_events(
                engine, Window(model, None, control.start, baseline_end), namespace, bucket=bucket
            )
        except MlsiemError as exc:
            notes.append(f"no baseline for {model}: {exc}")
            continue
        baselines.store(engine, model, None, profile, baseline_end)
    timings["baselines"] = round(time.monotonic() - began, 2)

    began = time.monotonic()
    models = [
        ModelConfig(name=model, version=version, tuning=SLO if model == CLASSIFIER else {})
        for model, version in baselines.stored_models(engine)
    ]
    detect = DetectConfig(
        namespace=namespace,
        models=models,
        window=window,
        bucket=bucket,
        suppression=window * 2,
        max_backfill_windows=10_000,
    )
    sources = sigma_sources(Executor(engine), namespace, detect.suppression)
    job = DetectorJob(engine, detect, extra_sources=sources)
    for model, version in baselines.stored_models(engine):
        job.state.advance(baselines.baseline_id(model, version), baseline_end)
    for name in sources:
        job.state.advance(name, align(manifest.timeline.start, window))
    clock = baseline_end + window
    steps = int((manifest.timeline.end - baseline_end) / window) + 1
    for step in range(steps):
        job.run_once(clock + timedelta(seconds=1))
        note("detect", step + 1, steps)
        clock += window
    engine.refresh(alerts_alias(namespace))
    timings["detect"] = round(time.monotonic() - began, 2)

    hits = engine.search(alerts_alias(namespace), {"size": 1000, "sort": [{"event.start": "asc"}]})["hits"][
        "hits"
    ]
    alerts = [h["_source"] for h in hits]
    scorecard = score(manifest, alerts, baseline_end, window)
    return DemoResult(
        engine.description,
        namespace,
        manifest,
        alerts,
        scorecard,
        timings,
        {"records": stats.records, "events": stats.events, "shipped": stats.shipped},
        notes,
    )


def _field(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _covers(alert: dict[str, Any], incident: Incident, window: timedelta) -> bool:
    """The alert overlaps the incident (up to two windows after it) and names no other entity."""
    start, end = _parse(alert["event"]["start"]), _parse(alert["event"]["end"])
    if not (start < incident.end + 2 * window and end > incident.start):
        return False
    for path, value in incident.entity.items():
        carried = _field(alert, path)
        if carried is not None and str(carried) != value:
            return False
    return True


def score(
    manifest: Manifest, alerts: list[dict[str, Any]], baseline_end: datetime, window: timedelta
) -> dict:
    """Per incident detected or missed and time to detect; false alerts in the control period; precision."""
    matched: set[int] = set()
    rows = []
    for incident in manifest.incidents:
        wanted = set(incident.expected_rules)
        related = set(incident.related_rules)
        hits = [i for i, a in enumerate(alerts) if a["rule"]["id"] in wanted and _covers(a, incident, window)]
        matched.update(hits)
        matched.update(
            i for i, a in enumerate(alerts) if a["rule"]["id"] in related and _covers(a, incident, window)
        )
        detect_at = min((_parse(alerts[i]["event"]["end"]) for i in hits), default=None)
        rows.append(
            {
                "id": incident.id,
                "title": incident.title,
                "category": incident.category,
                "start": incident.start.isoformat(),
                "detected": bool(hits),
                "by": sorted({alerts[i]["rule"]["name"] for i in hits}),
                "time_to_detect_minutes": round((detect_at - incident.start).total_seconds() / 60, 1)
                if detect_at
                else None,
            }
        )
    control_end = manifest.control.end
    false_in_control = [a for a in alerts if _parse(a["event"]["start"]) < control_end]
    true_alerts = len(matched)
    detected = sum(r["detected"] for r in rows)
    return {
        "incidents": rows,
        "detected": detected,
        "missed": len(rows) - detected,
        "false_alerts_in_control": len(false_in_control),
        "false_alert_rules_in_control": sorted({a["rule"]["name"] for a in false_in_control}),
        "alerts": len(alerts),
        "alerts_matching_incidents": true_alerts,
        "precision": round(true_alerts / len(alerts), 3) if alerts else None,
        "recall": round(detected / len(rows), 3) if rows else None,
        "watched_control_from": baseline_end.isoformat(),
    }
