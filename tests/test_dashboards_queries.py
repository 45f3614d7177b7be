"""Every panel's search, translated from the spec, runs on the real local engine and finds data.

A small realistic data set (classic and LLM inference events, pipeline events, drift metrics, alerts)
is built with the ECS models, indexed into a namespace of this module's own, and each visualization's
and saved search's request is run against that namespace's indices. The requests are also checked
against the committed saved objects, so what runs here is what the apps would ask.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboards.search_request import (
    SearchRequest,
    auto_interval,
    dashboard_time_range,
    resolve_time,
    saved_search_request,
    visualization_request,
)
from dashboards.spec import DASHBOARDS_DIR, Visualization, load_spec, object_id
from dashboards.vis_state import bucket_id, metric_id
from mlsiem.adapter import Engine, dumps
from mlsiem.ecs import Alert, DriftMetric, EcsDocument, InferenceEvent, PipelineEvent
from mlsiem.indices import alerts_alias, data_streams
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

NOW = datetime.now(UTC).replace(microsecond=0)
SPEC = load_spec()


# ------------------------------------------------------------------------------------------ test data


def classic_events() -> Iterator[InferenceEvent]:
    """A classifier in two versions: one call every 10 minutes for a day, a burst in the last hour."""
    offsets = [timedelta(minutes=10 * i + 3) for i in range(144)] + [
        timedelta(minutes=m) for m in range(1, 50, 4)
    ]
    for i, offset in enumerate(offsets):
        failed = i % 9 == 0
        yield InferenceEvent.model_validate(
            {
                "@timestamp": NOW - offset,
                "event": {
                    "id": f"clf-{i}",
                    "outcome": "failure" if failed else "success",
                    "duration": (8 + (i * 37) % 90) * 1_000_000,
                    "type": ["access"],
                },
                "service": {"name": "scoring-api", "environment": "prod"},
                "source": {"ip": f"10.0.{i % 3}.{10 + i % 7}"},
                "user": {"name": ["svc-batch", "alice", "bob"][i % 3]},
                "http": {"request": {"method": "POST"}, "response": {"status_code": 504 if failed else 200}},
                "error": {"type": ["TimeoutError", "ModelLoadError"][i % 2]} if failed else None,
                "mlsiem": {
                    "model": {
                        "name": "credit-scorer",
                        "version": "3" if i % 4 else "4",
                        "type": "classification",
                    },
                    "prediction": {
                        "label": "deny" if offset < timedelta(hours=1) and i % 2 else "approve",
                        "score": round((i * 0.137) % 1, 3),
                    },
                    "features": {"income": 40_000 + 250 * i, "region": ["north", "south"][i % 2]},
                },
            }
        )


def llm_events() -> Iterator[InferenceEvent]:
    """An assistant on two LLMs, used by three users; some calls blocked by the guardrail."""
    for i in range(60):
        blocked = i % 10 == 0
        model = ["gpt-4o-mini", "llama-3-70b"][i % 2]
        yield InferenceEvent.model_validate(
            {
                "@timestamp": NOW - timedelta(minutes=23 * i + 1),
                "event": {"id": f"llm-{i}", "outcome": "success", "duration": (400 + 13 * i) * 1_000_000},
                "source": {"ip": ["192.0.2.10", "192.0.2.20", "198.51.100.7"][i % 3]},
                "user": {"name": ["alice", "bob", "mallory"][i % 3]},
                "http": {"response": {"status_code": 403 if blocked else 200}},
                "gen_ai": {
                    "provider": {"name": "openai" if i % 2 == 0 else "meta"},
                    "operation": {"name": "chat"},
                    "request": {"model": model, "max_tokens": 512},
                    "response": {
                        "model": model,
                        "finish_reasons": ["content_filter" if blocked else ["stop", "length"][i % 3 == 0]],
                    },
                    "usage": {"input_tokens": 300 + 7 * i, "output_tokens": 0 if blocked else 120 + i},
                },
                "mlsiem": {
                    "model": {"name": "support-assistant", "version": "2025-06", "type": "llm"},
                    "llm": {
                        "cost_usd": round(0.0004 * (i + 1), 6),
                        "prompt_length": 1200 + i,
                        "guardrail": {
                            "action": "blocked" if blocked else "allowed",
                            "policies": ["prompt_injection"] if blocked else None,
                        },
                    },
                },
            }
        )


def pipeline_events() -> Iterator[PipelineEvent]:
    actions = ["training_completed", "model_registered", "model_deployed", "logging_config_changed"]
    for i, action in enumerate(actions * 2):
        yield PipelineEvent.model_validate(
            {
                "@timestamp": NOW - timedelta(hours=2 * i + 1),
                "event": {"action": action, "id": f"pipe-{i}", "category": ["configuration"]},
                "user": {"name": ["ci-bot", "mallory"][i % 2]},
                "mlsiem": {"model": {"name": "credit-scorer", "version": "4"}},
            }
        )


def drift_metrics() -> Iterator[DriftMetric]:
    """Hourly PSI per feature for two models; `income` drifts over the last six hours."""
    features = {"credit-scorer": ["income", "age", "region"], "fraud-detector": ["amount", "merchant"]}
    for hour in range(24):
        for model, names in features.items():
            for name in names:
                score = 0.02 + 0.01 * (hour % 3) + (0.3 if name == "income" and hour < 6 else 0.0)
                yield DriftMetric.model_validate(
                    {
                        "@timestamp": NOW - timedelta(hours=hour, minutes=5),
                        "event": {"id": f"drift-{model}-{name}-{hour}"},
                        "mlsiem": {
                            "model": {"name": model, "version": "4"},
                            "drift": {
                                "metric": "psi",
                                "score": score,
                                "threshold": 0.2,
                                "p_value": 0.001 if score > 0.2 else 0.4,
                                "feature": name,
                                "drifted": score > 0.2,
                                "severity": "high" if score > 0.2 else "none",
                                "reference_size": 5000,
                                "current_size": 400,
                            },
                        },
                    }
                )


def alerts() -> Iterator[Alert]:
    specs = [
        ("mlsiem-drift-psi", "Feature drift (PSI)", "drift", "high", None, "credit-scorer", None, None),
        ("mlsiem-latency", "Slow responses", "performance", "medium", None, "credit-scorer", None, None),
        ("sigma-prompt-injection", "Prompt injection attempt", "security", "high",
         ("AML.T0051.000", "LLM Prompt Injection: Direct"), "support-assistant", "198.51.100.7", "mallory"),
        ("sigma-jailbreak", "LLM jailbreak pattern", "security", "critical",
         ("AML.T0054", "LLM Jailbreak"), "support-assistant", "192.0.2.20", "bob"),
        ("sigma-model-extraction", "Model extraction by query volume", "security", "low",
         ("AML.T0024.002", "Extract ML Model"), "credit-scorer", "10.0.1.12", "svc-batch"),
        ("mlsiem-slo-latency", "SLO burn: latency", "slo", "high", None, "credit-scorer", None, None),
    ]  # fmt: skip
    slo = {"name": "latency", "objective": 0.99, "burn_rate": 15.2, "window": "1h/5m"}
    for hour in range(0, 24, 3):
        for rule_id, name, category, severity, technique, model, ip, user in specs:
            threat = {"technique": {"id": [technique[0]], "name": [technique[1]]}} if technique else None
            yield Alert.model_validate(
                {
                    "@timestamp": NOW - timedelta(hours=hour, minutes=10),
                    "event": {
                        "id": f"{rule_id}-{hour}",
                        "category": ["intrusion_detection" if category == "security" else "api"],
                        "reason": f"{name} on {model}",
                        "risk_score": 50.0,
                    },
                    "rule": {"id": rule_id, "name": name, "category": category, "ruleset": "mlsiem"},
                    "threat": threat,
                    "source": {"ip": ip} if ip else None,
                    "user": {"name": user} if user else None,
                    "mlsiem": {
                        "alert": {
                            "severity": severity,
                            "status": "open" if hour < 12 else "closed",
                            "occurrences": 1 + hour % 4,
                            "group_key": f"{model}/{user}",
                            "playbook": f"# {name}\n\n**What it means.** ...\n",
                        },
                        "model": {"name": model},
                        "evidence": {"query": f'mlsiem.model.name:"{model}"', "event_count": 12},
                        "slo": slo if category == "slo" else None,
                    },
                }
            )


def bulk_body(namespace: str) -> bytes:
    streams = data_streams(namespace)
    groups: list[tuple[str, list[EcsDocument]]] = [
        (streams["inference"], [*classic_events(), *llm_events()]),
        (streams["pipeline"], list(pipeline_events())),
        (streams["drift"], list(drift_metrics())),
        (alerts_alias(namespace), list(alerts())),
    ]
    lines = []
    for index, documents in groups:
        for document in documents:
            doc = document.to_document()
            lines.append(dumps({"create": {"_index": index, "_id": doc["event"]["id"]}}))
            lines.append(dumps(doc))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def loaded(engine: Engine) -> str:
    namespace = "dash" + uuid.uuid4().hex[:8]
    run_setup(engine, SetupConfig(namespace=namespace))
    result = engine.bulk(bulk_body(namespace), refresh=True)
    failed = [item for item in result["items"] if "error" in next(iter(item.values()))]
    assert not result["errors"], failed[:3]
    return namespace


# ------------------------------------------------------------------------------------------ checks


def in_namespace(request: SearchRequest, namespace: str) -> str:
    """The data view's pattern narrowed to this module's namespace (`logs-mlsiem.inference-<ns>`)."""
    return request.index.removesuffix("*") + namespace


def metric_values(vis: Visualization, node: dict[str, Any], doc_count: int) -> list[str]:
    """Problems with the metrics of one (innermost) bucket: a missing or zero value."""
    problems = []
    for position, metric in enumerate(vis.metrics):
        if metric.agg == "count":
            value: Any = doc_count
        elif metric.agg == "percentiles":
            value = min(
                (v for v in node[metric_id(position)]["values"].values() if v is not None), default=None
            )
        else:
            value = node[metric_id(position)]["value"]
        if value is None or (metric.agg in ("count", "cardinality", "sum") and value <= 0):
            problems.append(f"metric {metric_id(position)} ({metric.agg}) is {value}")
    return problems


def emptiness(vis: Visualization, node: dict[str, Any], level: int, doc_count: int) -> list[str]:
    """Why the response has nothing to draw (an empty list means: data at every level)."""
    if level == len(vis.buckets):
        return metric_values(vis, node, doc_count)
    raw = node[bucket_id(vis, level)]["buckets"]
    buckets = list(raw.values()) if isinstance(raw, dict) else raw
    if not buckets:
        return [f"bucket {bucket_id(vis, level)} ({vis.buckets[level].agg}) has no buckets"]
    if vis.buckets[level].agg == "filters":
        empty = [name for name, b in raw.items() if b["doc_count"] == 0]
        if empty:
            return [f"filters {empty} match nothing"]
    problems: list[str] = []
    for bucket in buckets:
        problems = emptiness(vis, bucket, level + 1, bucket["doc_count"])
        if not problems:
            return []
    return problems


def saved_vis_state(key: str) -> list[dict[str, Any]]:
    """The visState of `key` in both committed flavors."""
    states = []
    for flavor in ("kibana", "opensearch"):
        for path in (DASHBOARDS_DIR / flavor).glob("*.ndjson"):
            for line in path.read_text().splitlines():
                obj = json.loads(line)
                if obj["id"] == object_id("vis", key):
                    states.append(json.loads(obj["attributes"]["visState"]))
                    break
    return states


def request_aggs(aggs: dict[str, Any], found: dict[str, str]) -> dict[str, str]:
    """agg id -> field (or the agg type when it has no field), over the whole request tree."""
    for agg_id, body in aggs.items():
        kind = next(k for k in body if k != "aggs")
        found[agg_id] = body[kind].get("field", kind) if isinstance(body[kind], dict) else kind
        request_aggs(body.get("aggs", {}), found)
    return found


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("key", sorted(SPEC.visualizations))
def test_visualization_finds_data_on_the_real_engine(engine: Engine, loaded: str, key: str) -> None:
    time_from, time_to = dashboard_time_range(SPEC, key)
    request = visualization_request(SPEC, key, NOW + timedelta(seconds=1), time_from, time_to)
    response = engine.search(in_namespace(request, loaded), request.body)
    vis = SPEC.visualizations[key]
    assert response["hits"]["total"]["value"] > 0, f"{key}: the query matches nothing: {vis.query!r}"
    assert emptiness(vis, response.get("aggregations", {}), 0, response["hits"]["total"]["value"]) == []


@pytest.mark.parametrize("key", sorted(SPEC.visualizations))
def test_request_asks_for_the_aggs_the_saved_objects_define(key: str) -> None:
    request = visualization_request(SPEC, key, NOW)
    asked = request_aggs(request.body.get("aggs", {}), {})
    for state in saved_vis_state(key):
        saved = {
            a["id"]: a["params"].get("field", a["type"])
            for a in state["aggs"]
            if a["type"] != "count" or a["schema"] != "metric"
        }
        assert asked == saved, f"{key}: request and saved visState differ"


@pytest.mark.parametrize("key", sorted(SPEC.searches))
def test_saved_search_finds_alerts_with_every_column(engine: Engine, loaded: str, key: str) -> None:
    request = saved_search_request(SPEC, key, NOW + timedelta(seconds=1), *dashboard_time_range(SPEC, key))
    hits = engine.search(in_namespace(request, loaded), request.body)["hits"]["hits"]
    assert hits
    timestamps = [h["_source"]["@timestamp"] for h in hits]
    assert timestamps == sorted(timestamps, reverse=True)
    for column in SPEC.searches[key].columns:
        present = []
        for hit in hits:
            value: Any = hit["_source"]
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            present.append(value is not None)
        assert any(present), f"{key}: no alert has {column}"


def test_fields_the_panels_aggregate_are_aggregatable_in_the_installed_indices(
    engine: Engine, loaded: str
) -> None:
    """The engine's own view (field_caps, as the apps use it) agrees with the field tables."""
    by_view: dict[str, set[str]] = {}
    for vis in SPEC.visualizations.values():
        fields = {m.field for m in vis.metrics if m.field} | {b.field for b in vis.buckets if b.field}
        by_view.setdefault(vis.data_view, set()).update(fields)
    for view_key, fields in by_view.items():
        index = SPEC.data_views[view_key].title.removesuffix("*") + loaded
        caps = engine.request("GET", f"/{index}/_field_caps", params={"fields": ",".join(sorted(fields))})
        for field in fields:
            assert field in caps["fields"], f"{index} does not map {field}"
            assert all(c["aggregatable"] for c in caps["fields"][field].values()), f"{field} in {index}"


