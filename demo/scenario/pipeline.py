"""ML pipeline events (native format): training runs, validation, registration, deployment.

Ordinary runs retrain one of the organisation's models end to end: training starts, the data passes
validation, training completes, the evaluation is recorded, the artifact (ONNX or safetensors) is
registered and deployed to staging with an approval reference. Every deployment states its approval,
so a missing decision would stand out.

Incidents: an engineer registers a fraud-detector build from a workstation and deploys it to
production with the approval overridden; later the same engineer switches off the model's inference
logging.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from demo.scenario.common import Emitted, Ids, pick, window
from demo.scenario.config import ScenarioConfig
from demo.scenario.manifest import Incident
from demo.scenario.timeline import Timeline
from mlsiem.timefmt import iso

# model -> (pipeline, current version prefix, artifact format)
MODELS = {
    "credit-scorer": ("credit-scorer-train", "3.2", "model.onnx"),
    "fraud-detector": ("fraud-detector-train", "5.1", "model.onnx"),
    "churn-predictor": ("churn-predictor-train", "1.7", "model.safetensors"),
}
CI_ACTORS = ("svc-airflow", "svc-mlflow-ci")
REVIEWERS = ("a.moreau", "k.nielsen", "s.okafor")


def _event(
    when: float,
    action: str,
    model: str,
    version: str,
    actor: str,
    run: str,
    stage: str,
    message: str,
    **extra: Any,
) -> Emitted:
    pipeline = MODELS[model][0]
    record: dict[str, Any] = {
        "type": "pipeline",
        "id": f"pl-{run}-{action}",
        "ts": iso(datetime.fromtimestamp(when, UTC)),
        "action": action,
        "model": {"name": model, "version": version, "type": "classification"},
        "pipeline": {"name": pipeline, "run_id": run, "stage": stage},
        "user": actor,
        "service": {"name": "ml-platform", "environment": "prod"},
        "message": message,
        **extra,
    }
    return Emitted(when, None, record)


def _run(rng: np.random.Generator, ids: Ids, begin: float, model: str, minor: int) -> list[Emitted]:
    """One retraining run, its steps minutes apart."""
    _, prefix, artifact = MODELS[model]
    version, run, actor = f"{prefix}.{minor}", ids.hex(6), pick(rng, CI_ACTORS)
    rows = int(rng.integers(180_000, 420_000))
    steps = np.cumsum(rng.uniform(60.0, 420.0, size=6))
    accuracy = float(rng.uniform(0.88, 0.92))
    return [
        _event(begin, "training_started", model, version, actor, run, "train", f"training {model} {version}"),
        _event(
            begin + steps[0],
            "data_validation_passed",
            model,
            version,
            actor,
            run,
            "validate",
            f"{rows} rows passed schema and distribution checks",
        ),
        _event(
            begin + steps[1],
            "training_completed",
            model,
            version,
            actor,
            run,
            "train",
            f"training finished after {int(steps[1] - steps[0])} s",
        ),
        _event(
            begin + steps[2],
            "evaluation_completed",
            model,
            version,
            actor,
            run,
            "evaluate",
            f"holdout accuracy {accuracy:.3f}, AUC {accuracy + 0.04:.3f}",
        ),
        _event(
            begin + steps[3],
            "model_registered",
            model,
            version,
            actor,
            run,
            "register",
            f"registered {model} {version} from artifact {artifact}",
        ),
        _event(
            begin + steps[5],
            "model_deployed",
            model,
            version,
            actor,
            run,
            "staging",
            f"{model} {version} deployed to staging (change CHG-{int(rng.integers(10_000, 99_999))}, "
            f"approved by {pick(rng, REVIEWERS)})",
            approved=True,
        ),
    ]


def generate(
    rng: np.random.Generator, config: ScenarioConfig, timeline: Timeline, incidents: dict[str, Incident]
) -> list[Emitted]:
    """Retraining runs through the whole timeline (at least one per model), then the two incidents."""
    runs = max(len(MODELS), int(rng.poisson(config.rates.pipeline_runs_per_hour * config.hours)))
    starts = np.sort(timeline.start + rng.random(runs) * (timeline.end - timeline.start - 2400.0))
    names, ids = list(MODELS), Ids(rng)
    emitted: list[Emitted] = []
    for n, begin in enumerate(starts.tolist()):
        emitted += _run(rng, ids, begin, names[n % len(names)], 3 + n)
    emitted = [e for e in emitted if e.time < timeline.end]
    emitted += _unapproved(rng, ids, incidents["unapproved_deployment"])
    emitted += _logging_off(incidents["logging_disabled"])
    return emitted


def _unapproved(rng: np.random.Generator, ids: Ids, incident: Incident) -> list[Emitted]:
    begin, end = window(incident)
    model, actor = incident.entity["mlsiem.model.name"], incident.entity["user.name"]
    run = ids.hex(6)
    version = f"{MODELS[model][1]}.99-hotfix"
    registered = _event(
        begin,
        "model_registered",
        model,
        version,
        actor,
        run,
        "register",
        f"registered {model} {version} from artifact model.onnx (uploaded from workstation "
        f"ws-{int(rng.integers(100, 999))})",
    )
    deployed = _event(
        end - 1.0,
        "model_deployed",
        model,
        version,
        actor,
        run,
        "production",
        f"{model} {version} deployed to production; change approval overridden by {actor}",
        approved=False,
    )
    registered.incident = deployed.incident = incident.kind
    return [registered, deployed]


def _logging_off(incident: Incident) -> list[Emitted]:
    begin, _ = window(incident)
    model, actor = incident.entity["mlsiem.model.name"], incident.entity["user.name"]
    event = _event(
        begin,
        "logging_config_changed",
        model,
        f"{MODELS[model][1]}.99-hotfix",
        actor,
        "manual",
        "production",
        f"inference request/response logging disabled for {model} (sample_rate=0)",
    )
    event.incident = incident.kind
    return [event]
