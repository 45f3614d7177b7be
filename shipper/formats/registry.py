"""The input formats, one row each: the one list the normalizer, auto-detection and the CLI read.

A row names the format, says in one line what it reads, makes its converter from the normalizer's
options (None when the options do not allow it: `mapping` without a mapping file) and, for auto
detection, says which records it claims, by their keys only. A record several formats claim goes to
the one with the lowest `claim_order` (OTLP's envelope keys are the most specific); a format without a
claim (`mapping`) takes the records no other format claims, when it is configured. Adding a format is
one module with `convert(record, ctx)` (and `claims(record)`) plus one row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from shipper.formats import ecs, litellm, native, otlp
from shipper.formats.mapping import MappingFormat
from shipper.normalize.document import Draft, RecordContext

Converter = Callable[[dict[str, Any], RecordContext], list[Draft]]


class FormatOptions(Protocol):
    """What a format may take from the normalizer's configuration (`NormalizeConfig`)."""

    @property
    def mapping_file(self) -> Path | None: ...

    @property
    def otlp_genai_only(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    description: str
    make: Callable[[FormatOptions], Converter | None]
    claims: Callable[[dict[str, Any]], bool] | None = None  # None: the fallback for unclaimed records
    claim_order: int = 0
    relay: bool = False  # documents already normalized: their edge's source, log and marker fields stay


def _mapping(options: FormatOptions) -> Converter | None:
    return MappingFormat.load(options.mapping_file).convert if options.mapping_file else None


FORMATS: Final[tuple[Format, ...]] = (
    Format("native", "the mlsiem SDK's JSON lines", lambda _: native.convert, native.claims, 3),
    Format(
        "otlp",
        "OTLP/JSON export lines (spans, log records) with GenAI telemetry",
        lambda options: partial(otlp.convert, genai_only=options.otlp_genai_only),
        otlp.claims,
        1,
    ),
    Format(
        "litellm", "the LiteLLM proxy's StandardLoggingPayload", lambda _: litellm.convert, litellm.claims, 2
    ),
    Format("mapping", "any JSON log, through a YAML field mapping (--mapping)", _mapping),
    Format(
        "ecs",
        "documents another mlsiem shipper normalized (a relay)",
        lambda _: ecs.convert,
        ecs.claims,
        4,
        relay=True,
    ),
)
AUTO: Final = "auto"
FORMAT_NAMES: Final[tuple[str, ...]] = (AUTO, *(f.name for f in FORMATS))
FormatName = Literal[FORMAT_NAMES]  # type: ignore[valid-type]
FORMAT_HELP: Final = " | ".join(
    [f"{AUTO}: detect each record's format"] + [f"{f.name}: {f.description}" for f in FORMATS]
)


def claimed_names() -> str:
    """The formats auto detection recognizes, for a rejection reason ("native, otlp, litellm or ecs")."""
    names = [f.name for f in FORMATS if f.claims is not None]
    return f"{', '.join(names[:-1])} or {names[-1]}"
