"""Small helpers every generator shares: the emitted-record type, seeded ids and choices, windows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from demo.scenario.manifest import Incident

T = TypeVar("T")


@dataclass(slots=True)
class Emitted:
    """One line of a telemetry file: its time (for ordering), the incident it belongs to, the record."""

    time: float
    incident: str | None  # incident kind, or None for ordinary traffic
    record: dict[str, Any]
    events: int = 1  # ECS events the line becomes (an OTLP line can carry several spans)
    secrets: tuple[str, ...] = ()  # credentials planted in the record (listed in the manifest)


def streams(seed: int, *names: str) -> dict[str, np.random.Generator]:
    """One independent random stream per generator, keyed by position: adding a draw to one
    generator never changes what another one produces."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {
        name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(names, children, strict=True)
    }


class Ids:
    """Random hex ids (trace, span, record ids), seeded from a generator's stream: fast enough to
    give every one of tens of thousands of records its own."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._bits = random.Random(int(rng.integers(2**63))).getrandbits

    def hex(self, nbytes: int) -> str:
        return f"{self._bits(nbytes * 8):0{nbytes * 2}x}"


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def window(incident: Incident) -> tuple[float, float]:
    """An incident's [start, end) in epoch seconds."""
    return incident.start.timestamp(), incident.end.timestamp()


def inside(times: np.ndarray, incident: Incident) -> np.ndarray:
    begin, end = window(incident)
    return (times >= begin) & (times < end)


def spread(rng: np.random.Generator, count: int, begin: float, end: float) -> np.ndarray:
    """`count` sorted moments in [begin, end): an attacker's requests, irregular but within the burst."""
    return np.sort(begin + rng.random(count) * (end - begin))
