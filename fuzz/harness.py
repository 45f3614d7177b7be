"""Runs fuzz targets over generated inputs, times each input, and keeps every failure as a finding.

A target is a module in fuzz/targets/ (a plain file, loaded by path; files starting with `_` are
helpers) with `fuzz_one(data: bytes) -> None` and `SEEDS: list[bytes]`. `fuzz_one` raises only on a real
bug; a parser that reports the input as bad the documented way is fine (targets call
`fuzz.outcome.reported(reason)` then, which counts it).

A failure is any exception from `fuzz_one`, or an input that takes longer than the per-input time
limit (a hang). Hangs are caught three ways:
- a CPU-time interval timer (`ITIMER_VIRTUAL`, SIGVTALRM: it leaves SIGALRM to pytest-timeout) raises
  `Hang` inside Python code that loops;
- an input that returns but took more CPU time than the limit (C code the timer could not interrupt)
  is recorded as a hang too (CPU, not wall-clock time: a busy machine must not make false hangs);
- a watchdog thread ends the process (exit 3) after `HARD_LIMIT_FACTOR` times the limit, when the
  input is stuck in C code no signal reaches; the input is saved before that.
Each failure is saved as `fuzz/findings/<target>-<sha1 prefix>.bin` (the input) and `.txt` (target,
signature, traceback); at most `MAX_SAVED_PER_SIGNATURE` inputs per distinct signature (exception type
and the innermost project frame) are written, all are counted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Final

from fuzz import outcome
from fuzz.mutate import Mutator

FUZZ_ROOT: Final = Path(__file__).resolve().parent
TARGETS_DIR: Final = FUZZ_ROOT / "targets"
FINDINGS_DIR: Final = FUZZ_ROOT / "findings"
PROJECT_ROOT: Final = FUZZ_ROOT.parent
MAX_SAVED_PER_SIGNATURE: Final = 3
HARD_LIMIT_FACTOR: Final = 10
PROGRESS_SECONDS: Final = 60.0


class Hang(BaseException):
    """Raised by the CPU-time timer inside an input that ran past the limit (BaseException: a target's
    `except Exception` must not swallow it)."""


class TargetError(Exception):
    """A module in fuzz/targets/ does not have the target interface."""


def load_targets(names: Iterable[str] | None = None, directory: Path = TARGETS_DIR) -> dict[str, ModuleType]:
    """Every target module in `directory` by file name (or only `names`), imported by path."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    wanted = set(names) if names else None
    found = {p.stem: p for p in sorted(directory.glob("*.py")) if not p.stem.startswith("_")}
    if wanted is not None and wanted - set(found):
        raise TargetError(f"no fuzz target {sorted(wanted - set(found))}; have {sorted(found)}")
    targets: dict[str, ModuleType] = {}
    for name, path in found.items():
        if wanted is not None and name not in wanted:
            continue
        module_name = f"fuzz_targets.{name}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise TargetError(f"fuzz target {path}: cannot import it")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        if not callable(getattr(module, "fuzz_one", None)) or not isinstance(
            getattr(module, "SEEDS", None), list
        ):
            raise TargetError(f"fuzz target {path}: needs fuzz_one(data: bytes) and SEEDS: list[bytes]")
        targets[name] = module
    return targets


@dataclass
class Stats:
    """One target's run."""

    target: str
    inputs: int = 0
    reported: int = 0
    ok: int = 0
    failures: int = 0
    seconds: float = 0.0
    slowest_ms: float = 0.0
    slowest_input: bytes = b""
    signatures: Counter[str] = field(default_factory=Counter)
    saved: list[Path] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0

    def row(self) -> dict[str, object]:
        return {
            "target": self.target,
            "inputs": self.inputs,
            "reported_bad": self.reported,
            "ok": self.ok,
            "failures": self.failures,
            "unique_failures": len(self.signatures),
            "slowest_ms": round(self.slowest_ms, 1),
            "inputs_per_s": round(self.rate, 1),
            "seconds": round(self.seconds, 1),
        }


