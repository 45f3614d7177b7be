"""The detector job's configuration file: values, defaults and the errors a user sees."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from detections.config import load_config
from mlsiem.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "detect.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config.window == timedelta(hours=1) and config.bucket == timedelta(minutes=5)
    assert config.delay == timedelta(0) and config.sigma


@pytest.mark.parametrize(("text", "expected"), [("0s", timedelta(0)), ("2m", timedelta(minutes=2))])
def test_delay_accepts_zero_and_durations(tmp_path: Path, text: str, expected: timedelta) -> None:
    assert load_config(_write(tmp_path, f"delay: {text}\n")).delay == expected


def test_command_line_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "window: 1h\ndelay: 1m\n")
    config = load_config(path, window="2h", delay="5m", namespace=None)
    assert config.window == timedelta(hours=2) and config.delay == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("delay: -1m\n", "delay"),
        ("window: 0s\n", "window"),
        ("window: 10m\nbucket: 10m\n", "at least two buckets"),
        ("window: 10m\nmax_backfill_windows: 2\ndelay: 1h\n", "no window would ever be judged"),
        ("surprise: 1\n", "surprise"),
        ("- a list\n", "mapping"),
    ],
)
def test_bad_values_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)
