"""Writing a mutated tree back as text: JSON or flow YAML with verbatim tokens (NaN, aliases, tags),
duplicate keys and anchors, or block YAML through the (C) dumper; and the billion-laughs node."""

from __future__ import annotations

import random
import re
from typing import Any

import yaml

_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_HUGE = 10**4000  # ints past Python's str() digit limit are written as a 4000-digit literal
_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')
MAX_DUMPED_NODES = 1000  # larger trees are written by `_emit`: the dumper's representer is slow Python


class Raw:
    """A token written verbatim by the emitter (NaN, an alias, a tag...)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class DuplicateKeys(dict):
    """A mapping the emitter writes with its first key repeated (JSON and YAML both allow the text)."""


class Emitter:
    """Writes a tree back as text; `Raw` tokens verbatim, `DuplicateKeys` with a repeated key."""

    def __init__(self, rng: random.Random, flavor: str) -> None:
        self.rng = rng
        self.flavor = flavor
        self.anchors: list[str] = []
        self.parts: list[str] = []

    def text(self, tree: Any) -> bytes:
        if self.flavor == "yaml" and self.rng.random() < 0.5 and not _has_special(tree, MAX_DUMPED_NODES):
            try:
                dumped = yaml.dump(
                    tree, Dumper=_YAML_DUMPER, allow_unicode=self.rng.random() < 0.5, sort_keys=False
                )
                return dumped.encode("utf-8", "surrogatepass")
            except Exception:
                pass
        self.parts = []
        self._emit(tree, 0)
        return "".join(self.parts).encode("utf-8", "surrogatepass")

    def _emit(self, node: Any, depth: int) -> None:
        out = self.parts.append
        if isinstance(node, Raw):
            if node.text == "*" and self.anchors:
                out("*" + self.rng.choice(self.anchors))
            else:
                out(node.text if node.text != "*" else "null")
            return
        if isinstance(node, dict | list) and self.flavor == "yaml" and depth < 50 and self.rng.random() < 0.1:
            name = f"a{len(self.anchors)}"
            self.anchors.append(name)
            out(f"&{name} ")
        if isinstance(node, dict):
            out("{")
            items = list(node.items())
            if isinstance(node, DuplicateKeys) and items:
                items.append(items[0])
            for index, (key, value) in enumerate(items):
                if index:
                    out(", ")
                self._string(str(key))
                out(": ")
                self._emit(value, depth + 1)
            out("}")
        elif isinstance(node, list):
            out("[")
            for index, value in enumerate(node):
                if index:
                    out(", ")
                self._emit(value, depth + 1)
            out("]")
        elif isinstance(node, str):
            self._string(node)
        elif node is None:
            out("null")
        elif node is True or node is False:
            out("true" if node else "false")
        elif isinstance(node, float):
            out(repr(node) if node == node and abs(node) != float("inf") else "null")
        elif isinstance(node, int):
            out(str(node) if -_HUGE < node < _HUGE else "1" * 4000)
        else:
            self._string(str(node))

    def _string(self, text: str) -> None:
        self.parts.append(_quote(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\" + char if char in '"\\' else f"\\u{ord(char):04x}"


def _quote(text: str) -> str:
    """A double-quoted string both JSON and YAML read back (lone surrogates as escapes)."""
    return '"' + _ESCAPED.sub(_escape, text) + '"'


def _has_special(tree: Any, limit: int) -> bool:
    """Whether the tree holds a verbatim token or duplicate keys, or more than `limit` nodes."""
    stack = [tree]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(node, Raw | DuplicateKeys):
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def billion_laughs(levels: int, width: int = 10) -> str:
    """A YAML node of width**levels leaves in O(levels * width) text, built from nested aliases."""
    node = "[" + ", ".join(["lol"] * width) + "]"
    for level in range(levels):
        name = f"lol{level}"
        node = f"[&{name} {node}" + f", *{name}" * (width - 1) + "]"
    return node
