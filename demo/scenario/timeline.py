"""The scenario's clock: 24 equal slots, a clean control part, arrivals with a daily rhythm.

Whatever `hours` is, the timeline has 24 slots of `hours * 150` seconds (15 minutes for 6 hours, 5
minutes for 2): the first ten are the control period (reference data for baselines), the other 14
hold the incidents, each one or two slots long. So a short run keeps every incident, and a detector
window of one slot (`Timeline.slot_seconds`, recorded in the manifest) always fits inside a two-slot
incident whatever the alignment.

The daily rhythm is a cosine over the wall-clock hour, peaking at `peak_hour_utc`, by default the
timeline's middle: the control period then sees the same traffic level as the rest, so rate
baselines taken from it stay representative (a mature demo must not alert on its own rhythm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

SLOTS = 24
CONTROL_SLOTS = 10


@dataclass(frozen=True)
class Timeline:
    start: float  # epoch seconds
    hours: float
    peak_hour_utc: float
    amplitude: float

    @classmethod
    def of(cls, start: datetime, hours: float, amplitude: float, peak_hour_utc: float | None) -> Timeline:
        begin = start.timestamp()
        if peak_hour_utc is None:
            middle = begin + hours * 1800.0
            peak_hour_utc = (middle % 86400.0) / 3600.0
        return cls(begin, hours, peak_hour_utc, amplitude)

    @property
    def slot_seconds(self) -> float:
        return self.hours * 3600.0 / SLOTS

    @property
    def end(self) -> float:
        return self.start + self.hours * 3600.0

    @property
    def control_end(self) -> float:
        return self.slot(CONTROL_SLOTS)

    def slot(self, index: float) -> float:
        """The epoch second at which slot `index` begins (fractions allowed)."""
        return self.start + index * self.slot_seconds

    def rhythm(self, moments: np.ndarray) -> np.ndarray:
        """Relative traffic level at each moment: 1 + amplitude * cos of the distance to the peak,
        divided by its mean over the timeline (so a rate is the timeline's average rate)."""
        level = self._level(moments)
        grid = self.start + (np.arange(240) + 0.5) * (self.end - self.start) / 240
        return level / self._level(grid).mean()

    def _level(self, moments: np.ndarray) -> np.ndarray:
        hours = (moments % 86400.0) / 3600.0
        return 1.0 + self.amplitude * np.cos(2.0 * math.pi * (hours - self.peak_hour_utc) / 24.0)

    def arrivals(
        self, rng: np.random.Generator, per_hour: float, begin: float | None = None, end: float | None = None
    ) -> np.ndarray:
        """Sorted event times of a Poisson process whose rate follows the rhythm (minute resolution)."""
        begin = self.start if begin is None else begin
        end = self.end if end is None else end
        if end <= begin:
            return np.empty(0)
        edges = np.arange(begin, end, 60.0)
        widths = np.minimum(edges + 60.0, end) - edges
        expected = per_hour / 3600.0 * widths * self.rhythm(edges + widths / 2)
        counts = rng.poisson(expected)
        starts = np.repeat(edges, counts)
        times = starts + rng.random(starts.size) * np.repeat(widths, counts)
        return np.sort(times)
