"""`mlsiem ship` against Fluent Bit: the same file into the same local engine, side by side.

Both shippers read the same file of native inference events (`ship_events.py`: ~1 KB each, 85%
classifier events with 24 features, 15% LLM calls with prompts, half of those with something to
redact) into the same engine, alternating, several rounds; medians are printed. Fluent Bit ships the
raw JSON (tail + JSON parser -> opensearch, `tail-to-opensearch.conf`); mlsiem normalizes to ECS and
redacts. Measured per run: events/s into the engine (until the engine holds every document), the
shipper's CPU per 1,000 events and peak RSS (from the child's rusage), the engine's CPU per 1,000
events (node stats); the engine's document count is checked after every run (lost or duplicated
events fail the run). `--file` adds the CPU-side path without the engine (mlsiem `--output file:`,
Fluent Bit's `file` output); `--forward` adds `mlsiem ship --listen forward://` fed by Fluent Bit's
forward output (raw lines and parsed maps).

    .venv/bin/mlsiem engine start --port 9400 --heap 1g
    .venv/bin/python benchmarks/ship_vs_fluentbit.py --url http://127.0.0.1:9400 --rounds 3 --file --forward

The Fluent Bit binary is ../shared/peers/fluent-bit/fluent-bit (relative to the repository root), or
the file $MLSIEM_FLUENT_BIT names.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.ship_events import write_events  # noqa: E402
from mlsiem.adapter import Engine  # noqa: E402
from mlsiem.config import ConnectionSettings  # noqa: E402
from mlsiem.indices import inference_stream  # noqa: E402
from mlsiem.local_engine import free_port  # noqa: E402

FLUENT_BIT = Path(os.environ.get("MLSIEM_FLUENT_BIT") or ROOT.parent / "shared/peers/fluent-bit/fluent-bit")
PARSERS = """\
[PARSER]
    Name        json_ts
    Format      json
    Time_Key    ts
    Time_Format %Y-%m-%dT%H:%M:%S.%LZ
    Time_Keep   On
"""
SERVICE = """\
[SERVICE]
    Flush        1
    Log_Level    warn
    Parsers_File parsers.conf

[INPUT]
    Name           tail
    Path           {path}
    Read_from_Head On
    Tag            ml.inference
    Mem_Buf_Limit  32MB
{extra}
"""
TO_OPENSEARCH = """\
[OUTPUT]
    Name               opensearch
    Match              *
    Host               127.0.0.1
    Port               {port}
    Index              {index}
    Suppress_Type_Name On
    Buffer_Size        False
    Generate_ID        On
    Retry_Limit        no_limits
"""
TO_FILE = """\
[OUTPUT]
    Name   file
    Match  *
    Path   {directory}
    File   out.json
"""
TO_FORWARD = """\
[OUTPUT]
    Name                 forward
    Match                *
    Host                 127.0.0.1
    Port                 {port}
    Require_ack_response On
    Retry_Limit          no_limits
"""


@dataclass
class Run:
    seconds: float
    cpu: float  # the shipper's user + system seconds
    rss_mb: float
    engine_cpu: float = 0.0  # the engine's CPU seconds during the run


def engine_cpu_seconds(engine: Engine) -> float:
    nodes = engine.request("GET", "/_nodes/stats/process", what="node stats")["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000


def documents(engine: Engine, index: str) -> int:
    if not engine.exists(f"/{index}"):
        return 0
    engine.refresh(index)
    return engine.count(index)


def exited(process: subprocess.Popen) -> bool:
    """Whether the child has exited, without reaping it (Popen.poll would, and take its rusage with it)."""
    return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def reap(process: subprocess.Popen) -> tuple[float, float]:
    """Waits for the child; its (CPU seconds, peak RSS in MB) from its own rusage."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done within {timeout:.0f} s")
        time.sleep(0.25)


def fluent_bit(work: Path, config: str) -> subprocess.Popen:
    (work / "parsers.conf").write_text(PARSERS)
    (work / "fluent-bit.conf").write_text(config)
    log = open(work / "fluent-bit.log", "wb")  # noqa: SIM115 (the child holds it)
    return subprocess.Popen([str(FLUENT_BIT), "-c", "fluent-bit.conf"], cwd=work, stdout=log, stderr=log)


