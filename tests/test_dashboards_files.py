"""The committed saved-object files: parseable, self-contained, stable, and exactly what the spec renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboards.fields_check import spec_field_problems
from dashboards.render import stale_files, write_files
from dashboards.spec import DASHBOARDS_DIR, FLAVORS, SPEC_PATH, load_spec
from mlsiem.errors import ConfigError

JSON_ATTRIBUTES = ("visState", "uiStateJSON", "panelsJSON", "optionsJSON", "fields", "fieldFormatMap")
EXPECTED_FILES = {
    "mlsiem-alerts-triage",
    "mlsiem-drift",
    "mlsiem-inference-operations",
    "mlsiem-llm-usage",
}


def load(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.strip() for line in lines), f"{path}: empty file or blank line"
    objects = []
    for number, line in enumerate(lines, 1):
        obj = json.loads(line)  # every line parses on its own
        assert isinstance(obj, dict), f"{path}:{number}"
        objects.append(obj)
    return objects


def all_files() -> list[Path]:
    return sorted(p for flavor in FLAVORS for p in (DASHBOARDS_DIR / flavor).glob("*.ndjson"))


def test_every_flavor_has_the_four_dashboards() -> None:
    for flavor in FLAVORS:
        assert {p.stem for p in (DASHBOARDS_DIR / flavor).glob("*.ndjson")} == EXPECTED_FILES


@pytest.mark.parametrize("path", all_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_objects_parse_and_every_reference_resolves_in_the_file(path: Path) -> None:
    objects = load(path)
    present = {(o["type"], o["id"]) for o in objects}
    assert len(present) == len(objects), "duplicate (type, id) in one file"
    for obj in objects:
        assert obj["id"].startswith("mlsiem-") and obj["attributes"]["title"]
        for name in JSON_ATTRIBUTES:
            if name in obj["attributes"]:
                json.loads(obj["attributes"][name])
        source = obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        search_source = json.loads(source) if source else {}
        ref_names = {r["name"] for r in obj["references"]}
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} -> {ref} is not in {path.name}"
        if "indexRefName" in search_source:
            assert search_source["indexRefName"] in ref_names
        if obj["type"] == "dashboard":
            panels = json.loads(obj["attributes"]["panelsJSON"])
            assert panels
            for panel in panels:
                kibana_style = "type" in panel  # Kibana 8 prefixes a panel's reference with its panelIndex
                ref = panel["panelRefName"]
                wanted = f"{panel['panelIndex']}:{ref}" if kibana_style else ref
                assert wanted in ref_names, f"panel {panel['panelIndex']} has no reference"
                grid = panel["gridData"]
                assert grid["x"] + grid["w"] <= 48
    dashboards = [o for o in objects if o["type"] == "dashboard"]
    assert len(dashboards) == 1
    assert objects[-1]["type"] == "dashboard", "dependencies first, the dashboard last"


def test_flavors_hold_the_same_objects_with_the_same_ids() -> None:
    for name in EXPECTED_FILES:
        kibana = [(o["type"], o["id"]) for o in load(DASHBOARDS_DIR / "kibana" / f"{name}.ndjson")]
        opensearch = [(o["type"], o["id"]) for o in load(DASHBOARDS_DIR / "opensearch" / f"{name}.ndjson")]
        assert kibana == opensearch


def test_version_stamps_fit_each_app() -> None:
    for obj in (o for p in (DASHBOARDS_DIR / "kibana").glob("*.ndjson") for o in load(p)):
        assert obj["coreMigrationVersion"] == "8.8.0"
        assert obj["typeMigrationVersion"] and "migrationVersion" not in obj
    limits = {"visualization": "7.10.0", "dashboard": "7.9.3", "search": "7.9.3", "index-pattern": "7.6.0"}
    for obj in (o for p in (DASHBOARDS_DIR / "opensearch").glob("*.ndjson") for o in load(p)):
        assert obj["migrationVersion"] == {obj["type"]: limits[obj["type"]]}
        assert "coreMigrationVersion" not in obj
        assert obj["type"] != "lens"
        if obj["type"] == "visualization":
            assert json.loads(obj["attributes"]["visState"])["type"] in {
                "line", "area", "histogram", "horizontal_bar", "metric", "table", "heatmap", "pie",
            }  # fmt: skip


def test_opensearch_index_patterns_carry_their_field_list() -> None:
    objects = load(DASHBOARDS_DIR / "opensearch" / "mlsiem-inference-operations.ndjson")
    pattern = next(o for o in objects if o["type"] == "index-pattern")
    fields = {f["name"]: f for f in json.loads(pattern["attributes"]["fields"])}
    assert fields["event.duration"]["type"] == "number" and fields["event.duration"]["aggregatable"]
    assert fields["mlsiem.llm.prompt"]["aggregatable"] is False  # text: searchable only
    assert fields["user.name.text"]["subType"] == {"multi": {"parent": "user.name"}}
    formats = json.loads(pattern["attributes"]["fieldFormatMap"])
    assert formats["event.duration"]["params"]["inputFormat"] == "nanoseconds"


def test_committed_files_are_what_the_spec_renders() -> None:
    """Fails when someone edits a generated file or the spec (or a field table) without regenerating."""
    stale = stale_files(load_spec())
    assert not stale, f"out of date: {stale}; run python dashboards/generate.py"


def test_ids_are_stable_across_renderings(tmp_path: Path) -> None:
    spec = load_spec()
    first = {p.name: p.read_text() for p in write_files(spec, tmp_path / "a")}
    second = {p.name: p.read_text() for p in write_files(spec, tmp_path / "b")}
    assert first == second
    ids = {o["id"] for p in (tmp_path / "a" / "kibana").glob("*.ndjson") for o in load(p)}
    assert (
        "mlsiem-dashboard-triage" in ids and "mlsiem-dv-alerts" in ids and "mlsiem-search-alerts-table" in ids
    )


def test_generator_script_check_mode_passes_on_the_committed_files() -> None:
    out = subprocess.run(
        [sys.executable, str(DASHBOARDS_DIR / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_write_files_removes_files_no_dashboard_produces(tmp_path: Path) -> None:
    spec = load_spec()
    (tmp_path / "kibana").mkdir()
    leftover = tmp_path / "kibana" / "old-dashboard.ndjson"
    leftover.write_text("{}\n")
    assert leftover in stale_files(spec, tmp_path)
    write_files(spec, tmp_path)
    assert not leftover.exists() and not stale_files(spec, tmp_path)


def test_a_bad_spec_is_refused_naming_the_file_and_the_place(tmp_path: Path) -> None:
    text = SPEC_PATH.read_text().replace("data_view: drift\n", "data_view: nowhere\n", 1)
    bad = tmp_path / "spec.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"spec\.yaml: .*unknown data view 'nowhere'"):
        load_spec(bad)
    bad.write_text(SPEC_PATH.read_text().replace("type: heatmap", "type: sankey", 1))
    with pytest.raises(ConfigError, match=r"visualizations\.drift_heatmap\.type"):
        load_spec(bad)
    bad.write_text("visualizations: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(bad)


def test_the_generator_refuses_fields_the_templates_do_not_map() -> None:
    spec = load_spec()
    assert spec_field_problems(spec) == []
    raw = spec.model_dump()
    raw["visualizations"]["ops_latency"]["metrics"][0]["field"] = "event.latency"
    raw["visualizations"]["ops_models"]["buckets"][0]["field"] = "mlsiem.llm.prompt"
    raw["visualizations"]["llm_attack_hits"]["query"] = "threat.technique.idd:AML.T0051"
    raw["searches"]["alerts_table"]["columns"].append("mlsiem.alert.owner")
    problems = spec_field_problems(type(spec).model_validate(raw))
    assert problems == [
        "ops_latency: event.latency is not mapped",
        "ops_models: mlsiem.llm.prompt (text) cannot be aggregated (terms)",
        "llm_attack_hits: the query names threat.technique.idd, which is not mapped",
        "alerts_table: mlsiem.alert.owner is not mapped",
    ]
