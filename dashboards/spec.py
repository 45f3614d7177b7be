"""The dashboards spec: one description of every data view, visualization, saved search and dashboard.

`dashboards/spec.yaml` is validated into these models; the Kibana and the OpenSearch Dashboards saved
objects are both rendered from it (`render.py`), and the same models translate each visualization into
the search request the dashboards app would send (`search_request.py`). So the two flavors and the tests
cannot drift apart.

Queries are Lucene query strings: both apps send them as a `query_string` query, so they run unchanged
on either engine (KQL is translated in the browser and has no server-side form to test against).
Buckets nest in the order they are listed, the way both apps build their requests; metrics sit in the
innermost bucket.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlsiem.ecs.fields import DocumentKind
from mlsiem.errors import ConfigError
from mlsiem.paths import package_folder

DASHBOARDS_DIR = package_folder("dashboards")  # the spec and the NDJSON files: package data beside the code
SPEC_PATH = DASHBOARDS_DIR / "spec.yaml"
GRID_COLUMNS = 48  # the width of both apps' dashboard grid

Flavor = Literal["kibana", "opensearch"]
FLAVORS: tuple[Flavor, ...] = ("kibana", "opensearch")
MetricAgg = Literal["count", "sum", "avg", "min", "max", "cardinality", "percentiles"]
BucketAgg = Literal["date_histogram", "terms", "filters", "histogram"]
# Where a bucket goes: x axis, split series, heat map rows, table rows, pie slices, metric groups.
BucketRole = Literal["x", "series", "y", "rows", "slices", "group"]
VisType = Literal["line", "area", "bar", "horizontal_bar", "metric", "table", "heatmap", "pie"]

_KEY = re.compile(r"^[a-z][a-z0-9_]{1,62}$")

# Which bucket roles each visualization type takes (and how many: None = any number).
ROLES: dict[str, dict[str, int | None]] = {
    "line": {"x": 1, "series": 1},
    "area": {"x": 1, "series": 1},
    "bar": {"x": 1, "series": 1},
    "horizontal_bar": {"x": 1, "series": 1},
    "heatmap": {"x": 1, "y": 1},
    "table": {"rows": None},
    "pie": {"slices": None},
    "metric": {"group": 1},
}
XY_TYPES = ("line", "area", "bar", "horizontal_bar")


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldFormat(SpecModel):
    """A field formatter of the data view (both apps share the `id` + `params` form)."""

    id: str
    params: dict[str, object] = Field(default_factory=dict)


class DataView(SpecModel):
    """An index pattern over one kind of mlsiem document (all namespaces)."""

    title: str  # the index pattern, e.g. logs-mlsiem.inference-*
    name: str  # what the analyst sees
    kind: DocumentKind
    time_field: str = "@timestamp"
    field_formats: dict[str, FieldFormat] = Field(default_factory=dict)

    @field_validator("title")
    @classmethod
    def _pattern(cls, title: str) -> str:
        if not title.endswith("*"):
            raise ValueError(f"{title!r} must end in '*' so it covers every namespace")
        return title


class Metric(SpecModel):
    agg: MetricAgg
    field: str | None = None
    percents: list[float] | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Metric:
        if self.agg == "count" and self.field:
            raise ValueError("a count metric takes no field")
        if self.agg != "count" and not self.field:
            raise ValueError(f"a {self.agg} metric needs a field")
        if (self.agg == "percentiles") != bool(self.percents):
            raise ValueError("percents go with (and only with) a percentiles metric")
        return self

    @property
    def single_value(self) -> bool:
        return self.agg != "percentiles"


class FilterItem(SpecModel):
    label: str
    query: str


class Bucket(SpecModel):
    role: BucketRole
    agg: BucketAgg
    field: str | None = None
    size: int = Field(5, ge=1, le=500)  # terms
    order_by: int | Literal["count", "key"] = "count"  # terms: "count", "key" or a metric's 1-based position
    order: Literal["desc", "asc"] = "desc"
    interval: float | None = None  # histogram
    filters: list[FilterItem] | None = None  # filters
    label: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Bucket:
        if self.agg == "filters":
            if not self.filters or self.field:
                raise ValueError("a filters bucket takes `filters` and no field")
        elif not self.field:
            raise ValueError(f"a {self.agg} bucket needs a field")
        if (self.agg == "histogram") != (self.interval is not None):
            raise ValueError("interval goes with (and only with) a histogram bucket")
        return self


class Visualization(SpecModel):
    title: str
    type: VisType
    data_view: str
    description: str = ""
    query: str = ""
    metrics: list[Metric] = Field(min_length=1)
    buckets: list[Bucket] = Field(default_factory=list)
    stacked: bool = False  # xy charts: stack the series
    percentage: bool = False  # xy charts: stacked to 100 %

    @model_validator(mode="after")
    def _check(self) -> Visualization:
        allowed = ROLES[self.type]
        for bucket in self.buckets:
            if bucket.role not in allowed:
                raise ValueError(f"a {self.type} visualization has no {bucket.role!r} bucket role")
        for role, limit in allowed.items():
            count = sum(b.role == role for b in self.buckets)
            if limit is not None and count > limit:
                raise ValueError(f"a {self.type} visualization takes at most {limit} {role!r} bucket")
        if self.type == "heatmap" and len(self.buckets) != 2:
            raise ValueError("a heatmap needs one 'x' and one 'y' bucket")
        if (self.stacked or self.percentage) and self.type not in XY_TYPES:
            raise ValueError("stacked/percentage apply to line, area and bar charts only")
        if self.percentage and not self.stacked:
            raise ValueError("percentage needs stacked: true")
        for bucket in self.buckets:
            if isinstance(bucket.order_by, int):
                if not 1 <= bucket.order_by <= len(self.metrics):
                    raise ValueError(f"order_by {bucket.order_by} names no metric")
                if not self.metrics[bucket.order_by - 1].single_value:
                    raise ValueError("terms cannot be ordered by a percentiles metric")
        return self


class SavedSearch(SpecModel):
    title: str
    data_view: str
    description: str = ""
    query: str = ""
    columns: list[str] = Field(min_length=1)
    sort: list[tuple[str, Literal["asc", "desc"]]] = Field(default_factory=lambda: [("@timestamp", "desc")])


class Panel(SpecModel):
    """A panel: a visualization or saved search key, with its size on the 48-column grid."""

    show: str
    w: int = Field(24, ge=4, le=GRID_COLUMNS)
    h: int = Field(12, ge=4, le=60)


class Dashboard(SpecModel):
    title: str
    description: str = ""
    file: str  # the NDJSON file name (without .ndjson) in dashboards/<flavor>/
    time_from: str = "now-24h"
    time_to: str = "now"
    refresh_seconds: int = Field(60, ge=0)
    panels: list[Panel] = Field(min_length=1)


class Spec(SpecModel):
    version: int = 1
    data_views: dict[str, DataView]
    visualizations: dict[str, Visualization]
    searches: dict[str, SavedSearch] = Field(default_factory=dict)
    dashboards: dict[str, Dashboard]

    @model_validator(mode="after")
    def _references(self) -> Spec:
        for group in (self.data_views, self.visualizations, self.searches, self.dashboards):
            for key in group:
                if not _KEY.match(key):
                    raise ValueError(f"key {key!r}: use 2-63 lower-case letters, digits and underscores")
        shared = set(self.visualizations) & set(self.searches)
        if shared:
            raise ValueError(f"keys used for both a visualization and a search: {sorted(shared)}")
        for key, item in [*self.visualizations.items(), *self.searches.items()]:
            if item.data_view not in self.data_views:
                raise ValueError(f"{key}: unknown data view {item.data_view!r}")
        files = [d.file for d in self.dashboards.values()]
        if len(set(files)) != len(files):
            raise ValueError("two dashboards write the same file")
        for key, dashboard in self.dashboards.items():
            for panel in dashboard.panels:
                if panel.show not in self.visualizations and panel.show not in self.searches:
                    raise ValueError(f"dashboard {key}: panel {panel.show!r} is no visualization or search")
        return self

    def panel_item(self, key: str) -> Visualization | SavedSearch:
        return self.visualizations.get(key) or self.searches[key]


def object_id(kind: str, key: str) -> str:
    """The stable saved-object id of a spec entry: `mlsiem-<kind>-<key>` (ids never depend on order)."""
    return f"mlsiem-{kind}-{key.replace('_', '-')}"


def load_spec(path: Path = SPEC_PATH) -> Spec:
    """Read and validate the spec; every problem names the file and the place in it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the dashboards spec ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
