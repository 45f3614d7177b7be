"""The detector job: windows since each model's checkpoint, detectors, alerts, metrics, actions.

`run_once(now)` processes every complete window (aligned to the window size) between a model's
checkpoint and `now - delay` (late events get `delay` to arrive); after downtime it catches up at most
`max_backfill_windows` (older ones are skipped and reported). A job lock in `mlsiem-state` keeps a
second instance from running the same windows at the same time; alert ids make even an overlap
harmless. `now` is a parameter, so the demo drives the same code with a simulated clock; `run_forever`
is `--every`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from detections import baselines
from detections.actions import Webhook
from detections.alerts import AlertWriter, Finding, alert_document
from detections.config import DetectConfig, ModelConfig
from detections.model_checks import ModelChecks
from detections.state import DetectorState
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.errors import EngineError
from mlsiem.indices import drift_stream

FindingSource = Callable[[datetime, datetime], list[Finding]]


@dataclass
class JobReport:
    windows: int = 0
    alerts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})
    metrics: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    skipped_windows: int = 0
    locked: bool = False
    error: str | None = None  # the run failed (the engine was unreachable); the next tick retries
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "findings"}
        data["findings"] = [
            {
                "rule": f.rule.id,
                "severity": f.severity,
                "reason": f.reason,
                "window_start": f.window_start.isoformat(),
                "group": f.group,
            }
            for f in self.findings
        ]
        return data


def align(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


class DetectorJob:
    def __init__(
        self, engine: Engine, config: DetectConfig, extra_sources: dict[str, FindingSource] | None = None
    ):
        self.engine = engine
        self.config = config
        self.state = DetectorState(engine, job=config.namespace)
        self.alerts = AlertWriter(engine, config.namespace)
        self.webhooks = [Webhook(w) for w in config.webhooks]
        self.extra_sources = dict(extra_sources or {})  # name -> findings for [start, end) (the Sigma pack)

    def _models(self) -> list[ModelConfig]:
        if self.config.models:
            return self.config.models
        return [
            ModelConfig(name=name, version=version) for name, version in baselines.stored_models(self.engine)
        ]

    def _windows(self, key: str, now: datetime, report: JobReport) -> list[tuple[datetime, datetime]]:
        step = self.config.window
        last_complete = align(now - self.config.delay, step)
        start = self.state.checkpoint(key) or last_complete - step
        starts = []
        cursor = align(start, step)
        while cursor + step <= last_complete:
            starts.append(cursor)
            cursor += step
        if len(starts) > self.config.max_backfill_windows:
            skipped = len(starts) - self.config.max_backfill_windows
            report.skipped_windows += skipped
            report.notes.append(f"{key}: {skipped} old window(s) skipped (max_backfill_windows)")
            starts = starts[-self.config.max_backfill_windows :]
        return [(s, s + step) for s in starts]

    def run_once(self, now: datetime | None = None) -> JobReport:
        now = now or datetime.now(UTC)
        report = JobReport()
        if not self.state.acquire(self.config.lock_ttl):
            report.locked = True
            report.notes.append("another detector job holds the lock; nothing done")
            return report
        try:
            for model in self._models():
                self._run_model(model, now, report)
            for name, source in self.extra_sources.items():
                for start, end in self._windows(name, now, report):
                    for finding in source(start, end):
                        self._emit(finding, report)
                    self.state.advance(name, end)
                    report.windows += 1
        finally:
            self.state.release()
        return report

    def _run_model(self, model: ModelConfig, now: datetime, report: JobReport) -> None:
        key = baselines.baseline_id(model.name, model.version)
        profile = baselines.load(self.engine, model.name, model.version)
        if profile is None:
            report.notes.append(f"{key}: no baseline in mlsiem-baselines; run `mlsiem baseline create` first")
            return
        checks = ModelChecks(self.engine, self.config, model, profile, key)
        for start, end in self._windows(key, now, report):
            result = checks.run(Window(model.name, model.version, start, end))
            report.notes.extend(result.notes)
            self._write_metrics(result.metrics, report)
            for finding in result.findings:
                self._emit(finding, report)
            self.state.advance(key, end)
            report.windows += 1

    def _write_metrics(self, metrics: list[tuple[str, dict[str, Any]]], report: JobReport) -> None:
        if not metrics:
            return
        stream = drift_stream(self.config.namespace)
        lines = []
        for doc_id, document in metrics:
            lines.append(orjson.dumps({"create": {"_index": stream, "_id": doc_id}}))
            lines.append(orjson.dumps(document))
        response = self.engine.bulk(b"\n".join(lines) + b"\n")
        for item in response.get("items", []):
            status = item.get("create", {}).get("status")
            if status in (200, 201):
                report.metrics += 1
            elif status != 409:  # 409: this window's metric was written by an earlier run
                report.notes.append(f"drift metric not written: {item.get('create', {}).get('error')}")

    def _emit(self, finding: Finding, report: JobReport) -> None:
        outcome = self.alerts.write(finding)
        report.alerts[outcome] += 1
        report.findings.append(finding)
        if outcome != "created":
            return  # actions fire once per alert, not once per suppressed repeat
        for hook in self.webhooks:
            if hook.wants(finding.severity):
                if hook.send(alert_document(finding)):
                    report.webhooks_sent += 1
                else:
                    report.webhooks_failed += 1

    def run_forever(
        self,
        every: timedelta,
        on_report: Callable[[JobReport], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        while not stop():
            began = time.monotonic()
            try:
                report = self.run_once()
            except EngineError as exc:
                # An unreachable engine must not end a scheduled job: checkpoints only advance past
                # finished windows and alert ids are deterministic, so the next tick resumes cleanly.
                report = JobReport(error=str(exc))
            if on_report:
                on_report(report)
            remaining = every.total_seconds() - (time.monotonic() - began)
            while remaining > 0 and not stop():
                time.sleep(min(1.0, remaining))
                remaining -= 1.0
