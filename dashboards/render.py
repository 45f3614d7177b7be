"""Saved objects for Kibana and for OpenSearch Dashboards, rendered from the one spec.

Each dashboard becomes one self-contained NDJSON file per flavor (its data views, saved searches,
visualizations and the dashboard, in that order), so it can also be imported by hand from the apps'
Saved Objects page. Ids are stable (`spec.object_id`) and the same in both flavors.

Version stamps: a Kibana object carries `coreMigrationVersion` 8.8.0 and the `typeMigrationVersion` of
the shape we write (index-pattern 8.0.0, search 8.0.0, visualization 8.5.0, dashboard 8.7.0), so Kibana
8.8 and later (9.x included) import it and run only the migrations that came after. OpenSearch
Dashboards objects carry `migrationVersion` with the last migration each type has there (7.10.0 for
visualizations, 7.9.3 for dashboards and searches, 7.6.0 for index patterns): a higher stamp would be
refused as "from a newer version", a lower one would re-run migrations meant for older shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboards.fields_check import data_view_fields
from dashboards.spec import DASHBOARDS_DIR, FLAVORS, GRID_COLUMNS, Dashboard, Flavor, Spec, object_id
from dashboards.vis_state import vis_state

KIBANA_CORE_VERSION = "8.8.0"
KIBANA_TYPE_VERSIONS = {
    "index-pattern": "8.0.0",
    "search": "8.0.0",
    "visualization": "8.5.0",
    "dashboard": "8.7.0",
}
OPENSEARCH_TYPE_VERSIONS = {
    "index-pattern": "7.6.0",
    "search": "7.9.3",
    "visualization": "7.10.0",
    "dashboard": "7.9.3",
}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _json(value: Any) -> str:
    """Compact JSON for the string-encoded attributes (visState, panelsJSON, ...)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _saved_object(flavor: Flavor, kind: str, object_key: str, attributes: dict, refs: list[dict]) -> dict:
    obj: dict[str, Any] = {"id": object_key, "type": kind, "attributes": attributes, "references": refs}
    if flavor == "kibana":
        obj.update(
            {
                "coreMigrationVersion": KIBANA_CORE_VERSION,
                "typeMigrationVersion": KIBANA_TYPE_VERSIONS[kind],
                "managed": False,
            }
        )
    else:
        obj["migrationVersion"] = {kind: OPENSEARCH_TYPE_VERSIONS[kind]}
    return obj


def _index_ref(spec_key: str) -> list[dict[str, str]]:
    return [{"id": object_id("dv", spec_key), "name": INDEX_REF, "type": "index-pattern"}]


def _search_source(query: str, extra: dict[str, Any] | None = None) -> dict[str, str]:
    source = {"query": {"query": query, "language": "lucene"}, "filter": [], **(extra or {})}
    return {"searchSourceJSON": _json(source)}


def data_view_object(spec: Spec, key: str, flavor: Flavor) -> dict:
    view = spec.data_views[key]
    formats = {name: fmt.model_dump() for name, fmt in sorted(view.field_formats.items())}
    attributes: dict[str, Any] = {"title": view.title, "timeFieldName": view.time_field}
    if flavor == "kibana":
        # Kibana 8+ reads a data view's fields from the engine every time; exports carry an empty list.
        attributes.update(
            {
                "name": view.name,
                "fields": "[]",
                "fieldFormatMap": _json(formats),
                "runtimeFieldMap": "{}",
                "sourceFilters": "[]",
                "fieldAttrs": "{}",
            }
        )
    else:
        # OpenSearch Dashboards uses the stored field list until someone refreshes it: ship the real one.
        attributes.update({"fields": _json(data_view_fields(view.kind)), "fieldFormatMap": _json(formats)})
    return _saved_object(flavor, "index-pattern", object_id("dv", key), attributes, [])


def visualization_object(spec: Spec, key: str, flavor: Flavor) -> dict:
    vis = spec.visualizations[key]
    attributes = {
        "title": vis.title,
        "description": vis.description,
        "visState": _json(vis_state(vis, flavor)),
        "uiStateJSON": "{}",
        "version": 1,
        "kibanaSavedObjectMeta": _search_source(vis.query, {"indexRefName": INDEX_REF}),
    }
    return _saved_object(
        flavor, "visualization", object_id("vis", key), attributes, _index_ref(vis.data_view)
    )


def search_object(spec: Spec, key: str, flavor: Flavor) -> dict:
    search = spec.searches[key]
    attributes: dict[str, Any] = {
        "title": search.title,
        "description": search.description,
        "columns": list(search.columns),
        "sort": [list(pair) for pair in search.sort],
        "kibanaSavedObjectMeta": _search_source(
            search.query, {"highlightAll": True, "version": True, "indexRefName": INDEX_REF}
        ),
    }
    if flavor == "kibana":
        attributes.update({"grid": {}, "hideChart": False, "isTextBasedQuery": False})
    else:
        attributes.update({"hits": 0, "version": 1})
    return _saved_object(flavor, "search", object_id("search", key), attributes, _index_ref(search.data_view))


