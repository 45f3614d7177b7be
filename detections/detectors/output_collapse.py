"""Prediction-output collapse: one class, a constant score or value, empty or exploding LLM output.

One search of aggregations per window (`terms` on the predicted label, `extended_stats` on the score,
the value and the output tokens, a `filter` for empty completions); the checks are those of
`statistics.collapse`, against the baseline's label shares and spreads (and, for LLMs, the output-token
statistics `mlsiem baseline create` stores from events). Whatever the model type, the checks whose
fields the window has are run: classifiers get the label and score checks, regression the value
check, LLMs the token checks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detections.aggregations import CALLS_ONLY, PREDICTION_FIELDS
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.statistics import collapse
from detections.window import Window
from mlsiem.ecs.findings import Anomaly, Evidence, Rule

TOKENS = "gen_ai.usage.output_tokens"
_ORDER = ("low", "medium", "high", "critical")


class OutputCollapseTuning(Tuning):
    class_share: float = Field(
        collapse.CLASS_SHARE, gt=0.5, lt=1, description="one label's share that is a collapse"
    )
    spread_ratio: float = Field(
        collapse.SPREAD_RATIO,
        gt=0,
        lt=1,
        description="a score or value spread below this share of the reference's",
    )
    empty_share: float = Field(
        collapse.ZERO_SHARE, gt=0, lt=1, description="share of completions with 0 tokens"
    )
    explosion_ratio: float = Field(
        collapse.EXPLOSION_RATIO, gt=1, description="output tokens per completion vs the reference"
    )


def outputs_request(window: Window) -> dict[str, Any]:
    """The prediction outputs of a window as aggregations (also what a baseline stores for LLMs)."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": window.query(CALLS_ONLY),
        "aggs": {
            "labels": {"terms": {"field": PREDICTION_FIELDS["prediction.label"], "size": 50}},
            "score": {"extended_stats": {"field": PREDICTION_FIELDS["prediction.score"]}},
            "value": {"extended_stats": {"field": PREDICTION_FIELDS["prediction.value"]}},
            "tokens": {"extended_stats": {"field": TOKENS}},
            "empty": {"filter": {"term": {TOKENS: 0}}},
        },
    }


def token_metadata(response: dict[str, Any]) -> dict[str, str]:
    """A reference's output-token statistics for the baseline's metadata (empty without LLM events)."""
    aggs = response["aggregations"]
    tokens = aggs["tokens"]
    if not tokens["count"]:
        return {}
    return {
        "output_tokens_mean": f"{tokens['avg']:.9g}",
        "output_tokens_std": f"{tokens['std_deviation'] or 0.0:.9g}",
        "output_tokens_n": str(tokens["count"]),
        "output_tokens_empty_share": f"{aggs['empty']['doc_count'] / tokens['count']:.9g}",
    }


class OutputCollapseDetector(Detector):
    name = "output_collapse"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(
            "mlsiem-anomaly-output-collapse",
            "Prediction output collapse",
            "anomaly",
            "Outputs degenerated: one class, a constant score or value, empty or runaway LLM output.",
        )
    }
    Tuning: ClassVar[type[OutputCollapseTuning]] = OutputCollapseTuning
    tuning: OutputCollapseTuning
    watches = (
        "classifiers answering one class, a score or regression value stuck at a constant (spread below "
        "10% of the reference's), LLM completions with 0 output tokens (20%+) or 3x the tokens; binomial, "
        "chi-square and z-tests against the baseline"
    )
    computed_with = "`terms`, `extended_stats`, `filter`"

    def applies(self) -> bool:
        features = self.setup.profile.features
        return any(name in features for name in PREDICTION_FIELDS) or bool(
            self.setup.profile.metadata.get("output_tokens_n")
        )

    def request(self, window: Window) -> dict[str, Any]:
        return outputs_request(window)

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        found = [c for c in self._checks(response["aggregations"]) if c is not None]
        if not found:
            return Judgement()
        worst = max(found, key=lambda c: _ORDER.index(c.severity))
        reason = f"The outputs of {window.model} collapsed: " + "; ".join(c.reason for c in found) + "."
        query = window.lucene()
        if worst.check == "empty_output":
            query += f" AND {TOKENS}:0"
        anomaly = Anomaly(
            method=f"output_collapse:{worst.check}",
            score=worst.statistic,
            expected_share=None,
            outlier_share=None,
        )
        evidence = Evidence(query=query, event_count=response["hits"]["total"]["value"])
        finding = self.finding(
            window,
            worst.severity,
            reason,
            evidence=evidence,
            anomaly=anomaly,
            tier="act",  # type: ignore[arg-type]
        )
        return Judgement(findings=[finding])

    def _checks(self, aggs: dict[str, Any]) -> list[collapse.Collapse | None]:
        alpha, tuning, profile = self.setup.alpha, self.tuning, self.setup.profile
        checks: list[collapse.Collapse | None] = []
        labels = profile.features.get("prediction.label")
        counts = {str(b["key"]): int(b["doc_count"]) for b in aggs["labels"]["buckets"]}
        if labels is not None and labels.categories and counts:
            checks.append(collapse.one_class(counts, labels.categories, alpha, tuning.class_share))
        for name in ("score", "value"):
            stats, reference = aggs[name], profile.features.get(f"prediction.{name}")
            if reference is not None and reference.std and stats["count"] >= 2:
                checks.append(
                    collapse.constant_output(
                        name,
                        int(stats["count"]),
                        float(stats["std_deviation"] or 0.0),
                        float(reference.std),
                        alpha,
                        tuning.spread_ratio,
                        mean=stats["avg"],
                    )
                )
        tokens = aggs["tokens"]
        if tokens["count"]:
            meta = profile.metadata
            reference_n = int(meta.get("output_tokens_n", 0))
            checks.append(
                collapse.empty_output(
                    int(tokens["count"]),
                    int(aggs["empty"]["doc_count"]),
                    float(meta.get("output_tokens_empty_share", 0.0)),
                    reference_n,
                    alpha,
                    tuning.empty_share,
                )
            )
            if reference_n:
                checks.append(
                    collapse.output_explosion(
                        int(tokens["count"]),
                        float(tokens["avg"]),
                        float(meta["output_tokens_mean"]),
                        float(meta["output_tokens_std"]),
                        reference_n,
                        alpha,
                        tuning.explosion_ratio,
                    )
                )
        return checks
