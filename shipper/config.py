"""The shipper's configuration: one validated model of what `mlsiem ship` runs, from a YAML file or flags.

`ShipperConfig` has five parts, in the order data flows: `inputs` (files, stdin, the forward listener),
`normalize` (format, mapping, content policy, limits, namespace: `NormalizeConfig`), `output` (the
engine, `file:PATH` or `fluent://HOST:PORT`, and the dead-letter file), `spool` (the disk buffer while
the engine is away), `pipeline` (batches, queue bound, flush interval, workers: `PipelineConfig`), and
`metrics`. Every default is written once, in these models or the models they reuse; `build` assembles
the shipper from it. Secrets are referenced, never written here: the forward shared key by a file or an
environment variable, the engine's credentials by the `MLSIEM_*` variables.
The OTLP receivers are `inputs.otlp`, one entry per listener (HTTP or gRPC), their token and users
referenced by a file or an environment variable as well.

`load_config(path, overrides)` reads the file through `read_yaml` (size and alias limits), lays the
overrides (command-line flags) over it and validates; every problem is a ConfigError naming the file
(or the flag) and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlsiem.errors import ConfigError
from mlsiem.paths import state_dir
from mlsiem.yamlfile import read_yaml
from shipper.normalizer import NormalizeConfig
from shipper.pipeline import PipelineConfig
from shipper.sinks.base import RETRY_SECONDS
from shipper.sources.forward_auth import SHARED_KEY_ENV
from shipper.sources.forward_settings import ForwardInput
from shipper.sources.otlp_settings import OtlpInput, parse_otlp_url
from shipper.spool import MAX_BYTES as SPOOL_MAX_BYTES

ENGINE_OUTPUTS: Final = ("engine", "opensearch", "elasticsearch")
WHAT: Final = "shipper config"


class FilesInput(BaseModel):
    """Files (globs) read once, or followed through rotation; their offsets live in the registry."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(min_length=1, description="files or globs")
    follow: bool = Field(False, description="keep reading new lines and new files (rotation-safe)")
    registry: Path | None = Field(None, description="offsets per file; default <MLSIEM_HOME>/shipper/")

    @field_validator("paths")
    @classmethod
    def _no_stdin(cls, paths: list[str]) -> list[str]:
        if "-" in paths:
            raise ValueError("`-` is not a file: set `inputs.stdin: true` to read standard input")
        return paths


class Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: FilesInput | None = None
    stdin: bool = Field(False, description="read standard input")
    forward: ForwardInput | None = Field(None, description="accept the Fluentd forward protocol")
    otlp: list[OtlpInput] = Field(default_factory=list, description="OTLP receivers (HTTP and/or gRPC)")

    @model_validator(mode="after")
    def _something(self) -> Inputs:
        if self.files is None and not self.stdin and self.forward is None and not self.otlp:
            raise ValueError(
                "nothing to read: give files, stdin, a forward listener or an OTLP receiver "
                "(on the command line: FILES, - or --listen forward://HOST:PORT | otlp://HOST:4318 | "
                "otlp+grpc://HOST:4317)"
            )
        return self

    @model_validator(mode="after")
    def _distinct_listeners(self) -> Inputs:
        seen: set[tuple[str, int]] = set()
        for receiver in self.otlp:
            _, host, port = parse_otlp_url(receiver.listen)
            if port and (host, port) in seen:
                raise ValueError(f"otlp: two receivers listen on {host}:{port}")
            seen.add((host, port))
        return self


