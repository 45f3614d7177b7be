"""The `mapping` format: a user's YAML mapping (see `mapping_config`) applied to JSON log lines.

The mapping is compiled once (paths into step tuples, each target into its coercion from the field's
ECS type), so a line costs a few dict lookups per field. A value of the wrong type costs that field
only (listed in `labels.malformed_fields`); a record without a usable timestamp is rejected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsiem.ecs.fields import fields_for
from shipper.formats.mapping_config import CompiledPath, MappingConfig, ValueRule, compile_path, load_mapping
from shipper.normalize.document import Draft, RecordContext, RecordError
from shipper.normalize.put import place
from shipper.normalize.text import message_text
from shipper.normalize.values import (
    INT_MAX,
    LONG_MAX,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_list,
    as_timestamp,
)
from shipper.normalize.vocab import (
    ACTION_NAME,
    EVENT_CATEGORIES,
    EVENT_TYPES,
    GUARDRAIL_ACTIONS,
    MODEL_TYPES,
    OUTCOMES,
    pipeline_action,
)

MAX_EXPLODE = 10_000  # events from one record; the rest is reported
LIST_FIELDS = {
    "tags": None,
    "event.category": EVENT_CATEGORIES,
    "event.type": EVENT_TYPES,
    "host.ip": None,
    "gen_ai.response.finish_reasons": None,
    "mlsiem.llm.guardrail.policies": None,
}
CHOICES = {
    "event.outcome": OUTCOMES,
    "mlsiem.model.type": MODEL_TYPES,
    "mlsiem.llm.guardrail.action": GUARDRAIL_ACTIONS,
}

Coerce = Callable[[Any], Any]


def _choice(allowed: frozenset[str]) -> Coerce:
    def coerce(value: Any) -> str | None:
        text = as_str(value)
        text = text.lower() if text is not None else None
        return text if text in allowed else None

    return coerce


def _list(allowed: frozenset[str] | None) -> Coerce:
    def coerce(value: Any) -> list[str] | None:
        items = as_str_list(value)
        if items is not None and allowed is not None:
            items = [item for item in (i.lower() for i in items) if item in allowed] or None
        return items

    return coerce


def coercion_for(target: str, es_type: str) -> Coerce:
    """How a raw value becomes the value of one target field (by its ECS type and vocabulary)."""
    if target in LIST_FIELDS:
        return _list(LIST_FIELDS[target])
    if target in CHOICES:
        return _choice(CHOICES[target])
    if target.startswith("labels."):
        return lambda value: (
            value if value.__class__ in (str, bool, int) or as_float(value) is not None else None
        )
    if es_type == "long":
        return lambda value: as_int(value, LONG_MAX, -LONG_MAX)
    if es_type == "integer":
        return lambda value: as_int(value, INT_MAX, -INT_MAX)
    if es_type in ("double", "float"):
        return as_float
    if es_type == "boolean":
        return as_bool
    if es_type == "date":
        return as_timestamp
    return as_str


@dataclass(frozen=True, slots=True)
class Source:
    """A compiled path: optionally starting at an explode element (`$name`)."""

    element: str | None
    steps: CompiledPath

    @classmethod
    def of(cls, path: str) -> Source:
        steps = compile_path(path)
        head = steps[0]
        if head.__class__ is str and head.startswith("$"):  # type: ignore[union-attr]
            return cls(head[1:], steps[1:])  # type: ignore[index]
        return cls(None, steps)

    def resolve(self, record: dict[str, Any], elements: dict[str, Any]) -> Any:
        node: Any = elements.get(self.element) if self.element is not None else record
        for step in self.steps:
            if step.__class__ is int:
                if node.__class__ is not list or not -len(node) <= step < len(node):  # type: ignore[operator]
                    return None
                node = node[step]  # type: ignore[index]
            elif node.__class__ is dict:
                node = node.get(step)
            else:
                return None
            if node is None:
                return None
        return node


def _first(sources: tuple[Source, ...], record: dict[str, Any], elements: dict[str, Any]) -> Any:
    for source in sources:
        value = source.resolve(record, elements)
        if value is not None:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    target: str
    parents: tuple[str, ...]
    leaf: str
    sources: tuple[Source, ...]
    constant: Any
    scale: float | None
    translate: dict[str, Any] | None
    coerce: Coerce
    integral: bool

    @classmethod
    def compile(cls, target: str, rule: ValueRule, es_type: str) -> Rule:
        return cls(
            target=target,
            parents=tuple(target.split(".")[:-1]),
            leaf=target.rsplit(".", 1)[-1],
            sources=tuple(Source.of(path) for path in rule.path or ()),
            constant=rule.value,
            scale=rule.scale,
            translate=rule.map,
            coerce=coercion_for(target, es_type),
            integral=es_type in ("long", "integer"),
        )

    def value(self, record: dict[str, Any], elements: dict[str, Any]) -> tuple[bool, Any]:
        """(present, coerced value or None when the raw value did not fit)."""
        raw = self.constant
        if raw is None:
            for source in self.sources:
                raw = source.resolve(record, elements)
                if raw is not None:
                    break
        if raw is None:
            return False, None
        if self.translate is not None:
            key = as_str(raw)
            if key is not None and key in self.translate:
                raw = self.translate[key]
        if self.scale is not None:
            number = as_float(raw)
            if number is None:
                return True, None
            scaled = number * self.scale
            if not math.isfinite(scaled):
                return True, None
            raw = round(scaled) if self.integral else scaled
        return True, self.coerce(raw)


class MappingFormat:
    """A compiled mapping: `convert(record, ctx)` like every other format."""

    def __init__(self, config: MappingConfig, name: str = "mapping") -> None:
        self.config = config
        self.name = name
        self.kind = config.kind
        table = fields_for(config.kind)
        self.timestamp = tuple(Source.of(p) for p in config.timestamp)
        self.own_id = tuple(Source.of(p) for p in config.id or ())
        self.explode = tuple(
            (element, tuple(Source.of(p) for p in paths)) for element, paths in (config.explode or {}).items()
        )
        self.rules = tuple(
            Rule.compile(target, rule, table[target].type if target in table else "keyword")
            for target, rule in config.fields.items()
        )
        self.action_rule = next((r for r in self.rules if r.target == "event.action"), None)
        self.features = tuple(Source.of(p) for p in config.features.path) if config.features else ()
        self.feature_names = config.features.names if config.features else None
        self.prompt = tuple(Source.of(p) for p in config.prompt or ())
        self.completion = tuple(Source.of(p) for p in config.completion or ())

    @classmethod
    def load(cls, path: str | Path) -> MappingFormat:
        return cls(load_mapping(path), Path(path).stem)

    def _elements(self, record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
        if not self.explode:
            return [{}]
        arrays = [(element, _first(sources, record, {})) for element, sources in self.explode]
        primary_name, primary = arrays[0]
        if primary.__class__ is not list:
            raise RecordError(
                f"explode.{primary_name}: no list at {', '.join(self.config.explode[primary_name])}"
            )  # type: ignore[index]
        count = len(primary)
        if count > MAX_EXPLODE:
            ctx.problems.append(
                f"explode.{primary_name}: {count} elements, only the first {MAX_EXPLODE} kept"
            )
            count = MAX_EXPLODE
        return [
            {
                element: (array[index] if array.__class__ is list and index < len(array) else None)
                for element, array in arrays
            }
            for index in range(count)
        ]

    def _event(self, record: dict[str, Any], elements: dict[str, Any], ctx: RecordContext) -> Draft:
        doc = self._skeleton(record, elements, ctx)
        bad: list[str] = []
        for rule in self.rules:
            present, value = rule.value(record, elements)
            if value is not None:
                place(doc, rule.parents, rule.leaf, value)
            elif present:
                bad.append(rule.target)
        mlsiem = doc.get("mlsiem")
        if mlsiem is None:
            mlsiem = doc["mlsiem"] = {}
        if self.features:
            self._features(record, elements, mlsiem, ctx, bad)
        if self.prompt or self.completion:
            self._content(record, elements, mlsiem, ctx)
        self._implied(doc, ctx)
        own = _first(self.own_id, record, elements) if self.own_id else None
        own_text = as_str(own) if own is not None else None
        return Draft(self.kind, own_text or None, doc, bad)  # an empty id is no id: the content id is used

    def _skeleton(
        self, record: dict[str, Any], elements: dict[str, Any], ctx: RecordContext
    ) -> dict[str, Any]:
        """The document of the mapping's kind at the record's time (a pipeline event needs its action)."""
        stamp_raw = _first(self.timestamp, record, elements)
        timestamp = as_timestamp(stamp_raw) if stamp_raw is not None else None
        if timestamp is None:
            what = "is not a time" if stamp_raw is not None else "is missing"
            raise RecordError(f"timestamp ({', '.join(self.config.timestamp)}) {what}")
        if self.kind != "pipeline":
            return ctx.inference(timestamp)
        _, action = self.action_rule.value(record, elements) if self.action_rule else (False, None)
        if action.__class__ is not str or not ACTION_NAME.fullmatch(action):
            raise RecordError("event.action is missing or not a lower-case word (e.g. model_deployed)")
        category, event_type, outcome = pipeline_action(action)
        doc = ctx.pipeline(timestamp, action, category, event_type)
        if outcome:
            doc["event"]["outcome"] = outcome
        return doc

    def _content(
        self, record: dict[str, Any], elements: dict[str, Any], mlsiem: dict[str, Any], ctx: RecordContext
    ) -> None:
        prompt = _first(self.prompt, record, elements)
        completion = _first(self.completion, record, elements)
        llm = mlsiem.get("llm")
        if llm is None:
            llm = mlsiem["llm"] = {}
        ctx.content(
            llm,
            message_text(prompt) if prompt is not None else None,
            message_text(completion) if completion is not None else None,
        )
        if not llm:
            del mlsiem["llm"]

    def _implied(self, doc: dict[str, Any], ctx: RecordContext) -> None:
        """What follows from the mapped fields: outcome, gen_ai.system, scrubbed free text."""
        event = doc["event"]
        if self.kind == "inference":
            outcome = event.setdefault("outcome", "success")
            if outcome == "failure" and "event.type" not in self.config.fields:
                event["type"] = ["error"]
        provider = doc.get("gen_ai", {}).get("provider", {}).get("name")
        if provider and "system" not in doc["gen_ai"]:
            doc["gen_ai"]["system"] = provider
        if "message" in doc:
            doc["message"] = ctx.scrub(doc["message"])
        if "message" in doc.get("error", {}):
            doc["error"]["message"] = ctx.scrub(doc["error"]["message"])

    def _features(
        self,
        record: dict[str, Any],
        elements: dict[str, Any],
        mlsiem: dict[str, Any],
        ctx: RecordContext,
        bad: list[str],
    ) -> None:
        values = _first(self.features, record, elements)
        if values is None:
            return
        if values.__class__ is list:
            names = self.feature_names or [f"f{index}" for index in range(len(values))]
            values = dict(zip(names, values, strict=False))
        if not ctx.features(mlsiem, values):
            bad.append("mlsiem.features")

    def convert(self, record: dict[str, Any], ctx: RecordContext) -> list[Draft]:
        drafts = []
        exploded = bool(self.explode)
        for index, elements in enumerate(self._elements(record, ctx)):
            draft = self._event(record, elements, ctx)
            if exploded and draft.own_id is not None:
                draft.own_id = f"{draft.own_id}-{index}"
            drafts.append(draft)
        if not drafts:
            raise RecordError(f"explode.{self.explode[0][0]}: the list is empty, no event")
        return drafts
