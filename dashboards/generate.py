"""Render dashboards/spec.yaml into dashboards/kibana/*.ndjson and dashboards/opensearch/*.ndjson.

    python dashboards/generate.py           write the files
    python dashboards/generate.py --check   exit 1 when a committed file differs from the spec

Both flavors come from the one spec, so they cannot drift apart; the test suite runs `--check`'s logic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout, uninstalled

from dashboards.fields_check import spec_field_problems
from dashboards.render import stale_files, write_files
from dashboards.spec import SPEC_PATH, load_spec
from mlsiem.errors import MlsiemError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(SPEC_PATH)
    except MlsiemError as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 2
    problems = spec_field_problems(spec)
    if problems:
        print(f"generate: error: {SPEC_PATH} names fields the index templates do not map:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_files(spec)
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        if stale:
            print("run: python dashboards/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for path in write_files(spec):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
