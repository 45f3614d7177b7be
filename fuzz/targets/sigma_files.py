"""Fuzz target: the files of a Sigma rule pack, as `mlsiem rules ... --pack DIR` and the detector job
read them (`detections/sigma/pack.py` and what runs a loaded pack).

The first byte of an input picks the file it becomes in a small pack (three LLM detection rules and a
correlation over them, with the project's pack.yaml, atlas.yaml and processing pipeline); the rest is
the file's content:

| first byte % 7 | file |
| --- | --- |
| 0 | an extra detection rule, rules/llm/fuzz_rule.yml |
| 1 | the correlation rule, correlations/llm_prompt_injection_burst.yml |
| 2 | pack.yaml |
| 3 | atlas.yaml |
| 4 | pipelines/mlsiem.yaml (the processing pipeline) |
| 5 | a detection rule's example events, tests/llm_prompt_injection_direct.yaml |
| 6 | the correlation's example scenarios, tests/llm_prompt_injection_burst.yaml |

The contract: `load_pack` gives a Pack or a ConfigError naming a file of the pack; a loaded pack then
goes through what the commands do with it: the executor's Lucene conversion (`QueryBook`), its
correlation plans and group fields, alert rule info, the Kibana export, and the rule tests' example
documents. Each step may refuse with a ConfigError that says why; nothing else may escape, and no step
may hang (Sigma `|re` values are only compiled and converted here; the engine runs them as Lucene
regular expressions, which are automata without backtracking).

Persistent-mode shortcut: the pack's other files are the same for every input, so their parsed YAML
is kept after the first read and handed out as copies; the file the input became always goes through
the real `read_yaml`. This halves the cost of an input without changing what is tested. The Kibana
export (the slowest step: two more pySigma conversions) runs for half of the inputs (chosen by a
checksum of the input, so a replay does the same), and never when the input is an example file,
which the export does not read.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import detections.sigma.atlas
import detections.sigma.examples
import detections.sigma.pack
from detections.sigma.convert import QueryBook
from detections.sigma.correlate import CorrelationPlan
from detections.sigma.examples import (
    CorrelationExamples,
    DetectionExamples,
    load_examples,
    scenario_documents,
    to_document,
)
from detections.sigma.export_kibana import kibana_ndjson
from detections.sigma.hits import RuleInfo
from detections.sigma.pack import PACK_ROOT, load_pack
from fuzz.checks import Bug, scratch_dir
from fuzz.outcome import reported
from mlsiem.errors import ConfigError
from mlsiem.yamlfile import copy_yaml, read_yaml

BASE_RULES = ("llm_prompt_injection_direct", "llm_prompt_injection_indirect", "llm_jailbreak_persona")
CORRELATION = "llm_prompt_injection_burst"
SLOTS: tuple[Path, ...] = (
    Path("rules/llm/fuzz_rule.yml"),
    Path(f"correlations/{CORRELATION}.yml"),
    Path("pack.yaml"),
    Path("atlas.yaml"),
    Path("pipelines/mlsiem.yaml"),
    Path(f"tests/{BASE_RULES[0]}.yaml"),
    Path(f"tests/{CORRELATION}.yaml"),
)
EXAMPLE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLE_SLOTS = (5, 6)  # the rule tests' files: nothing the Kibana export writes depends on them


def build_pack(root: Path) -> dict[Path, bytes]:
    """The small pack on disk; returns each slot's original content."""
    for name in ("pack.yaml", "atlas.yaml", "validation.yaml", "pipelines/mlsiem.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACK_ROOT / name, root / name)
    for folder in ("rules/llm", "correlations", "tests"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in BASE_RULES:
        shutil.copyfile(PACK_ROOT / "rules" / "llm" / f"{name}.yml", root / "rules" / "llm" / f"{name}.yml")
    for name in (*BASE_RULES, CORRELATION):
        shutil.copyfile(PACK_ROOT / "tests" / f"{name}.yaml", root / "tests" / f"{name}.yaml")
    shutil.copyfile(PACK_ROOT / "correlations" / f"{CORRELATION}.yml", root / SLOTS[1])
    return {slot: (root / slot).read_bytes() if (root / slot).exists() else b"" for slot in SLOTS}


ROOT = scratch_dir("sigma") / "pack"
ORIGINALS = build_pack(ROOT)


def _seeds() -> list[bytes]:
    seeds = [bytes([0]) + path.read_bytes() for path in sorted((PACK_ROOT / "rules").rglob("*.yml"))]
    seeds += [bytes([1]) + path.read_bytes() for path in sorted((PACK_ROOT / "correlations").glob("*.yml"))]
    seeds += [bytes([slot]) + ORIGINALS[SLOTS[slot]] for slot in (2, 3, 4, 5, 6)]
    return seeds


SEEDS: list[bytes] = _seeds()


class _ParsedOnce:
    """`read_yaml` for the pack's loaders: the fuzzed file read for real, every other file parsed once."""

    def __init__(self, read: Callable[..., Any]) -> None:
        self.read = read
        self.fuzzed: Path | None = None
        self.parsed: dict[tuple[Path, str, tuple[tuple[str, Any], ...]], Any] = {}

    def __call__(self, path: str | Path, what: str, **options: Any) -> Any:
        path = Path(path)
        if path == self.fuzzed:
            return self.read(path, what, **options)
        key = (path, what, tuple(sorted(options.items())))
        if key not in self.parsed:
            self.parsed[key] = self.read(path, what, **options)
        return copy_yaml(self.parsed[key])


READER = _ParsedOnce(read_yaml)
LOADERS = (detections.sigma.pack, detections.sigma.atlas, detections.sigma.examples)


def _use_reader(reader: Callable[..., Any]) -> None:
    """Swap the loaders' `read_yaml` (only while an input runs: other code in the process, such as
    the tests around the CI slice, must read files afresh)."""
    for module in LOADERS:
        module.read_yaml = reader  # type: ignore[attr-defined]


def _refused(message: str) -> None:
    reported(message)


def _run_pack(export: bool) -> None:
    try:
        pack = load_pack(ROOT)
    except ConfigError as exc:
        if str(ROOT) not in str(exc):
            raise Bug(f"the pack error names no file of the pack: {str(exc)[:300]}") from None
        _refused(str(exc))
        return
    try:
        book = QueryBook(pack, "opensearch")
        for rule in pack.detections:
            [pack.ecs_field(n) for n in pack.config.group_by.get(pack.category(rule), [])]
            RuleInfo.of(rule, pack.atlas)
        for correlation in pack.correlations:
            CorrelationPlan(pack, book, correlation, "default")
            RuleInfo.of(correlation, pack.atlas)
        if export:
            kibana_ndjson(pack)
        for rule in pack.rules:
            path = pack.examples_path(rule)
            if not path.exists():
                continue
            examples = load_examples(path, correlation=rule in pack.correlations)
            category = pack.category(pack.detections[0]) if pack.detections else "llm"
            if isinstance(examples, DetectionExamples):
                for n, event in enumerate([*examples.positives, *examples.negatives]):
                    to_document(category, {**examples.defaults, **event}, EXAMPLE_TIME, f"fuzz:{n}")
            elif isinstance(examples, CorrelationExamples):
                for scenario in examples.scenarios:
                    scenario_documents(category, examples.defaults, scenario, EXAMPLE_TIME, "fuzz")
    except ConfigError as exc:
        _refused(str(exc))


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    slot = SLOTS[data[0] % len(SLOTS)]
    path = ROOT / slot
    path.write_bytes(data[1:])
    READER.fuzzed = path
    _use_reader(READER)
    try:
        _run_pack(export=data[0] % len(SLOTS) < EXAMPLE_SLOTS[0] and zlib.crc32(data) % 2 == 0)
    finally:
        READER.fuzzed = None
        _use_reader(read_yaml)
        if slot == SLOTS[0]:
            path.unlink()
        else:
            path.write_bytes(ORIGINALS[slot])
