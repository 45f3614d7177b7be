"""A record as text for the dead-letter file, whatever an SDK caller put in it.

orjson writes almost every record (sorted keys, deterministic). What it refuses (nesting past its 255
levels, integers beyond 64 bits, strings with lone surrogates, keys of odd types) is written by
`dump_deep`: iterative, so no nesting depth can exhaust the stack, ASCII-only JSON text (every other
character as a `\\u` escape), and never an exception, since a record that cannot be dumped would be lost.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dump_record(value: Any) -> bytes:
    """The record as JSON bytes (orjson's, or `dump_deep`'s for what orjson refuses)."""
    try:
        return orjson.dumps(value, default=_repr, option=_OPTIONS)
    except (TypeError, RecursionError):
        return dump_deep(value).encode("ascii")


class _Token(str):
    """Text already written (punctuation, keys) on the work stack, as opposed to a value to write."""


def dump_deep(value: Any) -> str:
    """JSON text of dicts, lists and tuples nested to any depth; other values as JSON scalars or, for
    other types, the JSON string of their repr."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if item.__class__ is _Token:
            out.append(item)
        elif isinstance(item, dict):
            parts: list[Any] = []
            for index, key in enumerate(sorted(item, key=_sort_key)):
                name = _scalar(key if isinstance(key, str) else _text(key))
                parts.append(_Token((", " if index else "") + name + ": "))
                parts.append(item[key])
            stack.append(_Token("}"))
            stack.extend(reversed(parts))
            out.append("{")
        elif isinstance(item, list | tuple):
            stack.append(_Token("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Token(", "))
            out.append("[")
        else:
            out.append(_scalar(item))
    return "".join(out)


def _sort_key(key: Any) -> str:
    return key if isinstance(key, str) else _text(key)


def _scalar(value: Any) -> str:
    if value is None or value is True or value is False or isinstance(value, float):
        return json.dumps(value)  # NaN and Infinity as JavaScript writes them: still deterministic
    if isinstance(value, int):
        text = _text(value)
        return text if text[-1:].isdigit() else json.dumps(text)
    return json.dumps(value if isinstance(value, str) else _text(value))


def _repr(value: Any) -> str:
    """orjson's fallback for types it does not know (an SDK caller's objects)."""
    try:
        return repr(value)
    except Exception as exc:
        return f"<{type(value).__name__}: repr() failed: {type(exc).__name__}>"


def _text(value: Any) -> str:
    """str() of a value, with the two things str() can fail on handled."""
    try:
        return str(value)
    except ValueError:  # an integer past Python's 4300-digit conversion limit
        return f"<int of {value.bit_length()} bits>"
    except Exception as exc:  # an SDK caller's object whose __str__ raises
        return f"<{type(value).__name__}: str() failed: {type(exc).__name__}>"
