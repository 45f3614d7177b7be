"""Helpers for the format and normalizer tests: the example files, normalizing lines, ECS conformance."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlsiem.ecs import DOCUMENT_MODELS
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Normalized, Origin, Rejected

EXAMPLES = Path(__file__).resolve().parent.parent / "shipper" / "examples"
MAPPINGS = EXAMPLES / "mappings"


def example_lines(name: str) -> list[str]:
    """The lines of one example file (e.g. `litellm.jsonl`, `mappings/kserve.jsonl`)."""
    return (EXAMPLES / name).read_text(encoding="utf-8").splitlines()


def normalize_lines(
    lines: Iterable[str | bytes | dict[str, Any]],
    config: NormalizeConfig | None = None,
    source: str = "file:test",
    path: str | None = "/var/log/test.jsonl",
) -> tuple[list[Normalized], list[Rejected]]:
    """Every line through one normalizer, with byte offsets as a file source would give them."""
    normalizer = Normalizer(config or NormalizeConfig())
    events: list[Normalized] = []
    rejected: list[Rejected] = []
    offset = 0
    for line in lines:
        out, bad = normalizer.normalize(line, Origin(source, offset, path))
        events += out
        rejected += bad
        offset += len(line) + 1 if not isinstance(line, dict) else 1
    return events, rejected


def assert_conforms(events: Iterable[Normalized]) -> None:
    """Each document validates against its ECS model (InferenceEvent / PipelineEvent), and its id matches."""
    for event in events:
        DOCUMENT_MODELS[event.kind].model_validate(event.document)
        assert event.document["event"]["id"] == event.event_id


def one(events: list[Normalized], **where: Any) -> dict[str, Any]:
    """The single document whose dotted fields equal the given values (`event__id="x"` for event.id)."""
    found = [
        e.document
        for e in events
        if all(get(e.document, k.replace("__", ".")) == v for k, v in where.items())
    ]
    assert len(found) == 1, f"{len(found)} documents match {where}"
    return found[0]


def get(document: dict[str, Any], dotted: str) -> Any:
    node: Any = document
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
