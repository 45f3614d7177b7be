"""The offline outlier report (`mlsiem drift` / `gate`): the current file's share of rows above the
reference's isolation-forest threshold, tested against its expectation, and its most anomalous rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from detections.statistics.columns import CategoricalColumn
from detections.statistics.isolation import (
    Column,
    ForestModel,
    OutlierTest,
    encode,
    outlier_scores,
    outlier_test,
    take,
)

MAX_SCORED = 100_000  # current rows scored offline (evenly spaced beyond this): the share needs no more


@dataclass(frozen=True)
class OutlierReport:
    """The offline outlier check: the share test and the current file's most anomalous rows."""

    test: OutlierTest
    features: list[str]
    scored_rows: int
    current_rows: int
    top_rows: list[dict[str, Any]]  # {"row": index in the current file, "anomaly_score": .., feature: value}

    def to_dict(self) -> dict[str, Any]:
        test = self.test
        return {
            "method": "isolation_forest",
            "features": self.features,
            "outliers": test.outliers,
            "rows": test.rows,
            "current_rows": self.current_rows,
            "outlier_share": test.share,
            "expected_share": test.expected_share,
            "p_value": test.p_value,
            "threshold": test.threshold,
            "tier": test.tier,
            "severity": test.severity,
            "top_rows": self.top_rows,
        }


def _cell(values: Column, row: int) -> Any:
    if isinstance(values, CategoricalColumn):
        code = int(values.codes[row])
        return None if code < 0 else str(values.categories[code])
    value = values[row]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value if value is None or isinstance(value, str) else str(value)


def outlier_report(
    model: ForestModel, current: Mapping[str, Column], alpha: float, top: int = 10
) -> OutlierReport:
    """Score the current rows (at most MAX_SCORED, evenly spaced) and test their outlier share."""
    rows = len(current[model.features[0]])
    step = max(1, -(-rows // MAX_SCORED))
    picked = np.arange(0, rows, step)
    scores = outlier_scores(model, encode(model, {n: take(current[n], picked) for n in model.features}))
    test = outlier_test(model, scores, alpha, top=top)
    top_rows = []
    for i in test.top:
        row = int(picked[i])
        top_rows.append(
            {
                "row": row,
                "anomaly_score": float(scores[i]),
                **{n: _cell(current[n], row) for n in model.features},
            }
        )
    return OutlierReport(test, list(model.features), int(picked.size), rows, top_rows)
