"""Sliding-window evaluation of correlation conditions over fine time buckets (pure: no I/O).

The engine returns, per group, buckets of width `timespan / k` (a `date_histogram` inside a composite
aggregation). A window is `k` consecutive buckets, so it never spans more than the rule's timespan, and
it slides one bucket at a time. Any burst whose events lie within `(k - 1) / k` of the timespan falls
into one window and is found; events further apart than the timespan are never combined. Fixed windows
(one bucket per timespan, what ES|QL's `date_trunc` gives) miss a burst that straddles a boundary; the
sliding form costs k times more buckets, which the engine aggregates cheaply.

Consecutive or overlapping windows that meet the condition are merged into one firing, so one burst
gives one hit however long it lasts.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
    "eq": operator.eq,
    "neq": operator.ne,
}


@dataclass
class Bucket:
    """What the engine reports for one group in one fine time bucket."""

    start: float  # epoch seconds of the bucket's start
    count: int = 0
    first: float = math.inf  # earliest and latest event time in the bucket
    last: float = -math.inf
    values: set[Any] = field(default_factory=set)  # value_count: distinct values
    total: float = 0.0  # value_sum / value_avg: sum of the field
    rules: dict[str, tuple[float, float]] = field(default_factory=dict)  # temporal: rule -> (first, last)

    def add(self, other: Bucket) -> None:
        """Fold another partial report of the same bucket into this one."""
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.values |= other.values
        self.total += other.total
        for rule, (lo, hi) in other.rules.items():
            old = self.rules.get(rule)
            self.rules[rule] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))


@dataclass(frozen=True)
class Firing:
    """A stretch of time in which the condition held for one group."""

    first: float
    last: float
    count: int  # matching events in the merged stretch
    value: float  # the largest aggregate any of its windows reached


Measure = Callable[[Sequence[Bucket]], float]


def event_count(buckets: Sequence[Bucket]) -> float:
    return float(sum(b.count for b in buckets))


def value_count(buckets: Sequence[Bucket]) -> float:
    values: set[Any] = set()
    for b in buckets:
        values |= b.values
    return float(len(values))


def value_sum(buckets: Sequence[Bucket]) -> float:
    return float(sum(b.total for b in buckets))


def value_avg(buckets: Sequence[Bucket]) -> float:
    count = sum(b.count for b in buckets)
    return sum(b.total for b in buckets) / count if count else 0.0


def temporal(buckets: Sequence[Bucket]) -> float:
    return float(len({rule for b in buckets for rule in b.rules}))


def temporal_ordered(order: Sequence[str]) -> Measure:
    """How many of `order`'s rules occur one after the other (greedy, earliest possible event each).

    Per bucket only the first and last time of each rule is known: a rule's earliest event after the
    previous pick is exact when it is a bucket's first event, otherwise the bucket's last event stands
    in for it. With two rules (the common case) this is exact.
    """

    def measure(buckets: Sequence[Bucket]) -> float:
        previous = -math.inf
        matched = 0
        for rule in order:
            candidates = []
            for b in buckets:
                if rule in b.rules:
                    lo, hi = b.rules[rule]
                    if lo > previous:
                        candidates.append(lo)
                    elif hi > previous:
                        candidates.append(hi)
            if not candidates:
                break
            previous = min(candidates)
            matched += 1
        return float(matched)

    return measure


def find_firings(
    buckets: Sequence[Bucket], step: float, width: int, measure: Measure, op: str, threshold: float
) -> list[Firing]:
    """Slide a window of `width` buckets (each `step` seconds) over one group's buckets."""
    check = OPERATORS[op]
    ordered = sorted(buckets, key=lambda b: b.start)
    spans: list[tuple[int, int, float]] = []  # (first index, last index, value) of firing windows
    for i, anchor in enumerate(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1].start < anchor.start + width * step:
            j += 1
        window = ordered[i : j + 1]
        value = measure(window)
        if check(value, threshold):
            spans.append((i, j, value))
    firings: list[Firing] = []
    merged: tuple[int, int, float] | None = None
    merged_until = -math.inf  # end time of the latest window in the merged stretch
    for first, last, value in spans:
        window_start = ordered[first].start
        if merged is not None and window_start < merged_until:  # overlaps in time: the same burst
            merged = (merged[0], max(merged[1], last), max(merged[2], value))
        else:
            if merged is not None:
                firings.append(_firing(ordered, merged))
            merged = (first, last, value)
        merged_until = window_start + width * step
    if merged is not None:
        firings.append(_firing(ordered, merged))
    return firings


def _firing(ordered: Sequence[Bucket], span: tuple[int, int, float]) -> Firing:
    part = ordered[span[0] : span[1] + 1]
    return Firing(
        first=min(b.first for b in part),
        last=max(b.last for b in part),
        count=sum(b.count for b in part),
        value=span[2],
    )
