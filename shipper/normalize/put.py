"""Setters that coerce one raw value into one document field, noting the field when the type is wrong.

`bad` collects the dotted names of fields whose raw value could not be used; the normalizer lists them
in `labels.malformed_fields`. A None raw value means "absent" and is silently skipped.
"""

from __future__ import annotations

from typing import Any

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


def put_str(target: dict[str, Any], key: str, value: Any, bad: list[str], name: str) -> None:
    if value is None:
        return
    if value.__class__ is str:
        target[key] = value
        return
    text = as_str(value)
    if text is None:
        bad.append(name)
    else:
        target[key] = text


def put_int(
    target: dict[str, Any], key: str, value: Any, bad: list[str], name: str, maximum: int = INT_MAX
) -> None:
    if value is None:
        return
    number = as_int(value, maximum)
    if number is None:
        bad.append(name)
    else:
        target[key] = number


def put_long(target: dict[str, Any], key: str, value: Any, bad: list[str], name: str) -> None:
    put_int(target, key, value, bad, name, LONG_MAX)


def put_float(target: dict[str, Any], key: str, value: Any, bad: list[str], name: str) -> None:
    if value is None:
        return
    number = as_float(value)
    if number is None:
        bad.append(name)
    else:
        target[key] = number


def put_bool(target: dict[str, Any], key: str, value: Any, bad: list[str], name: str) -> None:
    if value is None:
        return
    flag = as_bool(value)
    if flag is None:
        bad.append(name)
    else:
        target[key] = flag


def put_list(target: dict[str, Any], key: str, value: Any, bad: list[str], name: str) -> None:
    if value is None:
        return
    items = as_str_list(value)
    if items is None:
        bad.append(name)
    else:
        target[key] = items


def put_time(target: dict[str, Any], key: str, value: Any, bad: list[str], name: str) -> None:
    if value is None:
        return
    stamp = as_timestamp(value)
    if stamp is None:
        bad.append(name)
    else:
        target[key] = stamp


def put_choice(
    target: dict[str, Any], key: str, value: Any, allowed: frozenset[str], bad: list[str], name: str
) -> None:
    """A keyword with a closed set of values (ECS allowed values, or mlsiem's own in `mlsiem.ecs.models`)."""
    if value is None:
        return
    text = as_str(value)
    if text is not None:
        text = text.lower()
    if text in allowed:
        target[key] = text
    else:
        bad.append(name)


def duration_ns(milliseconds: Any, bad: list[str], name: str) -> int | None:
    """Milliseconds (the unit services log latency in) as ECS `event.duration` nanoseconds."""
    if milliseconds is None:
        return None
    value = as_float(milliseconds)
    if value is None or not 0 <= value < 9.2e12:
        bad.append(name)
        return None
    return round(value * 1_000_000)


def nest(**blocks: dict[str, Any]) -> dict[str, Any]:
    """The non-empty blocks, for building a document bottom-up without empty objects."""
    return {key: block for key, block in blocks.items() if block}