class Output(BaseModel):
    """Where events go, and where the records nothing could use go (with their reasons)."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(
        "engine", description="engine (detect) | opensearch | elasticsearch | file:PATH | fluent://H:P"
    )
    url: str | None = Field(None, description="engine URL; default $MLSIEM_URL, else the local engine")
    insecure: bool = Field(False, description="do not verify the engine's TLS certificate (warns)")
    setup: bool = Field(True, description="install templates before shipping")
    retry_seconds: float = Field(RETRY_SECONDS, gt=0, le=86_400, description="then spool (engine)")
    shared_key_file: Path | None = Field(None, description="fluent:// handshake key (first line)")
    shared_key_env: str = Field(SHARED_KEY_ENV, min_length=1, description="else the key from this variable")
    dead_letter: Path | None = Field(None, description="rejected records; default <MLSIEM_HOME>/shipper/")

    @field_validator("to")
    @classmethod
    def _target(cls, value: str) -> str:
        if value in ENGINE_OUTPUTS or value.startswith("fluent://"):
            return value
        if value.startswith("file:") and len(value) > 5:
            return value
        raise ValueError(f"{value!r}: expected opensearch, elasticsearch, file:PATH or fluent://host:port")

    @property
    def to_engine(self) -> bool:
        return self.to in ENGINE_OUTPUTS


class SpoolSettings(BaseModel):
    """The disk spool that holds events while the engine does not answer (engine outputs only)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    dir: Path | None = Field(None, description="default <MLSIEM_HOME>/shipper/spool")
    max_mb: int = Field(SPOOL_MAX_BYTES >> 20, ge=1, le=1 << 20, description="size limit (MiB)")


class MetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: int | None = Field(None, ge=1, le=65_535, description="serve Prometheus metrics on 127.0.0.1")


class ShipperConfig(BaseModel):
    """Everything `mlsiem ship` runs; `shipper.build.build` makes the pipeline from it."""

    model_config = ConfigDict(extra="forbid")

    inputs: Inputs
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    output: Output = Field(default_factory=Output)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @property
    def registry_path(self) -> Path:
        files = self.inputs.files
        return (files.registry if files else None) or shipper_home() / "registry.json"

    @property
    def dead_letter_path(self) -> Path:
        return self.output.dead_letter or shipper_home() / "dead-letter.ndjson"

    @property
    def spool_dir(self) -> Path:
        return self.spool.dir or shipper_home() / "spool"


def shipper_home() -> Path:
    """Where the shipper keeps its state unless told otherwise (`$MLSIEM_HOME/shipper`)."""
    return state_dir() / "shipper"


def merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it, mapping into mapping (a flag replaces one leaf)."""
    merged = dict(base)
    for key, value in overrides.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, dict):
            merged[key] = merge(below, value)
        elif isinstance(value, Mapping) and below is not None:
            continue  # the file has no mapping here: kept, so validation names the file's mistake
        else:
            merged[key] = value
    return merged


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's top-level mapping (an empty file is an empty mapping), read with `read_yaml`'s limits."""
    raw = read_yaml(path, WHAT)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{WHAT} {path}: expected a mapping at the top level")
    return raw


def load_config(
    path: Path | None,
    overrides: Mapping[str, Any] | None = None,
    option_names: Mapping[tuple[str, ...], str] | None = None,
) -> ShipperConfig:
    """The configuration from `path` (or none) with `overrides` over it; ConfigError on any problem."""
    return config_from(read_config_file(path) if path is not None else {}, overrides, path, option_names)


def config_from(
    raw: dict[str, Any],
    overrides: Mapping[str, Any] | None = None,
    path: Path | None = None,
    option_names: Mapping[tuple[str, ...], str] | None = None,
) -> ShipperConfig:
    """Validate `raw` (read from `path`) with `overrides` laid over it. A problem at a location an
    override set is named by `option_names` (the flag that set it), any other by the file and field."""
    merged = merge(raw, overrides or {})
    merged.setdefault("inputs", {})  # checked for something to read, rather than just reported missing
    try:
        return ShipperConfig.model_validate(merged)
    except ValidationError as exc:
        names = option_names or {}
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            field = ".".join(loc) or "config"
            named = _option_for(loc, message, names)
            if named is not None:
                problems.append(f"{named[0]}: {named[1]}")
            elif path is not None:
                problems.append(f"{WHAT} {path}: {field}: {message}")
            else:
                problems.append(f"{field}: {message}")
        raise ConfigError("; ".join(problems)) from None


def _option_for(
    loc: tuple[str, ...], message: str, names: Mapping[tuple[str, ...], str]
) -> tuple[str, str] | None:
    """(flag, message) when a flag set the field a problem is about (a model-level message names the
    field first: `max_message_mb: ...`)."""
    if loc in names:
        return names[loc], message
    field, colon, rest = message.partition(": ")
    name = names.get((*loc, field)) if colon else None
    return (name, rest) if name else None
