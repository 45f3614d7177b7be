"""Structure-aware input generation: seeds mutated at the byte, JSON/YAML-tree and YAML-text level.

Why our own mutator rather than atheris: atheris has no wheel for this Python and builds against a
matching clang/libFuzzer, and its coverage guidance needs instrumented code; the parsers under test are
small and their input languages (JSON lines, YAML documents) are known, so mutations that speak those
languages reach deep code faster than blind coverage feedback would. The generator is deterministic for
a given seed, so any run can be repeated exactly.

Mutations, stacked 1-4 per input:
- bytes: bit flips, interesting bytes and tokens, insert/delete/duplicate chunks, splice two inputs,
  truncation, a chunk repeated into a huge input;
- trees (the input parsed as JSON, else as YAML): a value replaced by one of another type (huge ints,
  NaN/Infinity, 1e99999, long strings, lone surrogates, control and bidi characters, deep nesting,
  wide lists), keys deleted, renamed or duplicated, subtrees grafted from another seed; written back as
  JSON or as flow/block YAML;
- YAML text: anchors and aliases (billion laughs, self-referencing nodes), merge keys, tags such as
  `!!python/object/apply`, `!!binary`, `!!set`, `%TAG` directives, timestamps and sexagesimal numbers,
  huge ints, deep flow collections, several documents, BOM, tabs and CR line ends.
A share of inputs is pure random bytes.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Final

import orjson
import yaml

from fuzz.emit import DuplicateKeys, Emitter, Raw, billion_laughs
from mlsiem.yamlfile import expansion_problem

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES: Final = 2000  # nodes considered per tree mutation (keeps one mutation cheap)
MAX_TREE_VALUES: Final = 5_000  # larger trees are mutated as bytes (copying and writing them is slow)
MAX_WIDE_LIST: Final = 20_000
POOL_SIZE: Final = 256  # accepted inputs kept for stacked mutation
TREE_CACHE: Final = 512  # parsed trees kept (mostly seeds and pool entries: a mutant rarely recurs)


INTERESTING_BYTES: Final = b"\x00\x01\x7f\x80\xff{}[]\":,\n\r\t\\&*!#|>?-~%@`'. 0"
TOKENS: Final[tuple[bytes, ...]] = (
    b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"true", b"-", b"&a ", b"*a", b"!!", b"\n", b"\t",
    b"#", b"\\u0000", b"\\ud800", b"\\udfff", b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"1e999", b"<<: ",
    b"\n---\n", b"\n...\n", b"|", b">", b"? ", b"%", b"\xef\xbb\xbf", b"\r", b"\\", b"'", b"!!binary ",
    b"!!python/object:os.system ", b"NaN", b"-Infinity", b"9" * 40, b"\xe2\x80\xae", b"\\x", b"${",
)  # fmt: skip
ODD_VALUES: Final[tuple[Any, ...]] = (
    None, True, False, 0, -1, 1.5, -0.0, 2**31, 2**63, -(2**63) - 1, 2**64, 10**30, 1e308, -1e-308, 5e-324,
    "", " ", "0", "-1", "true", "null", "NaN", "inf", "1e999", "0x1F", "2025-13-45T99:99:99Z",
    "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01", "1732492800000000000",
    "\u0000", "\u202e", "\ufeff", "\U0001d54f", "\u00e9", "\\", '"', "a.b", "$x", "[0]", "${HOME}",
    "%s%n", "../../etc/passwd", "{{7*7}}", "\r\n", "lol " * 50, [], {}, [None], {"": None}, [[[]]],
    {"a": {"b": {"c": None}}}, ["a", 1, None, 2.5, True],
)  # fmt: skip
JSON_RAW: Final[tuple[str, ...]] = (
    "NaN", "Infinity", "-Infinity", "1e99999", "-1e99999", "0.1e-99999", "-0", "1E400", "1" * 400,
    "1" * 5000, "-" + "9" * 30, '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"a\\u202eb"', "1.0e+",
)  # fmt: skip
YAML_RAW: Final[tuple[str, ...]] = (
    ".nan", ".inf", "-.inf", "~", "0x_ff", "0o777", "0b1010", "1_000", "190:20:30", "-1:30",
    "2001-12-14t21:59:43.10-05:00", "2002-12-14", "2026-02-30", "!!binary aGVsbG8=", "!!set {a, b}",
    "!!omap [a: 1, b: 2]", '!!python/object/apply:os.system ["true"]', "!!python/name:os.system",
    "!!python/tuple [1, 2]", '!!int "x"', '!!float "nan"', "!!str", "!!null x", "yes", "off", "=",
    "1" * 5000, "-" + "1" * 5000, "1e99999", "!<tag:yaml.org,2002:python/none> x", "!local x",
    "'it''s'", '"\\ud800"', '"\\x00"', "|\n  text", "{? [1, 2]: x}", "{? {a: 1}: x}", "[a, b, ]",
)  # fmt: skip
DEPTHS: Final = (2, 10, 63, 64, 65, 200, 1000, 3000)


def random_bytes(rng: random.Random, limit: int = 512) -> bytes:
    return rng.randbytes(rng.randrange(1, limit))


def parse_tree(data: bytes) -> tuple[str, Any] | None:
    """("json" | "yaml", tree) for inputs that are a JSON or YAML object/array; None otherwise."""
    try:
        tree = orjson.loads(data)
        flavor = "json"
    except Exception:
        try:
            tree = yaml.load(data, Loader=_YAML_LOADER)  # the C-accelerated safe loader
            flavor = "yaml"
        except Exception:
            return None
    is_tree = tree.__class__ is dict or tree.__class__ is list
    if is_tree and expansion_problem(tree, MAX_TREE_VALUES) is None:
        return flavor, tree
    return None  # not a tree, or aliases that expand hugely or refer to themselves: mutate its bytes


def _nodes(tree: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) pairs of the tree, breadth-first, at most MAX_NODES."""
    found: list[tuple[Any, Any]] = []
    queue = deque([tree])
    while queue and len(found) < MAX_NODES:
        node = queue.popleft()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            found.append((node, key))
            if isinstance(value, dict | list):
                queue.append(value)
    return found


