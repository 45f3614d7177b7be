"""The local MITRE ATLAS table (`sigma_rules/atlas.yaml`): technique and tactic names for rule tags.

The pack ships its own copy so that nothing is downloaded at run time. A rule tag `atlas.aml.t0051.000`
names technique `AML.T0051.000`; a sub-technique inherits the tactics of its parent technique.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlsiem.errors import ConfigError
from mlsiem.yamlfile import read_yaml

TECHNIQUE_ID = re.compile(r"^AML\.T\d{4}(\.\d{3})?$")
TACTIC_ID = re.compile(r"^AML\.TA\d{4}$")
ATLAS_TAG_PREFIX = "atlas."
TECHNIQUE_URL = "https://atlas.mitre.org/techniques/{}/"  # trailing slash, as Elastic's rule schemas want
TACTIC_URL = "https://atlas.mitre.org/tactics/{}/"
ATTACK_TECHNIQUE_URL = "https://attack.mitre.org/techniques/{}/"
ATTACK_TACTIC_URL = "https://attack.mitre.org/tactics/{}/"
ATTACK_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(\.\d{3})?)$")


class TechniqueSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    tactics: list[str] = Field(default_factory=list)  # empty for sub-techniques: the parent's apply


class AttackTactic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tag: str  # the Sigma tag form, e.g. `defense-evasion`


class AttackTable(BaseModel):
    """The few ATT&CK techniques the pack's `attack.*` tags name (for threat mappings in exports)."""

    model_config = ConfigDict(extra="forbid")

    tactics: dict[str, AttackTactic]
    techniques: dict[str, TechniqueSpec]

    @model_validator(mode="after")
    def _consistent(self) -> AttackTable:
        for tid, spec in self.techniques.items():
            if not re.match(r"^T\d{4}(\.\d{3})?$", tid):
                raise ValueError(f"ATT&CK technique id {tid!r} is not of the form T0000 or T0000.000")
            if "." in tid and (tid.split(".")[0] not in self.techniques or spec.tactics):
                raise ValueError(f"ATT&CK sub-technique {tid} needs its parent and takes its tactics")
            if "." not in tid and not spec.tactics:
                raise ValueError(f"ATT&CK technique {tid} lists no tactic")
            unknown = [t for t in spec.tactics if t not in self.tactics]
            if unknown:
                raise ValueError(f"ATT&CK technique {tid} refers to unknown tactics {unknown}")
        return self


class AtlasTable(BaseModel):
    """Validated content of `atlas.yaml`."""

    model_config = ConfigDict(extra="forbid")

    release: str
    url: str
    tactics: dict[str, str]
    techniques: dict[str, TechniqueSpec]
    attack: AttackTable | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AtlasTable:
        for tactic in self.tactics:
            if not TACTIC_ID.match(tactic):
                raise ValueError(f"tactic id {tactic!r} is not of the form AML.TA0000")
        for tid, spec in self.techniques.items():
            if not TECHNIQUE_ID.match(tid):
                raise ValueError(f"technique id {tid!r} is not of the form AML.T0000 or AML.T0000.000")
            parent = tid.split(".", 2)[:2]
            if tid.count(".") == 2:
                parent_id = ".".join(parent)
                if parent_id not in self.techniques:
                    raise ValueError(f"sub-technique {tid} needs its parent {parent_id} in the table")
                if spec.tactics:
                    raise ValueError(f"sub-technique {tid} takes its parent's tactics; list none")
            elif not spec.tactics:
                raise ValueError(f"technique {tid} lists no tactic")
            unknown = [t for t in spec.tactics if t not in self.tactics]
            if unknown:
                raise ValueError(f"technique {tid} refers to unknown tactics {unknown}")
        return self


@dataclass(frozen=True)
class AtlasRef:
    """One technique or tactic as an alert carries it."""

    id: str
    name: str
    reference: str


def technique_id_from_tag(tag: str) -> str | None:
    """`atlas.aml.t0051.000` -> `AML.T0051.000`; None for tags of other namespaces."""
    if not tag.lower().startswith(ATLAS_TAG_PREFIX):
        return None
    return tag[len(ATLAS_TAG_PREFIX) :].upper()


