"""Every field a saved object uses is in the index templates (`mapping_for`), aggregatable if aggregated.

Read from the committed NDJSON files of both flavors, not from the spec: this is what the apps get.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dashboards.spec import DASHBOARDS_DIR, FLAVORS
from mlsiem.ecs.fields import mapping_for

KIND_OF_PATTERN = {
    "logs-mlsiem.inference-*": "inference",
    "logs-mlsiem.pipeline-*": "pipeline",
    "metrics-mlsiem.drift-*": "drift",
    "mlsiem-alerts-*": "alert",
}
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
NOT_AGGREGATABLE = {"text", "match_only_text"}
NEEDS_NUMBER = {"sum", "avg", "percentiles", "histogram"}
FIELD_IN_QUERY = re.compile(r"_exists_:([\w.@]+)|([\w.@]+)\s*:")


def leaf(kind: str, dotted: str) -> dict[str, Any] | None:
    """The mapping of `dotted` in the kind's template (multi-fields such as `user.name.text` included)."""
    node: dict[str, Any] = {"properties": mapping_for(kind)["properties"]}  # type: ignore[arg-type]
    parts = dotted.split(".")
    for position, part in enumerate(parts):
        if part in node.get("properties", {}):
            node = node["properties"][part]
        elif part in node.get("fields", {}) and position == len(parts) - 1:
            return node["fields"][part]
        else:
            return None
    return node if "type" in node and node["type"] != "object" else None


def query_fields(query: str) -> set[str]:
    query = re.sub(r'"[^"]*"', '""', query)
    return {a or b for a, b in FIELD_IN_QUERY.findall(query)} - {"_exists_"}


def problems_of(path: Path) -> list[str]:
    objects = [json.loads(line) for line in path.read_text().splitlines()]
    patterns = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    problems: list[str] = []

    def need(kind: str, field: str, where: str, agg: str | None = None) -> None:
        mapped = leaf(kind, field)
        if mapped is None:
            problems.append(f"{where}: {field} is not in the {kind} template")
            return
        if agg is None:
            return
        if mapped["type"] in NOT_AGGREGATABLE or mapped.get("doc_values") is False:
            problems.append(f"{where}: {agg} on {field} ({mapped['type']}), which is not aggregatable")
        elif agg in NEEDS_NUMBER and mapped["type"] not in NUMERIC:
            problems.append(f"{where}: {agg} on {field} ({mapped['type']}), not a number")
        elif agg == "date_histogram" and mapped["type"] != "date":
            problems.append(f"{where}: date_histogram on {field} ({mapped['type']})")

    for pattern in patterns.values():
        kind = KIND_OF_PATTERN[pattern["title"]]
        need(kind, pattern["timeFieldName"], pattern["title"], "date_histogram")
        for field in json.loads(pattern["fieldFormatMap"]):
            need(kind, field, f"{pattern['title']} format")
    for obj in objects:
        if obj["type"] not in ("visualization", "search"):
            continue
        where = f"{path.parent.name}/{path.name} {obj['id']}"
        (ref,) = [r for r in obj["references"] if r["type"] == "index-pattern"]
        kind = KIND_OF_PATTERN[patterns[ref["id"]]["title"]]
        source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["query"]["language"] == "lucene"
        queries = [source["query"]["query"]]
        if obj["type"] == "search":
            for field in obj["attributes"]["columns"] + [name for name, _ in obj["attributes"]["sort"]]:
                need(kind, field, where)
        else:
            for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
                if "field" in agg["params"]:
                    need(kind, agg["params"]["field"], where, agg["type"])
                queries += [f["input"]["query"] for f in agg["params"].get("filters", [])]
        for field in set().union(*(query_fields(q) for q in queries)):
            need(kind, field, f"{where} query")
    return problems


@pytest.mark.parametrize(
    "path",
    sorted(p for flavor in FLAVORS for p in (DASHBOARDS_DIR / flavor).glob("*.ndjson")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_field_exists_and_is_aggregatable_where_aggregated(path: Path) -> None:
    assert problems_of(path) == []


def test_the_check_catches_unknown_and_unaggregatable_fields(tmp_path: Path) -> None:
    source = DASHBOARDS_DIR / "opensearch" / "mlsiem-llm-usage.ndjson"
    text = source.read_text()
    text = text.replace(
        '\\"field\\":\\"gen_ai.usage.input_tokens\\"', '\\"field\\":\\"mlsiem.llm.prompt\\"', 1
    )
    text = text.replace('\\"field\\":\\"source.ip\\"', '\\"field\\":\\"source.address\\"', 1)
    broken = tmp_path / "opensearch" / "broken.ndjson"
    broken.parent.mkdir()
    broken.write_text(text)
    problems = "\n".join(problems_of(broken))
    assert "sum on mlsiem.llm.prompt (text), which is not aggregatable" in problems
    assert "source.address is not in the inference template" in problems


def test_query_fields_are_read_from_lucene_strings() -> None:
    found = query_fields(
        'rule.category:security AND threat.technique.id:(AML.T0051* OR "a:b") OR _exists_:x.y'
    )
    assert found == {"rule.category", "threat.technique.id", "x.y"}
