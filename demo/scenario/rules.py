"""The rule ids the scenario's incidents are meant to trigger.

Sigma rules are named by their `id` (what an alert's `rule.id` carries); the detector job's own rules
by their fixed ids. The scenario package only names them: the tests check that every Sigma id here
exists in `sigma_rules/` under this name.
"""

from __future__ import annotations

from typing import Final

SIGMA: Final[dict[str, str]] = {
    "llm_prompt_injection_direct": "ea0f24bd-20ec-4224-940f-97e7c083f0e0",
    "llm_prompt_injection_burst": "ac0daed6-7c6a-490e-b955-708e61b6bd24",
    "llm_jailbreak_persona": "871338fc-1453-422c-96ef-68b5f5658145",
    "llm_repeated_guardrail_blocks": "a5d58a22-2449-4258-8915-3c8e17d6c717",
    "llm_repeated_refusals": "a56aa86e-8187-4e50-8034-03a8b00e5781",
    "llm_system_prompt_extraction": "5f343e1c-88a8-4861-a7ac-4f7ed1c057ca",
    "llm_system_prompt_extraction_then_leak": "66c6a953-066e-44c3-98c7-85118a2613ed",
    "llm_secret_in_completion": "f4ef0106-fa2a-453a-8c3b-47e301e72fe8",
    "llm_secret_in_prompt": "77d4f02d-c1d4-4f88-93b5-aeb2b677bb16",
    "llm_guardrail_redacted_sensitive_data": "a7dca9e1-05e6-43e9-9db9-75908dce5302",
    "llm_cost_harvesting": "446ce0ff-f739-455b-b448-5f07894cb31d",
    "llm_oversized_prompt": "f8c33b69-f770-4950-b164-0ca278024aa6",
    "llm_large_output_request": "b4112919-941a-48f5-b833-e3834b4a3269",
    "llm_denied_model_requests": "ee2a0556-590d-43aa-97e8-231ecc02cb91",
    "llm_model_family_enumeration": "61006260-4cf7-440d-9323-d9dc484626ce",
    "inference_model_extraction_volume": "e7886955-48a7-4fcb-9e97-bc5467dbb0b4",
    "inference_decision_boundary_probing": "e9b60dcb-9240-4283-a342-0ab3a7722113",
    "inference_model_metadata_probe": "f456fdec-baca-4dcc-a823-8e88e3e41351",
    "pipeline_model_deployed_without_approval": "69de70da-7e0b-44da-a43d-a233c3198ec9",
    "pipeline_inference_logging_disabled": "72bf2f72-44d8-4076-9da0-6bbe793d2d04",
    "pipeline_inference_logging_changed": "332b6cc5-2c09-43da-a268-b3e331c75e8e",
}

DETECTOR: Final[tuple[str, ...]] = (
    "mlsiem-drift-feature",
    "mlsiem-drift-prediction",
    "mlsiem-drift-multivariate",
    "mlsiem-performance-drop",
    "mlsiem-ops-latency",
    "mlsiem-ops-error-rate",
    "mlsiem-ops-request-rate",
    "mlsiem-ops-token-usage",
    "mlsiem-data-quality",
    "mlsiem-anomaly-outliers",
    "mlsiem-anomaly-output-collapse",
    "mlsiem-slo-latency",
)


def rule_id(name: str) -> str:
    """A Sigma rule's id by its name, or a detector rule id as it is."""
    if name in DETECTOR:
        return name
    return SIGMA[name]
