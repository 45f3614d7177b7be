"""The user's YAML mapping for any JSON inference log (KServe, Seldon, Triton, in-house services).

```yaml
kind: inference                  # or pipeline
timestamp: [headers.Ce-Time, time]   # paths, first present wins (required)
id: headers.Ce-Id                # the record's own id, if it has one (optional)
explode:                         # optional: one event per element of these parallel arrays
  instance: request.instances
  prediction: response.predictions
fields:                          # ECS / mlsiem field -> path, or {path | value, scale, map}
  mlsiem.model.name: headers.Ce-Inferenceservicename
  mlsiem.model.type: {value: classification}
  mlsiem.prediction.label: {path: $prediction, map: {0: setosa, 1: versicolor}}
  event.duration: {path: latency_ms, scale: 1000000}
features: {path: $instance, names: [sepal_length, sepal_width]}   # an object, or a list + names
prompt: request.messages         # LLM text: goes through the content policy
completion: response.choices
```

Paths are dotted keys with `[n]` list indexes and `["odd.key"]` for keys holding dots; `$name` starts
at the current element of an `explode` array. Targets are checked against the field table of the
kind (`mlsiem.ecs.fields_for`), so a typo fails when the mapping is loaded, naming the file and the
entry, not silently at index time.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlsiem.ecs.fields import fields_for
from mlsiem.errors import ConfigError
from mlsiem.yamlfile import read_yaml

Step = str | int
CompiledPath = tuple[Step, ...]

# Set by the normalizer itself or through `timestamp` / `features` / `prompt` / `completion`.
RESERVED = frozenset(
    {
        "@timestamp", "ecs.version", "event.id", "event.dataset", "event.module", "event.kind",
        "event.original", "event.ingested", "data_stream.type", "data_stream.dataset",
        "data_stream.namespace", "mlsiem.source.format", "mlsiem.log.offset", "log.file.path",
        "mlsiem.features", "mlsiem.features_dropped", "labels", "mlsiem.llm.prompt",
        "mlsiem.llm.completion", "mlsiem.llm.prompt_length", "mlsiem.llm.prompt_sha256",
    }
)  # fmt: skip
_SEGMENT = re.compile(r"""\$?[^.\[\]"]+|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.""")


def compile_path(path: str) -> CompiledPath:
    """`a.b[0]["c.d"]` -> ("a", "b", 0, "c.d"); `$item.x` -> ("$item", "x")."""
    steps: list[Step] = []
    position = 0
    expect_key = True  # at the start or after a dot: a key must come next (an index may start a path)
    if not path or path.strip() != path:
        raise ValueError(f"path {path!r} is empty or has surrounding spaces")
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise ValueError(f"path {path!r}: cannot read it at character {position}")
        text = match.group()
        if text == ".":
            if expect_key:
                raise ValueError(f"path {path!r}: empty key at character {position}")
            expect_key = True
        elif match.group(1) is not None:
            if expect_key and steps:
                raise ValueError(f"path {path!r}: `.` before `[` at character {position}")
            steps.append(int(match.group(1)))
            expect_key = False
        elif match.group(2) is not None:
            if expect_key and steps:
                raise ValueError(f"path {path!r}: `.` before `[` at character {position}")
            steps.append(match.group(2).replace('\\"', '"'))
            expect_key = False
        else:
            if not expect_key:
                raise ValueError(f"path {path!r}: missing `.` at character {position}")
            if text.startswith("$") and steps:
                raise ValueError(f"path {path!r}: `$name` may only start a path")
            steps.append(text)
            expect_key = False
        position = match.end()
    if expect_key:
        raise ValueError(f"path {path!r} ends with a dot")
    return tuple(steps)