def test_time_helpers() -> None:
    assert resolve_time("now-24h", NOW) == NOW - timedelta(hours=24)
    assert auto_interval(NOW - timedelta(hours=24), NOW) == "30m"
    assert auto_interval(NOW - timedelta(days=7), NOW) == "12h"
    with pytest.raises(Exception, match="expected now or now-"):
        resolve_time("yesterday", NOW)


def test_terms_ordered_by_a_sum_carry_that_metric(engine: Engine, loaded: str) -> None:
    """LLM usage per user is ordered by cost: the biggest spender comes first."""
    request = visualization_request(SPEC, "llm_usage_by_user", NOW + timedelta(seconds=1))
    terms = request.body["aggs"][bucket_id(SPEC.visualizations["llm_usage_by_user"], 0)]
    assert terms["terms"]["order"] == {"4": "desc"} and "4" in terms["aggs"]
    response = engine.search(in_namespace(request, loaded), request.body)
    costs = [b["4"]["value"] for b in response["aggregations"]["5"]["buckets"]]
    assert costs == sorted(costs, reverse=True) and len(costs) == 3


def test_an_empty_panel_is_reported(engine: Engine, loaded: str) -> None:
    """The check above can fail: a filter that matches nothing, and a field no document has."""
    raw = SPEC.model_dump()
    labels = raw["visualizations"]["drift_prediction_labels"]
    labels["buckets"][0]["filters"][1]["query"] = "@timestamp:[now-100d TO now-99d]"
    raw["visualizations"]["ops_error_types"]["buckets"][0]["field"] = "error.code"
    broken = type(SPEC).model_validate(raw)
    for key, expected in (
        ("drift_prediction_labels", "['baseline'] match nothing"),
        ("ops_error_types", "no buckets"),
    ):
        request = visualization_request(
            broken, key, NOW + timedelta(seconds=1), *dashboard_time_range(broken, key)
        )
        response = engine.search(in_namespace(request, loaded), request.body)
        problems = emptiness(broken.visualizations[key], response["aggregations"], 0, 0)
        assert any(expected in p for p in problems), problems
