"""The engine's CPU per 1,000 indexed documents: mlsiem's ECS documents, per template variant, and raw JSON.

The shipper is not measured here, only what the engine spends to index what it is sent. The input is
made once: `ship_events.py` events (the shipping benchmarks' ~1 KB inference events), normalized by
`mlsiem normalize` to ECS NDJSON. Every run sends the same documents with a plain bulk loop (batches of
`--batch`, `--senders` concurrent senders like the shipper's, at most `--rate` documents/s), `create`
with the document's `event.id` as `_id` (the shipper's exactly-once contract), into a fresh data
stream; it then refreshes, waits until no merge runs, and takes the engine's CPU before and after (from
/proc for a node on this machine, else node stats `process.cpu.total_in_millis`), and the index's
refresh and merge counts. Variants run in alternating rounds after uncounted warm-up runs; medians are
printed with the load average of each run. `--poll` refreshes and counts while sending, as
`ship_vs_fluentbit.py` does to see when a shipper is done.

Variants: `setup` is exactly what `mlsiem setup` installs (a fresh namespace per run); the others
install one index template of a higher priority for their own namespace, made from the same bodies
(`mlsiem.templates`, `mlsiem.ecs.fields`) with one change each (`before`: the templates before version
3). `raw-*` send the events as raw JSON into an index without a template (dynamic mapping), as Fluent
Bit does: `raw-fbid` with ids that are hashes of the record (Fluent Bit's `Generate_ID On`, what
`ship_vs_fluentbit.py` runs), `raw-auto` with engine-generated ids.

    .venv/bin/mlsiem engine start --port 9400 --heap 1g
    .venv/bin/python benchmarks/engine_ingest.py --url http://127.0.0.1:9400 --events 50000 --rounds 3 \
        --rate 1000 --variants before setup raw-fbid
    .venv/bin/mlsiem engine stop --port 9400
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.ship_events import write_events  # noqa: E402
from mlsiem.adapter import Engine  # noqa: E402
from mlsiem.config import ConnectionSettings  # noqa: E402
from mlsiem.ecs.fields import mapping_for  # noqa: E402
from mlsiem.indices import inference_stream  # noqa: E402
from mlsiem.installer import run_setup  # noqa: E402
from mlsiem.templates import SetupConfig, _settings_component  # noqa: E402

Body = dict[str, Any]  # {"settings": ..., "mappings": ...} of one index template
Change = Callable[[Body], None]


def _props(body: Body, dotted: str) -> dict[str, Any]:
    node = body["mappings"]
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


def _settings(**index: Any) -> Change:
    def change(body: Body) -> None:
        for key, value in index.items():
            if value is None:
                body["settings"]["index"].pop(key, None)
            else:
                body["settings"]["index"][key] = value

    return change


def _llm_text(type_: str) -> Change:
    def change(body: Body) -> None:
        for name in ("mlsiem.llm.prompt", "mlsiem.llm.completion"):
            _props(body, name)["type"] = type_

    return change


def _no_caseless(body: Body) -> None:
    for name in ("mlsiem.llm.prompt", "mlsiem.llm.completion", "message", "error.message"):
        _props(body, name).pop("fields", None)


def _features_off(body: Body) -> None:
    features = _props(body, "mlsiem.features")
    features.clear()
    features.update({"type": "object", "enabled": False})
    body["mappings"]["dynamic_templates"] = [
        t for t in body["mappings"]["dynamic_templates"] if not next(iter(t)).startswith("mlsiem_features")
    ]


def _features_no_points(body: Body) -> None:
    """Numeric features with doc values only: no points tree to build and merge. Not adopted: OpenSearch
    before 2.12 and Elasticsearch 8.0 refuse range queries on such fields, and the outliers detector
    pre-filters with range queries on features."""
    for template in body["mappings"]["dynamic_templates"]:
        mapping = next(iter(template.values()))
        if mapping["path_match"] == "mlsiem.features.*" and mapping["mapping"]["type"] == "double":
            mapping["mapping"]["index"] = False


def _index_nothing(body: Body) -> None:
    keep = {"@timestamp", "event"}
    props = body["mappings"]["properties"]
    for name in list(props):
        if name not in keep:
            del props[name]
    props["event"]["properties"] = {"id": props["event"]["properties"]["id"]}
    body["mappings"]["dynamic_templates"] = []


# name -> (what the variant is, its change); `setup` and `raw-*` are special.
VARIANTS: dict[str, tuple[str, Change | None]] = {
    "setup": ("the templates `mlsiem setup` installs", None),
    "same": ("setup's bodies in one template (checks the variant machinery)", lambda body: None),
    "before": ("template version 2: refresh_interval 1s, searched or not", _settings(refresh_interval="1s")),
    "refresh-5s": ("index.refresh_interval 5s", _settings(refresh_interval="5s")),
    "features-no-points": ("numeric features: doc values only, no points", _features_no_points),
    "llm-match-only": ("prompt/completion as match_only_text", _llm_text("match_only_text")),
    "no-caseless": ("diagnostic: no .caseless sub-fields", _no_caseless),
    "features-off": ("diagnostic: mlsiem.features not indexed", _features_off),
    "index-nothing": ("diagnostic: only @timestamp and event.id indexed", _index_nothing),
    "raw-fbid": ("raw JSON, dynamic mapping, hashed ids (Fluent Bit Generate_ID)", None),
    "raw-auto": ("raw JSON, dynamic mapping, engine-generated ids", None),
}
PRIORITY = 300  # above setup's 200: the variant's template wins for its own namespace


@dataclass
class Run:
    variant: str
    seconds: float
    engine_cpu: float  # CPU seconds
    load: tuple[float, float]  # 1-minute load average before, after
    refreshes: int = 0  # the index's refreshes during the run (segments made)
    merged_mb: float = 0.0  # what merges rewrote

    def per_1000(self, events: int) -> float:
        return self.engine_cpu * 1000 / events * 1000


def prepare(work: Path, events: int) -> tuple[list[bytes], list[bytes]]:
    """(ECS documents, raw events) as NDJSON lines, made once and cached in `work`."""
    raw, ecs = work / f"raw-{events}.ndjson", work / f"ecs-{events}.ndjson"
    if not ecs.exists():
        write_events(raw, events)
        with open(ecs, "wb") as out:
            command = [
                sys.executable,
                "-m",
                "mlsiem",
                "normalize",
                str(raw),
                "--dead-letter",
                str(work / "dl"),
            ]
            subprocess.run(command, stdout=out, check=True, cwd=work)
    docs = ecs.read_bytes().splitlines()
    if len(docs) != events:
        raise RuntimeError(f"{ecs}: {len(docs)} documents, expected {events}")
    return docs, raw.read_bytes().splitlines()


def batches_ecs(docs: list[bytes], batch: int) -> list[bytes]:
    """Bulk bodies without an index (sent to `/<stream>/_bulk`): create with the event's own id."""
    bodies = []
    for start in range(0, len(docs), batch):
        lines = []
        for doc in docs[start : start + batch]:
            event_id = orjson.loads(doc)["event"]["id"]
            lines += [b'{"create":{"_id":"' + event_id.encode() + b'"}}', doc]
        bodies.append(b"\n".join(lines) + b"\n")
    return bodies


