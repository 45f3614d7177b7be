"""What the `mlsiem-ingested` final pipeline costs the engine: bulk rate with it against without it.

The same normalized documents go by opensearch-py's `helpers.bulk` into fresh inference data streams of
one local engine, alternating a stream with the final pipeline (as `mlsiem setup` makes it) and one
whose `index.final_pipeline` was removed; the first pair warms the engine up and is not counted.
Prints the rates, the medians and the median of the paired ratios. Run by hand:

    .venv/bin/python benchmarks/ingest_pipeline.py --events 100000 --pairs 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch, helpers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ship import write_file
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.local_engine import LocalEngine, free_port
from mlsiem.templates import SetupConfig
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin


def documents(path: Path) -> list[tuple[str, dict[str, Any]]]:
    normalizer = Normalizer(NormalizeConfig(namespace="bench"))
    built: list[tuple[str, dict[str, Any]]] = []
    with open(path, "rb") as handle:
        offset = 0
        for line in handle:
            events, _ = normalizer.normalize(line.rstrip(b"\n"), Origin("file:bench", offset, str(path)))
            offset += len(line)
            built += [(event.event_id, event.document) for event in events]
    return built


def bulk_rate(engine: Engine, client: OpenSearch, docs: list, namespace: str, pipeline: bool) -> float:
    run_setup(engine, SetupConfig(namespace=namespace))
    stream = inference_stream(namespace)
    if not pipeline:
        engine.request("PUT", f"/{stream}/_settings", body={"index": {"final_pipeline": None}})
    actions = ({"_op_type": "create", "_index": stream, "_id": i, "_source": d} for i, d in docs)
    began = time.perf_counter()
    ok, errors = helpers.bulk(client, actions, chunk_size=2000, stats_only=True)
    took = time.perf_counter() - began
    assert ok == len(docs) and not errors
    return len(docs) / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=4, help="counted pairs (one more warms up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        local = LocalEngine(port=free_port(), heap="1g", root=work / "engine")
        local.start()
        try:
            engine = Engine.connect(ConnectionSettings(url=local.url))
            client = OpenSearch(hosts=[local.url], timeout=120)
            path = work / "events.ndjson"
            write_file(path, args.events)
            docs = documents(path)
            rates: dict[bool, list[float]] = {True: [], False: []}
            for pair in range(args.pairs + 1):
                for pipeline in (True, False) if pair % 2 == 0 else (False, True):
                    rate = bulk_rate(engine, client, docs, f"p{pair}{int(pipeline)}", pipeline)
                    if pair:
                        rates[pipeline].append(rate)
        finally:
            local.stop()
    for pipeline, label in ((True, "with the final pipeline"), (False, "without")):
        runs = " / ".join(f"{r:,.0f}" for r in rates[pipeline])
        print(f"{label:24} median {statistics.median(rates[pipeline]):8,.0f} docs/s  (runs {runs})")
    paired = statistics.median(a / b for a, b in zip(rates[True], rates[False], strict=True))
    print(f"paired ratio with/without: {paired:.3f}")


if __name__ == "__main__":
    main()
