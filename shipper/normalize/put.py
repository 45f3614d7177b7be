"""The dotted-path setter and field tables: how a format copies raw values into its document.

`put(doc, "gen_ai.request.model", value, STR, bad)` coerces the raw value, nests it under the dotted
name (creating the objects on the way, only when there is a value: no empty objects) and, when the
value has the wrong type, leaves the field out and notes its dotted name in `bad` (the normalizer
lists those in `labels.malformed_fields`). A None raw value means "absent" and is silently skipped.

A format's straight copies are a `table` of `(source, target, kind)` rows, compiled once at import
into a function `copy(record, doc, bad)`. A source is a key of the record, `at(key, member)` (a member
of an object, or its short form), `first(...)` (the first present of several), `truthy(...)` (the first
non-empty) or any function of the record. Rows apply in order, so the document's keys come out in the
order of the table.

Why tables compile to generated code: a table is read for every record, and a generic loop over rows
(tuple unpacking, a getter call per source) made the formats 1.3-1.6x slower than the hand-written
calls it replaces. `table()` writes the function those calls would have been, from the rows only (our
own constants: names and keys are embedded with `repr`, nothing from a record or a user file), so
reading a field costs about what it did by hand (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
Copy = Callable[[dict[str, Any], dict[str, Any], list[str]], None]

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

    coerce.allowed = allowed  # type: ignore[attr-defined]  # copy tables test strings against it inline
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


@dataclass(frozen=True, slots=True)
class At:
    """`record[key][member]`; with `short`, a non-object at `key` is the member itself."""

    key: str
    member: str
    short: bool


@dataclass(frozen=True, slots=True)
class First:
    sources: tuple[Source, ...]
    truthy: bool  # the first non-empty instead of the first present


Source = str | At | First | Getter
Row = tuple[Source, str, Coerce]


def at(key: str, member: str, short: bool = False) -> At:
    """`record[key][member]` (absent when `record[key]` is not an object). With `short`, a value at
    `key` that is not an object is the member itself: the short form (`"user": "alice"` for
    `user.name`)."""
    return At(key, member, short)


def first(*sources: Source) -> First:
    """The first of several sources that is present (not None): a current and a deprecated name."""
    return First(sources, truthy=False)


def truthy(*sources: Source) -> First:
    """The first of several sources that is non-empty: empty strings, zero and `[]` count as absent."""
    return First(sources, truthy=True)


# -- tables ----------------------------------------------------------------------------------------


class _Writer:
    """Writes the source text of one table's copy function.

    Each object a row reads from (`at(key, ...)`) is looked up once per call, and each object a row
    writes into (`user` of `user.id`, `user.group` of `user.group.id`) is found or made once per call.
    """

    def __init__(self) -> None:
        self.body: list[str] = []
        self.namespace: dict[str, Any] = {}
        self.sources: dict[str, str] = {}  # key read as an object -> its variable
        self.targets: dict[tuple[str, ...], str] = {}  # parent path -> its variable

    def name(self, value: Any) -> str:
        key = f"_{len(self.namespace)}"
        self.namespace[key] = value
        return key

    def source_object(self, key: str) -> str:
        if key not in self.sources:
            self.sources[key] = f"s{len(self.sources)}"
        return self.sources[key]

    def read(self, source: Source, indent: str) -> None:
        """Code that sets `v` to the source's value (None when absent)."""
        emit = self.body.append
        if source.__class__ is str:
            emit(f"{indent}v = get({source!r})")
        elif source.__class__ is At:
            node = self.source_object(source.key)  # type: ignore[union-attr]
            otherwise = f"{node}_raw" if source.short else "None"  # type: ignore[union-attr]
            emit(f"{indent}v = {node}.get({source.member!r}) if {node} is not None else {otherwise}")  # type: ignore[union-attr]
        elif source.__class__ is First:
            test = "not v" if source.truthy else "v is None"  # type: ignore[union-attr]
            self.read(source.sources[0], indent)  # type: ignore[union-attr]
            for alternative in source.sources[1:]:  # type: ignore[union-attr]
                emit(f"{indent}if {test}:")
                self.read(alternative, indent + "    ")
            if source.truthy:  # type: ignore[union-attr]
                emit(f"{indent}if not v:")
                emit(f"{indent}    v = None")
        else:
            emit(f"{indent}v = {self.name(source)}(source)")

    def target_object(self, parents: tuple[str, ...], indent: str) -> str:
        """Code that makes sure the parent object exists; returns its variable."""
        if not parents:
            return "target"
        above = self.target_object(parents[:-1], indent)
        if parents not in self.targets:
            self.targets[parents] = f"t{len(self.targets)}"
        node = self.targets[parents]
        emit = self.body.append
        emit(f"{indent}if {node} is None:")
        emit(f"{indent}    {node} = {above}.get({parents[-1]!r})")
        emit(f"{indent}    if {node} is None:")
        emit(f"{indent}        {node} = {above}[{parents[-1]!r}] = {{}}")
        return node

    def row(self, source: Source, name: str, kind: Coerce) -> None:
        emit = self.body.append
        self.read(source, "    ")
        emit("    if v is not None:")
        coerce = self.name(kind)
        allowed = getattr(kind, "allowed", None)
        if kind is STR:  # strings arrive as strings: skip the call
            emit(f"        if v.__class__ is str or (v := {coerce}(v)) is not None:")
        elif allowed is not None:  # a choice: a string is lower-cased and looked up without the call
            values = self.name(allowed)
            emit(f"        if (v := v.lower() if v.__class__ is str else {coerce}(v)) in {values}:")
        else:
            emit(f"        if (v := {coerce}(v)) is not None:")
        parents, leaf = _split(name)
        node = self.target_object(parents, "            ")
        emit(f"            {node}[{leaf!r}] = v")
        emit("        else:")
        emit(f"            bad.append({name!r})")

    def text(self) -> str:
        lines = ["def copy(source, target, bad):", "    get = source.get"]
        for key, node in self.sources.items():
            lines.append(f"    {node}_raw = get({key!r})")
            lines.append(f"    {node} = {node}_raw if {node}_raw.__class__ is dict else None")
        lines += [f"    {node} = None" for node in self.targets.values()]
        return "\n".join(lines + self.body + ["    return None"])


def table(*rows: Row) -> Copy:
    """Compile `(source, dotted target, kind)` rows, once, into `copy(record, doc, bad)`."""
    writer = _Writer()
    for source, name, kind in rows:
        writer.row(source, name, kind)
    exec(writer.text(), writer.namespace)  # our own rows: see the module docstring
    return writer.namespace["copy"]  # type: ignore[no-any-return]


def duration_ns(milliseconds: Any, bad: list[str], name: str) -> int | None:
    """Milliseconds (the unit services log latency in) as ECS `event.duration` nanoseconds."""
    if milliseconds.__class__ is float and 0 <= milliseconds < 9.2e12:  # the common case (NaN fails it)
        return round(milliseconds * 1_000_000)
    if milliseconds is None:
        return None
    value = as_float(milliseconds)
    if value is None or not 0 <= value < 9.2e12:
        bad.append(name)
        return None
    return round(value * 1_000_000)