def _copy(tree: Any) -> Any:
    """A deep copy of plain data (iterative parents are small; recursion depth is the tree's depth)."""
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


class Mutator:
    """Generates inputs from seeds; deterministic for one `random.Random`."""

    def __init__(self, seeds: list[bytes], rng: random.Random, random_share: float = 0.05) -> None:
        self.seeds = [s for s in seeds if s] or [b"{}"]
        self.rng = rng
        self.random_share = random_share
        self.pool: list[bytes] = []
        self._trees: dict[bytes, tuple[str, Any] | None] = {}

    def remember(self, data: bytes) -> None:
        """Keep an input the target accepted: later inputs may stack mutations on it."""
        if len(data) > 64 * 1024:
            return
        if len(self.pool) < POOL_SIZE:
            self.pool.append(data)
        else:
            self.pool[self.rng.randrange(POOL_SIZE)] = data

    def next(self) -> bytes:
        rng = self.rng
        if rng.random() < self.random_share:
            return random_bytes(rng)
        data = rng.choice(self.pool) if self.pool and rng.random() < 0.3 else rng.choice(self.seeds)
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            data = self.mutate(data)
        return data

    def mutate(self, data: bytes) -> bytes:
        choice = self.rng.random()
        try:
            if choice < 0.45:
                return self.mutate_bytes(data)
            if choice < 0.85:
                return self.mutate_tree(data)
            return self.mutate_yaml_text(data)
        except RecursionError:
            return self.mutate_bytes(data)

    # -- bytes ----------------------------------------------------------------------------------------

    def mutate_bytes(self, data: bytes) -> bytes:
        rng = self.rng
        buf = bytearray(data)
        size = len(buf)
        op = rng.randrange(11)
        at = rng.randrange(size + 1)
        if op == 0 and size:
            buf[min(at, size - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and size:
            buf[min(at, size - 1)] = rng.choice(INTERESTING_BYTES)
        elif op == 2:
            buf[at:at] = rng.choice(TOKENS)
        elif op == 3:
            buf[at:at] = rng.randbytes(rng.randrange(1, 33))
        elif op == 4 and size:
            del buf[at : at + rng.randrange(1, max(2, size // 4))]
        elif op == 5 and size:
            chunk = buf[at : at + rng.randrange(1, 64)]
            buf[rng.randrange(size + 1) : 0] = chunk
        elif op == 6:
            other = rng.choice(self.seeds)
            return bytes(buf[:at]) + other[rng.randrange(len(other) + 1) :]
        elif op == 7 and size:
            return bytes(buf[: rng.randrange(size)])
        elif op == 8 and size:
            chunk = bytes(buf[at : at + rng.randrange(1, 256)]) or b"x"
            buf[at:at] = chunk * (self.size() // len(chunk) + 1)
        elif op == 9:
            bracket = rng.choice((b"[", b"{", b'{"a":', b"{a: ", b"- "))
            depth = rng.choice(DEPTHS)
            closing = {b"[": b"]", b"{": b"}", b'{"a":': b"}", b"{a: ": b"}", b"- ": b""}[bracket]
            buf[at:at] = bracket * depth + b"1" + closing * depth
        else:
            pos = rng.randrange(size + 1)
            buf[pos:pos] = rng.choice(TOKENS)
        return bytes(buf)

    # -- trees ----------------------------------------------------------------------------------------

    def _tree(self, data: bytes) -> tuple[str, Any] | None:
        if data in self._trees:
            return self._trees[data]
        parsed = parse_tree(data)
        if len(self._trees) < TREE_CACHE and len(data) < 64 * 1024:
            self._trees[data] = parsed
        return parsed

    def odd_value(self, flavor: str) -> Any:
        rng = self.rng
        pick = rng.random()
        if pick < 0.45:
            return _copy(rng.choice(ODD_VALUES))
        if pick < 0.6:
            return Raw(rng.choice(JSON_RAW if flavor == "json" else YAML_RAW))
        if pick < 0.7:
            depth = rng.choice(DEPTHS)
            node: Any = 1
            for _ in range(depth):
                node = [node] if rng.random() < 0.5 else {"a": node}
            return node
        if pick < 0.8:
            return rng.choice(("x", "\u00e9", "\U0001f600", "\\", "\ud800")) * self.size()
        if pick < 0.88:  # wide lists: past every field limit at 20,000 (writing more only costs time)
            return [rng.choice(ODD_VALUES[:30]) for _ in range(min(self.size(), MAX_WIDE_LIST))]
        if flavor == "yaml" and pick < 0.96:
            return Raw(billion_laughs(rng.choice((3, 5, 7, 9))) if rng.random() < 0.7 else "*")
        if flavor == "yaml":
            return Raw("&loop [1, *loop]" if rng.random() < 0.5 else "&loop {a: *loop}")
        return {f"k{i}": i for i in range(self.size())}

    def size(self) -> int:
        """A length for long strings, wide lists and repeated chunks: mostly short, rarely huge (huge
        inputs are slow everywhere, so a run would spend its time on them)."""
        pick = self.rng.random()
        if pick < 0.9:
            return self.rng.randrange(2, 300)
        if pick < 0.99:
            return self.rng.randrange(1000, 10_000)
        return self.rng.randrange(50_000, 400_000)

    def mutate_tree(self, data: bytes) -> bytes:
        rng = self.rng
        parsed = self._tree(data)
        if parsed is None:
            return self.mutate_bytes(data)
        flavor, original = parsed
        tree = _copy(original)
        nodes = _nodes(tree)
        if not nodes:
            return self.mutate_bytes(data)
        for _ in range(rng.choice((1, 1, 2, 3))):
            container, key = rng.choice(nodes)
            if isinstance(container, list) and key >= len(container):
                continue  # an earlier mutation of this round shortened the list
            op = rng.randrange(8)
            if op <= 2:
                container[key] = self.odd_value(flavor)
            elif op == 3:
                if isinstance(container, dict):
                    container.pop(key, None)
                elif key < len(container):
                    del container[key]
            elif op == 4 and isinstance(container, dict) and key in container:
                value = container.pop(key)
                odd_keys = ("", ".", "a.b", "$x", "[0]", "<<", "k" * 300, "\u00e9", "1", key)
                container[rng.choice(odd_keys)] = value
            elif op == 5 and isinstance(container, dict):
                tree = _replace(tree, container, DuplicateKeys(container))
                break
            elif op == 6:
                other = self._tree(rng.choice(self.seeds))
                if other is not None:
                    graft = _nodes(_copy(other[1]))
                    if graft:
                        source, source_key = rng.choice(graft)
                        container[key] = source[source_key]
            elif op == 7 and isinstance(container, list):
                container.extend(_copy(container[: rng.randrange(1, 5)]) * rng.choice((1, 10, 100)))
        emit_flavor = flavor if rng.random() < 0.9 else ("yaml" if flavor == "json" else "json")
        return Emitter(rng, emit_flavor).text(tree)

    # -- YAML text ------------------------------------------------------------------------------------

    def mutate_yaml_text(self, data: bytes) -> bytes:
        rng = self.rng
        op = rng.randrange(10)
        if op == 0:
            return b"%YAML 1.1\n---\n" + data
        if op == 1:
            return b"%TAG !x! tag:yaml.org,2002:python/object/apply:\n---\n" + data.replace(
                b": ", b": !x!os.system ", 1
            )
        if op == 2:
            return data + b"\n---\n" + data
        if op == 3:
            return b"\xef\xbb\xbf" + data.replace(b"\n", rng.choice((b"\r\n", b"\r", b"\n\t")))
        if op == 4:
            return b"x: " + billion_laughs(rng.choice((4, 6, 8))).encode() + b"\n" + data
        if op == 5:
            return data.replace(b": ", b": &anchor ", 1).replace(b": ", b": *anchor ", rng.randrange(2, 6))
        if op == 6:
            return data.replace(b"\n", b"\n<<: {a: 1}\n", 1)
        if op == 7:
            depth = rng.choice(DEPTHS)
            return data + b"\ndeep: " + b"[" * depth + b"]" * depth + b"\n"
        if op == 8:
            lines = data.split(b"\n")
            index = rng.randrange(len(lines))
            lines[index] = lines[index] + b" " + rng.choice(YAML_RAW).encode()
            return b"\n".join(lines)
        return data.replace(b": ", b": " + rng.choice(YAML_RAW).encode() + b" #", 1)


def _replace(tree: Any, old: Any, new: Any) -> Any:
    """`tree` with the container `old` (by identity) swapped for `new`."""
    if tree is old:
        return new
    stack = [tree]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if value is old:
                node[key] = new
                return tree
            if isinstance(value, dict | list):
                stack.append(value)
    return tree
