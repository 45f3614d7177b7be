"""The ECS document skeleton and the per-record context every format builds its events with.

Documents are plain nested dicts (no pydantic on the hot path: the ECS models validate ~34k events/s,
the shipper must do more); the tests prove that every document the formats produce validates against
`mlsiem.ecs.InferenceEvent` / `PipelineEvent`. Decisions that hold for every format:

- `event.ingested` is NOT set here: it would make the same record normalize to a different document
  each time. An ingest pipeline in the cluster may stamp it (docs/formats.md says why setup does not).
- A field whose raw value has the wrong type is left out (the event is kept) and its name is listed in
  `labels.malformed_fields`, so the gap is visible and searchable.
- Feature maps keep numbers as numbers, strings as strings and booleans as booleans (the index maps a
  boolean feature as a keyword: it is categorical). Missing values (null) are left out; nested objects
  and arrays are dropped and counted with the features beyond the cap in `mlsiem.features_dropped`.
  Beyond the cap (`max_features`) the first names in sorted order are kept, so the same features
  survive whatever key order the producer used; the normalizer marks the event as cut
  (`shipper.normalize.limits`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final, Literal

from mlsiem.ecs.fields import ECS_VERSION
from shipper.normalize.redaction import redact
from shipper.records import EventKind

ContentPolicy = Literal["full", "redacted", "hash", "none"]

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
    letters). `capped` holds the `mlsiem` objects whose feature map was cut at `max_features`, and
    `long_text` says a prompt, completion or error text is over `max_string_chars`: the normalizer
    then cuts and marks (it owns the marker). `parsed` says the record was decoded from JSON text,
    whose maps have plain string keys and finite numbers only (a cheaper check of feature maps). A
    plain slotted class: one is made per record, so it must be cheap.
    """

    __slots__ = (
        "capped",
        "content_policy",
        "long_text",
        "max_features",
        "max_string_chars",
        "namespace",
        "parsed",
        "problems",
    )

    def __init__(
        self,
        content_policy: ContentPolicy = "redacted",
        max_features: int = 200,
        namespace: str = "default",
        max_string_chars: int = 65_536,
        parsed: bool = False,
    ) -> None:
        self.content_policy = content_policy
        self.parsed = parsed
        self.max_features = max_features
        self.namespace = namespace
        self.max_string_chars = max_string_chars
        self.problems: list[str] = []
        self.capped: list[dict[str, Any]] = []
        self.long_text = False

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
                prompt = redact(prompt)
            if policy != "hash":
                llm["prompt"] = prompt
                if len(prompt) > self.max_string_chars:
                    self.long_text = True
        if completion is not None and policy != "hash":
            if policy == "redacted":
                completion = redact(completion)
            llm["completion"] = completion
            if len(completion) > self.max_string_chars:
                self.long_text = True

    def scrub(self, text: str) -> str:
        """Free text that may quote a request (error messages): redacted unless the policy is `full`."""
        if self.content_policy != "full":
            text = redact(text)
        if len(text) > self.max_string_chars:
            self.long_text = True
        return text

    # -- features -----------------------------------------------------------------------------------

    def features(self, target: dict[str, Any], values: Any) -> bool:
        """Put a feature map into `target` (the document's `mlsiem` object); False if it was no map."""
        if values.__class__ is not dict:
            return False
        if len(values) <= self.max_features and (_clean_parsed(values) if self.parsed else _clean(values)):
            if values:
                target["features"] = values  # the common case: used as it is, no copy
            return True
        kept: dict[str, Any] = {}
        dropped = 0
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
            if "." in name:
                name = name.replace(".", "_")
            kept[name] = value
        if len(kept) > self.max_features:
            dropped += len(kept) - self.max_features
            kept = {name: kept[name] for name in sorted(kept)[: self.max_features]}
            self.capped.append(target)
        if kept:
            target["features"] = kept
        if dropped:
            target["features_dropped"] = dropped
        return True


def _clean(values: dict[str, Any]) -> bool:
    """Whether a feature map can be used as it is: scalar, finite values under plain string names.

    Run for every feature of every event, so written for few bytecodes per feature: the empty name
    is looked up once, and `value - value` is 0.0 (false) for a finite float, NaN (true) otherwise."""
    if "" in values:
        return False
    for name, value in values.items():
        cls = value.__class__
        if cls is float:
            if value - value:  # NaN or an infinity
                return False
        elif cls is int:
            if not -_LONG_MAX <= value <= _LONG_MAX:
                return False
        elif cls is not str and cls is not bool:
            return False
        if name.__class__ is not str or "." in name:
            return False
    return True


def _clean_parsed(values: dict[str, Any]) -> bool:
    """`_clean` for a map decoded from JSON text: its names are plain strings and its floats finite
    (the decoder refuses NaN and infinities), so only the value kinds, the integers' range and the
    names' dots are checked (every feature of 85% of the events goes through here: half the work)."""
    if "" in values or "." in "".join(values):
        return False
    for value in values.values():
        cls = value.__class__
        if cls is float or cls is str or cls is bool:
            continue
        if cls is not int or not -_LONG_MAX <= value <= _LONG_MAX:
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
