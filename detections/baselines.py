"""Reference profiles per model, stored in `mlsiem-baselines`.

A baseline comes from a file of training data (CSV, Parquet, NDJSON) or from a time range of shipped
inference events (a known-good period). From events, the feature values are read with `search_after`
pages up to a row limit (a profile needs a representative sample, not every event), and the
operational baselines (latency p95, error rate, request rate, token use per bucket) come from one
`date_histogram`. The profile document's `_id` is the model name and version, so the detector job
finds it directly and re-creating a baseline replaces it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from detections.aggregations import (
    CALLS_ONLY,
    PREDICTION_FIELDS,
    labelled_request,
    parse_absolute_errors,
    parse_confusion,
    parse_series,
    parse_squared_errors,
    series_request,
)
from detections.datafiles import read_columns
from detections.detectors.output_collapse import outputs_request, token_metadata
from detections.statistics.columns import CategoricalColumn
from detections.statistics.operational import SERIES
from detections.statistics.performance import accuracy_of
from detections.statistics.profile import ReferenceProfile, SeriesBaseline, build_profile
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError
from mlsiem.indices import BASELINES_INDEX, inference_stream
from mlsiem.timefmt import iso


def baseline_id(model: str, version: str | None) -> str:
    return f"{model}:{version or '*'}"


def _columns_from_rows(rows: list[dict[str, Any]]) -> dict[str, np.ndarray | CategoricalColumn]:
    names = sorted({name for row in rows for name in row})
    columns: dict[str, np.ndarray | CategoricalColumn] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            columns[name] = np.array([math.nan if v is None else float(v) for v in values])
        else:
            labels = sorted({str(v) for v in present})
            index = {label: i for i, label in enumerate(labels)}
            codes = np.array([-1 if v is None else index[str(v)] for v in values], dtype=np.int64)
            columns[name] = CategoricalColumn(np.array(labels, dtype=object), codes)
    return columns


def _flatten_event(source: dict[str, Any]) -> dict[str, Any]:
    mlsiem = source.get("mlsiem", {})
    row = dict(mlsiem.get("features") or {})
    prediction = mlsiem.get("prediction") or {}
    for pseudo, field in PREDICTION_FIELDS.items():
        key = field.rsplit(".", 1)[1]
        if key in prediction:
            row[pseudo] = prediction[key]
    return row


def rows_from_events(engine: Engine, window: Window, namespace: str, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after: list[Any] | None = None
    while len(rows) < limit:
        body: dict[str, Any] = {
            "size": min(5000, limit - len(rows)),
            "query": window.query(CALLS_ONLY),
            "_source": ["mlsiem.features", "mlsiem.prediction"],
            "sort": [{"@timestamp": "asc"}, {"event.id": "asc"}],
        }
        if after:
            body["search_after"] = after
        hits = engine.search(inference_stream(namespace), body)["hits"]["hits"]
        if not hits:
            break
        rows.extend(_flatten_event(h["_source"]) for h in hits)
        after = hits[-1]["sort"]
    return rows


def profile_from_events(
    engine: Engine,
    window: Window,
    namespace: str,
    limit: int = 200_000,
    bucket: timedelta = timedelta(minutes=5),
) -> ReferenceProfile:
    rows = rows_from_events(engine, window, namespace, limit)
    if len(rows) < 30:
        raise ConfigError(
            f"only {len(rows)} events of model {window.model!r} "
            f"between {iso(window.start)} and {iso(window.end)}: "
            "a baseline needs at least 30"
        )
    columns = _columns_from_rows(rows)
    metadata = {"source": "events", "start": iso(window.start), "end": iso(window.end)}
    # An LLM service has no features: its profile holds only operational baselines.
    profile = (
        build_profile(columns, metadata=metadata, isolation=True)
        if columns
        else ReferenceProfile({}, len(rows), metadata)
    )
    index = inference_stream(namespace)
    series = parse_series(engine.search(index, series_request(window, bucket)))
    for name in SERIES:
        values = series[name]
        finite = values[np.isfinite(values)]
        if finite.size >= 2:
            profile.operational[name] = SeriesBaseline.from_values(name, finite)
    profile.metadata["bucket_seconds"] = str(int(bucket.total_seconds()))
    labelled = engine.search(index, labelled_request(window))
    profile.metadata.update(performance_metadata(labelled))
    profile.metadata.update(token_metadata(engine.search(index, outputs_request(window))))
    return profile


def performance_metadata(labelled: dict[str, Any]) -> dict[str, str]:
    """The reference performance from a labelled search: error statistics and the confusion matrix."""
    metadata: dict[str, str] = {}
    errors, squared = parse_absolute_errors(labelled), parse_squared_errors(labelled)
    if errors is not None:
        metadata.update(mae=f"{errors.mean:.9g}", mae_std=f"{errors.std:.9g}", mae_n=str(errors.count))
    if squared is not None:
        metadata.update(mse=f"{squared.mean:.9g}", mse_std=f"{squared.std:.9g}")
    matrix = parse_confusion(labelled)
    if matrix:
        correct, total = accuracy_of(matrix)
        metadata.update(accuracy=f"{correct / total:.6f}", accuracy_n=str(total))
        metadata["confusion"] = json.dumps([[p, t, n] for (p, t), n in sorted(matrix.items())])
    return metadata


def profile_from_file(path: str, model: str) -> ReferenceProfile:
    data = read_columns(path, role="reference")
    return build_profile(data.columns, metadata={"source": f"file:{path}", "model": model}, isolation=True)


def store(engine: Engine, model: str, version: str | None, profile: ReferenceProfile, now: datetime) -> str:
    doc_id = baseline_id(model, version)
    document = {
        "@timestamp": iso(now),
        "baseline": {"id": doc_id, "source": profile.metadata.get("source", ""), "row_count": profile.rows},
        "mlsiem": {"model": {"name": model, **({"version": version} if version else {})}},
        "profile": profile.to_dict(),
    }
    engine.index_document(BASELINES_INDEX, doc_id, document, refresh=True)
    return doc_id


def load(engine: Engine, model: str, version: str | None) -> ReferenceProfile | None:
    """The model's baseline for this version, else its version-independent one."""
    for doc_id in dict.fromkeys([baseline_id(model, version), baseline_id(model, None)]):
        found = engine.get_document(BASELINES_INDEX, doc_id)
        if found and found.get("found", True):
            return ReferenceProfile.from_dict(found["_source"]["profile"])
    return None