def batches_raw(raw: list[bytes], batch: int, ids: bool) -> list[bytes]:
    """Raw events with `@timestamp` from `ts` (as Fluent Bit adds it), with hashed ids or none."""
    bodies = []
    for start in range(0, len(raw), batch):
        lines = []
        for line in raw[start : start + batch]:
            event = orjson.loads(line)
            doc = orjson.dumps({"@timestamp": event["ts"], **event})
            if ids:
                digest = hashlib.md5(doc).hexdigest()
                uuid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
                lines.append(b'{"create":{"_id":"' + uuid.encode() + b'"}}')
            else:
                lines.append(b'{"create":{}}')
            lines.append(doc)
        bodies.append(b"\n".join(lines) + b"\n")
    return bodies


class EngineCpu:
    """The engine's CPU seconds: from /proc when the node runs on this machine (exact to the tick), else
    node stats `process.cpu.total_in_millis` (which the node refreshes only once a second)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        nodes = engine.request("GET", "/_nodes/process", what="node info")["nodes"]
        pids = [n["process"]["id"] for n in nodes.values()]
        self.stats = [Path(f"/proc/{pid}/stat") for pid in pids]
        self.local = len(self.stats) == 1 and self.stats[0].exists() and b"java" in self._cmdline()
        self.source = "/proc" if self.local else "node stats"

    def _cmdline(self) -> bytes:
        return (self.stats[0].parent / "cmdline").read_bytes()

    def seconds(self) -> float:
        if self.local:
            fields = self.stats[0].read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        nodes = self.engine.request("GET", "/_nodes/stats/process", what="node stats")["nodes"]
        return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000


def variant_body(change: Change) -> Body:
    settings = copy.deepcopy(_settings_component(SetupConfig())["template"]["settings"])
    body = {"settings": settings, "mappings": mapping_for("inference")}
    change(body)
    return body


def install_variant(engine: Engine, name: str, change: Change) -> None:
    body = {
        "index_patterns": [f"logs-mlsiem.inference-v{name.replace('-', '')}*"],
        "data_stream": {},
        "priority": PRIORITY,
        "template": variant_body(change),
    }
    engine.request("PUT", f"/_index_template/bench-{name}", body, what=f"template of {name}")


def send(engine: Engine, target: str, bodies: list[bytes], senders: int, every: float) -> None:
    """`senders` threads take the batches in order, like the shipper's concurrent senders; batch k is not
    sent before `k * every` seconds from the start (a shipper's pace; 0: as fast as the engine takes them)."""
    work: Iterator[tuple[int, bytes]] = enumerate(bodies)
    lock = threading.Lock()
    failures: list[str] = []
    start = time.monotonic()

    def sender() -> None:
        while not failures:
            with lock:
                k, body = next(work, (0, b""))
            if not body:
                return
            time.sleep(max(0.0, start + k * every - time.monotonic()))
            while True:
                answer = engine.client.transport.perform_request(
                    "POST",
                    f"/{target}/_bulk",
                    params={"filter_path": "errors,items.*.status,items.*.error"},
                    body=body,
                    headers={"content-type": "application/x-ndjson"},
                )
                if not answer.get("errors"):
                    break
                statuses = {next(iter(i.values()))["status"] for i in answer["items"]}
                if statuses - {201, 429}:
                    failures.append(str(answer["items"][:3]))
                    return
                time.sleep(0.2)  # 429s only: resend the batch (409s would show as a failure above)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{target}: bulk failed: {failures[0]}")


def settle(engine: Engine, target: str) -> None:
    """Refresh, then wait until no merge runs: the work the indexing caused, not just its first part."""
    engine.refresh(target)
    for _ in range(600):
        stats = engine.request("GET", f"/{target}/_stats/merge", what="merge stats")
        if stats["_all"]["primaries"]["merges"]["current"] == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{target}: merges still running after 60 s")


def run(
    engine: Engine,
    clock: EngineCpu,
    variant: str,
    target: str,
    bodies: list[bytes],
    events: int,
    senders: int,
    every: float = 0.0,
    poll: float = 0.0,
) -> Run:
    time.sleep(2)  # let the previous run's deletion settle
    load = os.getloadavg()[0]
    cpu = clock.seconds()
    began = time.perf_counter()
    stop = threading.Event()
    if poll:  # as ship_vs_fluentbit.py waits for the documents: refresh and count every `poll` seconds

        def poller() -> None:
            while not stop.wait(poll):
                engine.refresh(target)
                engine.count(target)

        threading.Thread(target=poller, daemon=True).start()
    try:
        send(engine, target, bodies, senders, every)
    finally:
        stop.set()
    settle(engine, target)
    seconds = time.perf_counter() - began
    cpu = clock.seconds() - cpu
    found = engine.count(target)
    if found != events:
        raise RuntimeError(f"{target}: {found} documents, expected {events}")
    stats = engine.request("GET", f"/{target}/_stats/refresh,merge", what="index stats")["_all"]["primaries"]
    refreshes, merged = stats["refresh"]["total"], stats["merges"]["total_size_in_bytes"] / 1e6
    path = f"/_data_stream/{target}" if target.startswith("logs-") else f"/{target}"
    engine.request("DELETE", path, what=f"delete {target}")
    return Run(variant, seconds, cpu, (load, os.getloadavg()[0]), refreshes, merged)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0, help="documents/s to send at most (0: no limit)")
    parser.add_argument("--raw-rate", type=float, default=0, help="the raw variants' rate (default: --rate)")
    parser.add_argument("--poll", type=float, default=0, help="refresh and count every POLL s while sending")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted runs before the rounds")
    parser.add_argument("--variants", nargs="+", default=["before", "setup", "raw-fbid"])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mlsiem-engine-ingest")
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")

    args.work.mkdir(parents=True, exist_ok=True)
    docs, raw = prepare(args.work, args.events)
    size = sum(map(len, docs)) / len(docs)
    print(
        f"{args.events} events: ECS documents {size:.0f} B, raw events {sum(map(len, raw)) / len(raw):.0f} B"
    )
    bodies = {
        "ecs": batches_ecs(docs, args.batch),
        "raw-fbid": batches_raw(raw, args.batch, ids=True),
        "raw-auto": batches_raw(raw, args.batch, ids=False),
    }
    del docs, raw

    engine = Engine.connect(ConnectionSettings(url=args.url))
    tag = f"{int(time.time()) % 100000}"
    run_setup(engine, SetupConfig(namespace=f"ecsetup{tag}"))
    for name in args.variants:
        change = VARIANTS[name][1]
        if change is not None:
            install_variant(engine, name, change)

    every = args.batch / args.rate if args.rate else 0.0
    raw_every = args.batch / args.raw_rate if args.raw_rate else every
    clock = EngineCpu(engine)
    print(f"engine CPU from {clock.source}")
    # The engine's first bulk requests run in its interpreter and JIT-compile: not counted.
    for w in range(args.warmup):
        run(
            engine,
            clock,
            "warm-up",
            inference_stream(f"ecsetup{tag}w{w}"),
            bodies["ecs"],
            args.events,
            2,
            every,
        )
    if args.warmup:
        run(engine, clock, "warm-up", f"rawjson-warmup-{tag}", bodies["raw-fbid"], args.events, 2, every)
    runs: list[Run] = []
    for r in range(args.rounds):
        for name in args.variants:
            if name.startswith("raw-"):
                target, payload = f"rawjson-{name}-{tag}-{r}", bodies[name]
            elif name == "setup":
                target, payload = inference_stream(f"ecsetup{tag}r{r}"), bodies["ecs"]
            else:
                target, payload = inference_stream(f"v{name.replace('-', '')}{tag}r{r}"), bodies["ecs"]
            pace = raw_every if name.startswith("raw-") else every
            result = run(engine, clock, name, target, payload, args.events, args.senders, pace, args.poll)
            runs.append(result)
            load = f"load {result.load[0]:.2f} -> {result.load[1]:.2f}"
            print(
                f"round {r + 1} {name:20s} {result.per_1000(args.events):6.1f} ms CPU / 1,000 docs, "
                f"{args.events / result.seconds:7,.0f} docs/s, {result.refreshes} refreshes, "
                f"{result.merged_mb:.0f} MB merged, {load}",
                flush=True,
            )
    for name in args.variants:
        engine.request("DELETE", f"/_index_template/bench-{name}", what="delete template", ignore=(404,))
    engine.request("DELETE", f"/_data_stream/*-ecsetup{tag}", what="delete setup's streams", ignore=(404,))
    engine.request("DELETE", f"/mlsiem-alerts-ecsetup{tag}-*", what="delete setup's alerts", ignore=(404,))

    base = statistics.median(r.per_1000(args.events) for r in runs if r.variant == args.variants[0])
    print(
        f"\nmedians of {args.rounds} rounds, {args.events} documents each (ratio against {args.variants[0]}):"
    )
    columns = (
        "variant",
        "engine CPU / 1,000 docs",
        "ratio",
        "docs/s",
        "refreshes",
        "MB merged",
        "load avg",
        "what",
    )
    print("| " + " | ".join(columns) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for name in args.variants:
        mine = [r for r in runs if r.variant == name]
        cpu = statistics.median(r.per_1000(args.events) for r in mine)
        rate = statistics.median(args.events / r.seconds for r in mine)
        loads = [x for r in mine for x in r.load]
        refreshes = statistics.median(r.refreshes for r in mine)
        merged = statistics.median(r.merged_mb for r in mine)
        print(
            f"| {name} | {cpu:.1f} ms | {cpu / base:.2f}x | {rate:,.0f} | {refreshes:.0f} | {merged:.0f} "
            f"| {min(loads):.1f}-{max(loads):.1f} | {VARIANTS[name][0]} |"
        )


if __name__ == "__main__":
    main()
