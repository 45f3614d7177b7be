"""`mlsiem ship` into the local engine against opensearch-py's `helpers.bulk` with the same documents.

The baseline gets the documents pre-built (normalized beforehand, outside its timing) and only sends
them; the shipper reads the raw file, normalizes, batches and sends. Both write into fresh data
streams of the same engine in the same run, alternating, several times; the medians and their ratio are
printed. Then the shipper's peak resident memory while shipping a large file (a subprocess; streaming
means it must not grow with the file).

    .venv/bin/mlsiem engine start --port 9400
    .venv/bin/python benchmarks/ship.py --url http://127.0.0.1:9400 --events 200000 --rss-lines 2000000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opensearchpy import OpenSearch, helpers

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.build import build
from shipper.config import config_from
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.shipping import native_line


def write_file(path: Path, events: int) -> None:
    with open(path, "w") as handle:
        for start in range(0, events, 10_000):
            handle.write("".join(native_line(s) + "\n" for s in range(start, min(events, start + 10_000))))


def run_shipper(engine: Engine, path: Path, namespace: str, work: Path) -> float:
    """`mlsiem ship FILE` as the command assembles it (`build`: spool and metrics included); set up
    before the clock starts, like the baseline."""
    config = {
        "inputs": {"files": {"paths": [str(path)], "registry": work / f"registry-{namespace}.json"}},
        "normalize": {"namespace": namespace},
        "output": {"dead_letter": work / "dead.ndjson"},
        "spool": {"dir": work / f"spool-{namespace}"},
    }
    pipeline = build(config_from(config), engine)
    began = time.perf_counter()
    stats = pipeline.run()
    took = time.perf_counter() - began
    pipeline.sink.close()
    assert stats.shipped == stats.events, stats
    return took


def run_baseline(url: str, engine: Engine, path: Path, namespace: str) -> float:
    run_setup(engine, SetupConfig(namespace=namespace))
    normalizer = Normalizer(NormalizeConfig(namespace=namespace))
    actions = []
    with open(path, "rb") as handle:
        offset = 0
        for line in handle:
            events, _ = normalizer.normalize(line.rstrip(b"\n"), Origin("file:bench", offset, str(path)))
            offset += len(line)
            for event in events:
                actions.append(
                    {
                        "_op_type": "create",
                        "_index": inference_stream(namespace),
                        "_id": event.event_id,
                        "_source": event.document,
                    }
                )
    client = OpenSearch(hosts=[url], timeout=120)
    began = time.perf_counter()
    ok, errors = helpers.bulk(client, actions, chunk_size=2000, max_chunk_bytes=8 << 20, stats_only=True)
    took = time.perf_counter() - began
    assert ok == len(actions) and not errors
    return took


def peak_rss_mb(url: str, lines: int, work: Path) -> float:
    big = work / "big.jsonl"
    write_file(big, lines)
    env = {**os.environ, "MLSIEM_HOME": str(work / "rss-home")}
    command = [
        sys.executable,
        "-m",
        "mlsiem",
        "ship",
        str(big),
        "--url",
        url,
        "--namespace",
        "rss",
        "--no-progress",
    ]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rss-lines", type=int, default=0, help="also measure peak RSS shipping this many lines"
    )
    args = parser.parse_args()
    engine = Engine.connect(ConnectionSettings(url=args.url))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "events.jsonl"
        write_file(path, args.events)
        ours, base = [], []
        for run in range(args.runs):
            tag = f"{os.getpid()}r{run}"
            base.append(run_baseline(args.url, engine, path, f"bb{tag}"))
            ours.append(run_shipper(engine, path, f"bs{tag}", work))
            print(
                f"run {run + 1}: helpers.bulk {args.events / base[-1]:,.0f} ev/s, "
                f"mlsiem ship {args.events / ours[-1]:,.0f} ev/s"
            )
        m_ours, m_base = statistics.median(ours), statistics.median(base)
        print(
            f"median over {args.runs} runs, {args.events:,} events: "
            f"helpers.bulk {args.events / m_base:,.0f} ev/s, "
            f"mlsiem ship {args.events / m_ours:,.0f} ev/s, ratio {m_base / m_ours:.2f} (ship / bulk rate)"
        )
        if args.rss_lines:
            print(
                f"peak RSS shipping {args.rss_lines:,} lines: "
                f"{peak_rss_mb(args.url, args.rss_lines, work):.0f} MB"
            )


if __name__ == "__main__":
    main()
