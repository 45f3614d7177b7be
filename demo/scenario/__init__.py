"""A seeded telemetry scenario with ground truth, for the demo and for tests.

`write_scenario(directory, ScenarioConfig(seed=7, hours=6))` writes the telemetry of a credit-scoring
classifier (native), an LLM proxy (LiteLLM), a RAG support assistant (OTLP) and the ML pipeline
(native), with a clean control period followed by injected incidents, and `incidents.json`: the
manifest the demo's scorecard compares alerts with. This package only generates data: it imports
neither the shipper nor the detections. See docs/demo.md for the timeline and the incidents.
"""

from __future__ import annotations

from demo.scenario.config import Rates, ScenarioConfig
from demo.scenario.manifest import FileSummary, Incident, Manifest, Period
from demo.scenario.writer import MANIFEST_FILE, generate, write_scenario

__all__ = [
    "MANIFEST_FILE",
    "FileSummary",
    "Incident",
    "Manifest",
    "Period",
    "Rates",
    "ScenarioConfig",
    "generate",
    "write_scenario",
]