def _paths(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return value


PathList = list[str]


class ValueRule(BaseModel):
    """One target field: where its value comes from and how it is adjusted."""

    model_config = ConfigDict(extra="forbid")

    path: PathList | None = None
    value: str | int | float | bool | list[str] | None = None
    scale: float | None = Field(None, description="multiply a numeric value, e.g. ms -> ns: 1000000")
    map: dict[str, str | int | float | bool] | None = Field(None, description="translate values (as text)")

    @field_validator("path", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _paths(value) if value is not None else None

    @field_validator("map", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                str(key).lower() if isinstance(key, bool) else str(key): item for key, item in value.items()
            }
        return value

    @model_validator(mode="after")
    def _source(self) -> ValueRule:
        if (self.path is None) == (self.value is None):
            raise ValueError("give exactly one of `path` (read from the record) or `value` (a constant)")
        return self


class FeatureRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: PathList
    names: list[str] | None = Field(None, description="names for a list of values, in order")

    @field_validator("path", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _paths(value)


class MappingConfig(BaseModel):
    """A whole mapping file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["inference", "pipeline"] = "inference"
    description: str | None = None
    timestamp: PathList
    id: PathList | None = None
    explode: dict[str, PathList] | None = None
    fields: dict[str, ValueRule] = Field(default_factory=dict)
    features: FeatureRule | None = None
    prompt: PathList | None = None
    completion: PathList | None = None

    @field_validator("timestamp", "id", "prompt", "completion", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _paths(value) if value is not None else None

    @field_validator("explode", mode="before")
    @classmethod
    def _explode_paths(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _paths(paths) for name, paths in value.items()}
        return value

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`target: some.path` is short for `target: {path: some.path}`."""
        if isinstance(value, dict):
            return {
                key: {"path": rule} if isinstance(rule, str | list) else rule for key, rule in value.items()
            }
        return value

    @model_validator(mode="after")
    def _check(self) -> MappingConfig:
        table = fields_for(self.kind)
        problems: list[str] = []
        names = set(self.explode or {})
        for target in self.fields:
            if target.startswith("labels."):
                if not target[len("labels.") :] or "." in target[len("labels.") :]:
                    problems.append(f"fields.{target}: a label name is one word after `labels.`")
                continue
            if target in RESERVED:
                problems.append(
                    f"fields.{target}: set by mlsiem itself (use timestamp/features/prompt/completion)"
                )
            elif target not in table or table[target].type == "object":
                close = difflib.get_close_matches(target, [t for t in table if t not in RESERVED], n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"fields.{target}: not a field of {self.kind} events{hint}")
        all_paths: list[tuple[str, str]] = [("timestamp", p) for p in self.timestamp]
        all_paths += [("id", p) for p in self.id or []]
        all_paths += [(f"explode.{name}", p) for name, paths in (self.explode or {}).items() for p in paths]
        all_paths += [(f"fields.{t}.path", p) for t, rule in self.fields.items() for p in rule.path or []]
        all_paths += [("features.path", p) for p in (self.features.path if self.features else [])]
        all_paths += [("prompt", p) for p in self.prompt or []]
        all_paths += [("completion", p) for p in self.completion or []]
        for where, path in all_paths:
            try:
                steps = compile_path(path)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            head = steps[0]
            if isinstance(head, str) and head.startswith("$"):
                if where.startswith("explode."):
                    problems.append(f"{where}: an explode path cannot start with `$`")
                elif head[1:] not in names:
                    problems.append(f"{where}: `{head}` is not one of the explode names {sorted(names)}")
        if self.kind == "pipeline" and "event.action" not in self.fields:
            problems.append("fields: a pipeline mapping must set event.action (path or value)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def load_mapping(path: str | Path) -> MappingConfig:
    """Read and validate a mapping file; every problem is a ConfigError naming the file and the entry."""
    source = Path(path)
    data = read_yaml(source, "mapping file")
    if not isinstance(data, dict):
        raise ConfigError(f"mapping file {source}: expected a mapping (key: value) at the top level")
    try:
        return MappingConfig.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(_describe(error) for error in exc.errors(include_url=False))
        raise ConfigError(f"mapping file {source}: {details}") from None