def mlsiem(work: Path, *args: str, tree: str | None = None) -> subprocess.Popen:
    """`mlsiem ship ARGS`; `tree`: another checkout of the project to run instead (a before/after)."""
    env = {**os.environ, "MLSIEM_HOME": str(work / "home")}
    if tree:
        env["PYTHONPATH"] = tree
    command = [sys.executable, "-m", "mlsiem", "ship", "--no-progress", *args]
    log = open(work / "mlsiem.log", "wb")  # noqa: SIM115 (the child holds it)
    # cwd: the work folder, since `python -m` puts the current folder first on sys.path (before PYTHONPATH)
    return subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log)


def into_engine(engine: Engine, index: str, expected: int, start: Callable[[], subprocess.Popen]) -> Run:
    """Starts a shipper, waits until the engine holds `expected` documents in `index`, stops it."""
    cpu_before = engine_cpu_seconds(engine)
    began = time.perf_counter()
    process = start()
    until(lambda: exited(process) or documents(engine, index) >= expected, 900, index)
    seconds = time.perf_counter() - began
    engine_cpu = engine_cpu_seconds(engine) - cpu_before
    if not exited(process):
        process.send_signal(signal.SIGTERM)
    cpu, rss = reap(process)
    time.sleep(1.0)  # anything sent twice would show now
    found = documents(engine, index)
    if found != expected:
        raise RuntimeError(f"{index}: {found} documents in the engine, expected {expected}")
    return Run(seconds, cpu, rss, engine_cpu)


def fluent_bit_engine(engine: Any, port: int, path: Path, events: int, work: Path, tag: str) -> Run:
    index = f"fluentbit-{tag}"
    config = SERVICE.format(path=path, extra="    Parser         json_ts\n") + TO_OPENSEARCH.format(
        port=port, index=index
    )
    return into_engine(engine, index, events, lambda: fluent_bit(work, config))


def mlsiem_engine(
    engine: Any, url: str, path: Path, events: int, work: Path, tag: str, tree: str | None = None
) -> Run:
    namespace = f"bench{tag}"
    return into_engine(
        engine,
        inference_stream(namespace),
        events,
        lambda: mlsiem(work, str(path), "--url", url, "--namespace", namespace, tree=tree),
    )


def mlsiem_forward(engine: Any, url: str, path: Path, events: int, work: Path, tag: str, parsed: bool) -> Run:
    """mlsiem listening for forward, Fluent Bit tailing the file into it; mlsiem's CPU is measured."""
    namespace = f"fwd{tag}"
    port = free_port()
    server = mlsiem(work, "--listen", f"forward://127.0.0.1:{port}", "--url", url, "--namespace", namespace)
    time.sleep(3)  # let it import and listen (not counted: a long-running listener starts once)
    extra = "    Parser         json_ts\n" if parsed else ""
    client = fluent_bit(work, SERVICE.format(path=path, extra=extra) + TO_FORWARD.format(port=port))
    try:
        return into_engine(engine, inference_stream(namespace), events, lambda: server)
    finally:
        client.terminate()
        client.wait()


def mlsiem_file(path: Path, events: int, work: Path, tree: str | None = None) -> Run:
    out = work / "out.ndjson"
    began = time.perf_counter()
    process = mlsiem(work, str(path), "--output", f"file:{out}", tree=tree)
    cpu, rss = reap(process)
    seconds = time.perf_counter() - began
    with open(out, "rb") as handle:
        assert sum(1 for _ in handle) == events
    return Run(seconds, cpu, rss)


def mlsiem_start(work: Path, tree: str | None = None) -> Run:
    """`mlsiem ship` of an empty file: the interpreter's start and imports, to tell apart from the
    per-event cost (at 20,000 events it is most of the CPU of a run)."""
    empty = work / "empty.jsonl"
    empty.write_bytes(b"")
    return mlsiem_file(empty, 0, work, tree)


def fluent_bit_file(path: Path, events: int, work: Path) -> Run:
    out = work / "out"
    out.mkdir()
    config = SERVICE.format(path=path, extra="    Parser         json_ts\n    Exit_On_Eof    On\n")
    began = time.perf_counter()
    process = fluent_bit(work, config + TO_FILE.format(directory=out))
    cpu, rss = reap(process)
    seconds = time.perf_counter() - began
    with open(out / "out.json", "rb") as handle:
        got = sum(1 for _ in handle)
    if got != events:
        raise RuntimeError(f"Fluent Bit's file output has {got} lines, expected {events}")
    return Run(seconds, cpu, rss)


