"""Input limits: what is cut, what is refused, and how each is counted. Nothing is dropped silently.

Two families, decided by what the excess is:

* Records over a limit that says "this is not telemetry" are REFUSED whole, to the dead-letter file with
  a reason ending in the limit's name: `max_line_bytes` (the raw line), `max_depth` (JSON nesting) and
  `max_fields` (distinct flattened leaf fields of the raw record, array elements merged the way the
  engine would map them: an OTLP export with 1000 spans has a few dozen, a record with 5000 keys has
  5000). Refusing keeps the evidence intact; cutting would ship half a record as if it were whole.
* Events whose record is fine but one open-ended part is too big are SHIPPED CUT and marked:
  `max_features` (the first N feature names in sorted order, so the same names survive whatever key
  order the producer wrote), `max_labels` (the same for `labels`), `max_string_chars` (any string
  value: prompts and completions after redaction, so no half secret is left at the cut; a cut never
  splits a `[REDACTED:...]` marker). `event.original` is not cut: `max_line_bytes` bounds it.

A cut event carries `labels.truncated_fields` (the cut fields, comma-separated: `labels`,
`mlsiem.features`, `mlsiem.llm.prompt`, ...), searchable like `labels.malformed_fields`. The
normalizer owns that label: an input label of the same name is dropped and reported as malformed.
`LimitCounts` counts both families from the normalizer's output; the pipeline and `mlsiem normalize`
show the counts (`--json`) and the shipper exports them as Prometheus counters by limit name (a closed
set, so the metric's label cardinality is bounded).

The engine's own guard is `index.mapping.total_fields.limit` (2000 in our templates): the root mapping
is `dynamic: false`, so only `labels.*` and `mlsiem.features.*` add fields. `max_features +
max_labels` is held under `DYNAMIC_FIELDS_BUDGET`, which leaves room for the ~130 declared fields: one
event can never push an index over the limit. Distinct names still accumulate across events of many
models in one data stream; that needs a namespace per model family, not a per-event cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from shipper.normalize.secret_patterns import MARKER_PREFIX
from shipper.records import Normalized, Rejected

TRUNCATED_LABEL: Final = "truncated_fields"
DYNAMIC_FIELDS_BUDGET: Final = 1500
REFUSING_LIMITS: Final = ("max_line_bytes", "max_depth", "max_fields")
FEATURES_FIELD: Final = "mlsiem.features"
LABELS_FIELD: Final = "labels"
_UNCUT: Final = frozenset({"event.original"})


def limit_of_cut(field: str) -> str:
    """The limit that cut a field named in `labels.truncated_fields`."""
    if field == FEATURES_FIELD:
        return "max_features"
    if field == LABELS_FIELD:
        return "max_labels"
    return "max_string_chars"


def limit_of_rejection(reason: str) -> str | None:
    """The limit a dead-letter reason names (reasons end with `(max_...)`), or None for other reasons."""
    if reason.endswith(")"):
        for name in REFUSING_LIMITS:
            if reason.endswith(f"({name})"):
                return name
    return None


def too_many_fields(record: dict[str, Any], limit: int) -> int | None:
    """The number of distinct leaf paths once it passes `limit` (None while within it). Iterative, and
    it stops counting at limit + 1: a hostile record costs no more than a legitimate big one."""
    paths: set[str] = set()
    stack: list[tuple[Any, str]] = [(record, "")]
    while stack:
        node, prefix = stack.pop()
        if node.__class__ is dict:
            for key, value in node.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                if (value.__class__ is dict or value.__class__ is list) and value:
                    stack.append((value, path))
                    continue
                paths.add(path)
        else:  # a list: its elements share the list's path, as in an engine mapping
            has_scalar = False
            for item in node:
                if item.__class__ is dict or item.__class__ is list:
                    stack.append((item, prefix))
                else:
                    has_scalar = True
            if has_scalar:
                paths.add(prefix)
        if len(paths) > limit:
            return len(paths)
    return None


def cut_text(text: str, limit: int) -> str:
    """The first `limit` characters, moved back so the cut does not split a redaction marker."""
    start = text.rfind(MARKER_PREFIX, max(0, limit - 64), limit + len(MARKER_PREFIX) - 1)
    if start != -1 and text.find("]", start, limit) == -1:
        return text[:start]
    return text[:limit]


def cut_long_strings(document: dict[str, Any], limit: int) -> list[str]:
    """Cut every string value longer than `limit`; the dotted names of the cut fields.

    Containers on the way to a cut string are copied first, never changed in place: a document may
    share a map with the raw record (a feature map is used as it came), and the caller's record must
    stay as it was (it may still go to the dead letters).
    """
    found: list[tuple[tuple[Any, ...], str]] = []
    stack: list[tuple[Any, tuple[Any, ...], str]] = [(document, (), "")]
    while stack:
        node, steps, prefix = stack.pop()
        for key, value in node.items():
            cls = value.__class__
            if cls is dict:
                stack.append((value, (*steps, key), f"{prefix}{key}."))
            elif cls is str:
                if len(value) > limit and f"{prefix}{key}" not in _UNCUT:
                    found.append(((*steps, key), f"{prefix}{key}"))
            elif cls is list:
                for index, item in enumerate(value):
                    if item.__class__ is str and len(item) > limit:
                        found.append(((*steps, key, index), f"{prefix}{key}"))
    for steps, _name in found:
        node = document
        for step in steps[:-1]:
            child = node[step]
            node[step] = child = child.copy()
            node = child
        node[steps[-1]] = cut_text(node[steps[-1]], limit)
    return [name for _steps, name in found]


def cap_map(values: dict[str, Any], limit: int) -> dict[str, Any]:
    """The first `limit` entries by sorted key: the same names survive whatever order they came in."""
    return {key: values[key] for key in sorted(values)[:limit]}


class LimitCounts:
    """Events cut and records refused, by limit name, counted from what the normalizer produced."""

    __slots__ = ("over_limit", "truncated")

    def __init__(self) -> None:
        self.truncated: dict[str, int] = {}
        self.over_limit: dict[str, int] = {}

    def observe(self, events: Iterable[Normalized], rejected: Iterable[Rejected]) -> list[tuple[str, str]]:
        """Count one record's output; the (family, limit) pairs counted, for metrics."""
        counted: list[tuple[str, str]] = []
        for event in events:
            labels = event.document.get("labels")
            if labels and TRUNCATED_LABEL in labels:
                for limit in sorted({limit_of_cut(f) for f in labels[TRUNCATED_LABEL].split(",")}):
                    self.truncated[limit] = self.truncated.get(limit, 0) + 1
                    counted.append(("truncated", limit))
        for record in rejected:
            limit = limit_of_rejection(record.reason)
            if limit is not None:
                self.over_limit[limit] = self.over_limit.get(limit, 0) + 1
                counted.append(("over_limit", limit))
        return counted
