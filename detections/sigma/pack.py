"""The Sigma rule pack on disk (`sigma_rules/`), loaded once: rules, correlations, pipeline, ATLAS table.

Layout (only `*.yml` files are Sigma rules, so `sigma check` and `sigma convert` can take the whole folder):

    sigma_rules/rules/<category>/*.yml     detection rules (category inference | llm | pipeline)
    sigma_rules/correlations/*.yml         correlation rules over the detection rules
    sigma_rules/pipelines/mlsiem.yaml      processing pipeline (Sigma field names -> ECS, index)
    sigma_rules/tests/<rule name>.yaml     example events per rule
    sigma_rules/playbooks/<rule name>.md   the rule's investigation guide (Markdown)
    sigma_rules/atlas.yaml                 the local MITRE ATLAS table
    sigma_rules/validation.yaml            `sigma check` validator configuration
    sigma_rules/pack.yaml                  how the detector job runs the pack (grouping of hits)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.processing.pipeline import ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaRule

from detections.sigma.atlas import Atlas
from mlsiem.errors import ConfigError
from mlsiem.paths import package_folder
from mlsiem.yamlfile import MIB, copy_yaml, read_yaml

PACK_ROOT = package_folder("sigma_rules")  # the installed pack (in a checkout: its sigma_rules/)
PIPELINE_FILE = Path("pipelines") / "mlsiem.yaml"
Category = Literal["inference", "llm", "pipeline"]
CATEGORIES: tuple[Category, ...] = ("inference", "llm", "pipeline")
PRODUCT = "mlsiem"
MAX_FILE_BYTES = MIB  # one rule or pipeline file; real ones are a few kB
MAX_RULE_TEXT = 8192  # characters of one value in a rule (titles, descriptions, detection values)
MAX_RULE_LIST = 2000  # values of one list in a rule (a detection field's alternatives, tags, ...)


class PackConfig(BaseModel):
    """`pack.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    author: str
    group_by: dict[Category, list[str]] = Field(default_factory=dict)


RuleDocuments = list[tuple[Path, list[dict[str, Any]]]]  # a rule file and its YAML documents


@dataclass
class Pack:
    """Everything the executor, the checks, the tests and the exports need, parsed and cross-linked."""

    root: Path
    config: PackConfig
    atlas: Atlas
    pipeline: ProcessingPipeline
    collection: SigmaCollection
    field_map: dict[str, str]
    sources: RuleDocuments  # the rule files' parsed YAML: conversions build their own collection from it
    detections: list[SigmaRule] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    # rule file -> the analyst's rule folder it came from (`--rules DIR`); the pack's own files are absent
    extra_roots: dict[Path, Path] = field(default_factory=dict)

    @property
    def pipeline_path(self) -> Path:
        return self.root / PIPELINE_FILE

    @property
    def rules(self) -> list[SigmaRule | SigmaCorrelationRule]:
        return [*self.detections, *self.correlations]

    def rule(self, ref: str) -> SigmaRule | SigmaCorrelationRule:
        """A rule by id or name."""
        for rule in self.rules:
            if str(rule.id) == ref or rule.name == ref:
                return rule
        raise ConfigError(f"rule pack {self.root}: no rule with id or name {ref!r}")

    def category(self, rule: SigmaRule) -> Category:
        category = rule.logsource.category
        if category not in CATEGORIES:
            where = rule.source.path if rule.source is not None else f"rule {rule.name or rule.id}"
            raise ConfigError(f"{where}: logsource category {category!r} is not one of {CATEGORIES}")
        return category  # type: ignore[return-value]

    def ecs_field(self, sigma_field: str) -> str:
        """The ECS field behind a Sigma field name of the pack (for group-by and aggregations)."""
        if not isinstance(sigma_field, str):
            raise ConfigError(f"field {sigma_field!r} is not a field name (group-by and condition fields)")
        try:
            return self.field_map[sigma_field]
        except KeyError:
            raise ConfigError(
                f"field {sigma_field!r} is not in the pack's field mapping ({self.pipeline_path})"
            ) from None

    def standalone(self, rule: SigmaRule) -> bool:
        """Whether a detection rule alerts on its own.

        Sigma's `generate` flag: a rule that correlations refer to is a building block unless one of
        them sets `generate: true`; a rule no correlation refers to always alerts.
        """
        referring = [c for c in self.correlations if any(r.rule is rule for r in c.rules or [])]
        return not referring or any(c.generate for c in referring)

    def file_stem(self, rule: SigmaRule | SigmaCorrelationRule) -> str:
        if rule.source is None:
            raise ConfigError(f"rule {rule.title!r} was not loaded from a file")
        return rule.source.path.stem

    def extra_root(self, rule: SigmaRule | SigmaCorrelationRule) -> Path | None:
        """The analyst's rule folder a rule came from, or None for the pack's own rules."""
        return self.extra_roots.get(rule.source.path) if rule.source is not None else None

    def _home(self, rule: SigmaRule | SigmaCorrelationRule) -> Path:
        return self.extra_root(rule) or self.root

    def examples_path(self, rule: SigmaRule | SigmaCorrelationRule) -> Path:
        return self._home(rule) / "tests" / f"{self.file_stem(rule)}.yaml"

    def playbook_path(self, rule: SigmaRule | SigmaCorrelationRule) -> Path:
        return self._home(rule) / "playbooks" / f"{self.file_stem(rule)}.md"

    def playbook(self, rule: SigmaRule | SigmaCorrelationRule) -> str | None:
        """The rule's investigation guide (Markdown), or None when it has none."""
        path = self.playbook_path(rule)
        return path.read_text(encoding="utf-8") if path.is_file() else None


def _field_map(pipeline: ProcessingPipeline, path: Path) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in pipeline.items:
        transformation = item.transformation
        if isinstance(transformation, FieldMappingTransformation):
            if not isinstance(transformation.mapping, dict):
                raise ConfigError(f"processing pipeline {path}: field_name_mapping needs a field `mapping`")
            for source, target in transformation.mapping.items():
                listed = target if isinstance(target, list) else []
                first = target if isinstance(target, str) else next(iter(listed), None)
                if not isinstance(source, str) or not isinstance(first, str):
                    raise ConfigError(
                        f"processing pipeline {path}: field mapping {source!r}: {target!r} "
                        "is not a field name or a list of field names"
                    )
                mapping[source] = first
    return mapping


def _failure(exc: Exception) -> str:
    """pySigma raises plain Python errors (TypeError, AttributeError, ...) on values of the wrong type
    in a file; they say what failed, and the caller says which file."""
    return f"pySigma cannot read it: {type(exc).__name__}: {str(exc)[:300]}"


def load_pipeline(path: Path) -> ProcessingPipeline:
    data = read_yaml(path, "processing pipeline", max_bytes=MAX_FILE_BYTES)
    if not isinstance(data, dict):
        raise ConfigError(f"processing pipeline {path}: expected a mapping at the top level")
    try:
        return ProcessingPipeline.from_dict(data)
    except SigmaError as exc:
        raise ConfigError(f"processing pipeline {path}: {exc}") from None
    except Exception as exc:  # pySigma's own failures on values of the wrong type
        raise ConfigError(f"processing pipeline {path}: {_failure(exc)}") from None


def rule_files(root: Path) -> list[Path]:
    """The pack's Sigma files: detection rules, then correlation rules (converting a correlation needs
    its rules converted first), each sorted by path."""
    return [p for folder in (root / "rules", root / "correlations") for p in sorted(folder.glob("**/*.yml"))]


def extra_rule_files(folder: Path) -> list[Path]:
    """An analyst's rule folder: every `*.yml` under it is a Sigma rule or correlation."""
    if not folder.is_dir():
        raise ConfigError(f"rule folder {folder} does not exist or is not a folder")
    files = sorted(folder.glob("**/*.yml"))
    if not files:
        raise ConfigError(f"rule folder {folder} holds no Sigma rules (*.yml files)")
    return files


def read_rule_documents(root: Path, files: list[Path] | None = None) -> RuleDocuments:
    """Every Sigma file of the pack (or the given files) read with `read_yaml` (size, encoding, alias
    bombs): its path and its YAML documents, each of which must be a mapping (a rule)."""
    sources: RuleDocuments = []
    for path in rule_files(root) if files is None else files:
        documents = read_yaml(path, "Sigma rule file", max_bytes=MAX_FILE_BYTES, all_documents=True)
        if not all(isinstance(d, dict) for d in documents):
            raise ConfigError(f"Sigma rule file {path}: every YAML document must be a mapping (a rule)")
        if odd := _unusable_value(documents):
            raise ConfigError(f"Sigma rule file {path}: {odd} has no place in a rule")
        sources.append((path, documents))
    return sources


def _unusable_value(value: Any) -> str | None:
    """The first value of a rule that cannot be used, or None: `!!binary` bytes and `!!set`s (a JSON
    export cannot write them), text over MAX_RULE_TEXT characters and lists over MAX_RULE_LIST values
    (pySigma converts values one by one, character by character: 12,000 values or a 400 kB string
    take seconds per conversion; real rules stay far below both)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            if len(node) > MAX_RULE_LIST:
                return f"a list of {len(node)} values (at most {MAX_RULE_LIST})"
            stack.extend(node)
        elif isinstance(node, str) and len(node) > MAX_RULE_TEXT:
            return f"a text of {len(node)} characters (at most {MAX_RULE_TEXT}: {node[:40]!r}...)"
        elif isinstance(node, bytes | bytearray | set | frozenset):
            return f"a {'!!binary' if isinstance(node, bytes | bytearray) else '!!set'} value"
    return None


def build_collection(root: Path, sources: RuleDocuments) -> SigmaCollection:
    """A new SigmaCollection of parsed rule documents (they are copied: pySigma must not change them);
    anything pySigma cannot make of one file is a ConfigError naming it."""
    collections = []
    for path, documents in sources:
        try:
            collections.append(
                SigmaCollection.from_dicts(
                    copy_yaml(documents),
                    collect_errors=True,
                    source=SigmaRuleLocation(path),
                    collect_filters=True,
                    resolve_references=False,
                )
            )
        except SigmaError as exc:
            raise ConfigError(f"Sigma rule file {path}: {exc}") from None
        except Exception as exc:  # pySigma's own failures on values of the wrong type
            raise ConfigError(f"Sigma rule file {path}: {_failure(exc)}") from None
    for rule in (r for c in collections for r in c.rules if isinstance(r, SigmaRule)):
        conditions = rule.detection.condition if rule.detection else []
        if not all(isinstance(condition, str) for condition in conditions):  # pySigma would crash later
            found = repr(conditions)[:100]
            raise ConfigError(f"Sigma rule file {rule.source}: detection.condition must be text, not {found}")
    collection = SigmaCollection.merge(collections, resolve_references=False)
    try:
        collection.resolve_rule_references()
    except SigmaError as exc:
        raise ConfigError(f"rule pack {root}: {exc}") from None
    except Exception as exc:
        raise ConfigError(f"rule pack {root}: rule references: {_failure(exc)}") from None
    return collection


def _identity_problems(collection: SigmaCollection) -> list[str]:
    """Rules without an id, or sharing an id or a name: the executor, the conversions and the alerts key
    rules by id, correlations refer to rules by name, so such a pack cannot run (`sigma check` only warns
    about it). An analyst's rule that takes a pack rule's id or name is named with the pack's file."""
    problems = []
    seen: dict[str, object] = {}
    names: dict[str, object] = {}
    for rule in collection.rules:
        if rule.id is None:
            problems.append(f"{rule.source}: the rule has no id (rules and their alerts are keyed by it)")
            continue
        rid = str(rule.id)
        if rid in seen:
            problems.append(
                f"{rule.source}: id {rid} is already the id of the rule in {seen[rid]}; "
                "give the rule an id of its own"
            )
        seen.setdefault(rid, rule.source)
        if rule.name and rule.name in names:
            problems.append(
                f"{rule.source}: name {rule.name} is already the name of the rule in {names[rule.name]}"
            )
        names.setdefault(rule.name or rid, rule.source)
    return problems


def load_pack(root: Path = PACK_ROOT, extra: Sequence[Path] = ()) -> Pack:
    """Parse the pack, plus the analyst's rule folders in `extra` (their rules and correlations join the
    pack's, and may refer to its rules); any parse error names the file and the problem."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"rule pack {root} does not exist or is not a folder")
    config_path = root / "pack.yaml"
    try:
        config = PackConfig.model_validate(read_yaml(config_path, "pack configuration"))
    except ValidationError as exc:
        raise ConfigError(f"pack configuration {config_path}: {exc}") from None
    atlas = Atlas.load(root / "atlas.yaml")
    pipeline = load_pipeline(root / PIPELINE_FILE)
    sources = read_rule_documents(root)
    extra_roots: dict[Path, Path] = {}
    for folder in map(Path, extra):
        files = extra_rule_files(folder)
        extra_roots.update(dict.fromkeys(files, folder))
        sources += read_rule_documents(folder, files)
    # detection rules before correlations: converting a correlation needs its rules converted first
    sources.sort(key=lambda source: any("correlation" in document for document in source[1]))
    collection = build_collection(root, sources)
    problems = [f"{rule.source}: {error}" for rule in collection.rules for error in rule.errors]
    problems += [f"{getattr(error, 'source', None) or root}: {error}" for error in collection.errors]
    problems += _identity_problems(collection)
    if problems:
        raise ConfigError("rule pack does not parse:\n  " + "\n  ".join(problems))
    field_map = _field_map(pipeline, root / PIPELINE_FILE)
    pack = Pack(root, config, atlas, pipeline, collection, field_map, sources, extra_roots=extra_roots)
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            pack.correlations.append(rule)
        elif isinstance(rule, SigmaRule):
            pack.detections.append(rule)
    return pack
