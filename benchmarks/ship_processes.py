"""`pipeline.processes`: how the shipper's CPU-side path scales with worker processes.

The same file of native inference events (`ship_events.py`) goes to `--output file:` (no engine: only
the shipper's own work counts) with `pipeline.processes` 1, 2, 4, ..., alternating, several rounds;
medians are printed. Per run: events/s (wall clock), the CPU of the pipeline's own process (its
rusage) and of its workers (the fork server's children, read from /proc while they run, since they
are not our children and their rusage never reaches us), and peak RSS of the pipeline's process.

What the pipeline's process still does per event is the serial part that bounds any number of
workers (reading 1 MiB chunks, batches, the sink); the rest is in the workers. From the measured CPU
per event the script projects the rate with N workers on N free cores:
`min(N / (worker + pipeline CPU per event), 1 / pipeline CPU per event)`, against one process's rate
on one core (`1 / its CPU per event`). On a machine with fewer cores than workers only the projection
can say what more cores give; with as many cores as workers the measured rates say it directly.

    .venv/bin/python benchmarks/ship_processes.py --events 200000 --rounds 3 --processes 1 2 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.ship_events import write_events  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    seconds: float
    pipeline_cpu: float  # the pipeline's process: user + system seconds
    worker_cpu: float  # its descendants (fork server and workers)
    rss_mb: float


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system seconds) of a process, from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _watch(root: int, seen: dict[int, float], stop: threading.Event) -> None:
    """Keeps the latest CPU seconds of every descendant of `root` (polled every 50 ms)."""
    while not stop.is_set():
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (found := _stat(int(entry))) is not None:
                parents[int(entry)], cpu[int(entry)] = found
        family = {root}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in family and pid not in family:
                    family.add(pid)
                    grew = True
        for pid in family - {root}:
            seen[pid] = max(seen.get(pid, 0.0), cpu[pid])
        stop.wait(0.05)


def ship(path: Path, events: int, processes: int, work: Path) -> Run:
    config = work / f"processes-{processes}.yml"
    config.write_text(f"pipeline:\n  processes: {processes}\n")
    out = work / "out.ndjson"
    out.unlink(missing_ok=True)
    (work / "registry.json").unlink(missing_ok=True)
    command = [sys.executable, "-m", "mlsiem", "ship", "--no-progress", str(path), "--config", str(config)]
    command += ["--output", f"file:{out}", "--registry", str(work / "registry.json")]
    env = {**os.environ, "MLSIEM_HOME": str(work / "home")}
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(process.pid, seen, stop), daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    stop.set()
    watcher.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"mlsiem ship failed: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    with open(out, "rb") as handle:
        written = sum(1 for _ in handle)
    if written != events:
        raise RuntimeError(f"{written} events written, expected {events}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, sum(seen.values()), usage.ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlsiem-processes-") as tmp:
        work = Path(tmp)
        path = work / "events.ndjson"
        write_events(path, args.events)
        runs: dict[int, list[Run]] = {n: [] for n in args.processes}
        for round_number in range(args.rounds):
            for n in args.processes:
                run = ship(path, args.events, n, work)
                runs[n].append(run)
                print(
                    f"round {round_number + 1} processes={n}: {args.events / run.seconds:,.0f} ev/s, "
                    f"pipeline CPU {run.pipeline_cpu:.2f} s, workers {run.worker_cpu:.2f} s, "
                    f"RSS {run.rss_mb:.0f} MB",
                    flush=True,
                )
        median = statistics.median
        load = os.getloadavg()[0]
        print(f"\n{os.cpu_count()} cores; load average now {load:.1f}; medians of {args.rounds}:")
        single = runs.get(1)
        one_core = args.events / median([r.pipeline_cpu for r in single]) if single else None
        for n, measured in runs.items():
            rate = args.events / median([r.seconds for r in measured])
            serial = median([r.pipeline_cpu for r in measured]) / args.events * 1e6  # us per event
            workers = median([r.worker_cpu for r in measured]) / args.events * 1e6
            line = (
                f"processes={n}: {rate:,.0f} ev/s measured; per event: pipeline process {serial:.1f} us, "
                f"workers {workers:.1f} us; RSS {median([r.rss_mb for r in measured]):.0f} MB"
            )
            if n > 1 and one_core:
                projected = min(n / ((serial + workers) / 1e6), 1 / (serial / 1e6))
                line += f"; on {n} free cores: {projected:,.0f} ev/s = {projected / one_core:.2f}x one core"
            print(line)
        if one_core:
            print(f"one process on one core: {one_core:,.0f} ev/s (1 / its CPU per event)")


if __name__ == "__main__":
    main()