def load_many(
    engine: Engine, models: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], ReferenceProfile | None]:
    """`load` for many models in one `_mget` (the detector job reads a chunk's baselines at once)."""
    wanted = {
        model: list(dict.fromkeys([baseline_id(*model), baseline_id(model[0], None)])) for model in models
    }
    ids = list(dict.fromkeys(i for candidates in wanted.values() for i in candidates))
    if not ids:
        return {}
    docs = engine.request("POST", f"/{BASELINES_INDEX}/_mget", body={"ids": ids}, what="read baselines")[
        "docs"
    ]
    stored = {doc["_id"]: doc["_source"]["profile"] for doc in docs if doc.get("found")}
    profiles: dict[tuple[str, str | None], ReferenceProfile | None] = {}
    for model, candidates in wanted.items():
        found = next((stored[i] for i in candidates if i in stored), None)
        profiles[model] = ReferenceProfile.from_dict(found) if found is not None else None
    return profiles


def stored_models(engine: Engine, page: int = 1000) -> list[tuple[str, str | None]]:
    """Every model with a baseline (paged: a fleet may hold many thousands)."""
    body: dict[str, Any] = {
        "size": page,
        "_source": ["mlsiem.model"],
        "query": {"match_all": {}},
        "sort": [{"baseline.id": "asc"}],
    }
    models = []
    while True:
        hits = engine.search(BASELINES_INDEX, body)["hits"]["hits"]
        for hit in hits:
            model = hit["_source"].get("mlsiem", {}).get("model", {})
            if model.get("name"):
                models.append((model["name"], model.get("version")))
        if len(hits) < page:
            return models
        body["search_after"] = hits[-1]["sort"]