def report(name: str, runs: list[Run], events: int, start: list[Run] | None) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    line = (
        f"{name:<34} {events / median([r.seconds for r in runs]):>9,.0f} ev/s  "
        f"CPU {median([r.cpu for r in runs]) / events * 1000 * 1000:>6.1f} ms/1000  "
        f"RSS {median([r.rss_mb for r in runs]):>4.0f} MB"
    )
    if start:
        net = median([r.cpu for r in runs]) - median([r.cpu for r in start])
        line += f"  (after start-up {net / events * 1e6:>5.1f})"
    if any(r.engine_cpu for r in runs):
        line += f"  engine CPU {median([r.engine_cpu for r in runs]) / events * 1e6:>6.1f} ms/1000"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200", help="the local engine (OpenSearch)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--file", action="store_true", help="also: both shippers into a file, no engine")
    parser.add_argument("--forward", action="store_true", help="also: Fluent Bit -> mlsiem --listen forward")
    parser.add_argument("--no-engine", action="store_true", help="skip the runs into the engine")
    parser.add_argument("--before", help="also run mlsiem from this checkout (e.g. a worktree of main)")
    args = parser.parse_args()
    if not FLUENT_BIT.is_file():
        sys.exit(f"no Fluent Bit binary at {FLUENT_BIT} (set MLSIEM_FLUENT_BIT)")
    needs_engine = not args.no_engine or args.forward
    engine = Engine.connect(ConnectionSettings(url=args.url)) if needs_engine else None
    port = int(args.url.rsplit(":", 1)[1].split("/")[0])
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        size = write_events(path, args.events)
        print(f"{args.events:,} events, {size / 1e6:.0f} MB; load average {os.getloadavg()}", flush=True)
        for round_ in range(args.rounds):
            tag = f"{os.getpid()}r{round_}"
            plan: list[tuple[str, Callable[[Path], Run]]] = []
            if not args.no_engine:
                plan += [
                    (
                        "fluent-bit -> engine",
                        lambda w, t=tag: fluent_bit_engine(engine, port, path, args.events, w, t),
                    ),
                    (
                        "mlsiem ship -> engine",
                        lambda w, t=tag: mlsiem_engine(engine, args.url, path, args.events, w, t),
                    ),
                ]
            if args.before and not args.no_engine:
                plan.append(
                    (
                        "mlsiem ship (before) -> engine",
                        lambda w, t=tag: mlsiem_engine(
                            engine, args.url, path, args.events, w, t + "b", args.before
                        ),
                    )
                )
            if args.file:
                plan += [
                    ("fluent-bit -> file", lambda w: fluent_bit_file(path, args.events, w)),
                    ("mlsiem ship -> file", lambda w: mlsiem_file(path, args.events, w)),
                ]
                if args.before:
                    plan.append(
                        (
                            "mlsiem ship (before) -> file",
                            lambda w: mlsiem_file(path, args.events, w, args.before),
                        )
                    )
            if args.forward:
                plan += [
                    (
                        "fluent-bit -> mlsiem forward, raw",
                        lambda w, t=tag: mlsiem_forward(
                            engine, args.url, path, args.events, w, t + "raw", False
                        ),
                    ),
                    (
                        "fluent-bit -> mlsiem forward, parsed",
                        lambda w, t=tag: mlsiem_forward(
                            engine, args.url, path, args.events, w, t + "map", True
                        ),
                    ),
                ]
            plan.append(("mlsiem start-up (empty file)", lambda w: mlsiem_start(w)))
            if args.before:
                plan.append(("mlsiem start-up (before)", lambda w: mlsiem_start(w, args.before)))
            if round_ % 2:
                plan.reverse()  # alternate who goes first
            for name, run in plan:
                with tempfile.TemporaryDirectory(dir=tmp) as work:
                    result = run(Path(work))
                results.setdefault(name, []).append(result)
                load = os.getloadavg()[0]
                print(
                    f"round {round_ + 1} {name}: {args.events / result.seconds:,.0f} ev/s, "
                    f"CPU {result.cpu:.1f} s, RSS {result.rss_mb:.0f} MB, "
                    f"engine CPU {result.engine_cpu:.1f} s, load {load:.1f}",
                    flush=True,
                )
    print(f"medians of {args.rounds} rounds, {args.events:,} events; load average now {os.getloadavg()}")
    for name, runs in results.items():
        if "start-up" in name:
            print(f"{name:<36} CPU {statistics.median([r.cpu for r in runs]):.2f} s", flush=True)
            continue
        start = "mlsiem start-up (before)" if "(before)" in name else "mlsiem start-up (empty file)"
        report(name, runs, args.events, results.get(start) if "mlsiem" in name else None)


if __name__ == "__main__":
    main()
