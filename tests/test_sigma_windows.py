"""Sliding-window evaluation of correlation conditions (pure)."""

from __future__ import annotations

from detections.sigma import windows
from detections.sigma.windows import Bucket, find_firings

STEP = 60.0  # a 10-minute timespan in 10 buckets
WIDTH = 10


def events(*times: float, **extra: object) -> list[Bucket]:
    """One bucket per event time (bucketed like the engine does)."""
    by_start: dict[float, Bucket] = {}
    for t in times:
        start = t - t % STEP
        part = Bucket(start=start, count=1, first=t, last=t, **extra)  # type: ignore[arg-type]
        if start in by_start:
            by_start[start].add(part)
        else:
            by_start[start] = part
    return list(by_start.values())


def test_burst_across_a_fixed_window_boundary_is_found() -> None:
    # 5 events from 08:00 to 12:00 minutes: a fixed 10-minute window [0, 600) would see only 3 of them.
    times = [480, 540, 600, 660, 720]
    firings = find_firings(events(*times), STEP, WIDTH, windows.event_count, "gte", 5)
    assert [(f.first, f.last, f.count, f.value) for f in firings] == [(480, 720, 5, 5)]


def test_events_further_apart_than_the_timespan_are_never_combined() -> None:
    times = [0, 240, 480, 720, 960]  # every 4 minutes: at most 3 within any 10 minutes
    assert find_firings(events(*times), STEP, WIDTH, windows.event_count, "gte", 4) == []
    assert find_firings(events(*times), STEP, WIDTH, windows.event_count, "gte", 3)


def test_overlapping_firing_windows_merge_into_one_burst() -> None:
    times = [i * 30.0 for i in range(40)]  # 20 minutes of steady traffic
    firings = find_firings(events(*times), STEP, WIDTH, windows.event_count, "gte", 10)
    assert len(firings) == 1 and firings[0].count == 40


def test_separate_bursts_stay_separate() -> None:
    times = [0, 10, 20, 3600, 3610, 3620]
    firings = find_firings(events(*times), STEP, WIDTH, windows.event_count, "gte", 3)
    assert [(f.first, f.last) for f in firings] == [(0, 20), (3600, 3620)]


def test_value_count_is_exact_over_the_window() -> None:
    buckets = [
        Bucket(start=0, count=2, first=0, last=30, values={"a", "b"}),
        Bucket(start=60, count=2, first=60, last=90, values={"b", "c"}),
        Bucket(start=900, count=1, first=900, last=900, values={"d"}),
    ]
    firings = find_firings(buckets, STEP, WIDTH, windows.value_count, "gte", 3)
    assert [(f.first, f.last, f.value) for f in firings] == [(0, 90, 3)]


def test_value_sum_and_average() -> None:
    buckets = [
        Bucket(start=0, count=2, first=0, last=10, total=30.0),
        Bucket(start=60, count=1, first=60, last=60, total=30.0),
    ]
    assert [f.value for f in find_firings(buckets, STEP, WIDTH, windows.value_sum, "gte", 50)] == [60]
    # windows [0, 60] average 20, the window from the second bucket on averages 30: the burst reports its peak
    assert [f.value for f in find_firings(buckets, STEP, WIDTH, windows.value_avg, "gt", 19)] == [30]
    assert find_firings(buckets, STEP, WIDTH, windows.value_avg, "gt", 30) == []


def test_temporal_needs_every_rule_in_the_window() -> None:
    both = [
        Bucket(start=0, count=1, first=0, last=0, rules={"a": (0, 0)}),
        Bucket(start=300, count=1, first=300, last=300, rules={"b": (300, 300)}),
    ]
    assert find_firings(both, STEP, WIDTH, windows.temporal, "gte", 2)
    apart = [both[0], Bucket(start=900, count=1, first=900, last=900, rules={"b": (900, 900)})]
    assert find_firings(apart, STEP, WIDTH, windows.temporal, "gte", 2) == []


def test_temporal_ordered_checks_the_order() -> None:
    ordered = windows.temporal_ordered(["failed", "deployed"])
    right = [
        Bucket(start=0, count=1, first=10, last=10, rules={"failed": (10, 10)}),
        Bucket(start=60, count=1, first=70, last=70, rules={"deployed": (70, 70)}),
    ]
    wrong = [
        Bucket(start=0, count=1, first=10, last=10, rules={"deployed": (10, 10)}),
        Bucket(start=60, count=1, first=70, last=70, rules={"failed": (70, 70)}),
    ]
    same_bucket = [Bucket(start=0, count=2, first=5, last=50, rules={"failed": (5, 5), "deployed": (50, 50)})]
    assert find_firings(right, STEP, WIDTH, ordered, "gte", 2)
    assert find_firings(wrong, STEP, WIDTH, ordered, "gte", 2) == []
    assert find_firings(same_bucket, STEP, WIDTH, ordered, "gte", 2)


def test_other_operators() -> None:
    quiet = events(0, 30)
    assert find_firings(quiet, STEP, WIDTH, windows.event_count, "lt", 3)
    assert find_firings(quiet, STEP, WIDTH, windows.event_count, "eq", 2)
    assert find_firings(quiet, STEP, WIDTH, windows.event_count, "neq", 2) == []
    assert find_firings(quiet, STEP, WIDTH, windows.event_count, "lte", 1) == []
