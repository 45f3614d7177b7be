"""The soak run: the shipper's benchmark rate, sustained, with its memory watched.

    python -m reliability.soak [--rate 5000] [--minutes 10] [--json report.json]

A real local engine of its own; a writer appends `rate` events/s to a followed log file (rotated every
500,000 lines); `mlsiem ship --follow` ships them. Every 30 s the run records what was written, what is
in the engine (the lag) and the shipper's resident memory. It passes when the shipper keeps up (the lag
at the end of the writing is under 10 s of events and drains), every event is in the engine exactly
once (count, sum and sum of squares of the sequence numbers), and memory is flat (the median of the
last third of the samples within 25% + 20 MB of the first third's).
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlsiem.indices import inference_stream
from mlsiem.local_engine import LocalEngine, free_port
from reliability.harness import (
    RotatingWriter,
    RssSampler,
    connect,
    count_or_none,
    mlsiem_process,
    signal_group,
    stop_quietly,
)

NAMESPACE = "soak"
DRAIN_LIMIT = 600.0  # seconds for the backlog to drain once the writing stops


@dataclass
class SoakReport:
    rate: float
    minutes: float
    written: int = 0
    in_engine: int = 0
    exactly_once: bool = False
    shipped_rate: float = 0.0  # events/s that reached the engine during the writing
    lag_at_end_events: int = 0
    drain_seconds: float = 0.0
    timeline: list[dict[str, Any]] = field(default_factory=list)
    shipper_memory: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            self.exactly_once
            and self.lag_at_end_events <= 10 * self.rate
            and bool(self.shipper_memory.get("flat"))
        )


def run_soak(rate: float, minutes: float, workdir: Path, heap: str = "1g") -> SoakReport:
    report = SoakReport(rate=rate, minutes=minutes)
    total = int(rate * minutes * 60)
    engine = LocalEngine(port=free_port(), heap=heap, root=workdir / "engine")
    writer = RotatingWriter(workdir / "logs", total, rate, rotate_every=500_000)
    shipper = None
    engine.start()
    try:
        client = connect(engine.url)
        target = ["--url", engine.url, "--namespace", NAMESPACE]
        shipper = mlsiem_process(
            workdir / "home",
            ["ship", str(workdir / "logs" / "app.log*"), "--follow", "--no-progress", *target],
            "shipper",
        )
        proc = shipper
        sampler = RssSampler(lambda: (1, proc.pid) if proc.poll() is None else None, interval=2.0)
        began = time.monotonic()
        writer.start()
        sampler.start()
        while writer.is_alive():
            writer.join(timeout=30)
            in_engine = count_or_none(client, NAMESPACE) or 0
            rss = sampler.samples[-1][2] if sampler.samples else None
            report.timeline.append(
                {
                    "s": round(time.monotonic() - began),
                    "written": writer.written,
                    "in_engine": in_engine,
                    "lag": writer.written - in_engine,
                    "rss_mb": rss,
                }
            )
            print(json.dumps(report.timeline[-1]), flush=True)
            if shipper.poll() is not None:
                raise RuntimeError(f"the shipper exited with {shipper.returncode}; see {workdir}/home")
        writing = time.monotonic() - began
        at_end = count_or_none(client, NAMESPACE) or 0
        report.written = writer.written
        report.lag_at_end_events = report.written - at_end
        report.shipped_rate = round(at_end / writing, 1)
        drain_began = time.monotonic()
        while (
            count_or_none(client, NAMESPACE) or 0
        ) < report.written and time.monotonic() - drain_began < DRAIN_LIMIT:
            time.sleep(0.5)
        report.drain_seconds = round(time.monotonic() - drain_began, 1)
        sampler.stopping.set()
        signal_group(shipper, signal.SIGTERM)
        report.shipper_memory = sampler.summary(warmup=30.0)
        report.in_engine = count_or_none(client, NAMESPACE) or 0
        report.exactly_once = _exactly_once(client, report.written)
    finally:
        writer.stopping.set()
        stop_quietly(shipper)
        engine.stop()
    return report


def _exactly_once(client: Any, written: int) -> bool:
    """Count, sum and sum of squares of the sequence numbers match 0..written-1 (exact in doubles here)."""
    stream = inference_stream(NAMESPACE)
    client.refresh(stream)
    body = {"size": 0, "aggs": {"s": {"extended_stats": {"field": "mlsiem.features.seq"}}}}
    stats = client.search(stream, body)["aggregations"]["s"]
    n = written
    expected = (n, float(n * (n - 1) // 2), float((n - 1) * n * (2 * n - 1) // 6))
    return (stats["count"], stats["sum"] or 0.0, stats["sum_of_squares"] or 0.0) == expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s (the shipper's benchmark rate)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, help="keep the run's files here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlsiem-soak-") as scratch:
        report = run_soak(args.rate, args.minutes, args.workdir or Path(scratch))
    text = json.dumps({**asdict(report), "passed": report.passed}, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
