"""Per-request outliers: requests that look like nothing in the reference (isolation forest).

One search per window: a bounded uniform random sample of the window (`sample` rows, 2,000 by
default: `function_score` + `random_score`, as the multivariate check samples) for the share test,
and, in a `filter` aggregation, up to `prefilter_rows` (100: the engine's default
`index.max_inner_result_window`) of the events a cheap pre-filter finds (a numeric feature outside the
range the forest was fitted on, a category it never saw), which are outliers by construction and
would mostly be missed by the sample. The cost is bounded by those two numbers, whatever the window
holds. The share of sampled rows above the reference threshold is tested against its expectation
(beta-binomial, `statistics.isolation`); the most anomalous events of both parts become the evidence,
grouped by `source.ip` and `user.name`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from detections.aggregations import CALLS_ONLY, field_of, parse_sample, total_events
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics.isolation import EXCESS_FLOORS, ForestModel, encode, outlier_scores, outlier_test
from detections.window import Window
from mlsiem.ecs.findings import Anomaly, Evidence, Rule

SOURCE_FIELDS = ("source.ip", "user.name")


class OutliersTuning(Tuning):
    sample: int = Field(2000, ge=100, le=10_000, description="rows of the uniform random sample per window")
    prefilter_rows: int = Field(
        100, ge=0, le=100, description="pre-filtered rows (out of range, unseen category) scored besides"
    )
    excess_floors: tuple[float, float] = Field(
        EXCESS_FLOORS, description="watch and act floors of the outlier share above its expectation"
    )
    evidence_ids: int = Field(100, ge=1, le=200, description="ids of the most anomalous events in the alert")
    min_group_share: float = Field(
        0.5, gt=0, le=1, description="name a source when it sent at least this share of the outliers"
    )

    @model_validator(mode="after")
    def _ordered(self) -> OutliersTuning:
        watch, act = self.excess_floors
        if not 0 < watch <= act:
            raise ValueError(f"excess_floors: need 0 < watch <= act, got [{watch}, {act}]")
        return self


def prefilter(model: ForestModel) -> dict[str, Any]:
    """Events with a value the forest never saw: a numeric feature out of range, an unseen category."""
    should: list[dict[str, Any]] = []
    for name in model.features:
        field = field_of(name)
        if name in model.ranges:
            low, high = model.ranges[name]
            should.append({"range": {field: {"lt": low}}})
            should.append({"range": {field: {"gt": high}}})
        else:
            known = {"terms": {field: model.categories[name]}}
            should.append({"bool": {"filter": [{"exists": {"field": field}}], "must_not": [known]}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _value(source: dict[str, Any], path: str) -> Any:
    value: Any = source
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class OutliersDetector(Detector):
    name = "outliers"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-anomaly-outliers",
            "Out-of-distribution requests",
            "anomaly",
            "More requests than expected look like nothing in the reference (isolation forest scores).",
        )
    }
    Tuning: ClassVar[type[OutliersTuning]] = OutliersTuning
    tuning: OutliersTuning
    watches = (
        "per-request isolation-forest score (features, encoded categories, prediction score) against the "
        "reference's 99th percentile: outlier share (beta-binomial test), top requests and sources"
    )
    computed_with = (
        "a bounded random sample (`function_score` + `random_score`) and a pre-filter "
        "(`filter` + `top_hits`: out of range, unseen category)"
    )

    def applies(self) -> bool:
        return self.setup.profile.isolation is not None

    @property
    def model(self) -> ForestModel:
        model = self.setup.profile.isolation
        assert model is not None
        return model

    def request(self, window: Window) -> dict[str, Any]:
        fields = [field_of(f) for f in self.model.features]
        source = [*fields, "event.id", *SOURCE_FIELDS]
        exists = {"bool": {"should": [{"exists": {"field": f}} for f in fields], "minimum_should_match": 1}}
        body: dict[str, Any] = {
            "size": self.tuning.sample,
            "track_total_hits": True,
            "_source": source,
            "query": {
                "function_score": {
                    "query": window.query(CALLS_ONLY, exists),
                    "random_score": {"seed": 17, "field": "_seq_no"},
                    "boost_mode": "replace",
                }
            },
        }
        if self.tuning.prefilter_rows:
            top = {"top_hits": {"size": self.tuning.prefilter_rows, "_source": source}}
            body["aggs"] = {"prefilter": {"filter": prefilter(self.model), "aggs": {"rows": top}}}
        return body

    def _scored(self, hits: list[dict[str, Any]]) -> np.ndarray:
        model = self.model
        columns = parse_sample({"hits": {"hits": hits}}, model.features, model.categories)
        return outlier_scores(model, encode(model, columns))

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        model = self.model
        hits = response["hits"]["hits"]
        if len(hits) < self.setup.min_window_events:
            return Judgement()
        scores = self._scored(hits)
        test = outlier_test(model, scores, self.setup.alpha, self.tuning.excess_floors, top=len(hits))
        if not test.called:
            return Judgement()
        prefiltered = response.get("aggregations", {}).get("prefilter", {})
        extra = prefiltered.get("rows", {}).get("hits", {}).get("hits", [])
        rows: dict[str, tuple[float, dict[str, Any]]] = {}
        for i in test.top:
            rows[str(hits[i]["_id"])] = (float(scores[i]), hits[i]["_source"])
        if extra:
            for hit, value in zip(extra, self._scored(extra), strict=True):
                if value > model.threshold:
                    rows.setdefault(str(hit["_id"]), (float(value), hit["_source"]))
        ranked = sorted(rows.values(), key=lambda item: -item[0])
        ids = [str(_value(src, "event.id")) for _, src in ranked if _value(src, "event.id") is not None]
        ids = ids[: self.tuning.evidence_ids]
        sources, sentence = self._sources([src for _, src in ranked], len(ranked))
        reason = (
            f"{len(ranked)} requests to {window.model} look like nothing in its reference "
            f"({test.tier}): {test.reason()}."
        )
        if prefiltered.get("doc_count"):
            reason += f" {prefiltered['doc_count']} requests carry a value outside the reference's range."
        if sentence:
            reason += f" {sentence}"
        quoted = " OR ".join(f'"{i}"' for i in ids)
        evidence = Evidence(
            query=f"{window.lucene()} AND event.id:({quoted})" if ids else window.lucene(),
            event_count=total_events(response),
            sample_event_ids=ids or None,
        )
        anomaly = Anomaly(
            method="isolation_forest",
            score=ranked[0][0] if ranked else None,
            outlier_share=test.share,
            expected_share=test.expected_share,
            top_sources=sources or None,
        )
        finding = self.finding(
            window,
            test.severity,
            reason,
            evidence=evidence,
            anomaly=anomaly,
            tier=test.tier,  # type: ignore[arg-type]
        )
        return Judgement(findings=[finding])

    def _sources(self, sources: list[dict[str, Any]], outliers: int) -> tuple[list[str], str | None]:
        """Each source field's most frequent value among the outliers, and the sentence for the top one."""
        tops: list[str] = []
        sentence = None
        for path in SOURCE_FIELDS:
            values = Counter(str(v) for v in (_value(s, path) for s in sources) if v is not None)
            if not values:
                continue
            value, count = values.most_common(1)[0]
            tops.append(f"{value} ({count} of {outliers})")
            if sentence is None and count >= self.tuning.min_group_share * outliers and count > 1:
                where = "came from" if path == "source.ip" else "were sent by user"
                sentence = f"{count} of the {outliers} outlying requests {where} {value}."
        return tops, sentence
