"""The normalizer: one raw record (a JSON line or a decoded dict) + its origin -> ECS events or a rejection.

`Normalizer(config).normalize(raw, origin)` NEVER raises for bad input: every record is accounted for,
as events (`Normalized`) or as a `Rejected` with a reason that names the problem ("not JSON: ...",
"line too long: ...", "litellm: no valid startTime ..."); the caller adds file and line context from
the origin. Blank lines give neither (they are not records). Records too long (`max_line_bytes`),
nested too deep (`max_depth`) or too wide (`max_fields`) are rejected before any format looks at them;
events with too many features or labels, or too long strings, are shipped cut and marked. Which limit
refuses and which cuts, and how both are counted: `shipper.normalize.limits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlsiem.errors import ConfigError
from mlsiem.indices import check_namespace
from shipper.formats.auto import detector
from shipper.formats.registry import FORMATS, Converter, FormatName, claimed_names
from shipper.normalize.document import ContentPolicy, Draft, RecordContext, RecordError
from shipper.normalize.ids import content_id, usable_own_id
from shipper.normalize.limits import (
    DYNAMIC_FIELDS_BUDGET,
    FEATURES_FIELD,
    LABELS_FIELD,
    TRUNCATED_LABEL,
    cap_map,
    cut_long_strings,
    too_many_fields,
)
from shipper.normalize.raw_dump import dump_record
from shipper.normalize.redaction import redact
from shipper.records import Normalized, Origin, Rejected

MIB: Final = 1024 * 1024
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_UNRECOGNISED: Final = f"not {claimed_names()}; give a mapping file (--mapping) for other JSON logs"
_RELAYED: Final = frozenset(f.name for f in FORMATS if f.relay)


class NormalizeConfig(BaseModel):
    """How records are read and what of their content is kept."""

    model_config = ConfigDict(extra="forbid")

    format: FormatName = "auto"
    mapping_file: Path | None = None
    content_policy: ContentPolicy = "redacted"
    keep_original: bool = Field(False, description="store the raw record in event.original (opt-in)")
    # Limits (shipper.normalize.limits): the first three refuse a record, the last three cut an event.
    max_line_bytes: int = Field(MIB, ge=1024, le=64 * MIB, description="bytes per raw record")
    max_depth: int = Field(64, ge=4, le=1000, description="JSON nesting levels per raw record")
    max_fields: int = Field(1000, ge=16, le=100_000, description="distinct leaf fields per raw record")
    max_features: int = Field(200, ge=0, le=DYNAMIC_FIELDS_BUDGET, description="features kept per event")
    max_labels: int = Field(100, ge=0, le=DYNAMIC_FIELDS_BUDGET, description="labels kept per event")
    max_string_chars: int = Field(
        65_536, ge=1024, le=16 * MIB, description="characters kept per string value (prompts included)"
    )
    namespace: str = "default"
    otlp_genai_only: bool = Field(True, description="OTLP: only spans/log records with GenAI telemetry")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        try:
            return check_namespace(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> NormalizeConfig:
        if self.format == "mapping" and self.mapping_file is None:
            raise ValueError("format `mapping` needs mapping_file (a YAML mapping)")
        if self.mapping_file is not None and self.format not in ("mapping", "auto"):
            raise ValueError(
                f"mapping_file is only used with format `mapping` or `auto`, not {self.format!r}"
            )
        if self.max_features + self.max_labels > DYNAMIC_FIELDS_BUDGET:
            raise ValueError(
                f"max_features ({self.max_features}) + max_labels ({self.max_labels}) may be at most "
                f"{DYNAMIC_FIELDS_BUDGET}: each is a mapped field, and the index template allows 2000 fields "
                "in all (index.mapping.total_fields.limit), the declared ECS fields included"
            )
        if self.keep_original and self.content_policy in ("hash", "none"):
            raise ValueError(
                f"keep_original would store the prompts that content_policy {self.content_policy!r} hides"
            )
        return self


def raw_text(raw: str | bytes | dict[str, Any]) -> str:
    """The record as text for the dead-letter file, losslessly (undecodable bytes survive as
    surrogate escapes: `text.encode("utf-8", "surrogateescape")` gives the original bytes back)."""
    if raw.__class__ is str:
        return raw  # type: ignore[return-value]
    if raw.__class__ is bytes or isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw).decode("utf-8", "surrogateescape")  # type: ignore[arg-type]
    return dump_record(raw).decode("utf-8", "surrogateescape")


_ESCAPES = (b"\\\\", b'\\"')
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')


def openers_over(raw: bytes, limit: int) -> bool:
    """Whether the text holds more than `limit` brackets `{` and `[`: only then can it nest deeper.

    Counting a byte reads the whole text (~10 instructions a byte); `find` is a memchr, so the count of
    `[` is skipped for the many records without arrays."""
    braces = raw.count(b"{")
    if braces > limit:
        return True
    return raw.find(b"[") >= 0 and braces + raw.count(b"[") > limit


def raw_too_deep(raw: bytes, limit: int) -> bool:
    """Whether a parsed JSON text nests deeper than `limit`, computed on its bytes at C speed.

    Escaped backslashes and quotes are dropped, everything but quotes and brackets is deleted (both
    bracket kinds become parentheses), the strings are cut out (the text between quotes alternates
    outside/inside), and what is left is the bracket skeleton: each `replace(b"()", b"")` pass peels
    exactly one level. Only called for text that already parsed as JSON.
    """
    skeleton = raw.replace(_ESCAPES[0], b"").replace(_ESCAPES[1], b"")
    skeleton = b"".join(skeleton.translate(_OPEN_CLOSE, _NOT_STRUCTURE).split(b'"')[::2])
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"()", b"")
    return bool(skeleton)


class Normalizer:
    """Turns raw records into ECS events. Construction validates the mapping file (ConfigError)."""

    def __init__(self, config: NormalizeConfig | None = None) -> None:
        self.config = config = config or NormalizeConfig()
        self._converters: dict[str, Converter] = {}
        for fmt in FORMATS:
            converter = fmt.make(config)
            if converter is not None:
                self._converters[fmt.name] = converter
        self._detect = detector(self._converters)
        self._fixed = None if config.format == "auto" else config.format
        self._policy = config.content_policy
        self._max_features = config.max_features
        self._namespace = config.namespace
        self._max_bytes = config.max_line_bytes
        self._max_depth = config.max_depth
        self._max_fields = config.max_fields
        self._max_labels = config.max_labels
        self._max_chars = config.max_string_chars
        self._keep_original = config.keep_original

    # -- entry --------------------------------------------------------------------------------------

    def normalize(
        self, raw: str | bytes | dict[str, Any], origin: Origin
    ) -> tuple[list[Normalized], list[Rejected]]:
        """Events made from one record, and the record itself when (part of) it could not be used."""
        try:
            return self._normalize(raw, origin)
        except Exception as exc:  # a bug must not stop the stream: the record is kept with the reason
            reason = f"internal error while normalizing: {type(exc).__name__}: {redact(str(exc))[:300]}"
            return [], [Rejected(reason, raw_text(raw), origin)]

    def _reject(self, reason: str, raw: Any, origin: Origin) -> tuple[list[Normalized], list[Rejected]]:
        return [], [Rejected(reason, raw_text(raw), origin)]

    def _decode(self, raw: Any) -> tuple[dict[str, Any] | None, str | None]:
        """(record, None) or (None, reason); ({}, None) for a blank line."""
        if raw.__class__ is dict:
            return raw, None
        limit = self._max_bytes
        if raw.__class__ is str:
            size = len(raw)
            if size * 4 > limit:
                size = len(raw.encode("utf-8", "surrogatepass"))
        else:
            size = len(raw)
        if size > limit:
            return None, f"line too long: {size} bytes, the limit is {limit} (max_line_bytes)"
        try:
            record = _loads(raw)
        except _JSONDecodeError as exc:
            if not raw.strip():
                return {}, None
            return None, f"not JSON: {exc}"
        if record.__class__ is not dict:
            return None, f"not a JSON object: the line holds {_JSON_TYPES.get(record.__class__, 'null')}"
        data = raw if raw.__class__ is bytes else raw.encode("utf-8", "surrogatepass")
        if openers_over(data, self._max_depth) and raw_too_deep(data, self._max_depth):
            return None, f"nested deeper than {self._max_depth} levels (max_depth)"
        # Every leaf field is an object member, so a record with fewer colons than the limit is within it
        # (and one with fewer bytes than the limit has fewer colons: no need to count them).
        if len(data) > self._max_fields and data.count(b":") > self._max_fields:
            return record, self._fields_problem(record)
        return record, None

    def _fields_problem(self, record: dict[str, Any]) -> str | None:
        if too_many_fields(record, self._max_fields) is None:
            return None
        return f"too many fields: more than {self._max_fields} distinct leaf fields (max_fields)"

    def _dict_problem(self, record: dict[str, Any], data: bytes) -> str | None:
        """The input limits for a record that arrived decoded (the SDK, forward maps), checked on its
        JSON text `data` as a line's are (bytes operations at C speed, not a walk of the dicts)."""
        if openers_over(data, self._max_depth) and raw_too_deep(data, self._max_depth):
            return f"nested deeper than {self._max_depth} levels (max_depth)"
        size = len(data)  # a decoded record is bounded like a line: event.original relies on it
        if size > self._max_bytes:
            return f"record too long: {size} bytes, the limit is {self._max_bytes} (max_line_bytes)"
        if data.count(b":") > self._max_fields:
            return self._fields_problem(record)
        return None

    def _normalize(self, raw: Any, origin: Origin) -> tuple[list[Normalized], list[Rejected]]:
        if raw.__class__ is not str and raw.__class__ is not bytes and raw.__class__ is not dict:
            if isinstance(raw, bytearray | memoryview):
                raw = bytes(raw)
            elif not isinstance(raw, str | bytes | dict):
                return self._reject(f"not a record: {type(raw).__name__}", raw, origin)
        record, problem = self._decode(raw)
        if record is None or problem is not None:
            return self._reject(problem or "unreadable", raw, origin)
        if not record:
            if raw.__class__ is dict or raw.strip():  # `{}` is a record without fields, not a blank line
                return self._reject("empty object: no fields", raw, origin)
            return [], []
        data = raw
        if raw.__class__ is dict:
            data = dump_record(record)  # once: for the limits here and for the content id
            problem = self._dict_problem(record, data)
            if problem is not None:
                return self._reject(problem, raw, origin)
        fmt = self._fixed or self._detect(record)
        if fmt is None:
            keys = ", ".join(sorted(str(k) for k in record)[:8])
            return self._reject(f"format not recognised (keys: {keys}): {_UNRECOGNISED}", raw, origin)
        parsed = raw.__class__ is not dict  # decoded here from JSON text (RecordContext.parsed)
        ctx = RecordContext(self._policy, self._max_features, self._namespace, self._max_chars, parsed)
        try:
            drafts = self._converters[fmt](record, ctx)
        except RecordError as exc:
            return self._reject(f"{fmt}: {exc}", raw, origin)
        # Strings can only be over the limit when the record's text is (a decoded record's is its dump):
        # walking every decoded document for long strings was 11% of a forward shipper's CPU.
        long_strings = ctx.long_text or len(data) > self._max_chars
        relayed = fmt in _RELAYED
        for draft in drafts:
            self._limit(draft, ctx, long_strings, relayed)
        events = self._finish(drafts, fmt, raw, origin, data, relayed)
        if ctx.problems:
            return events, [Rejected(f"{fmt}: " + "; ".join(ctx.problems), raw_text(raw), origin)]
        return events, []

    # -- limits that cut ----------------------------------------------------------------------------

    def _limit(self, draft: Draft, ctx: RecordContext, long_strings: bool, relayed: bool = False) -> None:
        """Cut the labels, features and strings over their limits; list what was cut in the marker (a
        relayed document's marker is the edge shipper's own, so it is kept and added to)."""
        doc = draft.document
        cut: list[str] = []
        labels = doc.get("labels")
        if labels is not None:
            if TRUNCATED_LABEL in labels and not relayed:  # our own marker: an input label may not forge it
                del labels[TRUNCATED_LABEL]
                draft.malformed = [*(draft.malformed or []), f"labels.{TRUNCATED_LABEL}"]
            if len(labels) > self._max_labels:
                labels = doc["labels"] = cap_map(labels, self._max_labels)
                cut.append(LABELS_FIELD)
            if not labels:
                del doc["labels"]
        if ctx.capped and any(target is doc.get("mlsiem") for target in ctx.capped):
            cut.append(FEATURES_FIELD)
        if long_strings:
            cut += cut_long_strings(doc, self._max_chars)
        if cut:
            labels = doc.get("labels")
            if labels is None:
                labels = doc["labels"] = {}
            earlier = labels.get(TRUNCATED_LABEL) if relayed else None
            if isinstance(earlier, str):
                cut += earlier.split(",")
            labels[TRUNCATED_LABEL] = ",".join(sorted(set(cut)))

    # -- common fields ------------------------------------------------------------------------------

    def _finish(
        self, drafts: list[Draft], fmt: str, raw: Any, origin: Origin, data: Any, relayed: bool
    ) -> list[Normalized]:
        events: list[Normalized] = []
        base_id: str | None = None
        offset, path = origin.offset, origin.path
        original = None
        if self._keep_original:
            text = raw_text(raw)
            original = text if self._policy == "full" else redact(text)
        for index, draft in enumerate(drafts):
            if draft.own_id:  # None or empty: the content id
                event_id = usable_own_id(draft.own_id)
            else:
                if base_id is None:
                    if data.__class__ is not bytes:
                        data = _raw_bytes(raw)
                    base_id = content_id(origin, data)
                event_id = base_id if index == 0 else f"{base_id}-{index}"
            doc = draft.document
            event = doc["event"]
            event["id"] = event_id
            if relayed:  # a relayed document keeps where the edge shipper read it
                events.append(Normalized(draft.kind, event_id, doc))
                continue
            mlsiem = doc.get("mlsiem")
            if mlsiem is None:
                mlsiem = doc["mlsiem"] = {}
            mlsiem["source"] = {"format": fmt}
            if offset is not None:
                mlsiem["log"] = {"offset": offset}
            if path:
                doc["log"] = {"file": {"path": path}}
            if original is not None:
                event["original"] = original
            if draft.malformed:
                labels = doc.get("labels")
                if labels is None:
                    labels = doc["labels"] = {}
                labels["malformed_fields"] = ",".join(sorted(set(draft.malformed)))
            events.append(Normalized(draft.kind, event_id, doc))
        return events


def _raw_bytes(raw: Any) -> bytes:
    if raw.__class__ is str:
        return raw.encode("utf-8", "surrogateescape")
    return dump_record(raw)
