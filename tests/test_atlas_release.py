"""The pack's ATLAS table agrees with MITRE's ATLAS data release carried in `sigma_rules/mitre/`.

Everything compared here is in the repository: the extract of the release (ids, names, tactic links)
and the pack's table generated from it.
"""

from __future__ import annotations

import pytest

from detections.sigma.atlas import technique_id_from_tag
from detections.sigma.atlas_release import (
    extract,
    load_vendored,
    pack_table,
    render_pack_table,
    used_techniques,
)
from detections.sigma.pack import PACK_ROOT, load_pack
from mlsiem.errors import ConfigError
from mlsiem.yamlfile import read_yaml

TABLE = read_yaml(PACK_ROOT / "atlas.yaml", "ATLAS table")
RELEASE = load_vendored(TABLE["release"])


def test_the_table_names_a_real_release_whose_extract_is_in_the_repository() -> None:
    assert TABLE["release"] == RELEASE["version"] == "5.6.0"
    notice = " ".join((PACK_ROOT / "mitre" / "NOTICE.md").read_text().split())
    assert "The MITRE Corporation, licensed under the Apache License, Version 2.0" in notice


def test_every_tactic_matches_the_release() -> None:
    assert TABLE["tactics"] == RELEASE["tactics"]
    assert TABLE["tactics"]["AML.TA0001"] == "AI Attack Staging"


def test_every_technique_name_and_tactic_link_matches_the_release() -> None:
    wrong = []
    for tid, spec in TABLE["techniques"].items():
        truth = RELEASE["techniques"].get(tid)
        if truth is None:
            wrong.append(f"{tid} is not in ATLAS {RELEASE['version']}")
            continue
        if spec["name"] != truth["name"]:
            wrong.append(f"{tid}: {spec['name']!r} but ATLAS says {truth['name']!r}")
        if sorted(spec.get("tactics", [])) != sorted(truth.get("tactics", [])):
            wrong.append(f"{tid}: tactics {spec.get('tactics')} but ATLAS says {truth.get('tactics')}")
    assert wrong == []
    assert TABLE["techniques"]["AML.T0020"] == {
        "name": "Poison Training Data",
        "tactics": ["AML.TA0003", "AML.TA0006"],
    }
    assert TABLE["techniques"]["AML.T0053"]["tactics"] == ["AML.TA0005", "AML.TA0012"]


def test_every_rule_tag_is_a_technique_of_the_release_and_of_the_table() -> None:
    pack = load_pack()
    tags = {str(tag) for rule in pack.rules for tag in rule.tags}
    ids = {tid for tag in tags if (tid := technique_id_from_tag(tag))}
    assert ids and ids <= set(RELEASE["techniques"]) and ids <= set(TABLE["techniques"])


def test_the_table_is_what_the_generator_makes_of_the_extract() -> None:
    generated = pack_table(RELEASE, used_techniques(), TABLE.get("attack"))
    assert generated == TABLE
    assert render_pack_table(generated) == (PACK_ROOT / "atlas.yaml").read_text(encoding="utf-8")


def test_the_generator_reads_a_release_file_and_refuses_unknown_techniques() -> None:
    release = {
        "version": "9.9.9",
        "matrices": [
            {
                "tactics": [{"id": "AML.TA0005", "name": "Execution"}],
                "techniques": [
                    {"id": "AML.T0051", "name": "LLM Prompt Injection", "tactics": ["AML.TA0005"]},
                    {"id": "AML.T0051.000", "name": "Direct", "subtechnique-of": "AML.T0051"},
                ],
            }
        ],
    }
    data = extract(release)
    assert data["techniques"]["AML.T0051.000"] == {"name": "Direct", "subtechnique_of": "AML.T0051"}
    table = pack_table(data, {"AML.T0051", "AML.T0051.000"}, None)
    assert table["techniques"] == {
        "AML.T0051": {"name": "LLM Prompt Injection", "tactics": ["AML.TA0005"]},
        "AML.T0051.000": {"name": "Direct"},
    }
    with pytest.raises(ConfigError, match=r"AML\.T0099"):
        pack_table(data, {"AML.T0099"}, None)
    with pytest.raises(ConfigError, match="malformed"):
        extract({"version": "1"})
