"""Control charts for operational series (latency, error rate, token use per window): EWMA and CUSUM.

Both watch a series standardized by its baseline (`(x - mean) / std`) and are designed for a target
in-control average run length ARL0: how many windows pass, on average, between false alarms when
nothing changed (500 by default). The limits come from the Markov-chain approximation of the run
length (Brook & Evans for CUSUM, Lucas & Saccucci for EWMA) solved for ARL0, so the false-alarm rate
is a design choice rather than a side effect of a rule of thumb such as "3 sigma".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

DEFAULT_ARL0 = 500.0
_STATES = 151  # Markov chain resolution: ARL within about 0.5% of simulation


@dataclass(frozen=True)
class ChartRun:
    statistic: np.ndarray  # the chart statistic per window (EWMA value, or max of the two CUSUM sums)
    alarms: np.ndarray  # bool per window; the chart restarts after each alarm

    @property
    def first_alarm(self) -> int | None:
        hits = np.flatnonzero(self.alarms)
        return int(hits[0]) if hits.size else None


def standardize(values: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(x - mean) / std of a baseline; a zero std is replaced by 1 (a constant series)."""
    return (np.asarray(values, dtype=np.float64) - mean) / (std if std > 0 else 1.0)


@dataclass(frozen=True)
class EwmaChart:
    """z_t = lam * x_t + (1 - lam) * z_{t-1}; alarm when |z_t| > L * sqrt(lam / (2 - lam))."""

    lam: float = 0.2
    width: float = 2.962  # L; with lam 0.2, ARL0 = 500

    @property
    def limit(self) -> float:
        return self.width * math.sqrt(self.lam / (2.0 - self.lam))

    def arl(self, shift: float = 0.0) -> float:
        """Average run length for a mean shift of `shift` standard deviations (Markov chain)."""
        h = self.limit
        bounds = np.linspace(-h, h, _STATES + 1)
        centres = (bounds[:-1] + bounds[1:]) / 2.0
        origin = (1.0 - self.lam) * centres[:, None]
        upper = norm.cdf((bounds[None, 1:] - origin) / self.lam - shift)
        lower = norm.cdf((bounds[None, :-1] - origin) / self.lam - shift)
        q = upper - lower
        run = np.linalg.solve(np.eye(_STATES) - q, np.ones(_STATES))
        return float(run[_STATES // 2])

    @classmethod
    def for_arl0(cls, arl0: float = DEFAULT_ARL0, lam: float = 0.2) -> EwmaChart:
        """The limit width L that gives in-control ARL `arl0` for this smoothing `lam`."""
        if not 0.0 < lam <= 1.0:
            raise ValueError(f"EWMA lam must be in (0, 1], got {lam}")
        width = brentq(lambda w: cls(lam, w).arl() - arl0, 0.5, 6.0, xtol=1e-6)
        return cls(lam, float(width))

    def run(self, values: np.ndarray, start: float | np.ndarray = 0.0) -> ChartRun:
        """Apply to standardized values (last axis = time; leading axes are independent series)."""
        x = np.asarray(values, dtype=np.float64)
        z = np.broadcast_to(np.asarray(start, dtype=np.float64), x.shape[:-1]).copy()
        statistic, alarms = np.empty_like(x), np.zeros(x.shape, dtype=bool)
        for t in range(x.shape[-1]):
            z = self.lam * x[..., t] + (1.0 - self.lam) * z
            statistic[..., t] = z
            alarm = np.abs(z) > self.limit
            alarms[..., t] = alarm
            z = np.where(alarm, 0.0, z)
        return ChartRun(statistic, alarms)


@dataclass(frozen=True)
class CusumChart:
    """Two-sided tabular CUSUM: S+ = max(0, S+ + x - k), S- = max(0, S- - x - k); alarm above h.

    `k` is half the shift (in standard deviations) the chart is tuned to find fastest: 0.5 for 1 sigma.
    """

    k: float = 0.5
    h: float = 5.071  # with k 0.5, ARL0 = 500

    def _one_sided_arl(self, shift: float) -> float:
        width = 2.0 * self.h / (2 * _STATES - 1)
        i = np.arange(_STATES)[:, None] * width
        j = np.arange(_STATES)[None, :] * width
        q = norm.cdf(j + width / 2 - i + self.k - shift) - norm.cdf(j - width / 2 - i + self.k - shift)
        q[:, 0] = norm.cdf(width / 2 - i[:, 0] + self.k - shift)
        run = np.linalg.solve(np.eye(_STATES) - q, np.ones(_STATES))
        return float(run[0])

    def arl(self, shift: float = 0.0) -> float:
        """Two-sided ARL from the one-sided ones: 1/ARL = 1/ARL+ + 1/ARL- (Lucas and Crosier)."""
        return 1.0 / (1.0 / self._one_sided_arl(shift) + 1.0 / self._one_sided_arl(-shift))

    @classmethod
    def for_arl0(cls, arl0: float = DEFAULT_ARL0, k: float = 0.5) -> CusumChart:
        """The decision interval h that gives in-control ARL `arl0` for reference value `k`."""
        if k < 0:
            raise ValueError(f"CUSUM k must be >= 0, got {k}")
        h = brentq(lambda value: cls(k, value).arl() - arl0, 0.1, 30.0, xtol=1e-6)
        return cls(k, float(h))

    def run(self, values: np.ndarray) -> ChartRun:
        x = np.asarray(values, dtype=np.float64)
        high = np.zeros(x.shape[:-1])
        low = np.zeros(x.shape[:-1])
        statistic, alarms = np.empty_like(x), np.zeros(x.shape, dtype=bool)
        for t in range(x.shape[-1]):
            high = np.maximum(0.0, high + x[..., t] - self.k)
            low = np.maximum(0.0, low - x[..., t] - self.k)
            statistic[..., t] = np.maximum(high, low)
            alarm = (high > self.h) | (low > self.h)
            alarms[..., t] = alarm
            high, low = np.where(alarm, 0.0, high), np.where(alarm, 0.0, low)
        return ChartRun(statistic, alarms)
