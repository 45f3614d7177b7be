"""`mlsiem normalize`: telemetry files (or stdin) -> ECS NDJSON on stdout, with no engine involved.

Rejected lines go to the dead-letter file with their reason; the command still exits 0, since every
line is accounted for (the summary on stderr says how many and where; `--json` makes it one JSON
object on stderr, with the events cut and the records refused per input limit, as `mlsiem ship
--json` has them). Exit 2 for unusable options, a bad mapping file or an unreadable input file.
Hash-based event ids use `file:<absolute path>` (or `stdin`) as the source and the line's byte
offset, so the same file gives the same ids every run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError

from cli.common import JsonOption
from mlsiem.errors import ConfigError
from shipper.deadletter import DeadLetterWriter
from shipper.formats.registry import FORMAT_HELP
from shipper.normalize.ids import file_identity
from shipper.normalize.limits import LimitCounts
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin, Rejected
from shipper.sources.lines import stream_lines

DEFAULT_DEAD_LETTER = "mlsiem-dead-letter.ndjson"
_SHOWN_REJECTIONS = 5
_OPTION_NAMES = {"format": "--format", "mapping_file": "--mapping", "content_policy": "--content-policy"}


def _option(flag: str, field: str, text: str) -> Any:
    """A flag for a NormalizeConfig field; None when not given (the model's default, shown in the help,
    is the one place it is set)."""
    default = NormalizeConfig.model_fields[field].default
    return typer.Option(flag, help=f"{text} (default {default})")


# How records are read, shared with `mlsiem ship`.
FormatOption = Annotated[str | None, _option("--format", "format", FORMAT_HELP)]
MappingOption = Annotated[
    Path | None, typer.Option("--mapping", help="YAML field mapping for other JSON logs (KServe, ...).")
]
ContentPolicyOption = Annotated[
    str | None,
    _option("--content-policy", "content_policy", "Prompts/completions: full | redacted | hash | none."),
]

# The input limits, shared with `mlsiem ship` (what each does: shipper.normalize.limits).
MaxLineBytesOption = Annotated[
    int | None,
    _option("--max-line-bytes", "max_line_bytes", "Longest record in bytes; longer ones are dead-lettered."),
]
MaxDepthOption = Annotated[
    int | None, _option("--max-depth", "max_depth", "Deepest JSON nesting; deeper records are dead-lettered.")
]
MaxFieldsOption = Annotated[
    int | None,
    _option(
        "--max-fields", "max_fields", "Most distinct leaf fields in a record; wider ones are dead-lettered."
    ),
]
MaxFeaturesOption = Annotated[
    int | None,
    _option("--max-features", "max_features", "Features kept per event (first names in sorted order)."),
]
MaxLabelsOption = Annotated[
    int | None, _option("--max-labels", "max_labels", "Labels kept per event (sorted order).")
]
MaxStringCharsOption = Annotated[
    int | None,
    _option("--max-string-chars", "max_string_chars", "Characters kept per string value (prompts included)."),
]


def normalize_config(**values: object) -> NormalizeConfig:
    """The normalizer's configuration from command-line values (None: not given, the default holds);
    problems name the option (exit 2)."""
    try:
        return NormalizeConfig(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = ".".join(str(part) for part in error["loc"])
            option = _OPTION_NAMES.get(field, f"--{field.replace('_', '-')}" if field else "options")
            problems.append(f"{option}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("; ".join(problems)) from None


def _inputs(files: list[str]) -> list[tuple[str, Path | None]]:
    """(display name, path or None for stdin); every file is checked before any output is written."""
    inputs: list[tuple[str, Path | None]] = []
    for name in files:
        if name == "-":
            inputs.append(("<stdin>", None))
            continue
        path = Path(name)
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from None
        inputs.append((name, path))
    return inputs


def normalize(
    files: Annotated[list[str], typer.Argument(help="Files to read; - reads standard input.")],
    input_format: FormatOption = None,
    mapping: MappingOption = None,
    content_policy: ContentPolicyOption = None,
    dead_letter: Annotated[
        Path, typer.Option("--dead-letter", help="Where rejected lines go, with their reason.")
    ] = Path(DEFAULT_DEAD_LETTER),
    keep_original: Annotated[
        bool, typer.Option("--keep-original", help="Store each raw line in event.original.")
    ] = False,
    namespace: Annotated[
        str | None, _option("--namespace", "namespace", "data_stream.namespace of the events.")
    ] = None,
    max_line_bytes: MaxLineBytesOption = None,
    max_depth: MaxDepthOption = None,
    max_fields: MaxFieldsOption = None,
    max_features: MaxFeaturesOption = None,
    max_labels: MaxLabelsOption = None,
    max_string_chars: MaxStringCharsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Normalize telemetry to ECS NDJSON on stdout (no engine needed)."""
    config = normalize_config(
        format=input_format,
        mapping_file=mapping,
        content_policy=content_policy,
        keep_original=keep_original,
        namespace=namespace,
        max_line_bytes=max_line_bytes,
        max_depth=max_depth,
        max_fields=max_fields,
        max_features=max_features,
        max_labels=max_labels,
        max_string_chars=max_string_chars,
    )
    normalizer = Normalizer(config)
    inputs = _inputs(files)
    out = sys.stdout.buffer
    read = events = 0
    limits = LimitCounts()
    shown: list[str] = []
    with DeadLetterWriter(dead_letter) as letters:
        try:
            for name, path in inputs:
                handle = sys.stdin.buffer if path is None else path.open("rb")
                source = "stdin"
                if path is not None:  # the identity `ship` gives the file, so both give the same ids
                    source = f"file:{file_identity(handle.read(config.max_line_bytes))}"
                    handle.seek(0)
                display_path = None if path is None else str(path)
                try:
                    lines = stream_lines(handle, config.max_line_bytes)
                    for number, (offset, _, line) in enumerate(lines, start=1):
                        if not line.strip():
                            continue
                        read += 1
                        normalized, rejected = normalizer.normalize(
                            line, Origin(source, offset, display_path)
                        )
                        if normalized:
                            out.write(b"".join(orjson.dumps(event.document) + b"\n" for event in normalized))
                            events += len(normalized)
                        for record in rejected:
                            letters.write(record)
                            _note(shown, name, number, record)
                        if rejected or normalized:
                            limits.observe(normalized, rejected)
                finally:
                    if path is not None:
                        handle.close()
            out.flush()
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        rejected_count = letters.count
    if as_json:
        summary_json = {
            "records": read,
            "events": events,
            "dead_lettered": rejected_count,
            "truncated": limits.truncated,
            "over_limit": limits.over_limit,
            "dead_letter_file": str(dead_letter),
        }
        print(orjson.dumps(summary_json).decode(), file=sys.stderr)
        return
    for line in shown:
        print(line, file=sys.stderr)
    if rejected_count > len(shown):
        print(f"  ... and {rejected_count - len(shown)} more", file=sys.stderr)
    summary = f"mlsiem normalize: {read} lines read, {events} events, {rejected_count} rejected"
    if rejected_count:
        summary += f" (written with their reasons to {dead_letter})"
    if limits.truncated:
        cut = ", ".join(f"{count} at {limit}" for limit, count in sorted(limits.truncated.items()))
        summary += f"; events cut: {cut} (marked in labels.truncated_fields)"
    print(summary, file=sys.stderr)


def _note(shown: list[str], name: str, number: int, record: Rejected) -> None:
    if len(shown) < _SHOWN_REJECTIONS:
        shown.append(f"  {name}:{number}: {record.reason[:200]}")
