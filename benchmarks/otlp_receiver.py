"""The OTLP/HTTP receiver into the local engine against `mlsiem ship` of the same events from a file.

The same GenAI spans go in twice per round, into fresh data streams of the same engine: once as
OTLP/HTTP protobuf requests (`--senders` concurrent keep-alive clients, each waiting for its answer as
the OTLP exporters do; an answer means delivered), once as the Collector file-exporter file of the same
requests, shipped with `mlsiem ship FILE` (`build`, as the command assembles it). Rounds alternate; the
medians and their ratio (receiver / file, events per second) are printed with the machine's load.

    .venv/bin/mlsiem engine start --port 9400
    .venv/bin/python benchmarks/otlp_receiver.py --url http://127.0.0.1:9400 --requests 60 --spans 500
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.local_engine import free_port
from mlsiem.templates import SetupConfig
from shipper.build import build
from shipper.config import config_from
from tests.test_otlp_receiver import collector_line, genai_spans


def make_requests(count: int, spans: int) -> list[bytes]:
    return [genai_spans(range(i * spans, (i + 1) * spans)).SerializeToString() for i in range(count)]


def write_file(path: Path, count: int, spans: int) -> None:
    with open(path, "wb") as handle:
        for i in range(count):
            handle.write(collector_line(genai_spans(range(i * spans, (i + 1) * spans))) + b"\n")


def stored(engine: Engine, namespace: str) -> int:
    stream = inference_stream(namespace)
    engine.refresh(stream)
    return engine.count(stream)


def run_file(engine: Engine, path: Path, namespace: str, work: Path) -> float:
    config = {
        "inputs": {"files": {"paths": [str(path)], "registry": str(work / f"registry-{namespace}.json")}},
        "normalize": {"namespace": namespace},
        "output": {"dead_letter": str(work / "dead.ndjson")},
        "spool": {"dir": str(work / f"spool-{namespace}")},
    }
    pipeline = build(config_from(config), engine)
    began = time.perf_counter()
    pipeline.run()
    took = time.perf_counter() - began
    pipeline.sink.close()
    return took


def run_receiver(
    engine: Engine, bodies: list[bytes], namespace: str, work: Path, senders: int, profile: bool = False
) -> float:
    port = free_port()
    config = {
        "inputs": {"otlp": [{"listen": f"otlp://127.0.0.1:{port}", "max_pending": 1024, "ack_timeout": 120}]},
        "normalize": {"namespace": namespace},
        "output": {"dead_letter": str(work / "dead.ndjson")},
        "spool": {"dir": str(work / f"spool-{namespace}")},
    }
    pipeline = build(config_from(config), engine)
    profiler = cProfile.Profile() if profile else None
    runner = threading.Thread(
        target=_run_profiled if profiler else pipeline.run,
        args=(pipeline, profiler) if profiler else (),
        daemon=True,
    )
    runner.start()
    work_queue: Queue[bytes] = Queue()
    for body in bodies:
        work_queue.put(body)
    failures: list[int] = []

    def send() -> None:
        session = requests.Session()
        headers = {"Content-Type": "application/x-protobuf"}
        while True:
            try:
                body = work_queue.get_nowait()
            except Empty:
                return
            response = session.post(
                f"http://127.0.0.1:{port}/v1/traces", data=body, headers=headers, timeout=300
            )
            if response.status_code != 200:
                failures.append(response.status_code)

    clients = [threading.Thread(target=send) for _ in range(senders)]
    began = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    took = time.perf_counter() - began
    pipeline.stop()
    runner.join()
    pipeline.sink.close()
    if failures:
        raise SystemExit(f"receiver answered {failures[:5]}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return took


def _run_profiled(pipeline, profiler) -> None:  # type: ignore[no-untyped-def]
    profiler.enable()
    try:
        pipeline.run()
    finally:
        profiler.disable()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:9400")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--spans", type=int, default=500, help="spans per request (one file line)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent OTLP clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the receiver's pipeline once")
    args = parser.parse_args()
    engine = Engine.connect(ConnectionSettings(url=args.url))
    events = args.requests * args.spans
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "export.json"
        write_file(path, args.requests, args.spans)
        bodies = make_requests(args.requests, args.spans)
        if args.profile:
            run_setup(engine, SetupConfig(namespace="otlpprof"))
            run_receiver(engine, bodies, "otlpprof", work, args.senders, profile=True)
            return
        files, receivers = [], []
        for round_number in range(args.rounds):
            tag = f"{os.getpid()}r{round_number}"
            for namespace in (f"of{tag}", f"or{tag}"):
                run_setup(engine, SetupConfig(namespace=namespace))
            files.append(events / run_file(engine, path, f"of{tag}", work))
            receivers.append(events / run_receiver(engine, bodies, f"or{tag}", work, args.senders))
            assert stored(engine, f"of{tag}") == events and stored(engine, f"or{tag}") == events
            print(
                f"round {round_number}: file {files[-1]:,.0f} ev/s, receiver {receivers[-1]:,.0f} ev/s",
                flush=True,
            )
    file_median, receiver_median = statistics.median(files), statistics.median(receivers)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {load}, {os.cpu_count()} cores")
    print(
        f"{events:,} events per round ({args.requests} requests x {args.spans} spans, {args.senders} senders)"
    )
    print(f"mlsiem ship FILE      median {file_median:,.0f} events/s")
    print(f"OTLP/HTTP receiver    median {receiver_median:,.0f} events/s")
    print(f"ratio receiver / file {receiver_median / file_median:.2f}x")


if __name__ == "__main__":
    main()
