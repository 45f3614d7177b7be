"""EWMA and CUSUM: designed for a target in-control ARL, checked by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from detections.statistics.control_charts import CusumChart, EwmaChart, standardize


def _run_lengths(
    chart: EwmaChart | CusumChart, shift: float, series: int, horizon: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    alarms = chart.run(rng.normal(shift, 1.0, size=(series, horizon))).alarms
    return np.where(alarms.any(axis=1), alarms.argmax(axis=1) + 1, horizon + 1)


def test_design_matches_published_tables() -> None:
    # Lucas & Saccucci (1990): lambda 0.2, L 2.962 -> ARL0 500; Hawkins: k 0.5, h 5.07 -> ARL0 ~500 two-sided
    assert EwmaChart.for_arl0(500, lam=0.2).width == pytest.approx(2.962, abs=0.01)
    assert CusumChart.for_arl0(500, k=0.5).h == pytest.approx(5.07, abs=0.03)


@pytest.mark.parametrize("chart", [EwmaChart.for_arl0(500), CusumChart.for_arl0(500)], ids=["ewma", "cusum"])
def test_in_control_arl_is_near_the_target(chart: EwmaChart | CusumChart) -> None:
    lengths = _run_lengths(chart, 0.0, series=1_500, horizon=4_000, seed=11)
    assert (lengths > 4_000).mean() < 0.005  # the horizon cuts off almost nothing
    mean, standard_error = lengths.mean(), lengths.std() / np.sqrt(lengths.size)
    assert abs(mean - 500) < max(0.1 * 500, 3 * standard_error), mean


@pytest.mark.parametrize("chart", [EwmaChart.for_arl0(500), CusumChart.for_arl0(500)], ids=["ewma", "cusum"])
def test_one_sigma_step_is_detected_quickly(chart: EwmaChart | CusumChart) -> None:
    lengths = _run_lengths(chart, 1.0, series=2_000, horizon=200, seed=12)
    assert lengths.mean() < 15  # Markov chain: about 10.5 windows
    assert np.median(lengths) <= 12
    assert chart.arl(1.0) == pytest.approx(lengths.mean(), rel=0.1)


def test_a_smaller_target_means_narrower_limits_and_earlier_alarms() -> None:
    assert EwmaChart.for_arl0(100).limit < EwmaChart.for_arl0(500).limit
    assert CusumChart.for_arl0(100).h < CusumChart.for_arl0(500).h


def test_standardize_and_reset_after_alarm() -> None:
    values = standardize(np.array([10.0, 10.0, 30.0, 30.0, 30.0, 10.0]), mean=10.0, std=2.0)
    run = CusumChart(k=0.5, h=5.0).run(values)
    assert run.first_alarm == 2
    assert run.statistic[3] < run.statistic[2] or run.alarms[3]  # restarted from zero after the alarm
    with pytest.raises(ValueError, match="lam"):
        EwmaChart.for_arl0(500, lam=1.5)
