"""The dotted-path setter and field tables: how a format copies raw values into its document.

`put(doc, "gen_ai.request.model", value, STR, bad)` coerces the raw value, nests it under the dotted
name (creating the objects on the way, only when there is a value: no empty objects) and, when the
value has the wrong type, leaves the field out and notes its dotted name in `bad` (the normalizer
lists those in `labels.malformed_fields`). A None raw value means "absent" and is silently skipped.

A format's straight copies are a `table` of `(source, target, kind)` rows, compiled once at import:
`copy_fields(record, TABLE, doc, bad)` is then a loop of dict lookups. A source is a key of the
record, or `at(key, member)` (a member of an object, or its short form), `first(...)` (the first present
of several) or `truthy(...)` (the first non-empty). Rows apply in order, so the document's keys come
out in the order of the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipper.normalize.values import (
    INT_MAX,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_list,
    as_timestamp,
)

Coerce = Callable[[Any], Any]
Getter = Callable[[dict[str, Any]], Any]
Source = str | Getter
Row = tuple[Source, str, Coerce]
# Compiled row: (key or None, getter or None, dotted name, parent keys, leaf key, coercion).
Compiled = tuple[str | None, Getter | None, str, tuple[str, ...], str, Coerce]

# -- value kinds: raw value -> field value, or None when it does not fit --------------------------

STR: Coerce = as_str
LONG: Coerce = as_int  # 0 .. 2^63-1 (ECS `long` counts and codes)
FLOAT: Coerce = as_float
BOOL: Coerce = as_bool
LIST: Coerce = as_str_list
TIME: Coerce = as_timestamp


def INT(value: Any) -> int | None:
    """0 .. 2^31-1: the engine rejects the whole document for an `integer` field beyond it."""
    return as_int(value, INT_MAX)


def choice(allowed: frozenset[str]) -> Coerce:
    """A keyword with a closed set of values (ECS allowed values, or mlsiem's own in `mlsiem.ecs.models`)."""

    def coerce(value: Any) -> str | None:
        text = as_str(value)
        if text is None:
            return None
        text = text.lower()
        return text if text in allowed else None

    return coerce


# -- the setter ------------------------------------------------------------------------------------

_SPLIT: dict[str, tuple[tuple[str, ...], str]] = {}


def _split(name: str) -> tuple[tuple[str, ...], str]:
    parts = _SPLIT.get(name)
    if parts is None:
        *parents, leaf = name.split(".")
        parts = _SPLIT[name] = (tuple(parents), leaf)
    return parts


def place(target: dict[str, Any], parents: tuple[str, ...], leaf: str, value: Any) -> None:
    """`target[p1][p2]...[leaf] = value`, creating the objects on the way."""
    node = target
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        node = child
    node[leaf] = value


def put(target: dict[str, Any], name: str, value: Any, kind: Coerce, bad: list[str]) -> None:
    """Coerce `value` and nest it at the dotted `name` under `target`; note `name` in `bad` if unfit."""
    if value is None:
        return
    result = kind(value)
    if result is None:
        bad.append(name)
        return
    parents, leaf = _split(name)
    place(target, parents, leaf, result)


# -- sources ---------------------------------------------------------------------------------------


def _getter(source: Source) -> Getter:
    if source.__class__ is str:
        return lambda record: record.get(source)  # type: ignore[arg-type]
    return source  # type: ignore[return-value]


def at(key: str, member: str, short: bool = False) -> Getter:
    """`record[key][member]` (absent when `record[key]` is not an object). With `short`, a value at
    `key` that is not an object is the member itself: the short form (`"user": "alice"` for
    `user.name`)."""
    if short:

        def get_short(record: dict[str, Any]) -> Any:
            node = record.get(key)
            return node.get(member) if node.__class__ is dict else node

        return get_short

    def get(record: dict[str, Any]) -> Any:
        node = record.get(key)
        return node.get(member) if node.__class__ is dict else None

    return get


def first(*sources: Source) -> Getter:
    """The first of several sources that is present (not None): a current and a deprecated name."""
    getters = tuple(_getter(source) for source in sources)

    def get(record: dict[str, Any]) -> Any:
        for getter in getters:
            value = getter(record)
            if value is not None:
                return value
        return None

    return get


def truthy(*sources: Source) -> Getter:
    """The first of several sources that is non-empty: empty strings, zero and `[]` count as absent."""
    getters = tuple(_getter(source) for source in sources)

    def get(record: dict[str, Any]) -> Any:
        for getter in getters:
            value = getter(record)
            if value:
                return value
        return None

    return get


# -- tables ----------------------------------------------------------------------------------------


def table(*rows: Row) -> tuple[Compiled, ...]:
    """Compile `(source, dotted target, kind)` rows once, at import."""
    compiled: list[Compiled] = []
    for source, name, kind in rows:
        parents, leaf = _split(name)
        if source.__class__ is str:
            compiled.append((source, None, name, parents, leaf, kind))  # type: ignore[arg-type]
        else:
            compiled.append((None, source, name, parents, leaf, kind))  # type: ignore[arg-type]
    return tuple(compiled)


def copy_fields(
    source: dict[str, Any], rows: tuple[Compiled, ...], target: dict[str, Any], bad: list[str]
) -> None:
    """Every row's value from `source`, coerced and nested into `target` (see `put`)."""
    get = source.get
    for key, getter, name, parents, leaf, kind in rows:
        value = get(key) if getter is None else getter(source)
        if value is None:
            continue
        result = kind(value)
        if result is None:
            bad.append(name)
            continue
        node = target
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            node = child
        node[leaf] = result


def duration_ns(milliseconds: Any, bad: list[str], name: str) -> int | None:
    """Milliseconds (the unit services log latency in) as ECS `event.duration` nanoseconds."""
    if milliseconds is None:
        return None
    value = as_float(milliseconds)
    if value is None or not 0 <= value < 9.2e12:
        bad.append(name)
        return None
    return round(value * 1_000_000)
