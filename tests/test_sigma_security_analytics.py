"""The pack within Security Analytics' own Sigma parser, and the export that sends every request.

The local engine has no Security Analytics plugin, so `responses` plays its REST API (with injected
rejections); the parser's limits are restated in `detections.sigma.sa_limits` from the plugin's source.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import responses
import yaml
from typer.testing import CliRunner

from cli import app
from detections.sigma.checks import check_pack
from detections.sigma.export_opensearch import security_analytics_requests, send_requests
from detections.sigma.pack import PACK_ROOT, load_pack
from detections.sigma.sa_limits import MODIFIERS, security_analytics_problems
from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings

PACK = load_pack()
OS_URL = "https://opensearch.example:9200"
OS_INFO = {"name": "n1", "version": {"distribution": "opensearch", "number": "2.19.1"}}
runner = CliRunner()


def _rule(detection: dict[str, Any]) -> dict[str, Any]:
    return {"title": "t", "detection": {**detection, "condition": "selection"}}


def test_every_detection_rule_of_the_pack_is_within_the_parser_limits() -> None:
    problems = {}
    for path, documents in PACK.sources:
        for document in documents:
            if "correlation" not in document:
                # the text Security Analytics receives, read again as YAML 1.1 (as SnakeYAML does)
                text = path.read_text(encoding="utf-8")
                found = security_analytics_problems(yaml.safe_load(text))
                if found:
                    problems[path.stem] = found
    assert problems == {}
    assert len([d for _, docs in PACK.sources for d in docs if "correlation" not in d]) == len(
        PACK.detections
    )


def test_the_limits_reject_decimals_big_integers_and_unknown_modifiers() -> None:
    assert {
        "contains", "startswith", "endswith", "base64", "base64offset", "wide", "windash", "re", "cidr",
        "all", "lt", "lte", "gt", "gte",
    } == MODIFIERS  # fmt: skip
    # the three forms the pack used before: decimals (read as Double) and the `exists` modifier
    decimal = security_analytics_problems(_rule({"selection": {"prediction_score|gte": 0.45}}))
    assert decimal and "decimal number" in decimal[0]
    exists = security_analytics_problems(_rule({"selection": {"request_model|exists": True}}))
    assert exists and "modifier exists is unknown" in exists[0]
    assert security_analytics_problems(_rule({"selection": {"n|gt": 2**31}}))
    assert security_analytics_problems(_rule({"selection": {"prompt|re|i": "x"}}))
    assert security_analytics_problems(_rule({"selection": [{"a": [1, 2.5]}]}))
    assert security_analytics_problems(_rule({"selection": {"n|gte": 0, "s|contains|all": ["a", "b"]}})) == []


def test_rules_check_fails_on_a_rule_security_analytics_would_reject(tmp_path: Path) -> None:
    copy = tmp_path / "pack"
    shutil.copytree(PACK_ROOT, copy)
    path = copy / "rules" / "llm" / "llm_model_request.yml"
    data = yaml.safe_load(path.read_text())
    data["detection"]["selection"] = {"request_model|exists": True}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    issues = [i for i in check_pack(load_pack(copy)) if i.check == "security-analytics"]
    assert [(i.rule, "exists" in i.message) for i in issues] == [("llm_model_request", True)]


class RejectingWire:
    """Security Analytics' REST API that refuses the rules named in `reject` with its parser's error."""

    def __init__(self, mock: responses.RequestsMock, reject: set[str]) -> None:
        self.reject = reject
        self.uploads: list[str] = []
        for method in ("GET", "POST", "PUT"):
            mock.add_callback(
                method,
                re.compile(re.escape(OS_URL) + r"/.*"),
                callback=self.answer,
                content_type="application/json",
            )

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = request.path_url.partition("?")[0]
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        if path == "/":
            return 200, {}, json.dumps(OS_INFO)
        if path.endswith("/_search"):
            return 200, {}, json.dumps({"hits": {"total": {"value": 0}, "hits": []}})
        if path.endswith("/rules"):
            title = yaml.safe_load(body)["title"]
            self.uploads.append(title)
            if title in self.reject:
                error = {"type": "security_analytics_exception", "reason": "Unknown modifier exists"}
                return 400, {}, json.dumps({"error": {"root_cause": [error], **error}, "status": 400})
        return 201, {}, json.dumps({"_id": "new", "result": "created"})


def test_a_rejected_rule_does_not_stop_the_others() -> None:
    requests = security_analytics_requests(PACK)
    first, last = PACK.detections[0].title, PACK.detections[-1].title
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        wire = RejectingWire(mock, reject={first})
        sent = send_requests(Engine.connect(ConnectionSettings(url=OS_URL)), requests)
    assert len(sent) == len(requests) and wire.uploads[-1] == last
    assert len(wire.uploads) == len(PACK.detections)
    failed = [s for s in sent if s.outcome == "failed"]
    assert [s.request.rule_title for s in failed] == [first]
    assert failed[0].error and "400" in failed[0].error
    assert {s.outcome for s in sent} - {"failed"} == {"created"}


def test_export_cli_reports_every_outcome_and_exits_1_on_a_failure() -> None:
    rejected = PACK.detections[3].title
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        RejectingWire(mock, reject={rejected})
        result = runner.invoke(
            app, ["rules", "export", "-t", "opensearch-security-analytics", "--url", OS_URL, "--json"]
        )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["failed"] == 1 and len(report["requests"]) == 3 + len(PACK.detections)
    bad = [r for r in report["requests"] if r["outcome"] == "failed"]
    assert len(bad) == 1 and rejected in bad[0]["title"] and "error" in bad[0]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        RejectingWire(mock, reject=set())
        result = runner.invoke(
            app, ["rules", "export", "-t", "opensearch-security-analytics", "--url", OS_URL]
        )
    assert result.exit_code == 0, result.output
    assert result.output.count("created") == 3 + len(PACK.detections)
