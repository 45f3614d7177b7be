"""The Elasticsearch side of the adapter and of `setup`, at the wire level (no Elasticsearch runs here).

`responses` stands in for the HTTP server only: a small store answers the REST calls setup makes, so
the test sees exactly what the real `elasticsearch` client puts on the wire.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import responses

from mlsiem.adapter import Engine, EngineKind
from mlsiem.config import ConnectionSettings
from mlsiem.errors import EngineError
from mlsiem.installer import run_setup
from mlsiem.templates import TEMPLATE_PRIORITY

URL = "https://es.example:9200"
PRODUCT = {"X-Elastic-Product": "Elasticsearch"}
ES_INFO = {
    "name": "es01",
    "cluster_name": "siem",
    "version": {"number": "8.15.3", "build_flavor": "default", "lucene_version": "9.11.1"},
    "tagline": "You Know, for Search",
}


class ElasticsearchWire:
    """Answers setup's REST calls like Elasticsearch 8 does and records every request."""

    def __init__(self, mock: responses.RequestsMock, product_header: bool = True) -> None:
        self.stored: dict[str, Any] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.headers = PRODUCT if product_header else {}
        for method in ("GET", "PUT", "POST"):
            mock.add_callback(
                method,
                re.compile(re.escape(URL) + r"/.*"),
                callback=self.answer,
                content_type="application/json",
            )

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = request.path_url.split("?")[0]
        body = json.loads(request.body) if request.body and path != "/_bulk" else None
        self.requests.append((request.method, path, request.headers, body))
        if path == "/":
            return 200, self.headers, json.dumps(ES_INFO)
        if path == "/_bulk":
            return 200, self.headers, json.dumps({"errors": False, "took": 1, "items": []})
        if request.method == "PUT":
            self.stored[path] = body or {}
            for alias in (body or {}).get("aliases", {}):
                self.stored[f"/_alias/{alias}"] = {}
            return 200, self.headers, json.dumps({"acknowledged": True})
        if path not in self.stored:
            return (
                404,
                self.headers,
                json.dumps({"error": {"type": "resource_not_found_exception", "reason": path}}),
            )
        name = path.rsplit("/", 1)[1]
        stored = self.stored[path]
        if path.startswith("/_ilm/policy/"):
            return 200, self.headers, json.dumps({name: {"version": 1, "policy": stored["policy"]}})
        kind = "component" if path.startswith("/_component_template/") else "index"
        item = {"name": name, f"{kind}_template": stored}
        return 200, self.headers, json.dumps({f"{kind}_templates": [item]})

    def sent(self, method: str, prefix: str) -> dict[str, Any]:
        return {p: b for m, p, _, b in self.requests if m == method and p.startswith(prefix)}


@responses.activate
def test_detects_elasticsearch_and_sends_compatibility_headers() -> None:
    wire = ElasticsearchWire(responses.mock)
    engine = Engine.connect(ConnectionSettings(url=URL))
    assert engine.kind is EngineKind.ELASTICSEARCH and engine.version == "8.15.3"
    engine.request("PUT", "/_index_template/x", body={"index_patterns": ["x-*"]})
    method, path, headers, _ = wire.requests[-1]
    assert (method, path) == ("PUT", "/_index_template/x")
    assert headers["content-type"] == "application/vnd.elasticsearch+json; compatible-with=8"
    assert headers["accept"] == "application/vnd.elasticsearch+json; compatible-with=8"


@responses.activate
def test_setup_sends_ilm_policies_and_templates_then_is_idempotent() -> None:
    wire = ElasticsearchWire(responses.mock)
    engine = Engine.connect(ConnectionSettings(url=URL))
    first = run_setup(engine)
    assert all(a.action == "created" for a in first), first

    policies = wire.sent("PUT", "/_ilm/policy/")
    assert set(policies) == {
        "/_ilm/policy/mlsiem-logs",
        "/_ilm/policy/mlsiem-metrics",
        "/_ilm/policy/mlsiem-alerts",
    }
    logs = policies["/_ilm/policy/mlsiem-logs"]["policy"]["phases"]
    assert logs["hot"]["actions"]["rollover"] == {"max_age": "1d", "max_primary_shard_size": "50gb"}
    assert logs["delete"] == {"min_age": "30d", "actions": {"delete": {}}}

    templates = wire.sent("PUT", "/_index_template/")
    inference = templates["/_index_template/logs-mlsiem.inference"]
    assert inference["priority"] == TEMPLATE_PRIORITY > 100
    assert inference["data_stream"] == {}
    assert inference["template"]["settings"] == {"index.lifecycle.name": "mlsiem-logs"}
    alerts = templates["/_index_template/mlsiem-alerts-default"]
    assert alerts["template"]["settings"]["index.lifecycle.rollover_alias"] == "mlsiem-alerts-default"
    assert "/_data_stream/logs-mlsiem.inference-default" in wire.sent("PUT", "/_data_stream/")
    first_alerts = wire.sent("PUT", "/mlsiem-alerts-default-000001")
    assert first_alerts["/mlsiem-alerts-default-000001"]["aliases"] == {
        "mlsiem-alerts-default": {"is_write_index": True}
    }

    puts_before = len([r for r in wire.requests if r[0] == "PUT"])
    second = run_setup(engine)
    assert all(a.action == "unchanged" for a in second), [a for a in second if a.action != "unchanged"]
    assert len([r for r in wire.requests if r[0] == "PUT"]) == puts_before


@responses.activate
def test_missing_product_header_is_refused_clearly() -> None:
    ElasticsearchWire(responses.mock, product_header=False)
    with pytest.raises(EngineError, match="does not identify itself as Elasticsearch"):
        Engine.connect(ConnectionSettings(url=URL, engine="elasticsearch"))


@responses.activate
def test_credentials_go_in_headers_and_never_into_errors() -> None:
    responses.add(
        responses.GET,
        URL + "/",
        status=401,
        headers=PRODUCT,
        json={"error": {"type": "security_exception", "reason": "unable to authenticate"}},
    )
    settings = ConnectionSettings(
        url=URL, username="shipper", password="pa55-w0rd-xyz", engine="elasticsearch"
    )
    with pytest.raises(EngineError) as caught:
        Engine.connect(settings)
    assert "refused the credentials (401)" in str(caught.value)
    assert "pa55-w0rd-xyz" not in str(caught.value) and "pa55-w0rd-xyz" not in repr(caught.value.body)
    sent = responses.calls[0].request.headers["Authorization"]
    assert sent.startswith("Basic ") and "pa55" not in sent  # base64, not plain


@responses.activate
def test_api_key_header_and_bulk_content_type() -> None:
    wire = ElasticsearchWire(responses.mock)
    engine = Engine.connect(ConnectionSettings(url=URL, api_key="a2V5OnNlY3JldA==", engine="elasticsearch"))
    engine.bulk(b'{"create":{"_index":"logs-mlsiem.inference-default","_id":"1"}}\n{"a":1}\n')
    bulk = responses.calls[-1].request
    assert bulk.headers["content-type"] == "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
    assert bulk.headers["Authorization"] == "ApiKey a2V5OnNlY3JldA=="
    assert bulk.body.endswith(b"\n")
    assert wire.requests[0][2]["Authorization"] == "ApiKey a2V5OnNlY3JldA=="
