"""Garbage collection while the shipper runs: the interpreter's defaults cost it 14-18% of its CPU."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_YOUNG_THRESHOLD = 50_000  # allocations between young-generation collections while shipping


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Fewer cyclic garbage collections while the pipeline runs.

    Every record allocates a few dozen containers (the parsed record, the document) that reference
    counting frees, acyclic, as soon as the event is serialized; with the interpreter's default
    threshold (700) the collector still ran about every 7 records and walked the read-ahead queue and
    the batches in flight each time: 14-18% of the shipper's CPU on 200,000 events (docs/benchmarks.md).
    Objects alive at the start (modules, configuration) are frozen out of the walks. Cyclic garbage is
    still collected, only in larger steps; the old settings come back when the run ends.
    """
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def quiet_worker_gc() -> None:
    """The same for a worker process, for its whole life (it only normalizes)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
