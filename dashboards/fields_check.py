"""Fields as the dashboards apps see them, from the ECS field tables (the same ones the templates use).

`spec_field_problems` refuses a spec that names a field the index templates do not map, aggregates on
a field without doc values, or takes a sum or percentile of a non-numeric one: such a panel would show
an error (or nothing) in the app. `data_view_fields` is the field list an OpenSearch Dashboards index
pattern stores.
"""

from __future__ import annotations

import re
from typing import Any

from dashboards.spec import Spec, Visualization
from mlsiem.ecs.fields import DocumentKind, FieldSpec, fields_for

NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"})
TEXT = frozenset({"text", "match_only_text"})
APP_TYPE = {"date": "date", "boolean": "boolean", "ip": "ip"}
NUMERIC_METRICS = frozenset({"sum", "avg", "percentiles"})
# `field:` and `_exists_:field` in a Lucene query string (quoted phrases removed first).
QUERY_FIELD = re.compile(r"_exists_:([A-Za-z@_][\w.@]*)|([A-Za-z@_][\w.@]*)\s*:")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def leaf_fields(kind: DocumentKind) -> dict[str, FieldSpec]:
    """Every mapped leaf field of a kind, multi-fields included (`user.name.text`)."""
    leaves: dict[str, FieldSpec] = {}
    for name, spec in fields_for(kind).items():
        if spec.type == "object":
            continue
        leaves[name] = spec
        for sub_name, sub in spec.fields.items():
            leaves[f"{name}.{sub_name}"] = sub
    return leaves


def aggregatable(spec: FieldSpec) -> bool:
    return spec.type not in TEXT and spec.doc_values is not False


def query_fields(query: str) -> set[str]:
    """The field names a Lucene query string refers to."""
    found = set()
    for exists_field, field in QUERY_FIELD.findall(QUOTED.sub('""', query)):
        found.add(exists_field or field)
    return found - {"_exists_"}


def _vis_problems(key: str, vis: Visualization, fields: dict[str, FieldSpec]) -> list[str]:
    problems = []
    used: list[tuple[str, str]] = [(m.agg, m.field) for m in vis.metrics if m.field]
    used += [(b.agg, b.field) for b in vis.buckets if b.field]
    for agg, field in used:
        spec = fields.get(field)
        if spec is None:
            problems.append(f"{key}: {field} is not mapped")
        elif not aggregatable(spec):
            problems.append(f"{key}: {field} ({spec.type}) cannot be aggregated ({agg})")
        elif agg in NUMERIC_METRICS and spec.type not in NUMERIC:
            problems.append(f"{key}: {agg} needs a number, {field} is {spec.type}")
        elif agg in ("date_histogram",) and spec.type != "date":
            problems.append(f"{key}: date_histogram needs a date, {field} is {spec.type}")
        elif agg == "histogram" and spec.type not in NUMERIC:
            problems.append(f"{key}: histogram needs a number, {field} is {spec.type}")
    queries = [vis.query, *(f.query for b in vis.buckets for f in b.filters or [])]
    for field in sorted(set().union(*(query_fields(q) for q in queries))):
        if field not in fields:
            problems.append(f"{key}: the query names {field}, which is not mapped")
    return problems


def spec_field_problems(spec: Spec) -> list[str]:
    """Every field problem of the spec, as 'key: problem' lines (empty when all is well)."""
    problems: list[str] = []
    for key, vis in spec.visualizations.items():
        problems += _vis_problems(key, vis, leaf_fields(spec.data_views[vis.data_view].kind))
    for key, search in spec.searches.items():
        fields = leaf_fields(spec.data_views[search.data_view].kind)
        for field in [*search.columns, *(name for name, _ in search.sort), *query_fields(search.query)]:
            if field not in fields:
                problems.append(f"{key}: {field} is not mapped")
    for key, view in spec.data_views.items():
        fields = leaf_fields(view.kind)
        for field in [view.time_field, *view.field_formats]:
            if field not in fields:
                problems.append(f"data view {key}: {field} is not mapped")
    return problems


_META_FIELDS: list[dict[str, Any]] = [
    {"name": "_id", "type": "string", "esTypes": ["_id"], "searchable": True, "aggregatable": True},
    {"name": "_index", "type": "string", "esTypes": ["_index"], "searchable": True, "aggregatable": True},
    {"name": "_score", "type": "number", "searchable": False, "aggregatable": False},
    {
        "name": "_source",
        "type": "_source",
        "esTypes": ["_source"],
        "searchable": False,
        "aggregatable": False,
    },
]


def data_view_fields(kind: DocumentKind) -> list[dict[str, Any]]:
    """An index pattern's stored field list (OpenSearch Dashboards' `fields` attribute)."""
    result = [{"count": 0, "scripted": False, "readFromDocValues": False, **meta} for meta in _META_FIELDS]
    for name, spec in sorted(leaf_fields(kind).items()):
        app_type = "number" if spec.type in NUMERIC else APP_TYPE.get(spec.type, "string")
        entry: dict[str, Any] = {
            "count": 0,
            "name": name,
            "type": app_type,
            "esTypes": [spec.type],
            "scripted": False,
            "searchable": spec.index is not False,
            "aggregatable": aggregatable(spec),
            "readFromDocValues": aggregatable(spec),
        }
        parent = name.rsplit(".", 1)[0]
        if parent != name and parent in fields_for(kind) and name not in fields_for(kind):
            entry["subType"] = {"multi": {"parent": parent}}
        result.append(entry)
    return result
