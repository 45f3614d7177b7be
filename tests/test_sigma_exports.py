"""Exports of the pack: Kibana NDJSON, OpenSearch monitors, Security Analytics requests; the CLI.

The exported queries run on the real engine in test_sigma_rules.py; here: structure, the folder output
written for real, and the Security Analytics REST calls at the wire level (the local engine has no
Security Analytics plugin, so `responses` plays the plugin's API).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml
from typer.testing import CliRunner

from cli import app
from detections.sigma.docs_table import END, START
from detections.sigma.export_kibana import kibana_ndjson
from detections.sigma.export_opensearch import (
    LOG_TYPE,
    monitors,
    security_analytics_requests,
    send_requests,
    write_requests,
)
from detections.sigma.pack import load_pack
from detections.sigma.promotion import PROMOTION_RULE_ID
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings
from mlsiem.errors import ConfigError

PACK = load_pack()
runner = CliRunner()
KIBANA_KEYS = {
    "rule_id", "name", "description", "type", "language", "query", "risk_score", "severity", "threat",
    "tags", "references", "false_positives", "author", "from", "interval", "enabled", "version",
}  # fmt: skip


def test_kibana_ndjson_is_one_importable_rule_per_line() -> None:
    lines = kibana_ndjson(PACK).splitlines()
    assert len(lines) == len(PACK.rules) + 1  # and the promotion rule, last
    rules = [json.loads(line) for line in lines]
    assert len({r["rule_id"] for r in rules}) == len(rules)
    assert rules.pop()["rule_id"] == PROMOTION_RULE_ID
    for rule in rules:
        assert rule.keys() >= KIBANA_KEYS, KIBANA_KEYS - rule.keys()
        assert rule["severity"] in ("low", "medium", "high", "critical")
        assert rule["risk_score"] in (21, 47, 73, 99)
        assert rule["enabled"] is False
        assert any(t["framework"] == "MITRE ATLAS" for t in rule["threat"])
        for threat in rule["threat"]:
            assert threat["tactic"].keys() == {"id", "name", "reference"}
            for technique in threat["technique"]:
                assert technique["id"] and technique["name"] and technique["reference"].startswith("https://")
            if threat["framework"] == "MITRE ATLAS":  # Elastic's rule schemas want the trailing slash
                assert re.fullmatch(
                    r"https://atlas\.mitre\.org/tactics/AML\.TA\d{4}/", threat["tactic"]["reference"]
                )
                for technique in threat["technique"]:
                    assert re.fullmatch(
                        r"https://atlas\.mitre\.org/techniques/AML\.T\d{4}/", technique["reference"]
                    )
                    for sub in technique["subtechnique"]:
                        assert re.fullmatch(
                            r"https://atlas\.mitre\.org/techniques/AML\.T\d{4}\.\d{3}/", sub["reference"]
                        )
        if rule["type"] == "query":
            assert rule["language"] == "lucene"
            assert rule["index"] in (["logs-mlsiem.inference-*"], ["logs-mlsiem.pipeline-*"])
        else:
            assert (rule["type"], rule["language"]) == ("esql", "esql") and "index" not in rule
            assert rule["query"].startswith("from logs-mlsiem.") and "| stats " in rule["query"]
    by_name = {r["tags"][1]: r for r in rules}
    assert by_name["Rule: llm_guardrail_blocked"]["building_block_type"] == "default"
    assert "building_block_type" not in by_name["Rule: llm_prompt_injection_direct"]
    burst = by_name["Rule: llm_prompt_injection_burst"]
    assert "by timebucket, source.ip" in burst["query"] and burst["from"] == "now-20m"
    assert by_name["Rule: llm_secret_in_prompt"]["threat"][-1]["framework"] == "MITRE ATT&CK"


def test_monitors_have_the_alerting_shape() -> None:
    exported = monitors(PACK)
    assert set(exported) == {r.name for r in PACK.rules} | {"mlsiem_alerts"}
    query = exported["llm_prompt_injection_direct"]
    assert query["monitor_type"] == "query_level_monitor" and query["enabled"] is False
    assert query["schedule"] == {"period": {"interval": 5, "unit": "MINUTES"}}
    trigger = query["triggers"][0]["query_level_trigger"]
    assert trigger["severity"] == "2" and "hits.total.value > 0" in trigger["condition"]["script"]["source"]
    bucket = exported["llm_cost_harvesting"]
    search = bucket["inputs"][0]["search"]["query"]
    assert search["aggregations"]["composite_agg"]["composite"]["sources"] == [
        {"user.name": {"terms": {"field": "user.name"}}}
    ]
    condition = bucket["triggers"][0]["bucket_level_trigger"]["condition"]
    assert condition["buckets_path"] == {"measure": "measure"}
    assert condition["script"]["source"] == "params.measure >= 50.0"
    ordered = exported["pipeline_deploy_after_validation_failure"]["triggers"][0]["bucket_level_trigger"]
    assert "params.first0 < params.last1" in ordered["condition"]["script"]["source"]


def test_security_analytics_requests_written_to_a_folder(tmp_path: Path) -> None:
    requests = security_analytics_requests(PACK)
    files = write_requests(requests, tmp_path / "sa")
    assert len(files) == len(requests) + 1
    assert files[0].name == "001-post-create-the-custom-log-type.json"
    index = [json.loads(line) for line in (tmp_path / "sa" / "index.ndjson").read_text().splitlines()]
    assert [r["path"] for r in index[:3]] == [
        "/_plugins/_security_analytics/logtype",
        "/_plugins/_security_analytics/mappings",
        "/_plugins/_security_analytics/mappings",
    ]
    assert index[0]["body"]["name"] == LOG_TYPE
    mapping = index[1]["body"]
    assert mapping["index_name"] == "logs-mlsiem.inference-*"
    assert mapping["alias_mappings"]["properties"]["prompt"] == {
        "type": "alias",
        "path": "mlsiem.llm.prompt.caseless",
    }
    uploads = [r for r in index if r["path"].endswith("/rules")]
    assert len(uploads) == len(PACK.detections)
    assert {r["params"]["category"] for r in uploads} == {LOG_TYPE}
    assert {str(yaml.safe_load(r["body"])["id"]) for r in uploads} == {str(r.id) for r in PACK.detections}
    one = json.loads(files[3].read_text())
    assert one == index[3]


OS_URL = "https://opensearch.example:9200"
OS_INFO = {"name": "n1", "version": {"distribution": "opensearch", "number": "2.19.1"}}


class SecurityAnalyticsWire:
    """The plugin's REST API as far as the export uses it; records every call."""

    def __init__(
        self, mock: responses.RequestsMock, known_rules: dict[str, str], log_type_exists: bool
    ) -> None:
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.known_rules = known_rules
        self.log_type_exists = log_type_exists
        for method in ("GET", "POST", "PUT"):
            mock.add_callback(
                method,
                re.compile(re.escape(OS_URL) + r"/.*"),
                callback=self.answer,
                content_type="application/json",
            )

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        path, _, query = request.path_url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.calls.append((request.method, path, params, body))
        if path == "/":
            return 200, {}, json.dumps(OS_INFO)
        if path.endswith("/logtype/_search"):
            total = 1 if self.log_type_exists else 0
            return 200, {}, json.dumps({"hits": {"total": {"value": total}, "hits": []}})
        if path.endswith("/rules/_search"):
            title = json.loads(body)["query"]["nested"]["query"]["match_phrase"]["rule.title"]
            hits = (
                [{"_id": self.known_rules[title], "_source": {"title": title}}]
                if title in self.known_rules
                else []
            )
            return 200, {}, json.dumps({"hits": {"hits": hits}})
        return 201, {}, json.dumps({"_id": "new", "result": "created"})


