"""Parse + normalize + serialize: in the pipeline's own thread, or in worker processes for more cores.

`normalize_records` is the one way a list of raw records becomes, per record, its serialized events,
its rejections and the limits it hit. With `pipeline.processes` above 1 the pipeline hands each list
(a file's chunk, a burst of forward records) to a `WorkerPool` and takes the results back strictly in
the order it handed them over, so batches, acknowledgements and the registry's checkpoints see the
records in reading order, exactly as with one process: only the CPU work moves.

Workers are started from a fork server that imported the normalizer once (cheap to start, and
nothing of the pipeline's threads is inherited); each builds its own `Normalizer` from the same
`NormalizeConfig`. What crosses the process boundary is flat lists (raw lines and origins' fields in,
ids and JSON documents out): pickling one list of bytes is far cheaper than pickling an object per
record, and the pipeline's thread, which does the pickling, is what limits how far workers scale.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from shipper.normalize.limits import LimitCounts
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin, Rejected
from shipper.sinks.base import Encoded


@dataclass(slots=True)
class Outcome:
    """What one raw record became: its events (serialized), its rejections, the limits it hit."""

    events: list[Encoded]
    rejected: list[Rejected]
    limited: list[tuple[str, str]]


def normalize_records(normalizer: Any, records: list[tuple[Any, Origin]]) -> list[Outcome]:
    """Each `(raw, origin)` normalized and its events serialized once (the bytes the sink sends)."""
    dumps, scratch = orjson.dumps, LimitCounts()
    outcomes = []
    for raw, origin in records:
        events, rejected = normalizer.normalize(raw, origin)
        limited = scratch.observe(events, rejected) if events or rejected else []
        encoded = [Encoded(e.kind, e.event_id, dumps(e.document)) for e in events]
        outcomes.append(Outcome(encoded, rejected, limited))
    return outcomes


# Columns: (raws, sources, offsets, paths) in; (counts, kinds, ids, jsons, {record: (rejected, limited)}) out.
Columns = tuple[list, list, list, list]
Results = tuple[list[int], list[str], list[str], list[bytes], dict[int, tuple[list, list]]]
_worker_normalizer: Normalizer | None = None


def _start_worker(config: NormalizeConfig) -> None:
    global _worker_normalizer
    _worker_normalizer = Normalizer(config)


def _work(columns: Columns) -> Results:
    raws, sources, offsets, paths = columns
    records = [(raw, Origin(*fields)) for raw, *fields in zip(raws, sources, offsets, paths, strict=True)]
    counts, kinds, ids, jsons, unusual = [], [], [], [], {}
    for number, outcome in enumerate(normalize_records(_worker_normalizer, records)):
        counts.append(len(outcome.events))
        for event in outcome.events:
            kinds.append(event.kind)
            ids.append(event.event_id)
            jsons.append(event.json)
        if outcome.rejected or outcome.limited:
            unusual[number] = (outcome.rejected, outcome.limited)
    return counts, kinds, ids, jsons, unusual


def _outcomes(results: Results) -> list[Outcome]:
    counts, kinds, ids, jsons, unusual = results
    outcomes, at = [], 0
    for number, count in enumerate(counts):
        events = [Encoded(kinds[i], ids[i], jsons[i]) for i in range(at, at + count)]  # type: ignore[arg-type]
        at += count
        rejected, limited = unusual.get(number, ((), ()))
        outcomes.append(Outcome(events, list(rejected), list(limited)))
    return outcomes


class WorkerPool:
    """`processes` workers; `submit` lists of records, `results` in submission order."""

    def __init__(self, config: NormalizeConfig, processes: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["shipper.parallel"])
        self._pool = ProcessPoolExecutor(
            processes, mp_context=context, initializer=_start_worker, initargs=(config,)
        )
        self._pending: deque[tuple[list, Future]] = deque()
        self.limit = processes * 2  # lists in flight: every worker busy, one more waiting each

    def submit(self, items: list) -> None:
        origins = [item.origin for item in items]
        columns = (
            [item.raw for item in items],
            [o.source for o in origins],
            [o.offset for o in origins],
            [o.path for o in origins],
        )
        self._pending.append((items, self._pool.submit(_work, columns)))

    def results(self, wait: bool) -> Iterator[tuple[list, list[Outcome]]]:
        """The finished head of the line, in order; with `wait`, until fewer than `limit` are in
        flight (or, with `wait` and nothing more to submit, until all are back)."""
        pending = self._pending
        while pending and (pending[0][1].done() or (wait and len(pending) >= self.limit)):
            items, future = pending.popleft()
            yield items, _outcomes(future.result())

    def drain(self) -> Iterator[tuple[list, list[Outcome]]]:
        while self._pending:
            items, future = self._pending.popleft()
            yield items, _outcomes(future.result())

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
