"""One model, one window: every configured detector, as findings (alerts) and drift metric documents.

The detectors come from the registry (`detections.detectors`); each declares its one request per window
(`requests`) and judges the response (`judge`), so the job can send the requests of many models together
(`detections.batching`). A window with fewer than `min_window_events` events is not judged (a note
says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detections import batching
from detections.aggregations import PREDICTION_FIELDS, total_events
from detections.alerts import Finding
from detections.config import DetectConfig, ModelConfig, model_tuning
from detections.detectors import DETECTORS, Detector, ModelSetup
from detections.statistics.profile import ReferenceProfile
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream


@dataclass
class WindowResult:
    events: int = 0
    findings: list[Finding] = field(default_factory=list)
    metrics: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (_id, drift metric document)
    notes: list[str] = field(default_factory=list)


def model_setup(
    config: DetectConfig, model: ModelConfig, profile: ReferenceProfile, baseline_id: str
) -> ModelSetup:
    names = model.features or [n for n in profile.features if n not in PREDICTION_FIELDS]
    missing = [n for n in names if n not in profile.features]
    if missing:
        raise ValueError(f"model {model.name}: features not in its baseline: {', '.join(missing)}")
    return ModelSetup(
        name=model.name,
        version=model.version,
        features=names,
        profile=profile,
        baseline_id=baseline_id,
        alpha=config.alpha,
        suppression=config.suppression,
        bucket=config.bucket,
        arl0=config.arl0,
        multivariate_sample=config.multivariate_sample,
        min_window_events=model.min_window_events,
    )


class ModelChecks:
    """Runs the configured detectors of one model over windows, against its reference profile."""

    def __init__(
        self,
        engine: Engine,
        config: DetectConfig,
        model: ModelConfig,
        profile: ReferenceProfile,
        baseline_id: str,
    ) -> None:
        self.engine = engine
        self.index = inference_stream(config.namespace)
        self.setup = model_setup(config, model, profile, baseline_id)
        built = (DETECTORS[name](self.setup, model_tuning(config, model, name)) for name in model.detectors)
        self.detectors: list[Detector] = [detector for detector in built if detector.applies()]

    def requests(self, window: Window) -> list[batching.Request]:
        """One search per detector, keyed (window, detector position) for `judge`."""
        return [
            batching.Request((window, i), window, detector.request(window))
            for i, detector in enumerate(self.detectors)
        ]

    def judge(self, window: Window, responses: dict[Any, dict[str, Any]]) -> WindowResult:
        """The detectors' verdicts from their responses (keyed as `requests` keyed them): no I/O."""
        result = WindowResult()
        if not self.detectors:
            return result
        result.events = total_events(responses[(window, 0)])  # every request selects the same events
        if result.events < self.setup.min_window_events:
            result.notes.append(
                f"{window.model}: {result.events} events in the window, "
                f"fewer than {self.setup.min_window_events}"
            )
            return result
        for i, detector in enumerate(self.detectors):
            judgement = detector.judge(window, responses[(window, i)])
            result.findings.extend(judgement.findings)
            result.metrics.extend(judgement.metrics)
            result.notes.extend(judgement.notes)
        return result

    def run(self, window: Window) -> WindowResult:
        """One window on its own (the job batches many: `requests` and `judge`)."""
        return self.judge(window, batching.run(self.engine, self.index, self.requests(window)))
