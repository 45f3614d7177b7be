"""Parse + normalize + serialize: in the pipeline's own thread, or in worker processes for more cores.

`normalize_block` is the one way a block of raw records becomes its serialized events, its rejections
and the limits it hit. With `pipeline.processes` above 1 the pipeline hands each block (a file's
chunk, a burst of forward records) to a `WorkerPool` and takes the results back strictly in
the order it handed them over, so batches, acknowledgements and the registry's checkpoints see the
records in reading order, exactly as with one process: only the CPU work moves.

Workers are started from a fork server that imported the normalizer once (cheap to start, and
nothing of the pipeline's threads is inherited); each builds its own `Normalizer` from the same
`NormalizeConfig`. What crosses the process boundary is flat lists (raw lines and their offsets in, kinds,
ids and JSON documents out): pickling one list of bytes is far cheaper than pickling an object per
record, and the pipeline's process, which does the pickling, is what limits how far workers scale.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import orjson

from shipper.gc_settings import quiet_worker_gc
from shipper.normalize.limits import LimitCounts
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin, Rejected
from shipper.sinks.base import Encoded
from shipper.sources.base import Block


@dataclass(slots=True)
class BlockResult:
    """What a block's records became, in record order: record `i` made `counts[i]` of `events` (serialized,
    in order); the few records that were (partly) rejected or hit a limit have
    `unusual[i] = (rejections, limits hit)`."""

    counts: list[int]
    events: list[Encoded]
    unusual: dict[int, tuple[list[Rejected], list[tuple[str, str]]]]


def normalize_block(normalizer: Any, raws: list[Any], origins: list[Origin]) -> BlockResult:
    """Each raw record normalized and its events serialized once (the bytes the sink sends)."""
    dumps, scratch, normalize = orjson.dumps, LimitCounts(), normalizer.normalize
    counts: list[int] = []
    kinds: list[str] = []
    ids: list[str] = []
    jsons: list[bytes] = []
    unusual: dict[int, tuple[list[Rejected], list[tuple[str, str]]]] = {}
    for number, (raw, origin) in enumerate(zip(raws, origins, strict=True)):
        events, rejected = normalize(raw, origin)
        counts.append(len(events))
        for event in events:
            kinds.append(event.kind)
            ids.append(event.event_id)
            jsons.append(dumps(event.document))
        if events or rejected:
            limited = scratch.observe(events, rejected)
            if rejected or limited:
                unusual[number] = (rejected, limited)
    return BlockResult(counts, packed(kinds, ids, b"".join(jsons), list(map(len, jsons))), unusual)


def packed(kinds: list[str], ids: list[str], blob: bytes, sizes: list[int]) -> list[Encoded]:
    """Events whose documents are slices of ONE bytes object, the block's documents joined.

    Memory, measured: a document serialized on its own is a ~1.3 KB allocation that lives until its
    batch is delivered, between the short-lived allocations of the records normalized after it; the
    heap could not reuse the gaps, and a shipper into the engine grew to 180 MB RSS for 30,000 events
    where 116 MB do with one allocation per block (docs/benchmarks.md). Sinks join the slices as they
    joined bytes.
    """
    if not sizes:
        return []
    view = memoryview(blob)
    ends = list(accumulate(sizes))
    starts = [0, *ends[:-1]]
    return list(map(Encoded, kinds, ids, [view[start:end] for start, end in zip(starts, ends, strict=True)]))


# To a worker: (raws, the block's origin fields, starts); back: (counts, kinds, ids, documents joined,
# their sizes, unusual).
Columns = tuple[list, tuple[str, int | None, str | None], list[int] | None]
Results = tuple[list[int], list[str], list[str], bytes, list[int], dict[int, tuple[list, list]]]
_worker_normalizer: Normalizer | None = None


def _start_worker(config: NormalizeConfig) -> None:
    global _worker_normalizer
    _worker_normalizer = Normalizer(config)
    quiet_worker_gc()


def _work(columns: Columns) -> Results:
    raws, (source, offset, path), starts = columns
    if starts is None:
        origins = [Origin(source, offset, path)] * len(raws)
    else:
        origins = [Origin(source, start, path) for start in starts]
    result = normalize_block(_worker_normalizer, raws, origins)
    events = result.events
    kinds = [event.kind for event in events]
    ids = [event.event_id for event in events]
    blob = events[0].json.obj if events else b""  # the block's documents, joined once: one object to pickle
    return result.counts, kinds, ids, blob, [len(event.json) for event in events], result.unusual


def _result(results: Results) -> BlockResult:
    counts, kinds, ids, blob, sizes, unusual = results
    return BlockResult(counts, packed(kinds, ids, blob, sizes), unusual)


class WorkerPool:
    """`processes` workers; `submit` blocks of records, `results` in submission order."""

    def __init__(self, config: NormalizeConfig, processes: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["shipper.parallel"])
        self._pool = ProcessPoolExecutor(
            processes, mp_context=context, initializer=_start_worker, initargs=(config,)
        )
        self._pending: deque[tuple[Block, Future]] = deque()
        self.limit = processes * 2  # blocks in flight: every worker busy, one more waiting each

    def submit(self, block: Block) -> None:
        origin = block.origin
        columns = (block.raws, (origin.source, origin.offset, origin.path), block.starts)
        self._pending.append((block, self._pool.submit(_work, columns)))

    def results(self, wait: bool) -> Iterator[tuple[Block, BlockResult]]:
        """The finished head of the line, in order; with `wait`, until fewer than `limit` are in
        flight (or, with `wait` and nothing more to submit, until all are back)."""
        pending = self._pending
        while pending and (pending[0][1].done() or (wait and len(pending) >= self.limit)):
            block, future = pending.popleft()
            yield block, _result(future.result())

    def drain(self) -> Iterator[tuple[Block, BlockResult]]:
        while self._pending:
            block, future = self._pending.popleft()
            yield block, _result(future.result())

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
