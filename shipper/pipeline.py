"""The shipper's pipeline: sources -> normalize -> batches -> sink, with acknowledgement in order.

Each source runs in a reader thread and feeds one bounded queue (a full queue holds the readers back)
with blocks of records read at once (`sources.base.Block`: a file's chunk, a forward message), so the
queue, the worker processes and the batches pay per block, not per line. The main loop normalizes a
block (`parallel.normalize_block`: each event serialized once, the block's documents in one
allocation), puts its events into batches cut by count, bytes and time, and sender threads deliver
them. A batch counts as delivered once every event in it is in the engine (new or 409), in the
dead-letter file (rejected with a reason), or in the durable spool. Sources learn about delivery in
batch order only, so a file's registry offset never passes an event that is not safely somewhere;
after a crash, reading resumes there and the deterministic ids turn re-sent events into 409s.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shipper.batches import Batch
from shipper.gc_settings import quiet_gc
from shipper.normalize.limits import LimitCounts
from shipper.normalizer import NormalizeConfig
from shipper.normalizer import raw_text as normalized_raw_text
from shipper.parallel import BlockResult, WorkerPool, normalize_block
from shipper.records import Normalized, Origin, Rejected
from shipper.sinks.base import Encoded, Sink, SinkUnavailable
from shipper.sources.base import Block, RecordQueue, Source
from shipper.spool import Spool, SpoolFull


class Normalizes(Protocol):
    def normalize(
        self, raw: bytes | dict[str, Any], origin: Origin
    ) -> tuple[list[Normalized], list[Rejected]]: ...


class DeadLetters(Protocol):
    def write(self, rejected: Rejected) -> None: ...

    def flush(self) -> None: ...


@dataclass
class ShipStats:
    """What a run did. `truncated` counts events shipped cut at a limit and `over_limit` records
    dead-lettered for passing one, both by limit name (`shipper.normalize.limits`)."""

    records: int = 0
    events: int = 0
    shipped: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    spooled: int = 0
    retries: int = 0
    bytes_read: int = 0
    truncated: dict[str, int] = field(default_factory=dict)
    over_limit: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {key: dict(value) if isinstance(value, dict) else value for key, value in vars(self).items()}


class PipelineConfig(BaseModel):
    """Batching and concurrency; a bounded queue between the readers and the batcher."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_events: int = Field(2000, ge=1, le=100_000, description="events per bulk request")
    batch_bytes: int = Field(8 << 20, ge=1024, le=1 << 30, description="bytes per bulk request, about")
    flush_interval: float = Field(1.0, gt=0, le=600, description="seconds a batch may wait to fill")
    workers: int = Field(2, ge=1, le=64, description="concurrent bulk requests")
    processes: int = Field(
        1, ge=1, le=64, description="processes that parse, normalize and serialize (1: the pipeline's own)"
    )
    # Reading is cheap (a 1 MiB chunk is split at C speed) and a block takes tens of ms to normalize:
    # 4,000 records (a few blocks) keep the normalizer busy; more only held memory (docs/benchmarks.md).
    queue_size: int = Field(4_000, ge=1, le=10_000_000, description="raw records read ahead, at most")
    checkpoint_interval: float = Field(
        1.0, ge=0, le=600, description="seconds between registry writes, at most (0: after every batch)"
    )


log = logging.getLogger("mlsiem.shipper")
_DONE: list = []  # a reader's end, compared by identity


