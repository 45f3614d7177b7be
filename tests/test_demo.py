"""A shortened `mlsiem demo` against the session's engine: every incident found by its rule, quiet control."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlsiem.local_engine import LocalEngine


def test_short_demo_scorecard(local_engine: LocalEngine, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlsiem", "demo", "--url", local_engine.url, "--hours", "2", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    card = report["scorecard"]
    missed = [row["title"] for row in card["incidents"] if not row["detected"]]
    assert not missed, f"missed incidents: {missed}"
    assert len(card["incidents"]) >= 18
    assert {"anomaly", "slo"} <= {row["category"] for row in card["incidents"]}  # outliers, collapse, SLO
    assert card["false_alerts_in_control"] <= 2, card["false_alert_rules_in_control"]
    assert card["precision"] >= 0.8
    assert report["shipped"]["shipped"] == report["shipped"]["events"] > 1000
    alert = report["alerts"][0]
    assert {"time", "severity", "rule", "reason"} <= set(alert)
    assert all(row["time_to_detect_minutes"] >= 0 for row in card["incidents"])
