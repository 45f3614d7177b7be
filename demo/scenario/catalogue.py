"""The incident catalogue: what is injected, where on the timeline, against whom, caught by which rule.

Placement is in timeline slots (see `timeline.py`): the classifier's distribution incidents (drift,
prediction drift, performance drop, extraction) take two slots each, one after the other with a slot
of recovery between them, because two of them at once on one model could not be told apart. The
operational incidents change neither inputs nor outputs, so they may share time with another
incident (an error burst on the classifier during the multi-feature drift, a latency spike on the
proxy's busiest model). An incident's `entity` names every identifier an alert about it may carry
(caller, address, model): an alert belongs to it when the entity fields it has agree. Attacks come
as bursts no longer than their rule's correlation timespan allows (`cap_seconds`), at a seeded
offset inside their slot, each from its own identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from demo.scenario.manifest import Category, Incident
from demo.scenario.rules import rule_id
from demo.scenario.timeline import Timeline

CLASSIFIER = "credit-scorer"
OOD_CLIENT = "198.51.100.77"  # a partner integration that sends amounts in cents
FILE_CLASSIFIER, FILE_PIPELINE, FILE_LITELLM, FILE_OTLP = (
    "classifier.jsonl",
    "pipeline.jsonl",
    "litellm.jsonl",
    "otlp.jsonl",
)


@dataclass(frozen=True)
class Spec:
    kind: str
    title: str
    category: Category
    slot: float  # where it begins on the 24-slot timeline
    slots: float  # how long, in slots
    expected: tuple[str, ...]  # rule names (Sigma) or detector rule ids
    entity: dict[str, str]
    file: str
    description: str
    related: tuple[str, ...] = ()
    cap_seconds: float | None = None  # a burst: at most this long, whatever the slot length
    jitter: bool = False  # start at a seeded offset inside the slot instead of on its boundary
    details: dict[str, str] = field(default_factory=dict)


SPECS: tuple[Spec, ...] = (
    Spec(
        kind="feature_drift",
        title="Feature drift: applicant income shifted by one standard deviation",
        category="drift",
        slot=10,
        slots=2,
        expected=("mlsiem-drift-feature",),
        entity={"mlsiem.model.name": CLASSIFIER, "mlsiem.drift.feature": "income"},
        file=FILE_CLASSIFIER,
        description=(
            "A new marketing campaign brings wealthier applicants: `income` moves up by one control-period "
            "standard deviation; nothing else changes."
        ),
        related=("mlsiem-drift-prediction", "mlsiem-drift-multivariate", "mlsiem-anomaly-outliers"),
        details={"features": "income", "shift": "+1 sd"},
    ),
    Spec(
        kind="prompt_injection",
        title="Prompt injection from one chat client",
        category="security",
        slot=11,
        slots=1,
        expected=("llm_prompt_injection_direct", "llm_prompt_injection_burst"),
        entity={"source.ip": "203.0.113.24", "user.name": "cust-40917", "mlsiem.model.name": "gpt-4o-mini"},
        file=FILE_LITELLM,
        description=(
            "A customer of the web chat sends instruction-override prompts ('ignore previous instructions "
            "...') to get account data and hidden instructions; the guardrail blocks half of them (HTTP 400)."
        ),
        related=("llm_repeated_guardrail_blocks", "mlsiem-ops-error-rate"),
        cap_seconds=540,
        jitter=True,
    ),
    Spec(
        kind="multi_feature_drift",
        title="Feature drift on several features, with a new employment category",
        category="drift",
        slot=13,
        slots=2,
        expected=("mlsiem-drift-feature", "mlsiem-drift-multivariate"),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "A partner channel sends a younger, more indebted population: age, debt_to_income, loan_amount "
            "and loan_purpose shift together and employment_type gains the unseen category gig_platform."
        ),
        related=(
            "mlsiem-drift-prediction",
            "mlsiem-data-quality",
            "mlsiem-anomaly-outliers",
        ),  # unseen category
        details={
            "features": "age,debt_to_income,loan_amount,loan_purpose,employment_type",
            "new_category": "employment_type=gig_platform",
        },
    ),
    Spec(
        kind="error_burst",
        title="Error burst on the credit scorer (30% failures)",
        category="operational",
        slot=13,
        slots=2,
        expected=("mlsiem-ops-error-rate",),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "The feature store behind the credit scorer is overloaded: three in ten predictions fail with "
            "503."
        ),
    ),
    Spec(
        kind="denied_model_burst",
        title="Burst of denied model requests",
        category="security",
        slot=14,
        slots=1,
        expected=("llm_denied_model_requests",),
        entity={"user.name": "l.chen", "source.ip": "10.20.14.88"},
        file=FILE_LITELLM,
        description=(
            "An employee whose key only allows gpt-4o-mini tries one premium model after another and is "
            "refused with 401 each time."
        ),
        related=("llm_model_family_enumeration",),
        cap_seconds=420,
        jitter=True,
    ),
    Spec(
        kind="secrets_in_prompts",
        title="Credentials pasted into LLM prompts",
        category="security",
        slot=15,
        slots=1,
        expected=("llm_secret_in_prompt",),
        entity={"user.name": "p.novak", "source.ip": "10.20.31.44"},
        file=FILE_LITELLM,
        description=(
            "A developer pastes configuration files with cloud credentials and API tokens into the assistant "
            "while debugging a deployment."
        ),
        related=("llm_guardrail_redacted_sensitive_data",),
        cap_seconds=720,
        jitter=True,
    ),
    Spec(
        kind="unapproved_deployment",
        title="Model deployed to production without approval",
        category="pipeline",
        slot=16,
        slots=1,
        expected=("pipeline_model_deployed_without_approval",),
        entity={"mlsiem.model.name": "fraud-detector", "user.name": "t.berger"},
        file=FILE_PIPELINE,
        description=(
            "An engineer registers a fraud-detector build from a workstation and deploys it to production "
            "with the change approval overridden."
        ),
        cap_seconds=240,
        jitter=True,
    ),
    Spec(
        kind="prediction_drift",
        title="Prediction drift: risk scores move up",
        category="drift",
        slot=16,
        slots=2,
        expected=("mlsiem-drift-prediction",),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "A feature join on the serving side fails silently: the model sees no credit history for any"
            " applicant while the logged request keeps the real value, so the logged features look as usual"
            " but the risk scores and the share of 'bad' predictions rise sharply."
        ),
        related=("mlsiem-performance-drop", "mlsiem-anomaly-outliers", "mlsiem-anomaly-output-collapse"),
    ),
    Spec(
        kind="system_prompt_extraction",
        title="System prompt extraction against the support assistant",
        category="security",
        slot=17,
        slots=1,
        expected=("llm_system_prompt_extraction", "llm_system_prompt_extraction_then_leak"),
        entity={"source.ip": "203.0.113.58", "user.name": "cust-64350"},
        file=FILE_OTLP,
        description=(
            "A customer asks the RAG support assistant to repeat its instructions until it prints its system "
            "prompt, which holds a cloud credential."
        ),
        related=("llm_secret_in_completion",),
        cap_seconds=1200,
        jitter=True,
    ),
    Spec(
        kind="cost_harvesting",
        title="Cost harvesting with huge prompts on a stolen key",
        category="security",
        slot=18,
        slots=2,
        expected=("llm_cost_harvesting", "llm_oversized_prompt"),
        entity={"user.name": "svc-content-gen", "source.ip": "203.0.113.200"},
        file=FILE_LITELLM,
        description=(
            "A leaked service key is used from an unknown address to run huge prompts with maximal outputs on"
            " the most expensive model: dozens of dollars within the hour."
        ),
        related=(
            "llm_large_output_request",
            "mlsiem-ops-token-usage",
            "mlsiem-ops-latency",
            "mlsiem-ops-request-rate",
        ),
        cap_seconds=2400,
        jitter=True,
    ),
    Spec(
        kind="performance_drop",
        title="Performance drop once labels arrive",
        category="performance",
        slot=19,
        slots=2,
        expected=("mlsiem-performance-drop",),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "An economic shock changes who defaults: inputs and scores look as usual, but on the labelled "
            "traffic accuracy falls from about 0.9 to about 0.7."
        ),
        details={"accuracy_before": "0.9", "accuracy_during": "0.7"},
    ),
    Spec(
        kind="latency_spike",
        title="Latency spike on gpt-4o-mini (p95 x4)",
        category="operational",
        slot=19,
        slots=2,
        expected=("mlsiem-ops-latency",),
        entity={"mlsiem.model.name": "gpt-4o-mini"},
        file=FILE_LITELLM,
        description=(
            "The provider degrades: every gpt-4o-mini call through the proxy takes about four times as long."
        ),
    ),
    Spec(
        kind="logging_disabled",
        title="Inference logging disabled",
        category="pipeline",
        slot=20,
        slots=1,
        expected=("pipeline_inference_logging_disabled",),
        entity={"mlsiem.model.name": "fraud-detector", "user.name": "t.berger"},
        file=FILE_PIPELINE,
        description=("The same engineer switches off request and response logging of the fraud detector."),
        related=("pipeline_inference_logging_changed",),
        cap_seconds=60,
        jitter=True,
    ),
    Spec(
        kind="jailbreak",
        title="Jailbreak attempts from one chat client",
        category="security",
        slot=21,
        slots=1,
        expected=("llm_jailbreak_persona", "llm_prompt_injection_burst"),
        entity={"source.ip": "203.0.113.131", "user.name": "cust-77102", "mlsiem.model.name": "gpt-4o-mini"},
        file=FILE_LITELLM,
        description=(
            "A customer cycles through persona jailbreaks (DAN, developer mode, evil confidant); the model "
            "refuses and the guardrail blocks several."
        ),
        related=("llm_repeated_guardrail_blocks", "llm_repeated_refusals", "mlsiem-ops-error-rate"),
        cap_seconds=720,
        jitter=True,
    ),
    Spec(
        kind="model_extraction",
        title="Model extraction by high-rate probing from one client",
        category="security",
        slot=22,
        slots=2,
        expected=("inference_model_extraction_volume",),
        entity={"source.ip": "203.0.113.77", "mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "A partner's API key is used from a new address to query the credit scorer with synthetic "
            "applications at a high rate, after reading the model's metadata: enough input/output pairs to "
            "train a copy."
        ),
        related=(
            "inference_decision_boundary_probing",
            "inference_model_metadata_probe",
            "mlsiem-ops-request-rate",
            "mlsiem-drift-feature",
            "mlsiem-drift-multivariate",
            "mlsiem-drift-prediction",
            "mlsiem-anomaly-outliers",  # synthetic applications look like nothing in the reference
        ),
        cap_seconds=2700,
    ),
    # The classifier's anomaly incidents sit in the recovery slots between its distribution incidents;
    # the SLO burn only slows requests down, so it may share time with them.
    Spec(
        kind="ood_burst",
        title="Out-of-distribution requests from one partner (amounts in cents)",
        category="anomaly",
        slot=12,
        slots=1,
        expected=("mlsiem-anomaly-outliers",),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            f"A partner integration at {OOD_CLIENT} starts sending income and loan amounts in cents: about "
            "5% of the slot's applications carry values a hundred times anything in the reference."
        ),
        related=(
            "mlsiem-drift-feature",
            "mlsiem-drift-multivariate",
            "mlsiem-data-quality",
            "mlsiem-drift-prediction",
        ),
        details={"source.ip": OOD_CLIENT, "features": "income,loan_amount", "share": "5%"},
    ),
    Spec(
        kind="score_collapse",
        title="Score collapse: the credit scorer answers 'good' to everyone",
        category="anomaly",
        slot=15,
        slots=1,
        expected=("mlsiem-anomaly-output-collapse",),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "A bad model artifact is hot-swapped in: every prediction gets the same score (0.031) and the "
            "label 'good', whatever the application."
        ),
        related=("mlsiem-drift-prediction", "mlsiem-performance-drop", "mlsiem-anomaly-outliers"),
    ),
    Spec(
        kind="slo_burn",
        title="Latency SLO burn on the credit scorer (99% under 100 ms)",
        category="slo",
        slot=20,
        slots=3,
        expected=("mlsiem-slo-latency",),
        entity={"mlsiem.model.name": CLASSIFIER},
        file=FILE_CLASSIFIER,
        description=(
            "A noisy neighbour on the scoring hosts: 85% of predictions take 150-400 ms against an SLO of "
            "99% under 100 ms, an 85x burn of the error budget."
        ),
        related=("mlsiem-ops-latency",),
        details={"objective": "0.99", "threshold_ms": "100"},
    ),
)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(round(epoch, 6), tz=UTC)


def plan(timeline: Timeline, rng: np.random.Generator) -> dict[str, Incident]:
    """The incidents of this run by kind, with their start and end on this timeline."""
    slot = timeline.slot_seconds
    placed: list[tuple[float, float, Spec]] = []
    for spec in SPECS:
        begin = timeline.slot(spec.slot)
        if spec.jitter:
            begin += float(rng.uniform(0.05, 0.3)) * slot
        length = spec.slots * slot
        if spec.cap_seconds is not None:
            length = min(length, spec.cap_seconds)
        end = min(begin + length, timeline.end - 1.0)
        placed.append((round(begin, 3), round(end, 3), spec))
    placed.sort(key=lambda item: (item[0], item[2].kind))
    incidents: dict[str, Incident] = {}
    for number, (begin, end, spec) in enumerate(placed, start=1):
        incidents[spec.kind] = Incident(
            id=f"inc-{number:02d}",
            kind=spec.kind,
            title=spec.title,
            category=spec.category,
            start=_utc(begin),
            end=_utc(end),
            expected_rules=[rule_id(name) for name in spec.expected],
            expected_rule_names=list(spec.expected),
            related_rules=[rule_id(name) for name in spec.related],
            entity=dict(spec.entity),
            file=spec.file,
            description=spec.description,
            details=dict(spec.details),
        )
    return incidents