class Pipeline:
    def __init__(
        self,
        sources: Iterable[Source],
        normalizer: Normalizes,
        sink: Sink,
        dead_letters: DeadLetters,
        spool: Spool | None = None,
        config: PipelineConfig | None = None,
        metrics: Any = None,
    ) -> None:
        self.sources = list(sources)
        self.normalizer = normalizer
        self.sink = sink
        self.dead_letters = dead_letters
        self.spool = spool
        self.config = config or PipelineConfig()
        self.metrics = metrics
        self.stats = ShipStats()
        self._limits = LimitCounts()
        self.stats.truncated, self.stats.over_limit = self._limits.truncated, self._limits.over_limit
        self._queue: queue.Queue = RecordQueue(self.config.queue_size)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._done: set[int] = set()
        self._pending: dict[int, Batch] = {}
        self._next_ack = 0
        self._slots = threading.Semaphore(self.config.workers * 2)
        self._errors: list[BaseException] = []
        self._pool: WorkerPool | None = None
        self._checkpointing = threading.Lock()
        self._checkpointed = time.monotonic()

    # -- public ------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop reading; what was read is still delivered (or spooled) before `run` returns."""
        self._stopping.set()
        for source in self.sources:
            source.close()

    def run(self, on_progress: Callable[[ShipStats], None] | None = None) -> ShipStats:
        with quiet_gc():
            return self._run(on_progress)

    def _run(self, on_progress: Callable[[ShipStats], None] | None) -> ShipStats:
        if self.config.processes > 1:  # before the readers start: no thread is running yet to fork from
            config = getattr(self.normalizer, "config", None)
            if isinstance(config, NormalizeConfig):
                self._pool = WorkerPool(config, self.config.processes)
            else:  # a wrapped normalizer (the OTLP receiver's reports back to each request) stays here
                log.warning("pipeline.processes: this input's records are normalized in one process")
        readers = [
            threading.Thread(target=self._read, args=(s,), daemon=True, name=s.name) for s in self.sources
        ]
        for reader in readers:
            reader.start()
        drainer = None
        if self.spool is not None:
            drainer = threading.Thread(target=self._drain, daemon=True, name="spool-drainer")
            drainer.start()
        with ThreadPoolExecutor(self.config.workers, thread_name_prefix="sender") as senders:
            try:
                self._loop(senders, len(readers), on_progress)
            finally:
                if self._pool is not None:
                    self._pool.close()
        if drainer is not None:
            while self.spool and not self._stopping.is_set() and not self._errors:
                time.sleep(0.1)  # a one-shot run ends once the spool has drained
            self._stopping.set()
            drainer.join()
        self._checkpoint()
        if self._errors:
            raise self._errors[0]
        return self.stats

    # -- reading and batching ----------------------------------------------------------------------

    def _read(self, source: Source) -> None:
        try:
            for block in source.records():
                if block is not None:
                    self._queue.put(block)
                if self._stopping.is_set():
                    break
        except BaseException as exc:  # a source failing must end the run visibly, not hang it
            self._errors.append(exc)
        finally:
            self._queue.put(_DONE)

    def _loop(self, senders: ThreadPoolExecutor, active: int, on_progress: Callable | None) -> None:
        batch = Batch(0)
        cfg = self.config
        last_progress = 0.0
        while active:
            timeout = max(0.01, cfg.flush_interval - (time.monotonic() - batch.opened))
            if self._pool is not None and len(self._pool):
                timeout = 0.005  # results are coming back: look for them often
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _DONE:
                active -= 1
                item = None
            for block, result in self._normalized(item, finished=not active):
                batch = self._take(senders, batch, block, result)
            due = time.monotonic() - batch.opened >= cfg.flush_interval
            if batch.records and (due or not active):
                batch = self._submit(senders, batch)
            elif not batch.records:
                batch.opened = time.monotonic()
            self._checkpoint(due_only=True)
            if on_progress and time.monotonic() - last_progress > 0.2:
                on_progress(self.stats)
                last_progress = time.monotonic()
            if self._errors:
                break
        if on_progress:
            on_progress(self.stats)

    def _normalized(self, block: Block | None, finished: bool) -> Iterable[tuple[Block, BlockResult]]:
        """Blocks with their results, in reading order: made here, or by the worker pool."""
        if self._pool is None:
            if block is not None:
                yield block, normalize_block(self.normalizer, block.raws, block.all_origins())
            return
        if block is not None:
            self._pool.submit(block)
        yield from self._pool.drain() if finished else self._pool.results(wait=block is not None)

    def _take(self, senders: ThreadPoolExecutor, batch: Batch, block: Block, result: BlockResult) -> Batch:
        """Count a block, dead-letter its rejections, and put its events into batches (cut by count and
        bytes) with its acknowledgements; the batch to go on filling."""
        stats, raws = self.stats, block.raws
        stats.records += len(raws)
        if block.starts is not None:  # lines
            stats.bytes_read += sum(map(len, raws)) + len(raws)
        stats.events += len(result.events)
        for rejections, limited in result.unusual.values():
            for rejected in rejections:
                self._dead_letter(rejected)
            for family, limit in limited:
                counts = self._limits.truncated if family == "truncated" else self._limits.over_limit
                counts[limit] = counts.get(limit, 0) + 1
                if self.metrics:
                    self.metrics.limit_hit(family, limit)
        cfg, events = self.config, result.events
        size = sum([len(event.json) for event in events]) + 100 * len(events)  # + the action lines
        if len(batch.events) + len(events) < cfg.batch_events and batch.size + size < cfg.batch_bytes:
            batch.add(block, result, 0, len(events), size)  # the usual case: the whole block fits
            for _, ack in block.acks:
                batch.ack(block.source, ack)
            batch.records += len(raws)
            return batch
        first = at = 0  # result.events[first:at]: taken, not yet in a batch
        taken = 0  # their bytes
        counted = 0  # records of this block counted in a batch
        marks, mark = block.acks, 0
        for number, count in enumerate(result.counts):
            for event in events[at : at + count]:
                taken += len(event.json) + 100
            at += count
            if len(batch.events) + at - first >= cfg.batch_events or batch.size + taken >= cfg.batch_bytes:
                batch.add(block, result, first, at, taken)
                batch.records += number + 1 - counted
                counted = number + 1
                while mark < len(marks) and marks[mark][0] <= number:
                    batch.ack(block.source, marks[mark][1])
                    mark += 1
                batch = self._submit(senders, batch)
                first, taken = at, 0
        batch.add(block, result, first, at, taken)
        batch.records += len(raws) - counted
        for _, ack in marks[mark:]:
            batch.ack(block.source, ack)
        return batch

    def _submit(self, senders: ThreadPoolExecutor, batch: Batch) -> Batch:
        """Hand `batch` to a sender; the next, empty batch."""
        if self.metrics:  # counted per batch: a counter takes a lock, 3-5 us each on a loaded 2-core machine
            self.metrics.read.inc(batch.records)
            self.metrics.events.inc(len(batch.events))
        self.dead_letters.flush()  # rejected records of this batch are durable before its acks
        self._slots.acquire()
        with self._lock:
            self._pending[batch.seq] = batch
        future = senders.submit(self._deliver, batch)
        future.add_done_callback(lambda f: self._errors.append(f.exception()) if f.exception() else None)
        return Batch(batch.seq + 1)

    # -- delivery ----------------------------------------------------------------------------------

    def _deliver(self, batch: Batch) -> None:
        try:
            if batch.events:
                if self.spool is not None and self.spool:  # keep order behind what already waits
                    self._to_spool(batch.events, batch.owners(range(len(batch.events)))[0])
                else:
                    self._send(batch)
            self._complete(batch.seq)
        finally:
            self._slots.release()

    def _send(self, batch: Batch) -> None:
        events = batch.events
        pending = list(range(len(events)))
        while pending:
            subset = events if len(pending) == len(events) else [events[i] for i in pending]
            try:
                result = self.sink.send(subset)
            except SinkUnavailable as exc:
                pending = [pending[i] for i in exc.pending]
                if self.spool is not None:
                    self._to_spool([events[i] for i in pending], batch.owners(pending)[0])
                    return
                time.sleep(1.0)
                continue  # no spool: keep trying (the full queue meanwhile holds the sources back)
            self._account(result)
            if result.rejected:
                raws, origins = batch.owners([pending[index] for index, _ in result.rejected])
                for (_, reason), raw, origin in zip(result.rejected, raws, origins, strict=True):
                    self._dead_letter(Rejected(reason, normalized_raw_text(raw), origin))
            self.dead_letters.flush()
            return

    def _account(self, result: Any) -> None:
        with self._lock:
            self.stats.shipped += result.delivered
            self.stats.duplicates += result.duplicates
            self.stats.retries += result.retries
        if self.metrics:
            self.metrics.shipped.inc(result.delivered)
            self.metrics.duplicates.inc(result.duplicates)
            self.metrics.failed.inc(len(result.rejected))
            self.metrics.retries.inc(result.retries)

    def _to_spool(self, events: list[Encoded], raws: list[Any]) -> None:
        assert self.spool is not None
        # Lossless, as the dead-letter file keeps them; one text per record, however many events it made
        # (the spool writes a shared text once).
        text_of: dict[int, str] = {}
        texts = []
        for raw in raws:
            text = text_of.get(id(raw))
            if text is None:
                text = text_of[id(raw)] = normalized_raw_text(raw)
            texts.append(text)
        while True:
            try:
                self.spool.write(events, texts)
                break
            except SpoolFull:
                time.sleep(0.5)  # wait for the drainer; the sources are held back meanwhile
        with self._lock:
            self.stats.spooled += len(events)
        if self.metrics:
            self.metrics.spooled.inc(len(events))
            self.metrics.spool_bytes.set(self.spool.size)

    def _drain(self) -> None:
        assert self.spool is not None
        delay = 0.5
        while not self._stopping.is_set():
            segments = self.spool.segments()
            if not segments:
                self._stopping.wait(0.2)  # wakes at once when the run ends
                continue
            events, raws = Spool.read(segments[0])
            try:
                result = self.sink.send(events)
            except SinkUnavailable:
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            self._account(result)
            for index, reason in result.rejected:
                self._dead_letter(Rejected(reason, raws[index], None))
            self.dead_letters.flush()
            self.spool.remove(segments[0])
            if self.metrics:
                self.metrics.spool_bytes.set(self.spool.size)

    # -- acknowledgement ---------------------------------------------------------------------------

    def _complete(self, seq: int) -> None:
        with self._lock:
            self._done.add(seq)
            ready = []
            while self._next_ack in self._done:
                self._done.discard(self._next_ack)
                ready.append(self._pending.pop(self._next_ack))
                self._next_ack += 1
            for batch in ready:
                for source, ack in batch.acks.values():
                    source.acknowledge(ack)
        if ready:
            self._checkpoint(due_only=True)

    def _checkpoint(self, due_only: bool = False) -> None:
        """Persist what the sources were told is delivered (a file's registry): at the end of a run,
        and while it runs at most every `checkpoint_interval` seconds. Each write is an atomic replace
        with two fsyncs; after every batch that was 2-4% of the shipper's CPU. A crash loses at most the
        interval's progress: those records are read again and their ids make them 409s, not copies."""
        if due_only and time.monotonic() - self._checkpointed < self.config.checkpoint_interval:
            return
        if not self._checkpointing.acquire(blocking=not due_only):
            return  # another thread is writing it right now
        try:
            self._checkpointed = time.monotonic()
            for source in self.sources:
                checkpoint = getattr(source, "checkpoint", None)
                if checkpoint:
                    checkpoint()
        finally:
            self._checkpointing.release()

    def _dead_letter(self, rejected: Rejected) -> None:
        self.dead_letters.write(rejected)
        with self._lock:
            self.stats.dead_lettered += 1
        if self.metrics:
            self.metrics.dead_lettered.inc()