def layout(dashboard: Dashboard) -> list[dict[str, int]]:
    """Grid positions: panels flow left to right and wrap at the grid's 48 columns."""
    positions, x, y, row_height = [], 0, 0, 0
    for panel in dashboard.panels:
        if x + panel.w > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        positions.append({"x": x, "y": y, "w": panel.w, "h": panel.h})
        x += panel.w
        row_height = max(row_height, panel.h)
    return positions


def dashboard_object(spec: Spec, key: str, flavor: Flavor) -> dict:
    dashboard = spec.dashboards[key]
    panels, refs = [], []
    for position, (panel, grid) in enumerate(zip(dashboard.panels, layout(dashboard), strict=True)):
        index = str(position + 1)
        kind = "visualization" if panel.show in spec.visualizations else "search"
        target = object_id("vis" if kind == "visualization" else "search", panel.show)
        ref_name = f"panel_{index}" if flavor == "kibana" else f"panel_{position}"
        entry: dict[str, Any] = {
            "version": KIBANA_CORE_VERSION if flavor == "kibana" else "7.10.0",
            "gridData": {**grid, "i": index},
            "panelIndex": index,
            "embeddableConfig": {"enhancements": {}} if flavor == "kibana" else {},
            "panelRefName": ref_name,
        }
        if flavor == "kibana":
            entry["type"] = kind
            refs.append({"id": target, "name": f"{index}:{ref_name}", "type": kind})
        else:
            refs.append({"id": target, "name": ref_name, "type": kind})
        panels.append(entry)
    options = {"useMargins": True, "hidePanelTitles": False}
    if flavor == "kibana":
        options.update({"syncColors": False, "syncCursor": True, "syncTooltips": False})
    attributes: dict[str, Any] = {
        "title": dashboard.title,
        "description": dashboard.description,
        "panelsJSON": _json(panels),
        "optionsJSON": _json(options),
        "timeRestore": True,
        "timeFrom": dashboard.time_from,
        "timeTo": dashboard.time_to,
        "refreshInterval": {
            "pause": dashboard.refresh_seconds == 0,
            "value": dashboard.refresh_seconds * 1000,
        },
        "version": 1,
        "kibanaSavedObjectMeta": _search_source(""),
    }
    if flavor == "opensearch":
        attributes["hits"] = 0
    return _saved_object(flavor, "dashboard", object_id("dashboard", key), attributes, refs)


def dashboard_bundle(spec: Spec, key: str, flavor: Flavor) -> list[dict]:
    """Everything one dashboard needs, dependencies first."""
    shown = [panel.show for panel in spec.dashboards[key].panels]
    searches = [k for k in dict.fromkeys(shown) if k in spec.searches]
    visualizations = [k for k in dict.fromkeys(shown) if k in spec.visualizations]
    views = dict.fromkeys(spec.panel_item(k).data_view for k in shown)
    return [
        *(data_view_object(spec, k, flavor) for k in views),
        *(search_object(spec, k, flavor) for k in searches),
        *(visualization_object(spec, k, flavor) for k in visualizations),
        dashboard_object(spec, key, flavor),
    ]


def to_ndjson(objects: list[dict]) -> str:
    return "".join(
        json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for o in objects
    )


def render_files(spec: Spec, out_dir: Path = DASHBOARDS_DIR) -> dict[Path, str]:
    """Every generated file and its content: `<out_dir>/<flavor>/<dashboard file>.ndjson`."""
    return {
        out_dir / flavor / f"{dashboard.file}.ndjson": to_ndjson(dashboard_bundle(spec, key, flavor))
        for flavor in FLAVORS
        for key, dashboard in spec.dashboards.items()
    }


def stale_files(spec: Spec, out_dir: Path = DASHBOARDS_DIR) -> list[Path]:
    """Generated files that are missing, differ from the spec's rendering, or are left over."""
    expected = render_files(spec, out_dir)
    stale = [path for path, text in expected.items() if not path.is_file() or path.read_text("utf-8") != text]
    for flavor in FLAVORS:
        stale += sorted(p for p in (out_dir / flavor).glob("*.ndjson") if p not in expected)
    return stale


def write_files(spec: Spec, out_dir: Path = DASHBOARDS_DIR) -> list[Path]:
    """Write the generated files (and remove NDJSON files no dashboard produces any more)."""
    expected = render_files(spec, out_dir)
    for flavor in FLAVORS:
        for leftover in (out_dir / flavor).glob("*.ndjson"):
            if leftover not in expected:
                leftover.unlink()
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(expected)
