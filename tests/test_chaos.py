"""The chaos run at CI size: engine and shipper killed mid-ship, the spool filled; nothing lost or doubled.

The same run at 1,000,000 events (`python -m reliability.chaos`) is reported in docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.chaos import ChaosPlan, ChaosRun

pytestmark = pytest.mark.engine  # the chaos run starts (and kills) an engine of its own


def test_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    plan = ChaosPlan(
        events=20_000,
        rate=1_000,
        rotate_every=4_000,
        spool_max_mb=2,
        engine_heap="512m",
        outage_seconds=3,
        timeout=900,
    )
    report = ChaosRun(plan, tmp_path).run()
    assert len(report.faults) == 4, report.faults
    assert report.written == plan.events and report.rotations == 4
    assert report.lost == 0 and report.duplicated == 0, report
    assert report.in_engine == plan.events
    assert report.ids_match_source, "the engine's _ids differ from one clean read of the same files"
    assert report.dead_lettered == 0
    assert report.spool_full_seen, "the spool never reached its limit: the fault was not injected"
    assert report.alerts > 0, "the detector job raised no alert: duplicates could not have been seen"
    assert report.duplicate_alerts == 0
    # Every attempt is one matching event: an alert that counted a window twice would overshoot.
    assert 0 < report.injections_alerted <= report.injections == 10, report
    assert report.shipper_exit_code == 0 and report.detector_exit_code == 0
    assert report.shipper_memory["flat"], report.shipper_memory
    assert all(f.caught_up_s is not None for f in report.faults), report.faults
    assert report.passed
