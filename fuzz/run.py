"""The fuzz runner (outside CI): every target in fuzz/targets/ over seeds plus mutated inputs.

    python fuzz/run.py [--target NAME ...] [--inputs 1000000] [--seed N] [--time-limit-per-input 2.0]
                       [--time-budget SECONDS] [--json]
    python fuzz/run.py --replay fuzz/findings/formats-0123abcd.bin

Prints one line per target (inputs, reported-bad, ok, failures, slowest input, inputs/s) and exits 1
when any target failed (the inputs are in fuzz/findings/, see fuzz/README.md); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.harness import FINDINGS_DIR, Stats, TargetError, load_targets, replay, run_target


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fuzz/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", help="run only this target (repeat for more)")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target (seeds included)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed: one seed, one input sequence")
    parser.add_argument(
        "--time-limit-per-input", type=float, default=2.0, help="seconds before an input counts as a hang"
    )
    parser.add_argument(
        "--time-budget", type=float, help="seconds per target: stop there even before --inputs inputs"
    )
    parser.add_argument("--findings", type=Path, default=FINDINGS_DIR, help="where failing inputs go")
    parser.add_argument("--replay", type=Path, help="run one saved input again and print its traceback")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON lines")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    arguments = parser.parse_args(argv)
    if arguments.inputs < 1 or arguments.time_limit_per_input < 0:
        parser.error("--inputs must be at least 1 and --time-limit-per-input not negative")
    return arguments


def _line(stats: Stats) -> str:
    slowest = stats.slowest_ms
    return (
        f"{stats.target:16} inputs {stats.inputs:>9}  reported-bad {stats.reported:>9}  ok {stats.ok:>9}  "
        f"failures {stats.failures:>6} ({len(stats.signatures)} unique)  slowest {slowest:8.1f} ms  "
        f"{stats.rate:9.1f} inputs/s  {stats.seconds:8.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    if arguments.replay is not None:
        names = arguments.target or []
        return replay(arguments.replay, names[0] if names else None, arguments.time_limit_per_input)
    try:
        targets = load_targets(arguments.target)
    except TargetError as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2

    def progress(stats: Stats) -> None:
        if not arguments.quiet:
            print("  ... " + _line(stats), file=sys.stderr, flush=True)

    failed = False
    for name, module in targets.items():
        stats = run_target(
            name,
            module,
            arguments.inputs,
            seed=arguments.seed,
            time_limit=arguments.time_limit_per_input,
            findings=arguments.findings,
            progress=progress,
            time_budget=arguments.time_budget,
        )
        failed |= stats.failures > 0
        if arguments.json:
            print(json.dumps(stats.row()), flush=True)
        else:
            print(_line(stats), flush=True)
            for key, count in stats.signatures.most_common():
                print(f"    {count:>8} x {key}", flush=True)
            for path in stats.saved:
                print(f"    saved {path}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
