"""The layering rules of the code base, enforced on every import statement (module level or not).

- the core package `mlsiem` imports neither the shipper, the detections nor the application
  (`cli`, `demo`, `dashboards`); its `__main__` (the `python -m mlsiem` entry point) is the one exception;
- `shipper` and `detections` never import each other, nor the application;
- the statistics (`detections.statistics`) import no I/O: only the standard library's pure modules,
  numpy, scipy and each other;
- the demo's scenario generator only generates data: no shipper, no detections.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = {"cli", "demo", "dashboards"}
# Standard-library modules a pure statistics module may use: no files, sockets, processes or clocks.
PURE_STDLIB = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "itertools",
    "math",
    "numbers",
    "operator",
    "statistics",
    "typing",
    "abc",
    "bisect",
    "heapq",
    "warnings",
}
PURE_THIRD_PARTY = {"numpy", "scipy", "sklearn"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every imported module name in a file, with its line (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _violations(package: str, forbidden: set[str], skip: set[str] = frozenset()) -> list[str]:
    problems = []
    for path in _files(package):
        if path.relative_to(ROOT).as_posix() in skip:
            continue
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in forbidden:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return problems


def test_core_imports_neither_side_nor_the_application() -> None:
    problems = _violations("mlsiem", {"shipper", "detections", *APPLICATION}, skip={"mlsiem/__main__.py"})
    assert problems == []


def test_shipper_and_detections_never_import_each_other_or_the_application() -> None:
    assert _violations("shipper", {"detections", *APPLICATION}) == []
    assert _violations("detections", {"shipper", *APPLICATION}) == []


def test_scenario_generator_only_generates_data() -> None:
    assert _violations("demo/scenario", {"shipper", "detections", "cli"}) == []


def test_statistics_import_no_io() -> None:
    problems = []
    for path in _files("detections/statistics"):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if name.startswith("detections.statistics") or top in PURE_STDLIB | PURE_THIRD_PARTY:
                continue
            problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert problems == []


@pytest.mark.parametrize(
    ("package", "forbidden", "expected"),
    [("shipper", {"detections"}, "import detections.x"), ("mlsiem", {"cli"}, "from cli import main")],
)
def test_the_checker_sees_function_level_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str, forbidden: set[str], expected: str
) -> None:
    """The rules would pass vacuously if the checker missed imports inside functions."""
    fake_root = tmp_path / "root"
    (fake_root / package).mkdir(parents=True)
    (fake_root / package / "mod.py").write_text(f"def f():\n    {expected}\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert len(_violations(package, forbidden)) == 1
