"""The ECS document skeleton and the per-record context every format builds its events with.

Documents are plain nested dicts (no pydantic on the hot path: the ECS models validate ~34k events/s,
the shipper must do more); the tests prove that every document the formats produce validates against
`mlsiem.ecs.InferenceEvent` / `PipelineEvent`. Decisions that hold for every format:

- `event.ingested` is NOT set here: it would make the same record normalize to a different document
  each time. The sink or an ingest pipeline stamps it at delivery.
- A field whose raw value has the wrong type is left out (the event is kept) and its name is listed in
  `labels.malformed_fields`, so the gap is visible and searchable.
- Feature maps keep numbers as numbers, strings as strings and booleans as booleans (the index maps a
  boolean feature as a keyword: it is categorical). Missing values (null) are left out; nested objects
  and arrays are dropped and counted with the features beyond the cap in `mlsiem.features_dropped`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final, Literal

from mlsiem.ecs.fields import ECS_VERSION
from shipper.normalize.redaction import redact
from shipper.records import EventKind

ContentPolicy = Literal["full", "redacted", "hash", "none"]
CONTENT_POLICIES: Final[tuple[ContentPolicy, ...]] = ("full", "redacted", "hash", "none")

_LONG_MAX: Final = 2**63 - 1
_sha256 = hashlib.sha256


class RecordError(Exception):
    """A record that cannot become an event; the message is the reason kept in the dead-letter file."""


@dataclass(slots=True)
class Draft:
    """One event a format made from a record: its kind, the record's own id (if any) and the document."""

    kind: EventKind
    own_id: str | None
    document: dict[str, Any]
    malformed: list[str] | None = None


class RecordContext:
    """What a format needs while converting one record: the policies and where problems are noted.

    `problems` lists parts of the record that made no event (the record then also goes to the dead
    letters). A plain slotted class: one is made per record, so it must be cheap.
    """

    __slots__ = ("content_policy", "max_features", "namespace", "problems")

    def __init__(
        self, content_policy: ContentPolicy = "redacted", max_features: int = 200, namespace: str = "default"
    ) -> None:
        self.content_policy = content_policy
        self.max_features = max_features
        self.namespace = namespace
        self.problems: list[str] = []

    # -- skeleton -----------------------------------------------------------------------------------

    def inference(self, timestamp: str) -> dict[str, Any]:
        """A new inference document with the fields every one carries."""
        return {
            "@timestamp": timestamp,
            "ecs": {"version": ECS_VERSION},
            "data_stream": {"type": "logs", "dataset": "mlsiem.inference", "namespace": self.namespace},
            "event": {
                "kind": "event",
                "category": ["api"],
                "type": ["info"],
                "dataset": "mlsiem.inference",
                "module": "mlsiem",
            },
        }

    def pipeline(self, timestamp: str, action: str, category: str, event_type: str) -> dict[str, Any]:
        """A new pipeline document (training, validation, registry, deployment step)."""
        return {
            "@timestamp": timestamp,
            "ecs": {"version": ECS_VERSION},
            "data_stream": {"type": "logs", "dataset": "mlsiem.pipeline", "namespace": self.namespace},
            "event": {
                "kind": "event",
                "category": [category],
                "type": [event_type],
                "action": action,
                "dataset": "mlsiem.pipeline",
                "module": "mlsiem",
            },
        }

    # -- content ------------------------------------------------------------------------------------

    def content(self, llm: dict[str, Any], prompt: str | None, completion: str | None) -> None:
        """Apply the content policy: text kept, redacted, reduced to length + sha256, or dropped.

        Length (characters) and sha256 (of the UTF-8 bytes) always describe the ORIGINAL prompt, so
        abuse detection by prompt size or by repetition keeps working whatever the policy.
        """
        policy = self.content_policy
        if policy == "none":
            return
        if prompt is not None:
            llm["prompt_length"] = len(prompt)
            llm["prompt_sha256"] = _sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()
            if policy == "redacted":
                llm["prompt"] = redact(prompt)
            elif policy == "full":
                llm["prompt"] = prompt
        if completion is not None:
            if policy == "redacted":
                llm["completion"] = redact(completion)
            elif policy == "full":
                llm["completion"] = completion

    def scrub(self, text: str) -> str:
        """Free text that may quote a request (error messages): redacted unless the policy is `full`."""
        return text if self.content_policy == "full" else redact(text)

    # -- features -----------------------------------------------------------------------------------

    def features(self, target: dict[str, Any], values: Any) -> bool:
        """Put a feature map into `target` (the document's `mlsiem` object); False if it was no map."""
        if values.__class__ is not dict:
            return False
        if len(values) <= self.max_features and _clean(values):
            if values:
                target["features"] = values  # the common case: used as it is, no copy
            return True
        kept: dict[str, Any] = {}
        dropped = 0
        limit = self.max_features
        for name, value in values.items():
            cls = value.__class__
            if value is None:
                continue
            if name.__class__ is not str or not name:
                dropped += 1
                continue
            if cls is float:
                if value != value or value in (float("inf"), float("-inf")):
                    continue
            elif cls is int:
                if not -_LONG_MAX <= value <= _LONG_MAX:
                    value = float(value)
            elif cls is not str and cls is not bool:
                dropped += 1
                continue
            if len(kept) >= limit:
                dropped += 1
                continue
            if "." in name:
                name = name.replace(".", "_")
            kept[name] = value
        if kept:
            target["features"] = kept
        if dropped:
            target["features_dropped"] = dropped
        return True


def _clean(values: dict[str, Any]) -> bool:
    """Whether a feature map can be used as it is: scalar, finite values under plain string names."""
    for name, value in values.items():
        cls = value.__class__
        if cls is float:
            if value - value != 0.0:  # NaN or an infinity
                return False
        elif cls is int:
            if not -_LONG_MAX <= value <= _LONG_MAX:
                return False
        elif cls is not str and cls is not bool:
            return False
        if name.__class__ is not str or not name or "." in name:
            return False
    return True


def labels_from(values: Any) -> dict[str, str | int | float | bool] | None:
    """A `labels` map: scalar values only, non-empty undotted keys (ECS stores each as keyword)."""
    if values.__class__ is not dict:
        return None
    labels: dict[str, str | int | float | bool] = {}
    for key, value in values.items():
        cls = value.__class__
        if (
            key.__class__ is not str
            or not key
            or not (cls is str or cls is bool or cls is int or cls is float)
        ):
            continue
        if cls is float and (value != value or value in (float("inf"), float("-inf"))):
            continue
        labels[key.replace(".", "_") if "." in key else key] = value
    return labels or None
