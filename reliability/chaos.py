"""The chaos run: events ship from followed, rotating files while the engine and the shipper die.

    python -m reliability.chaos --events 1000000 [--rate 5000] [--json report.json]

On loopback only, with a real local engine of its own: a writer appends events to a log file that is
renamed away every `rotate_every` lines; `mlsiem ship --follow` ships them; `mlsiem detect --every`
runs the detector job with the Sigma pack (every `injection_every`-th event is a prompt-injection
attempt, so there are alerts to duplicate). Meanwhile, at set fractions of the events:

1. the shipper is SIGKILLed and restarted;
2. the engine is SIGKILLed, stays down `outage_seconds`, and is restarted;
3. the engine is SIGKILLed and stays down until the shipper's disk spool is at its size limit
   (the shipper must then hold its sources back, not drop);
4. the engine is SIGKILLed; with events in the spool the shipper is SIGKILLed too and restarted while
   the engine is still down; then the engine comes back.

At the end every written event must be in the engine exactly once: the count, the multiset of
`seq` values and the set of `_id`s (recomputed from one clean, uninterrupted read of the same files)
all match; the alerts have no duplicates; the dead-letter file is empty; the shipper's memory is flat.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detections.sigma.pack import PACK_ROOT
from mlsiem.adapter import Engine
from mlsiem.indices import alerts_alias, inference_stream
from mlsiem.local_engine import LocalEngine, free_port
from mlsiem.yamlfile import read_yaml
from reliability.harness import (
    RotatingWriter,
    RssSampler,
    connect,
    count_or_none,
    directory_bytes,
    mlsiem_process,
    scan_ids,
    signal_group,
    stop_quietly,
)
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.sources.files import FileSource
from shipper.sources.registry import Registry

NAMESPACE = "chaos"
# The rule every injection attempt matches once; its id is read from the pack, not copied here.
INJECTION_RULE = PACK_ROOT / "rules" / "llm" / "llm_prompt_injection_direct.yml"
FAULT_FRACTIONS = (0.10, 0.25, 0.40, 0.60)  # of the events written when each fault is injected
GATE_LEAD = 0.05  # how far the writer may run past a fault's point before the fault happens


@dataclass(frozen=True)
class ChaosPlan:
    events: int = 1_000_000
    rate: float = 5000.0  # lines/s appended by the writer
    rotate_every: int = 100_000
    batch_size: int = 500
    spool_max_mb: int = 8
    engine_heap: str = "1g"
    outage_seconds: float = 8.0
    detector_every: str = "3s"
    detector_window: str = "20s"  # buckets of half of it: at least 10 s
    # How long after its end a window is judged: events shipped later than that are not examined (see
    # docs/reliability.md). Above the longest catch-up time, every injection attempt must be alerted.
    detector_delay: str = "20s"
    injection_every: int = 2000
    timeout: float = 3600.0  # the whole run, hard bound


@dataclass
class Fault:
    name: str
    at_count: int  # events in the engine when it was injected
    injected_s: float
    cleared_s: float = 0.0
    resumed_s: float | None = None  # from clearing to the first new event in the engine
    caught_up_s: float | None = None  # from clearing to everything written by then being in the engine
    note: str = ""


@dataclass
class ChaosReport:
    plan: dict[str, Any]
    written: int = 0
    rotations: int = 0
    in_engine: int = 0
    lost: int = 0
    duplicated: int = 0
    ids_match_source: bool = False
    dead_lettered: int = 0
    alerts: int = 0
    duplicate_alerts: int = 0
    injections: int = 0  # prompt-injection attempts written
    injections_alerted: int = 0  # summed evidence counts of the direct-injection rule's alerts
    detector_runs_failed: int = 0
    spool_peak_mb: float = 0.0
    spool_full_seen: bool = False
    shipper_exit_code: int | None = None
    detector_exit_code: int | None = None  # SIGTERMed at the end: 0 unless it had died before
    shipper_memory: dict[str, Any] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            self.written == self.in_engine
            and self.lost == 0
            and self.duplicated == 0
            and self.ids_match_source
            and self.dead_lettered == 0
            and self.duplicate_alerts == 0
            and self.alerts > 0
            and 0 < self.injections_alerted <= self.injections
            and self.spool_full_seen
            and self.shipper_exit_code == 0
            and self.detector_exit_code == 0
            and bool(self.shipper_memory.get("flat"))
        )


class ChaosRun:
    def __init__(self, plan: ChaosPlan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.home = workdir / "home"
        self.logs = workdir / "logs"
        self.spool = self.home / "shipper" / "spool"
        self.engine = LocalEngine(port=free_port(), heap=plan.engine_heap, root=workdir / "engine")
        self.writer = RotatingWriter(
            self.logs, plan.events, plan.rate, plan.rotate_every, plan.injection_every
        )
        self.shipper: subprocess.Popen | None = None
        self.detector: subprocess.Popen | None = None
        self.incarnation = 0
        self.report = ChaosReport(plan=asdict(plan))
        self.sampler = RssSampler(self._shipper_pid, interval=1.0)
        self.began = time.monotonic()
        self._client: Engine | None = None

    # -- processes -----------------------------------------------------------------------------------

    def _shipper_pid(self) -> tuple[int, int] | None:
        proc = self.shipper
        return (self.incarnation, proc.pid) if proc is not None and proc.poll() is None else None

    def start_shipper(self) -> None:
        self.incarnation += 1
        self.shipper = mlsiem_process(
            self.home,
            [
                "ship",
                str(self.logs / "app.log*"),
                "--follow",
                "--url",
                self.engine.url,
                "--namespace",
                NAMESPACE,
                "--batch-size",
                str(self.plan.batch_size),
                "--retry-seconds",
                "2",
                "--spool-max-mb",
                str(self.plan.spool_max_mb),
                "--no-progress",
            ],
            "shipper",
        )

    def start_detector(self) -> None:
        config = self.workdir / "detect.yaml"
        window = _seconds(self.plan.detector_window)
        # Suppression as long as a window: every window with a hit makes a new alert, so a re-run of a
        # window (after a failed run) that wrote a second alert would show up as a duplicate, and one
        # that counted its events twice would show in `injections_alerted`. The delay lets events held
        # up by a fault count in their window.
        config.write_text(
            f"window: {window:.0f}s\nbucket: {window / 2:.0f}s\nsuppression: {window:.0f}s\n"
            f"delay: {_seconds(self.plan.detector_delay):.0f}s\n"
        )
        self.detector = mlsiem_process(
            self.home,
            [
                "detect",
                "--every",
                self.plan.detector_every,
                "--config",
                str(config),
                "--namespace",
                NAMESPACE,
                "--url",
                self.engine.url,
            ],
            "detector",
        )

    # -- observation -----------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return round(time.monotonic() - self.began, 2)

    def count(self) -> int | None:
        return count_or_none(self._client, NAMESPACE) if self._client is not None else None

    def _connect(self) -> None:
        self._client = connect(self.engine.url)

    def spool_bytes(self) -> int:
        size = directory_bytes(self.spool, "*.seg")
        self.report.spool_peak_mb = max(self.report.spool_peak_mb, round(size / (1 << 20), 2))
        return size

    def wait(
        self, predicate: Callable[[], bool], what: str, timeout: float = 600.0, interval: float = 0.25
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.shipper is not None and self.shipper.poll() is not None:
                code = self.shipper.returncode
                raise RuntimeError(f"the shipper exited with {code} while waiting for {what}")
            if self.detector is not None and self.detector.poll() is not None:
                log = (self.home / "detector.err").read_text(errors="replace")[-500:]
                raise RuntimeError(f"the detector job exited while waiting for {what}: {log}")
            if predicate():
                return
            time.sleep(interval)
        raise TimeoutError(f"chaos run: timed out after {timeout:.0f} s waiting for {what}")

    def wait_count(self, at_least: int, what: str, timeout: float = 600.0) -> None:
        self.wait(lambda: (self.count() or 0) >= at_least, what, timeout)

    def measure_recovery(self, fault: Fault) -> None:
        """Record when shipping resumes and when it has caught up with what was written by the clear."""
        fault.cleared_s = self.elapsed()
        baseline = self.count() or 0
        target = self.writer.written
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            now = self.count()
            if now is not None and now > baseline and fault.resumed_s is None:
                fault.resumed_s = round(self.elapsed() - fault.cleared_s, 2)
            if now is not None and now >= target:
                fault.caught_up_s = round(self.elapsed() - fault.cleared_s, 2)
                if fault.resumed_s is None:
                    fault.resumed_s = fault.caught_up_s
                return
            time.sleep(0.25)

    # -- faults ------------------------------------------------------------------------------------

    def _fault(self, name: str, fraction: float) -> Fault:
        """Wait until the writer has written `fraction` of the events, then open its gate: it may run
        `GATE_LEAD` further ahead before the next fault is injected, whatever the machine's speed."""
        line = int(self.plan.events * fraction)
        self.wait(lambda: self.writer.written >= line, f"{fraction:.0%} of the events written before {name}")
        fault = Fault(name, self.count() or 0, self.elapsed())
        self.report.faults.append(fault)
        self._gates.pop(0)[1].set()
        return fault

    def kill_shipper(self, fraction: float) -> None:
        fault = self._fault("shipper SIGKILL", fraction)
        assert self.shipper is not None
        signal_group(self.shipper, signal.SIGKILL)
        self.start_shipper()
        self.measure_recovery(fault)

    def crash_engine(self, fraction: float) -> None:
        fault = self._fault("engine SIGKILL", fraction)
        self.engine.stop(crash=True)
        time.sleep(self.plan.outage_seconds)
        spooled = self.spool_bytes() / (1 << 20)
        fault.note = f"down {self.plan.outage_seconds:.0f} s; spool reached {spooled:.1f} MB"
        self._restart_engine(fault)

    def crash_engine_until_spool_full(self, fraction: float) -> None:
        fault = self._fault("engine SIGKILL until the spool is full", fraction)
        self.engine.stop(crash=True)
        limit = self.plan.spool_max_mb << 20
        segment = self.plan.batch_size * 2048  # generous bound on one batch's spool segment
        self.wait(lambda: self.spool_bytes() > limit - segment, "the spool to reach its limit", timeout=300)
        held_at = self.writer.written
        time.sleep(3.0)  # the shipper now holds its sources back; the spool must stay within its limit
        size = self.spool_bytes()
        self.report.spool_full_seen = size <= limit
        fault.note = (
            f"spool {size / (1 << 20):.1f} of {self.plan.spool_max_mb} MB; writer went on from {held_at} "
            f"to {self.writer.written} lines meanwhile"
        )
        self._restart_engine(fault)

    def crash_both(self, fraction: float) -> None:
        fault = self._fault("engine SIGKILL, then shipper SIGKILL with a non-empty spool", fraction)
        self.engine.stop(crash=True)
        self.wait(lambda: self.spool_bytes() > 0, "events in the spool", timeout=120)
        assert self.shipper is not None
        signal_group(self.shipper, signal.SIGKILL)
        fault.note = f"shipper killed with {self.spool_bytes() / (1 << 20):.1f} MB spooled; restarted"
        self.start_shipper()
        time.sleep(self.plan.outage_seconds)
        self._restart_engine(fault)

    def _restart_engine(self, fault: Fault) -> None:
        self.engine.start()
        self._connect()
        self.measure_recovery(fault)

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> ChaosReport:
        self.engine.start()
        try:
            self._connect()
            self._gates = [
                (int(self.plan.events * (f + GATE_LEAD)), threading.Event()) for f in FAULT_FRACTIONS
            ]
            self.writer.gates = list(self._gates)
            self.writer.start()
            self.start_shipper()
            self.sampler.start()
            self.wait_count(1, "the first event", timeout=120)
            self.start_detector()
            kill, crash, fill, both = FAULT_FRACTIONS
            self.kill_shipper(kill)
            self.crash_engine(crash)
            self.crash_engine_until_spool_full(fill)
            self.crash_both(both)
            self.writer.join(timeout=self.plan.timeout)
            self.wait(
                lambda: self.count() == self.plan.events and not self.spool_bytes(),
                "every event in the engine and an empty spool",
                timeout=self.plan.timeout,
            )
            self.sampler.stopping.set()
            assert self.shipper is not None
            self.report.shipper_exit_code = signal_group(self.shipper, signal.SIGTERM)
            # The last window is judged `delay` after it closed, on the detector's next tick.
            window, every = _seconds(self.plan.detector_window), _seconds(self.plan.detector_every)
            time.sleep(window + _seconds(self.plan.detector_delay) + 2 * every + 5)
            assert self.detector is not None
            self.report.detector_exit_code = signal_group(self.detector, signal.SIGTERM)
            self.verify()
        finally:
            self.writer.stopping.set()
            self.sampler.stopping.set()
            stop_quietly(self.shipper)
            stop_quietly(self.detector)
            self.engine.stop()
        self.report.seconds = self.elapsed()
        return self.report

    def verify(self) -> None:
        report = self.report
        report.written, report.rotations = self.writer.written, self.writer.rotations
        assert self._client is not None
        stream = inference_stream(NAMESPACE)
        self._client.refresh(stream)
        found = scan_ids(self._client, stream, "mlsiem.features.seq")
        report.in_engine = len(found)
        seqs = Counter(seq for _, seq in found)
        report.lost = sum(1 for s in range(report.written) if s not in seqs)
        report.duplicated = sum(n - 1 for n in seqs.values() if n > 1) + sum(
            1 for s in seqs if not 0 <= s < report.written
        )
        report.ids_match_source = {doc_id for doc_id, _ in found} == source_ids(self.logs)
        dead = self.home / "shipper" / "dead-letter.ndjson"
        report.dead_lettered = len(dead.read_bytes().splitlines()) if dead.exists() else 0
        alias = alerts_alias(NAMESPACE)
        self._client.refresh(alias)
        fields = ["event.id", "rule.id", "mlsiem.evidence.event_count"]
        hits = self._client.search(alias, {"size": 10_000, "_source": fields})["hits"]["hits"]
        report.alerts = len(hits)
        report.duplicate_alerts = len(hits) - len({h["_source"]["event"]["id"] for h in hits})
        report.injections = len(range(0, report.written, self.plan.injection_every))
        rule_id = read_yaml(INJECTION_RULE, "Sigma rule file")["id"]
        report.injections_alerted = sum(
            h["_source"].get("mlsiem", {}).get("evidence", {}).get("event_count") or 0
            for h in hits
            if h["_source"].get("rule", {}).get("id") == rule_id
        )
        failed = (self.home / "detector.err").read_text(errors="replace").count("detector run failed")
        report.detector_runs_failed = failed
        report.shipper_memory = self.sampler.summary()