def _engine() -> Engine:
    return Engine.connect(ConnectionSettings(url=OS_URL))


def test_security_analytics_upload_creates_then_updates() -> None:
    requests = security_analytics_requests(PACK)
    first_title = PACK.detections[0].title
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        wire = SecurityAnalyticsWire(mock, known_rules={}, log_type_exists=False)
        sent = send_requests(_engine(), requests)
    assert [s.outcome for s in sent] == ["created"] * len(requests)
    posts = [(m, p, q) for m, p, q, _ in wire.calls if m == "POST" and not p.endswith("_search")]
    assert posts[0][1] == "/_plugins/_security_analytics/logtype"
    assert sum(1 for _, p, q in posts if p.endswith("/rules") and q == {"category": "mlsiem"}) == len(
        PACK.detections
    )
    uploaded = [b for m, p, _, b in wire.calls if m == "POST" and p.endswith("/rules")]
    assert yaml.safe_load(uploaded[0])["title"] == first_title

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        wire = SecurityAnalyticsWire(mock, known_rules={first_title: "abc123"}, log_type_exists=True)
        sent = send_requests(_engine(), requests)
    outcomes = [s.outcome for s in sent]
    assert outcomes[0] == "exists" and outcomes.count("updated") == 1
    puts = [(p, q) for m, p, q, _ in wire.calls if m == "PUT"]
    assert puts == [("/_plugins/_security_analytics/rules/abc123", {"category": "mlsiem", "forced": "true"})]
    assert not any(p.endswith("/logtype") for m, p, _, _ in wire.calls if m == "POST")


