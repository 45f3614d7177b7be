"""`mlsiem rules check`: pySigma's validators (as `sigma check -c sigma_rules/validation.yaml`) plus ours.

Ours: every rule has the metadata an analyst needs (id, title, description, author, date, level, false
positives, references); detection rules use the mlsiem log source; every rule carries at least one ATLAS
tag and every ATLAS tag is in the local table; ATT&CK tags are well formed; values of enumerated fields
are values the shipper writes; correlations refer to detection rules of one category; every rule has
valid example events and a playbook (`playbooks/<rule name>.md`); every rule converts for the executor
and for the exports; detection rules stay within what Security Analytics' parser reads (`sa_limits`).
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from datetime import UTC, datetime

from sigma.correlations import SigmaCorrelationRule
from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaString
from sigma.validation import SigmaValidator

from detections.sigma.atlas import technique_id_from_tag
from detections.sigma.convert import convert_pack
from detections.sigma.correlate import SUPPORTED
from detections.sigma.examples import (
    CorrelationExamples,
    DetectionExamples,
    load_examples,
    scenario_documents,
    to_document,
)
from detections.sigma.pack import CATEGORIES, PRODUCT, Pack
from detections.sigma.sa_limits import security_analytics_problems
from mlsiem.ecs.models import EventOutcome, EventType, GuardrailAction, ModelType
from mlsiem.errors import ConfigError

ATTACK_TAG = re.compile(r"^attack\.(t\d{4}(\.\d{3})?|[a-z]+(-[a-z]+)*)$")
ACTION = re.compile(r"^[a-z0-9_]+$")
# Sigma field -> the values the shipper writes (from the ECS models); rules must use them verbatim.
VOCABULARIES: dict[str, set[str]] = {
    "outcome": set(typing.get_args(EventOutcome)),
    "event_type": set(typing.get_args(EventType)),
    "guardrail_action": set(typing.get_args(GuardrailAction)),
    "model_type": set(typing.get_args(ModelType)),
}
EXAMPLE_TIME = datetime(2026, 1, 1, tzinfo=UTC)  # any time: example events are only validated here
REQUIRED = ("id", "title", "description", "author", "date", "level", "falsepositives", "references")


@dataclass(frozen=True)
class Issue:
    rule: str
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: [{self.check}] {self.message}"


def sigma_validators(pack: Pack) -> list[Issue]:
    """The same validators `sigma check -c sigma_rules/validation.yaml sigma_rules/` runs."""
    validators = InstalledSigmaPlugins.autodiscover().validators
    validator = SigmaValidator.from_yaml(
        (pack.root / "validation.yaml").read_text(encoding="utf-8"), validators
    )
    issues = validator.validate_rules(iter(pack.rules))
    return [
        Issue(", ".join(r.name or str(r.id) for r in issue.rules), type(issue).__name__, issue.description)
        for issue in issues
    ]


def _items(detection: SigmaDetection | SigmaDetectionItem) -> typing.Iterator[SigmaDetectionItem]:
    if isinstance(detection, SigmaDetectionItem):
        yield detection
        return
    for item in detection.detection_items:
        yield from _items(item)


def _metadata(rule: SigmaRule | SigmaCorrelationRule, name: str) -> list[Issue]:
    issues = [Issue(name, "metadata", f"missing {attr}") for attr in REQUIRED if not getattr(rule, attr)]
    tags = [str(t) for t in rule.tags]
    atlas_tags = [t for t in tags if technique_id_from_tag(t)]
    if not atlas_tags:
        issues.append(Issue(name, "atlas", "no ATLAS technique tag (atlas.aml.tXXXX)"))
    for tag in tags:
        if tag != tag.lower():
            issues.append(Issue(name, "tags", f"tag {tag!r} must be lower case"))
        if tag.startswith("attack.") and not ATTACK_TAG.match(tag):
            issues.append(Issue(name, "tags", f"ATT&CK tag {tag!r} is not attack.tNNNN[.NNN] or a tactic"))
        elif not tag.startswith(("attack.", "atlas.")):
            issues.append(Issue(name, "tags", f"tag {tag!r} is neither atlas.* nor attack.*"))
    return issues


def _detection(pack: Pack, rule: SigmaRule, name: str) -> list[Issue]:
    issues = []
    source = rule.logsource
    if source.product != PRODUCT or source.category not in CATEGORIES:
        issues.append(
            Issue(name, "logsource", f"logsource must be product {PRODUCT}, category one of {CATEGORIES}")
        )
    if source.service:
        issues.append(Issue(name, "logsource", "logsource must not name a service"))
    for detection in rule.detection.detections.values():
        for item in _items(detection):
            if item.field is None:
                issues.append(Issue(name, "fields", "keyword (field-less) matching is not supported"))
                continue
            base = item.field.split("|")[0]
            if base not in pack.field_map:
                issues.append(Issue(name, "fields", f"field {base!r} is not in the pack's field mapping"))
            for value in item.value:
                if not isinstance(value, SigmaString):
                    continue
                text = str(value)
                if base in VOCABULARIES and text not in VOCABULARIES[base]:
                    allowed = sorted(VOCABULARIES[base])
                    issues.append(
                        Issue(name, "values", f"{base} value {text!r} is never written; use one of {allowed}")
                    )
                if base == "action" and not ACTION.match(text):
                    issues.append(Issue(name, "values", f"action {text!r} must be lower-case snake_case"))
    return issues


def _correlation(pack: Pack, rule: SigmaCorrelationRule, name: str) -> list[Issue]:
    issues = []
    kind = rule.type.name.lower()
    if kind not in SUPPORTED:
        issues.append(Issue(name, "correlation", f"type {kind} is not evaluated by the executor"))
    refs = [r.rule for r in rule.rules or []]
    if not all(isinstance(r, SigmaRule) for r in refs):
        issues.append(Issue(name, "correlation", "correlations of correlations are not supported"))
    elif len({pack.category(r) for r in refs}) > 1:  # type: ignore[arg-type]
        issues.append(Issue(name, "correlation", "all referenced rules must share one category"))
    for group in rule.group_by or []:
        if group not in pack.field_map:
            issues.append(
                Issue(name, "fields", f"group-by field {group!r} is not in the pack's field mapping")
            )
    return issues


def _examples(pack: Pack, rule: SigmaRule | SigmaCorrelationRule, name: str) -> list[Issue]:
    correlation = isinstance(rule, SigmaCorrelationRule)
    try:
        examples = load_examples(pack.examples_path(rule), correlation)
        if examples.rule != str(rule.id):
            return [Issue(name, "examples", f"{pack.examples_path(rule).name} is for rule {examples.rule}")]
        if isinstance(examples, DetectionExamples):
            category = pack.category(rule)  # type: ignore[arg-type]
            for event in [*examples.positives, *examples.negatives]:
                to_document(category, {**examples.defaults, **event}, EXAMPLE_TIME, "check")
            return []
        assert isinstance(examples, CorrelationExamples) and isinstance(rule, SigmaCorrelationRule)
        issues = []
        if not any(s.fires for s in examples.scenarios) or all(s.fires for s in examples.scenarios):
            issues.append(Issue(name, "examples", "needs a scenario that fires and one that does not"))
        group_fields = {pack.ecs_field(g) for g in rule.group_by or []}
        category = pack.category(rule.rules[0].rule)  # type: ignore[arg-type,index]
        for scenario in examples.scenarios:
            scenario_documents(category, examples.defaults, scenario, EXAMPLE_TIME, "check")
            for group in scenario.fires:
                if set(group) != group_fields:
                    issues.append(
                        Issue(
                            name,
                            "examples",
                            f"scenario {scenario.name!r}: fires must name {sorted(group_fields)}",
                        )
                    )
        return issues
    except ConfigError as exc:
        return [Issue(name, "examples", str(exc))]


def _conversions(pack: Pack) -> list[Issue]:
    issues = []
    names = {str(r.id): r.name or str(r.id) for r in pack.rules}
    for target in ("opensearch_lucene", "lucene", "esql"):
        try:
            conversion = convert_pack(pack, target)
        except ConfigError:
            # A correlation over a rule that does not convert stops the whole conversion: convert the
            # detection rules alone to name the broken ones, and the correlations that refer to them.
            conversion = convert_pack(pack, target, rule_ids={str(r.id) for r in pack.detections})
            for corr in pack.correlations:
                bad = [r.rule.name for r in corr.rules or [] if str(r.rule.id) in conversion.errors]
                if bad:
                    message = f"{target}: refers to {', '.join(map(str, bad))}, which does not convert"
                    issues.append(Issue(corr.name or str(corr.id), "convert", message))
        for rid, error in conversion.errors.items():
            if target != "esql" and isinstance(pack.rule(rid), SigmaCorrelationRule):
                continue  # the Lucene backends cannot express correlations; the executor evaluates them
            issues.append(Issue(names[rid], "convert", f"{target}: {error}"))
    return issues


def _security_analytics(pack: Pack) -> list[Issue]:
    """Detection rules are exported to Security Analytics as they are: hold them to its parser."""
    issues = []
    for path, documents in pack.sources:
        for document in documents:
            if "detection" in document and "correlation" not in document:
                name = str(document.get("name") or path.stem)
                issues += [
                    Issue(name, "security-analytics", p) for p in security_analytics_problems(document)
                ]
    return issues


def check_pack(pack: Pack) -> list[Issue]:
    """Every issue of the pack; an empty list means it is ready to ship."""
    issues = sigma_validators(pack)
    for rule in pack.rules:  # (ids are unique: load_pack refuses a pack where they are not)
        name = rule.name or str(rule.id)
        if not rule.name:
            issues.append(Issue(name, "metadata", "missing name (correlations refer to rules by name)"))
        if rule.name and pack.file_stem(rule) != rule.name:
            issues.append(
                Issue(name, "metadata", f"file is {pack.file_stem(rule)}.yml, expected {rule.name}.yml")
            )
        issues += _metadata(rule, name)
        for tag in rule.tags:
            tid = technique_id_from_tag(str(tag))
            if tid and not pack.atlas.knows(tid):
                issues.append(Issue(name, "atlas", f"{tag} ({tid}) is not in {pack.root / 'atlas.yaml'}"))
            if str(tag).startswith("attack.") and not pack.atlas.knows_attack_tag(str(tag)):
                issues.append(
                    Issue(name, "tags", f"{tag} is not in the ATT&CK part of {pack.root / 'atlas.yaml'}")
                )
        if isinstance(rule, SigmaCorrelationRule):
            issues += _correlation(pack, rule, name)
        else:
            issues += _detection(pack, rule, name)
        # An analyst's own rules (`--rules DIR`) may come without examples or a playbook.
        own = pack.extra_root(rule) is not None
        if not own or pack.examples_path(rule).exists():
            issues += _examples(pack, rule, name)
        if pack.playbook(rule) is None and not own:
            where = pack.playbook_path(rule)
            issues.append(Issue(name, "playbook", f"no investigation guide: write {where}"))
    return issues + _security_analytics(pack) + _conversions(pack)


def extra_rule_problems(pack: Pack) -> list[str]:
    """The issues of a pack with an analyst's rule folders, each naming the rule's file; the detector job
    refuses to start on any."""
    files = {r.name or str(r.id): r.source.path for r in pack.rules if r.source is not None}
    try:
        issues = check_pack(pack)
    except ConfigError as exc:  # a rule the checks cannot even look at (e.g. an unknown category)
        return [str(exc)]
    return [f"{files.get(i.rule, i.rule)}: [{i.check}] {i.message}" for i in issues]