def signature(exc: BaseException) -> str:
    """Exception type plus the innermost frame in project code (fuzz/ excluded): one bug, one name."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [
        f
        for f in frames
        if f.filename.startswith(str(PROJECT_ROOT))
        and "/.venv/" not in f.filename
        and "/fuzz/" not in f.filename
    ]
    where = own[-1] if own else (frames[-1] if frames else None)
    place = f"{Path(where.filename).name}:{where.lineno}" if where else "?"
    return f"{type(exc).__name__} at {place}"


def save_finding(target: str, data: bytes, report: str, directory: Path = FINDINGS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    path = directory / f"{target}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(report, encoding="utf-8", errors="backslashreplace")
    return path


class Watchdog:
    """Ends the process when one input runs past `limit` seconds of wall-clock time in code no signal
    reaches (C loops), after saving that input."""

    def __init__(self, limit: float, directory: Path) -> None:
        self.limit = limit
        self.directory = directory
        self.current: tuple[str, bytes, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fuzz-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            current = self.current
            if current is not None and time.monotonic() - current[2] > self.limit:
                target, data, _ = current
                path = save_finding(
                    target,
                    data,
                    f"target: {target}\nsignature: hard hang (> {self.limit:.0f} s)\n",
                    self.directory,
                )
                print(
                    f"fuzz: {target}: input stuck for over {self.limit:.0f} s, saved {path}", file=sys.stderr
                )
                os._exit(3)

    def stop(self) -> None:
        self._stop.set()


def _on_timer(signum: int, frame: FrameType | None) -> None:
    raise Hang("input ran past the CPU time limit")


def run_one(
    fuzz_one: Callable[[bytes], None], data: bytes, time_limit: float
) -> tuple[BaseException | None, float]:
    """(the exception or None, milliseconds); the CPU timer armed around the call when possible."""
    use_timer = time_limit > 0 and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGVTALRM, _on_timer) if use_timer else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    error: BaseException | None = None
    try:
        if use_timer:
            signal.setitimer(signal.ITIMER_VIRTUAL, time_limit)
        fuzz_one(data)
    except (Exception, Hang) as exc:  # a bug in the parser: the caller records it
        error = exc
    finally:
        if use_timer:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)
    if error is None and time_limit and time.process_time() - cpu_started > time_limit:
        error = Hang(f"input took over {time_limit} s of CPU time")
    return error, (time.perf_counter() - started) * 1000


def run_target(
    name: str,
    module: ModuleType,
    inputs: int,
    seed: int = 0,
    time_limit: float = 2.0,
    findings: Path | None = FINDINGS_DIR,
    progress: Callable[[Stats], None] | None = None,
    time_budget: float | None = None,
) -> Stats:
    """Seeds first, then mutated inputs, `inputs` in all (at least every seed once), or fewer when
    `time_budget` seconds run out first (the stats say how many ran)."""
    stats = Stats(name)
    rng = random.Random(f"{seed}:{name}")
    seeds: list[bytes] = list(module.SEEDS)
    mutator = Mutator(seeds, rng)
    watchdog = (
        Watchdog(max(time_limit * HARD_LIMIT_FACTOR, 30.0), findings or FINDINGS_DIR) if time_limit else None
    )
    saved_per_signature: Counter[str] = Counter()
    started = time.perf_counter()
    next_progress = started + PROGRESS_SECONDS
    total = max(inputs, len(seeds))
    try:
        for index in range(total):
            data = seeds[index] if index < len(seeds) else mutator.next()
            if watchdog is not None:
                watchdog.current = (name, data, time.monotonic())
            outcome.take()
            error, elapsed_ms = run_one(module.fuzz_one, data, time_limit)
            if watchdog is not None:
                watchdog.current = None
            stats.inputs += 1
            if elapsed_ms > stats.slowest_ms:
                stats.slowest_ms, stats.slowest_input = elapsed_ms, data
            if error is None:
                if outcome.take():
                    stats.reported += 1
                else:
                    stats.ok += 1
                    mutator.remember(data)
            else:
                stats.failures += 1
                key = signature(error)
                stats.signatures[key] += 1
                if findings is not None and saved_per_signature[key] < MAX_SAVED_PER_SIGNATURE:
                    saved_per_signature[key] += 1
                    report = (
                        f"target: {name}\nsignature: {key}\nmilliseconds: {elapsed_ms:.1f}\n\n"
                        + "".join(traceback.format_exception(error))
                    )
                    stats.saved.append(save_finding(name, data, report, findings))
            now = time.perf_counter()
            if progress is not None and now >= next_progress:
                stats.seconds = now - started
                progress(stats)
                next_progress = now + PROGRESS_SECONDS
            if time_budget is not None and now - started > time_budget and index >= len(seeds):
                break
    finally:
        if watchdog is not None:
            watchdog.stop()
        stats.seconds = time.perf_counter() - started
    return stats


def replay(path: Path, target: str | None = None, time_limit: float = 0.0) -> int:
    """Run one saved input through its target (named by the file name's prefix, or `target`);
    prints the traceback. 0 when it passes now, 1 when it still fails."""
    data = Path(path).read_bytes()
    name = target or Path(path).name.rsplit("-", 1)[0]
    module = load_targets([name])[name]
    outcome.take()
    error, elapsed_ms = run_one(module.fuzz_one, data, time_limit)
    if error is not None:
        traceback.print_exception(error)
        print(f"replay {path}: {name}: FAILS ({signature(error)}, {elapsed_ms:.1f} ms)")
        return 1
    verdict = "reported as bad input" if outcome.take() else "accepted"
    print(f"replay {path}: {name}: passes, {verdict} ({elapsed_ms:.1f} ms)")
    return 0