def test_security_analytics_missing_plugin_is_a_clear_error() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{OS_URL}/", json=OS_INFO)
        mock.add(
            responses.POST,
            re.compile(re.escape(OS_URL) + r"/_plugins/.*"),
            status=400,
            json={
                "error": {
                    "root_cause": [{"type": "invalid_index_name_exception", "reason": "no such plugin"}]
                }
            },
        )
        sent = send_requests(_engine(), security_analytics_requests(PACK))
    assert {s.outcome for s in sent} == {"failed"}
    assert "Security Analytics log types: the engine answered 400" in str(sent[0].error)


def test_security_analytics_refuses_elasticsearch() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://es.example:9200/", json={"version": {"number": "8.15.0"}},
                 headers={"X-Elastic-Product": "Elasticsearch"})  # fmt: skip
        engine = Engine.connect(ConnectionSettings(url="https://es.example:9200", engine="elasticsearch"))
    with pytest.raises(ConfigError, match="not OpenSearch"):
        send_requests(engine, [])


# ------------------------------------------------------------------------------------------- CLI


def test_cli_check_and_convert(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rules", "check", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["issues"] == [] and summary["detection_rules"] == len(PACK.detections)
    out = tmp_path / "esql.txt"
    result = runner.invoke(
        app, ["rules", "convert", "-t", "esql", "--rule", "llm_cost_harvesting", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "# llm_cost_harvesting" in out.read_text() and "value_sum=sum(mlsiem.llm.cost_usd)" in out.read_text()
    )
    result = runner.invoke(app, ["rules", "convert", "-t", "lucene", "--rule", "llm_cost_harvesting"])
    assert result.exit_code == 1 and "cannot express correlation rules" in result.output
    result = runner.invoke(app, ["rules", "convert", "-t", "no_such_backend"])
    assert result.exit_code != 0 and "unknown conversion target" in str(result.exception)


def test_cli_exports(tmp_path: Path) -> None:
    ndjson = tmp_path / "rules.ndjson"
    result = runner.invoke(app, ["rules", "export", "-t", "kibana", "-o", str(ndjson), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rules"] == len(PACK.rules) + 1 == len(ndjson.read_text().splitlines())
    result = runner.invoke(app, ["rules", "export", "-t", "opensearch-monitors", "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "m").glob("*.json"))) == len(PACK.rules) + 1
    result = runner.invoke(
        app, ["rules", "export", "-t", "opensearch-security-analytics", "-o", str(tmp_path / "sa")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sa" / "index.ndjson").exists()
    docs = tmp_path / "sigma.md"
    docs.write_text(f"# x\n{START}\nold\n{END}\n")
    result = runner.invoke(app, ["rules", "export", "-t", "docs", "-o", str(docs)])
    assert result.exit_code == 0 and "`llm_prompt_injection_direct`" in docs.read_text()
    result = runner.invoke(app, ["rules", "export", "-t", "opensearch-monitors"])
    assert result.exit_code != 0 and "--output FOLDER is required" in str(result.exception)
