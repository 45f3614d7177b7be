"""Example events of the rules (`sigma_rules/tests/<rule>.yaml`) and how they become ECS documents.

Events are written with dotted ECS field names, as the shipper's output would have them, merged over
the file's `defaults`, and validated through the project's ECS models (`InferenceEvent`,
`PipelineEvent`), so an example can only use fields the shipper really writes.

Detection rule files list `positives` (must match) and `negatives` (must not). Correlation rule files
list `scenarios`: timed events (`at` seconds, optionally `repeat` times `every` seconds apart, `{i}` in
a string value becomes the repeat index) and the groups that must fire (`fires`, ECS field -> value).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlsiem.ecs.models import InferenceEvent, PipelineEvent
from mlsiem.errors import ConfigError
from mlsiem.yamlfile import read_yaml

EXAMPLE_LABEL = "mlsiem_example"  # labels.<this> = "<rule name>:<pos|neg|scenario>:<n>"


class DetectionExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    title: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    positives: list[dict[str, Any]] = Field(min_length=1)
    negatives: list[dict[str, Any]] = Field(min_length=1)


MAX_SCENARIO_SECONDS: Final = 7 * 24 * 3600


class TimedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Seconds from the scenario's start; a week bounds every rule's timespan with room to spare (and
    # keeps the timestamps representable).
    at: float = Field(0, ge=0, le=MAX_SCENARIO_SECONDS)
    repeat: int = Field(1, ge=1, le=5000)
    every: float = Field(1, gt=0, le=MAX_SCENARIO_SECONDS)
    event: dict[str, Any] = Field(default_factory=dict)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    fires: list[dict[str, Any]]
    events: list[TimedEvent] = Field(min_length=1)

    @property
    def span_seconds(self) -> float:
        return max(e.at + (e.repeat - 1) * e.every for e in self.events)


class CorrelationExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    title: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[Scenario] = Field(min_length=2)


def load_examples(path: Path, correlation: bool) -> DetectionExamples | CorrelationExamples:
    model = CorrelationExamples if correlation else DetectionExamples
    if not path.is_file():
        raise ConfigError(f"{path}: no example events for this rule (every rule needs them)")
    try:
        return model.model_validate(read_yaml(path, "example events"))
    except ValidationError as exc:
        raise ConfigError(f"example events {path}: {exc}") from None


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` -> `{"a": {"b": 1}}`; ValueError when a name is both a value and an object."""
    root: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = str(key).split(".")
        node = root
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{'.'.join(parts[: depth + 1])} is a value and also the object of {key}")
        if isinstance(node.get(parts[-1]), dict):
            raise ValueError(f"{key} is an object (it has fields) and also a value")
        node[parts[-1]] = value
    return root


def _format_index(value: Any, index: int) -> Any:
    if isinstance(value, str) and "{i}" in value:
        return value.replace("{i}", str(index))
    if isinstance(value, list):
        return [_format_index(v, index) for v in value]
    return value


def to_document(category: str, fields: dict[str, Any], timestamp: datetime, label: str) -> dict[str, Any]:
    """One example event as the ECS document the shipper would write (validated by the ECS model)."""
    dotted = {**fields, "@timestamp": timestamp, f"labels.{EXAMPLE_LABEL}": label}
    model = PipelineEvent if category == "pipeline" else InferenceEvent
    try:
        return model.model_validate(nest(dotted)).to_document()
    except ValueError as exc:  # pydantic's ValidationError is one, and so are nest's
        raise ConfigError(f"example event {label} is not a valid {model.__name__}: {exc}") from None


def scenario_documents(
    category: str, defaults: dict[str, Any], scenario: Scenario, start: datetime, label: str
) -> list[dict[str, Any]]:
    """The events of a scenario, timed from `start`."""
    docs = []
    for n, timed in enumerate(scenario.events):
        for i in range(timed.repeat):
            fields = {k: _format_index(v, i) for k, v in {**defaults, **timed.event}.items()}
            when = start + timedelta(seconds=timed.at + i * timed.every)
            docs.append(to_document(category, fields, when, f"{label}:{n}:{i}"))
    return docs
