"""Writing a mutated tree back as text: JSON or flow YAML with verbatim tokens (NaN, aliases, tags),
duplicate keys and anchors, or block YAML through the (C) dumper; and the billion-laughs node."""

from __future__ import annotations

import random
from typing import Any

import yaml

_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
        if self.flavor == "yaml" and not _has_special(tree) and self.rng.random() < 0.5:
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
            out(str(node) if abs(node) < 10**4000 else "1" * 4000)
        else:
            self._string(str(node))

    def _string(self, text: str) -> None:
        self.parts.append(_quote(text))


def _quote(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _has_special(tree: Any) -> bool:
    stack = [tree]
    while stack:
        node = stack.pop()
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
