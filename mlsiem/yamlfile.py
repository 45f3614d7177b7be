"""Reading a user's YAML file (mappings, detector configuration, rule packs): one safe way for every loader.

`yaml.safe_load` is safe from code execution, not from hostile or broken files. What goes wrong, and
what `read_yaml` does instead (every problem is a ConfigError naming the file):
- bytes that are not UTF-8: the offset of the first bad byte;
- a file larger than `max_bytes` (1 MiB by default; configuration is small, a huge file is a mistake or
  an attack on a parser that is not built for it);
- constructor failures that are not `yaml.YAMLError` (30 February, integers beyond Python's 4300-digit
  conversion limit, `!!int x`, `!!timestamp x`, `!!bool x`) and deep nesting: reported, no traceback;
- anchors and aliases that expand to more than `max_values` values (the "billion laughs" document is
  a few hundred bytes) or that refer to themselves: refused before any code walks the data, because
  every consumer would walk the expansion;
- more than `MAX_NODES` values: building a node costs PyYAML's constructor microseconds, so 1 MiB of
  `[[],[],...]` or 300 kB of `- name: s` lines takes seconds. Every value but the first follows a `,`
  `:` `[` `{` `-` or a line break, so their count bounds the values and is taken (at C speed) before
  parsing;
- libyaml (the C loader) is used when present: an order of magnitude faster on large files than the
  pure-Python one, and it caps nesting depth itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from mlsiem.errors import ConfigError

MIB: Final = 1024 * 1024
MAX_BYTES: Final = MIB
MAX_VALUES: Final = 1_000_000
# Configuration holds hundreds of values, the largest bundled file (the dashboards spec) about 2,000.
# PyYAML's constructor takes about 13 us per value on this project's 2-core machine (a 300 kB list of
# 25,000 one-key mappings took over 2 s of CPU under load), so 20,000 bounds a file at about 0.3 s.
MAX_NODES: Final = 20_000
_SEPARATORS: Final = (",", ":", "[", "{", "-", "\n")
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(
    path: str | Path,
    what: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_values: int = MAX_VALUES,
    all_documents: bool = False,
) -> Any:
    """The file's one YAML document (or the list of its documents when `all_documents`), checked as
    above; `what` names the kind of file in messages ("mapping file", "detector config")."""
    source = Path(path)
    label = f"{what} {source}"
    try:
        size = source.stat().st_size
        if size > max_bytes:
            raise ConfigError(
                f"{label}: {size} bytes, larger than the {max_bytes // MIB} MiB a {what} may be"
            )
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    return parse_yaml(data, label, max_bytes=max_bytes, max_values=max_values, all_documents=all_documents)


def parse_yaml(
    data: bytes | str,
    label: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_values: int = MAX_VALUES,
    all_documents: bool = False,
) -> Any:
    """Like `read_yaml` for text already in memory; `label` starts every message."""
    if len(data) > max_bytes:
        raise ConfigError(f"{label}: {len(data)} bytes, larger than the {max_bytes // MIB} MiB allowed")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{label}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
            ) from None
    else:
        text = data
    if len(text) > MAX_NODES and sum(text.count(c) for c in _SEPARATORS) > MAX_NODES:
        raise ConfigError(f"{label}: more than {MAX_NODES} values (by their separators); too many to load")
    try:
        if all_documents:
            loaded: Any = list(yaml.load_all(text, Loader=_LOADER))
        else:
            loaded = yaml.load(text, Loader=_LOADER)  # the (C) safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{label}: nested too deeply") from None
    except Exception as exc:  # the constructors' own errors on values such as 2026-02-30 or !!int x
        raise ConfigError(f"{label}: a value cannot be read: {type(exc).__name__}: {exc}") from None
    problem = expansion_problem(loaded, max_values)
    if problem:
        raise ConfigError(f"{label}: {problem}")
    return loaded


def copy_yaml(value: Any) -> Any:
    """A copy of loaded YAML's dicts and lists (its scalars are immutable): several times cheaper than
    `copy.deepcopy`. Only for data `read_yaml` accepted (no alias cycles, bounded expansion)."""
    if isinstance(value, dict):
        return {key: copy_yaml(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_yaml(item) for item in value]
    return value


def expansion_problem(value: Any, limit: int = MAX_VALUES) -> str | None:
    """Why aliases make `value` unusable (it refers to itself, or expands past `limit` values), or None.

    Sizes are counted per distinct container (memoized by identity, iteratively), so the count of a
    billion-laughs document costs what its few distinct nodes cost.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        items = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        if children_done:
            in_progress.discard(key)
            total = 1 + sum(sizes.get(id(c), 1) for c in items)
            if total > limit:
                return f"anchors and aliases expand to more than {limit} values"
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in in_progress:
            return "an alias refers to the node that contains it (a recursive structure)"
        in_progress.add(key)
        stack.append((node, True))
        for child in items:
            if isinstance(child, dict | list):
                if id(child) in in_progress:
                    return "an alias refers to the node that contains it (a recursive structure)"
                stack.append((child, False))
    return None