def _seconds(duration: str) -> float:
    from detections.config import parse_duration

    return parse_duration(duration).total_seconds()


def source_ids(logs: Path) -> set[str]:
    """The `_id` of every event, from one clean read of the files as they are at the end."""
    with tempfile.TemporaryDirectory() as scratch:
        config = NormalizeConfig(namespace=NAMESPACE)
        registry = Registry(Path(scratch) / "registry.json")
        files = FileSource([str(logs / "app.log*")], registry, max_line_bytes=config.max_line_bytes)
        normalizer = Normalizer(config)
        ids: set[str] = set()
        for block in files.records():
            if block is None:
                continue
            for raw, origin in zip(block.raws, block.all_origins(), strict=True):
                events, _ = normalizer.normalize(raw, origin)
                ids.update(e.event_id for e in events)
        files.close()
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=5000.0, help="lines/s the writer appends")
    parser.add_argument("--rotate-every", type=int, default=100_000)
    parser.add_argument(
        "--detector-delay", default=ChaosPlan.detector_delay, help="how long after its end a window is judged"
    )
    parser.add_argument("--workdir", type=Path, help="keep the run's files here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    plan = ChaosPlan(
        events=args.events, rate=args.rate, rotate_every=args.rotate_every, detector_delay=args.detector_delay
    )
    with tempfile.TemporaryDirectory(prefix="mlsiem-chaos-") as scratch:
        report = ChaosRun(plan, args.workdir or Path(scratch)).run()
    text = json.dumps({**asdict(report), "passed": report.passed}, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
