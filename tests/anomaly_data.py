"""Synthetic requests for the outlier tests: a reference population and windows with injected
out-of-distribution requests from one client, as rows and as the engine's response to the outlier
detector's search (the sample and the pre-filter drawn as the engine draws them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from detections.statistics import CategoricalColumn
from detections.statistics.isolation import ForestModel

REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
OOD_CLIENT = "203.0.113.24"
CLIENTS = [f"198.51.100.{i}" for i in range(1, 60)]


def population(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Income and spend correlated, age skewed, a region, the prediction score following income."""
    z = rng.normal(size=(n, 2))
    income = 50_000 + 10_000 * z[:, 0]
    return {
        "income": income,
        "spend": 2_000 + 500 * (0.8 * z[:, 0] + 0.6 * z[:, 1]),
        "age": 18 + rng.gamma(4.0, 6.0, n),
        "region": CategoricalColumn(REGIONS, rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int32)),
        "prediction.score": 1 / (1 + np.exp(-(income - 50_000) / 10_000 + rng.normal(0, 0.3, n))),
    }


def ood(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Requests from elsewhere: income and spend five reference sigmas off, a near-certain score."""
    rows = population(rng, n)
    rows["income"] = rows["income"] + 50_000
    rows["spend"] = rows["spend"] + 2_500
    rows["prediction.score"] = np.full(n, 0.999)
    return rows


def _doc(columns: dict[str, Any], i: int, event_id: str, ip: str) -> dict[str, Any]:
    region = columns["region"]
    return {
        "event": {"id": event_id},
        "source": {"ip": ip},
        "mlsiem": {
            "features": {
                "income": float(columns["income"][i]),
                "spend": float(columns["spend"][i]),
                "age": float(columns["age"][i]),
                "region": str(region.categories[region.codes[i]]),
            },
            "prediction": {"score": float(columns["prediction.score"][i])},
        },
    }


def window(rng: np.random.Generator, n: int, injected: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """`n` requests as columns with their event ids and client addresses, the last `injected` of them out
    of distribution from OOD_CLIENT (the engine's sample order is random, so the position is no clue)."""
    normal, odd = population(rng, n - injected), ood(rng, injected)
    columns: dict[str, Any] = {}
    for name, values in normal.items():
        other = odd[name]
        if isinstance(values, CategoricalColumn):
            columns[name] = CategoricalColumn(REGIONS, np.concatenate([values.codes, other.codes]))
        else:
            columns[name] = np.concatenate([values, other])
    ids = [f"ok-{i}" for i in range(n - injected)] + [f"ood-{i}" for i in range(injected)]
    ips = [CLIENTS[i] for i in rng.integers(len(CLIENTS), size=n - injected)] + [OOD_CLIENT] * injected
    return columns, ids, ips


def _prefiltered(model: ForestModel, columns: dict[str, Any]) -> np.ndarray:
    """The detector's pre-filter on columns: a value outside the fitted range, an unseen category."""
    hit = np.zeros(len(columns["income"]), dtype=bool)
    for name in model.features:
        values = columns[name]
        if name in model.ranges:
            low, high = model.ranges[name]
            hit |= (values < low) | (values > high)
        else:
            labels = np.array([str(c) for c in values.categories], dtype=object)[values.codes]
            hit |= ~np.isin(labels, model.categories[name])
    return hit


def engine_response(
    rng: np.random.Generator,
    model: ForestModel,
    data: tuple[dict[str, Any], list[str], list[str]],
    sample: int,
    prefilter: int,
) -> dict[str, Any]:
    """What the outlier detector's search returns: a uniform sample, and a random part of the pre-filter."""
    columns, ids, ips = data

    def hit(i: int) -> dict[str, Any]:
        return {"_id": ids[i], "_source": _doc(columns, i, ids[i], ips[i])}

    chosen = rng.permutation(len(ids))[:sample]
    matching = np.flatnonzero(_prefiltered(model, columns))
    picked = rng.permutation(matching)[:prefilter]
    return {
        "hits": {"total": {"value": len(ids), "relation": "eq"}, "hits": [hit(i) for i in chosen]},
        "aggregations": {
            "prefilter": {
                "doc_count": int(matching.size),
                "rows": {"hits": {"hits": [hit(i) for i in picked]}},
            }
        },
    }