class Atlas:
    """Look-ups over a validated table."""

    def __init__(self, table: AtlasTable) -> None:
        self.table = table

    @classmethod
    def load(cls, path: Path) -> Atlas:
        data = read_yaml(path, "ATLAS table")
        try:
            return cls(AtlasTable.model_validate(data))
        except ValidationError as exc:
            raise ConfigError(f"ATLAS table {path}: {exc}") from None

    @property
    def release(self) -> str:
        return self.table.release

    def knows(self, technique_id: str) -> bool:
        return technique_id in self.table.techniques

    def technique(self, technique_id: str) -> AtlasRef:
        """A sub-technique's name is given as `Parent: Sub`, the way ATLAS displays it."""
        spec = self.table.techniques[technique_id]
        name = spec.name
        if technique_id.count(".") == 2:
            parent = self.table.techniques[technique_id.rsplit(".", 1)[0]]
            name = f"{parent.name}: {spec.name}"
        return AtlasRef(technique_id, name, TECHNIQUE_URL.format(technique_id))

    def tactics_of(self, technique_id: str) -> list[AtlasRef]:
        base = technique_id.rsplit(".", 1)[0] if technique_id.count(".") == 2 else technique_id
        return [
            AtlasRef(t, self.table.tactics[t], TACTIC_URL.format(t))
            for t in self.table.techniques[base].tactics
        ]

    def for_tags(self, tags: list[str]) -> tuple[list[AtlasRef], list[AtlasRef]]:
        """(techniques, tactics) of a rule's ATLAS tags, in tag order, without duplicates."""
        techniques: list[AtlasRef] = []
        tactics: dict[str, AtlasRef] = {}
        for tag in tags:
            tid = technique_id_from_tag(tag)
            if tid is None or not self.knows(tid):
                continue
            techniques.append(self.technique(tid))
            for tactic in self.tactics_of(tid):
                tactics.setdefault(tactic.id, tactic)
        return techniques, list(tactics.values())

    # -- ATT&CK (only what the pack's tags name) ------------------------------------------------------

    def attack_technique_of_tag(self, tag: str) -> str | None:
        """`attack.t1562.008` -> `T1562.008` when the table knows it; None otherwise."""
        match = ATTACK_TECHNIQUE_TAG.match(tag.lower())
        attack = self.table.attack
        if not match or attack is None:
            return None
        tid = match.group(1).upper()
        return tid if tid in attack.techniques else None

    def knows_attack_tag(self, tag: str) -> bool:
        attack = self.table.attack
        if attack is None:
            return False
        name = tag.lower().removeprefix("attack.")
        return self.attack_technique_of_tag(tag) is not None or any(
            t.tag == name for t in attack.tactics.values()
        )

    def threat(self, tags: list[str]) -> list[dict[str, Any]]:
        """Elastic's `threat` array for a rule: one entry per framework and tactic, each with its
        techniques and their sub-techniques (as the detection engine and the ECS `threat.*` fields want)."""
        entries: dict[tuple[str, str], dict[str, Any]] = {}
        for tag in tags:
            found = self._resolve(tag)
            if found is None:
                continue
            framework, parent, sub, tactics = found
            for tactic in tactics:
                entry = entries.setdefault(
                    (framework, tactic.id),
                    {"framework": framework, "tactic": vars_of(tactic), "technique": []},
                )
                technique = next((t for t in entry["technique"] if t["id"] == parent.id), None)
                if technique is None:
                    technique = {**vars_of(parent), "subtechnique": []}
                    entry["technique"].append(technique)
                if sub is not None and all(s["id"] != sub.id for s in technique["subtechnique"]):
                    technique["subtechnique"].append(vars_of(sub))
        return list(entries.values())

    def _resolve(self, tag: str) -> tuple[str, AtlasRef, AtlasRef | None, list[AtlasRef]] | None:
        """(framework, technique, sub-technique or None, tactics) of one tag."""
        tid = technique_id_from_tag(tag)
        if tid is not None and self.knows(tid):
            parent_id = tid.rsplit(".", 1)[0] if tid.count(".") == 2 else tid
            parent = AtlasRef(
                parent_id, self.table.techniques[parent_id].name, TECHNIQUE_URL.format(parent_id)
            )
            sub = None
            if parent_id != tid:
                sub = AtlasRef(tid, self.table.techniques[tid].name, TECHNIQUE_URL.format(tid))
            return "MITRE ATLAS", parent, sub, self.tactics_of(tid)
        aid = self.attack_technique_of_tag(tag)
        attack = self.table.attack
        if aid is None or attack is None:
            return None
        parent_id = aid.split(".")[0]
        spec = attack.techniques[parent_id]
        parent = AtlasRef(parent_id, spec.name, ATTACK_TECHNIQUE_URL.format(parent_id))
        sub = None
        if parent_id != aid:
            sub = AtlasRef(
                aid, attack.techniques[aid].name, ATTACK_TECHNIQUE_URL.format(aid.replace(".", "/"))
            )
        tactics = [AtlasRef(t, attack.tactics[t].name, ATTACK_TACTIC_URL.format(t)) for t in spec.tactics]
        return "MITRE ATT&CK", parent, sub, tactics


def vars_of(ref: AtlasRef) -> dict[str, str]:
    return {"id": ref.id, "name": ref.name, "reference": ref.reference}
