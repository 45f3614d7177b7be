"""Model SLOs: latency, availability and LLM cost per request, with multi-window burn-rate alerts.

Configured per model in the detector config (`tuning: {slo: ...}` job-wide, `models[].tuning.slo` per
model; nothing is watched until an objective is set):

    tuning:
      slo:
        latency: {objective: 0.99, threshold_ms: 100}     # 99% of predictions under 100 ms
        availability: {objective: 0.999}                   # 99.9% without error
        cost: {objective: 0.99, max_usd: 0.05}             # LLMs: 99% of requests under $0.05

One search per window: a `date_histogram` over the longest alerting window before the window's end, in
buckets of the shortest one, with a `filter` count of valid and of bad events per objective. The
arithmetic is `statistics.burn_rate`, evaluated at every bucket end inside the window; the most severe
tier that fired makes the alert (page: act, high, critical from twice its factor; ticket: watch, medium).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from detections.aggregations import CALLS_ONLY
from detections.alerts import Finding
from detections.detectors.base import Detector, Judgement, Tuning, rule
from detections.durations import parse_duration, short
from detections.statistics.burn_rate import Burn, BurnTier, evaluate
from detections.window import Window
from mlsiem.ecs.findings import Evidence, Rule, SeverityLabel, Slo
from mlsiem.timefmt import iso

SLO_NAMES = ("latency", "availability", "cost")


class _Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: float = Field(0.99, gt=0.5, lt=1, description="the share of requests that must be good")


class LatencyObjective(_Objective):
    threshold_ms: float = Field(100.0, gt=0, description="a request is good at or under this latency")


class AvailabilityObjective(_Objective):
    objective: float = Field(0.999, gt=0.5, lt=1, description="the share of requests that must not fail")


class CostObjective(_Objective):
    max_usd: float = Field(0.05, gt=0, description="an LLM request is good at or under this cost")


class TierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["page", "ticket"]
    long: timedelta
    short: timedelta
    factor: float = Field(gt=1)

    @field_validator("long", "short", mode="before")
    @classmethod
    def _durations(cls, value: object) -> timedelta:
        return parse_duration(value)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _ordered(self) -> TierConfig:
        if self.short >= self.long:
            raise ValueError(
                f"{self.name}: the short window ({short(self.short)}) must be shorter than the long"
            )
        return self


DEFAULT_TIERS = (
    TierConfig(name="page", long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
    TierConfig(name="ticket", long=timedelta(hours=6), short=timedelta(minutes=30), factor=6.0),
)
SEVERITY: dict[str, SeverityLabel] = {"page": "high", "ticket": "medium"}


class SloTuning(Tuning):
    latency: LatencyObjective | None = None
    availability: AvailabilityObjective | None = None
    cost: CostObjective | None = None
    tiers: tuple[TierConfig, ...] = Field(DEFAULT_TIERS, min_length=1)
    min_events: int = Field(10, ge=1, description="valid requests the short window needs to fire")

    @model_validator(mode="after")
    def _whole_buckets(self) -> SloTuning:
        bucket = self.bucket
        for tier in self.tiers:
            for length in (tier.long, tier.short):
                if length % bucket:
                    raise ValueError(
                        f"{tier.name}: {short(length)} is not a whole number of {short(bucket)} "
                        "(the shortest window, the resolution of the evaluation)"
                    )
        return self

    @property
    def bucket(self) -> timedelta:
        return min(tier.short for tier in self.tiers)

    @property
    def longest(self) -> timedelta:
        return max(tier.long for tier in self.tiers)

    def objectives(self) -> dict[str, _Objective]:
        return {name: getattr(self, name) for name in SLO_NAMES if getattr(self, name) is not None}


def _bad_filter(name: str, objective: _Objective) -> dict[str, Any]:
    if isinstance(objective, LatencyObjective):
        return {"range": {"event.duration": {"gt": objective.threshold_ms * 1e6}}}
    if isinstance(objective, CostObjective):
        return {"range": {"mlsiem.llm.cost_usd": {"gt": objective.max_usd}}}
    return {"term": {"event.outcome": "failure"}}


def _valid_filter(objective: _Objective) -> dict[str, Any]:
    if isinstance(objective, LatencyObjective):
        return {"exists": {"field": "event.duration"}}
    if isinstance(objective, CostObjective):
        return {"exists": {"field": "mlsiem.llm.cost_usd"}}
    return {"match_all": {}}


def _bad_lucene(objective: _Objective) -> str:
    if isinstance(objective, LatencyObjective):
        return f"event.duration:>{objective.threshold_ms * 1e6:.0f}"
    if isinstance(objective, CostObjective):
        return f"mlsiem.llm.cost_usd:>{objective.max_usd:g}"
    return 'event.outcome:"failure"'


def _describe(name: str, objective: _Objective) -> str:
    if isinstance(objective, LatencyObjective):
        return f"{objective.objective:.3g} of requests under {objective.threshold_ms:g} ms"
    if isinstance(objective, CostObjective):
        return f"{objective.objective:.3g} of requests under ${objective.max_usd:g}"
    return f"{objective.objective:.4g} of requests without error"


class SloDetector(Detector):
    name = "slo"
    rules: ClassVar[dict[str, Rule]] = {
        name: rule(f"mlsiem-slo-{name}", f"SLO burn: {name}", "slo", description)
        for name, description in (
            ("latency", "The latency SLO's error budget burns too fast (multi-window burn rate)."),
            ("availability", "The availability SLO's error budget burns too fast (multi-window burn rate)."),
            ("cost", "The cost-per-request SLO's error budget burns too fast (multi-window burn rate)."),
        )
    }
    Tuning: ClassVar[type[SloTuning]] = SloTuning
    tuning: SloTuning
    watches = (
        "per-model SLOs (latency under a threshold, availability, LLM cost per request): error-budget burn "
        "rate over 1h and 5m at 14.4x (page) and 6h and 30m at 6x (ticket)"
    )
    computed_with = "`date_histogram` over the longest window with `filter` counts of valid and bad events"

    def applies(self) -> bool:
        return bool(self.tuning.objectives())

    def _span(self, window: Window) -> Window:
        return Window(window.model, window.version, window.end - self.tuning.longest, window.end)

    def request(self, window: Window) -> dict[str, Any]:
        span, bucket = self._span(window), self.tuning.bucket
        aggs: dict[str, Any] = {}
        for name, objective in self.tuning.objectives().items():
            aggs[f"{name}_valid"] = {"filter": _valid_filter(objective)}
            aggs[f"{name}_bad"] = {"filter": _bad_filter(name, objective)}
        return {
            "size": 0,
            "track_total_hits": True,
            "query": span.query(CALLS_ONLY),
            "aggs": {
                "t": {
                    "date_histogram": {
                        "field": "@timestamp",
                        "fixed_interval": f"{int(bucket.total_seconds())}s",
                        "min_doc_count": 0,
                        "extended_bounds": {
                            "min": iso(span.start),
                            "max": iso(span.end - timedelta(seconds=1)),
                        },
                    },
                    "aggs": aggs,
                }
            },
        }

    def judge(self, window: Window, response: dict[str, Any]) -> Judgement:
        span, bucket = self._span(window), self.tuning.bucket
        buckets = [
            b for b in response["aggregations"]["t"]["buckets"] if b["key"] / 1000 < span.end.timestamp()
        ]
        first = next(
            (i for i, b in enumerate(buckets) if b["key"] / 1000 >= window.start.timestamp()), len(buckets)
        )
        tiers = [
            BurnTier(tier.name, tier.long // bucket, tier.short // bucket, tier.factor)
            for tier in self.tuning.tiers
        ]
        judgement = Judgement()
        for name, objective in self.tuning.objectives().items():
            bad = [b[f"{name}_bad"]["doc_count"] for b in buckets]
            valid = [b[f"{name}_valid"]["doc_count"] for b in buckets]
            fired = evaluate(bad, valid, objective.objective, tiers, first, self.tuning.min_events)
            if not fired:
                continue
            burn = max(fired, key=lambda b: (b.tier.name == "page", b.burn_rate))
            starts = [datetime.fromtimestamp(b["key"] / 1000, window.start.tzinfo) for b in buckets]
            judgement.findings.append(self._finding(window, name, objective, burn, starts))
        return judgement

    def _finding(
        self, window: Window, name: str, objective: _Objective, burn: Burn, starts: list[datetime]
    ) -> Finding:
        tier = next(t for t in self.tuning.tiers if t.name == burn.tier.name)
        severity: SeverityLabel = SEVERITY[tier.name]
        if tier.name == "page" and burn.burn_rate >= 2 * tier.factor:
            severity = "critical"
        windows = f"{short(tier.long)}/{short(tier.short)}"
        first, last = starts[burn.first] + self.tuning.bucket, starts[burn.last] + self.tuning.bucket
        budget = 1.0 - objective.objective
        reason = (
            f"{window.model}'s {name} SLO ({_describe(name, objective)}) burns its error budget "
            f"{burn.burn_rate:.1f}x too fast over {short(tier.long)} "
            f"({burn.bad} of {burn.valid} requests bad, budget {budget:.2%}) "
            f"and {burn.short_burn_rate:.1f}x over {short(tier.short)}: "
            f"{tier.name} (>= {tier.factor:g}x on both)."
        )
        worst = starts[burn.worst] + self.tuning.bucket  # the evidence: the long window at its worst
        evidence_window = Window(window.model, window.version, worst - tier.long, worst)
        finding = self.finding(
            window,
            severity,
            reason,
            key=name,
            evidence=Evidence(
                query=f"{evidence_window.lucene()} AND {_bad_lucene(objective)}", event_count=burn.bad
            ),
            slo=Slo(name=name, objective=objective.objective, burn_rate=burn.burn_rate, window=windows),
            tier="act" if tier.name == "page" else "watch",
        )
        finding.first_seen, finding.last_seen = first, last
        return finding
