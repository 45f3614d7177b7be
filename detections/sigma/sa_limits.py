"""What OpenSearch Security Analytics' own Sigma parser accepts, restated so `rules check` holds rules to it.

Security Analytics parses uploaded rules with its own Java port of pySigma (`SigmaRule.fromYaml`,
opensearch-project/security-analytics, package `org.opensearch.securityanalytics.rules`), which is
narrower than pySigma:

* numbers: SnakeYAML reads YAML decimals as `Double` and integers past 2^31 as `Long`/`BigInteger`;
  `SigmaDetection.fromDefinition` and `SigmaTypeFacade` only take `Integer` and `Float`, so any other
  number is dropped (a selection left empty fails with "Detection is empty"; in a list it becomes null);
* modifiers: `SigmaModifierFacade` knows only the ones in `MODIFIERS`; any other fails with
  "Unknown modifier".
"""

from __future__ import annotations

from typing import Any

# SigmaModifierFacade's modifier map.
MODIFIERS = frozenset(
    {
        "contains",
        "startswith",
        "endswith",
        "base64",
        "base64offset",
        "wide",
        "windash",
        "re",
        "cidr",
        "all",
        "lt",
        "lte",
        "gt",
        "gte",
    }
)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # java.lang.Integer


def _value_problem(key: str, value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return None
        return f"{key}: {value} is past a 32-bit integer (read as Long and dropped)"
    if isinstance(value, float):
        return f"{key}: {value} is a decimal number (read as Double and dropped; only integers compare)"
    return f"{key}: a {type(value).__name__} value is not read"


def _selection_problems(name: str, definition: Any) -> list[str]:
    problems: list[str] = []
    if isinstance(definition, list):
        for item in definition:
            if isinstance(item, dict | list):
                problems += _selection_problems(name, item)
            elif problem := _value_problem(name, item):
                problems.append(problem)
        return problems
    if not isinstance(definition, dict):
        problem = _value_problem(name, definition)
        return [problem] if problem else []
    for key, value in definition.items():
        unknown = [m for m in str(key).split("|")[1:] if m not in MODIFIERS]
        if unknown:
            problems.append(f"{name}.{key}: modifier {', '.join(unknown)} is unknown to Security Analytics")
        for item in value if isinstance(value, list) else [value]:
            if problem := _value_problem(f"{name}.{key}", item):
                problems.append(problem)
    return problems


def security_analytics_problems(rule: dict[str, Any]) -> list[str]:
    """Why Security Analytics would reject or misread a detection rule (a YAML document); [] if not."""
    detection = rule.get("detection")
    if not isinstance(detection, dict):
        return ["no detection section"]
    problems: list[str] = []
    for name, definition in detection.items():
        if name != "condition":
            problems += _selection_problems(str(name), definition)
    return problems
