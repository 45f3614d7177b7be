"""The detector job: windows since each model's checkpoint, detectors, alerts, metrics, actions.

`run_once(now)` processes every complete window (aligned to the window size) between a model's
checkpoint and `now - delay` (late events get `delay` to arrive); after downtime it catches up at most
`max_backfill_windows` (older ones are skipped and reported). `now` is a parameter, so the demo drives
the same code with a simulated clock; `run_forever` is `--every`.

The work is cut into units: the models in `fleet.shards` shards (by a hash of the model), and each
extra finding source (a group of Sigma rules). Any number of instances run the same job; each unit is
done by whoever holds its lease (`detections.state`), so the instances share a cycle and a dead
instance's units are taken over once its lease expires. A shard's models are judged `chunk_size` at a
time: their checkpoints and baselines read in one request each, every detector's search of every due
window sent together (`detections.batching`), then the results written under the renewed lease.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from detections import baselines, batching
from detections.actions import Webhook
from detections.alerts import AlertWriter, Finding, alert_document
from detections.config import DetectConfig, ModelConfig
from detections.model_checks import ModelChecks, WindowResult
from detections.state import Checkpoint, DetectorState, Lease
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.errors import EngineError
from mlsiem.indices import drift_stream, inference_stream

FindingSource = Callable[[datetime, datetime], list[Finding]]


@dataclass
class JobReport:
    windows: int = 0
    alerts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})
    metrics: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    skipped_windows: int = 0
    units: int = 0  # units of work this instance held and finished
    held: list[str] = field(default_factory=list)  # units left to other live instances (run_once(wait=False))
    judged: list[str] = field(default_factory=list)  # "<model or source>@<window start>", judged here
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


def shard_of(key: str, shards: int) -> int:
    """The shard of a model: stable across instances and runs (crc32 of its baseline id)."""
    return zlib.crc32(key.encode()) % shards


class LeaseLost(Exception):
    """Another instance took over a unit while this one was still working on it."""


@dataclass
class _Due:
    model: ModelConfig
    key: str
    read: Checkpoint | None
    windows: list[tuple[datetime, datetime]]


class DetectorJob:
    def __init__(
        self, engine: Engine, config: DetectConfig, extra_sources: dict[str, FindingSource] | None = None
    ):
        self.engine = engine
        self.config = config
        self.fleet = config.fleet
        self.index = inference_stream(config.namespace)
        self.state = DetectorState(engine, job=config.namespace, owner=config.fleet.instance)
        self.alerts = AlertWriter(engine, config.namespace)
        self.webhooks = [Webhook(w) for w in config.webhooks]
        self.extra_sources = dict(extra_sources or {})  # name -> findings for [start, end) (Sigma groups)
        self._held: dict[str, Lease] = {}  # unit -> the latest version of its lease while we work on it

    def _models(self) -> list[ModelConfig]:
        if self.config.models:
            return self.config.models
        return [
            ModelConfig(name=name, version=version) for name, version in baselines.stored_models(self.engine)
        ]

    def _windows(
        self, key: str, checkpoint: datetime | None, last_complete: datetime, report: JobReport
    ) -> list[tuple[datetime, datetime]]:
        step = self.config.window
        start = checkpoint or last_complete - step
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

    # -- the cycle: units of work under leases -----------------------------------------------------

    def _units(self) -> dict[str, Callable[[Lease, datetime, JobReport], None]]:
        shards: dict[int, list[ModelConfig]] = {}
        for model in self._models():
            key = baselines.baseline_id(model.name, model.version)
            shards.setdefault(shard_of(key, self.fleet.shards), []).append(model)
        units: dict[str, Callable[[Lease, datetime, JobReport], None]] = {}
        for number in sorted(shards):
            models = shards[number]
            units[f"models/{number}"] = lambda lease, last, report, models=models: self._run_shard(
                lease, models, last, report
            )
        for name, source in self.extra_sources.items():
            units[f"source/{name}"] = lambda lease, last, report, name=name, source=source: self._run_source(
                lease, name, source, last, report
            )
        return units

    def run_once(self, now: datetime | None = None, wait: bool = True) -> JobReport:
        """One cycle. With `wait`, units that other live instances hold are retried until they are
        released (then checked here: nothing is due) or their lease expires (then taken over), so the
        cycle is complete when this returns; without, they are left to their holders (`report.held`)."""
        now = now or datetime.now(UTC)
        report = JobReport()
        last_complete = align(now - self.config.delay, self.config.window)
        units = self._units()
        names = list(units)
        if names:  # instances start at different units, so they rarely race for the same lease
            offset = zlib.crc32(self.fleet.instance.encode()) % len(names)
            names = names[offset:] + names[:offset]
        pause = min(0.25, self.fleet.lease.total_seconds() / 4)  # a held unit is usually released soon
        while names:
            held = []
            for name in names:
                lease = self.state.acquire(name, self.fleet.lease)
                if lease is None:
                    held.append(name)
                    continue
                self._held[name] = lease
                try:
                    units[name](lease, last_complete, report)
                except LeaseLost:
                    report.notes.append(
                        f"{name}: lease lost to another instance; its remaining work is theirs"
                    )
                    continue
                except Exception:
                    with contextlib.suppress(EngineError):  # free it now rather than at its expiry
                        self.state.release(self._held.pop(name))
                    raise
                report.units += 1
                self.state.release(self._held.pop(name))
            names = held
            if names and not wait:
                report.held = names
                break
            if names:
                time.sleep(pause)
        return report

    def _renew(self, lease: Lease) -> Lease:
        renewed = self.state.renew(self._held[lease.unit], self.fleet.lease)
        if renewed is None:
            del self._held[lease.unit]
            raise LeaseLost(lease.unit)
        self._held[lease.unit] = renewed
        return renewed

    # -- models --------------------------------------------------------------------------------------

    def _run_shard(self, lease: Lease, models: list[ModelConfig], last: datetime, report: JobReport) -> None:
        for begin in range(0, len(models), self.fleet.chunk_size):
            lease = self._run_chunk(lease, models[begin : begin + self.fleet.chunk_size], last, report)

    def _due(self, models: list[ModelConfig], last: datetime, report: JobReport) -> Iterator[_Due]:
        keys = [baselines.baseline_id(m.name, m.version) for m in models]
        checkpoints = self.state.checkpoints(keys)
        for model, key in zip(models, keys, strict=True):
            read = checkpoints[key]
            windows = self._windows(key, read.until if read else None, last, report)
            if windows:
                yield _Due(model, key, read, windows)

    def _run_chunk(self, lease: Lease, models: list[ModelConfig], last: datetime, report: JobReport) -> Lease:
        due = list(self._due(models, last, report))
        if not due:
            return lease
        lease = self._renew(lease)  # a whole lease for judging this chunk
        profiles = baselines.load_many(self.engine, [(d.model.name, d.model.version) for d in due])
        checks: dict[str, ModelChecks] = {}
        requests: list[batching.Request] = []
        for item in due:
            profile = profiles[(item.model.name, item.model.version)]
            if profile is None:
                report.notes.append(
                    f"{item.key}: no baseline in mlsiem-baselines; run `mlsiem baseline create` first"
                )
                continue
            checks[item.key] = ModelChecks(self.engine, self.config, item.model, profile, item.key)
            for start, end in item.windows:
                requests.extend(
                    checks[item.key].requests(Window(item.model.name, item.model.version, start, end))
                )
        responses = batching.run(self.engine, self.index, requests, self.fleet.searches_per_request)
        results: list[tuple[_Due, Window, WindowResult]] = []
        for item in due:
            if item.key not in checks:
                continue
            for start, end in item.windows:
                window = Window(item.model.name, item.model.version, start, end)
                results.append((item, window, checks[item.key].judge(window, responses)))
        lease = self._renew(lease)  # the results are written only while the lease is ours
        self._write_metrics([m for _, _, result in results for m in result.metrics], report)
        for _, _, result in results:
            report.notes.extend(result.notes)
            for finding in result.findings:
                self._emit(finding, report)
        moves = [(item.key, item.read, item.windows[-1][1]) for item in due if item.key in checks]
        lost = set(self.state.advance_from(moves))
        for key in sorted(lost):
            report.notes.append(
                f"{key}: its checkpoint moved meanwhile (another instance); not advanced here"
            )
        for item, window, _ in results:
            if item.key not in lost:
                report.windows += 1
                report.judged.append(f"{item.key}@{window.start.isoformat()}")
        return lease

    # -- extra finding sources (the Sigma rule groups) ---------------------------------------------

    def _run_source(
        self, lease: Lease, name: str, source: FindingSource, last: datetime, report: JobReport
    ) -> None:
        read = self.state.checkpoints([name])[name]
        since = read.until if read else None
        if read is None and "/" in name:
            # A group of a source that used to run whole (the Sigma pack before it was split into rule
            # groups, checkpoint `sigma`): the group goes on where the whole source stopped.
            since = self.state.checkpoint(name.split("/", 1)[0])
        for start, end in self._windows(name, since, last, report):
            findings = source(start, end)
            lease = self._renew(lease)
            for finding in findings:
                self._emit(finding, report)
            if self.state.advance_from([(name, read, end)]):
                report.notes.append(
                    f"{name}: its checkpoint moved meanwhile (another instance); stopped here"
                )
                return
            read = self.state.checkpoints([name])[name]
            report.windows += 1
            report.judged.append(f"{name}@{start.isoformat()}")

    # -- writing ---------------------------------------------------------------------------------------

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
                # Units that other instances hold are theirs this tick; the next tick checks them again.
                report = self.run_once(wait=False)
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
