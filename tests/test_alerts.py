"""Alerts with suppression, detector state and locks on the real engine; the signed webhook locally."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from detections.actions import Webhook, WebhookConfig, verify_signature
from detections.alerts import AlertWriter, Finding
from detections.state import DetectorState
from mlsiem.adapter import Engine
from mlsiem.ecs.findings import Rule, Threat, ThreatEntry
from mlsiem.indices import alerts_alias
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
RULE = Rule(id="mlsiem-extraction-probing", name="Model extraction by probing", category="security")


def finding(start: datetime, severity: str = "medium", ip: str = "203.0.113.9") -> Finding:
    return Finding(
        rule=RULE,
        severity=severity,  # type: ignore[arg-type]
        reason=f"{ip} sent 5000 requests to credit-scorer in 5 minutes.",
        window_start=start,
        window_end=start + timedelta(minutes=5),
        group={"source.ip": ip, "mlsiem.model.name": "credit-scorer"},
        threat=Threat(technique=ThreatEntry(id=["AML.T0024"], name=["Exfiltration via AI Inference API"])),
        suppression=timedelta(hours=1),
    )


def alerts(engine: Engine, namespace: str) -> list[dict]:
    engine.refresh(alerts_alias(namespace))
    hits = engine.search(alerts_alias(namespace), {"size": 100, "sort": [{"event.start": "asc"}]})["hits"][
        "hits"
    ]
    return [h["_source"] for h in hits]


def test_suppression_reruns_and_new_periods(engine: Engine, namespace: str) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    writer = AlertWriter(engine, namespace)
    assert writer.write(finding(T0)) == "created"
    assert writer.write(finding(T0)) == "unchanged"  # the same window again: nothing changes
    assert writer.write(finding(T0 + timedelta(minutes=5), severity="high")) == "updated"
    assert writer.write(finding(T0 + timedelta(minutes=5))) == "unchanged"
    assert writer.write(finding(T0 + timedelta(hours=1))) == "created"  # the next suppression period
    assert writer.write(finding(T0, ip="198.51.100.7")) == "created"  # another group

    found = alerts(engine, namespace)
    assert len(found) == 3
    first = next(
        a
        for a in found
        if a["source"]["ip"] == "203.0.113.9" and a["event"]["start"].startswith("2026-11-25T10:00")
    )
    assert first["mlsiem"]["alert"]["occurrences"] == 2
    assert first["mlsiem"]["alert"]["severity"] == "high" and first["event"]["severity"] == 73
    assert first["event"]["end"].startswith("2026-11-25T10:10")
    assert first["event"]["category"] == ["intrusion_detection"]
    assert first["threat"]["technique"]["id"] == ["AML.T0024"]
    by_cidr = {"query": {"term": {"source.ip": "203.0.113.0/24"}}}
    assert engine.search(alerts_alias(namespace), by_cidr)["hits"]["total"]["value"] == 2


def test_checkpoints_and_leases(engine: Engine, namespace: str) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    first = DetectorState(engine, job=namespace, owner="first")
    second = DetectorState(engine, job=namespace, owner="second")
    assert first.checkpoint("drift") is None
    first.advance("drift", T0)
    assert second.checkpoint("drift") == T0

    # A checkpoint moves only from the version its writer read.
    read = first.checkpoints(["drift", "other"])
    assert read["other"] is None and read["drift"] is not None and read["drift"].until == T0
    assert second.advance_from([("drift", read["drift"], T0 + timedelta(hours=1))]) == []
    assert first.advance_from([("drift", read["drift"], T0 + timedelta(hours=2))]) == ["drift"]  # moved
    assert first.advance_from([("other", None, T0)]) == [] and second.advance_from([("other", None, T0)]) == [
        "other"
    ]
    assert first.checkpoint("drift") == T0 + timedelta(hours=1)

    minute = timedelta(minutes=1)
    lease = first.acquire("models/3", minute)
    assert lease is not None and second.acquire("models/3", minute) is None  # held and alive
    renewed = first.renew(lease, timedelta(seconds=1))
    assert renewed is not None and first.renew(lease, minute) is None  # a stale version never wins
    time.sleep(1.2)  # the holder died: its lease expired
    taken = second.acquire("models/3", minute)
    assert taken is not None and second.holder("models/3") == "second"
    assert first.renew(renewed, minute) is None  # the old holder woke up: its writes must stop
    first.release(renewed)  # no effect on the new holder's lease
    assert first.acquire("models/3", minute) is None
    second.release(taken)
    assert first.holder("models/3") is None and first.acquire("models/3", minute) is not None


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012
    redirect_to: str | None = None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        if type(self).redirect_to:
            self.send_response(307)
            self.send_header("Location", type(self).redirect_to)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "redirect_to": None})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", handler
    server.shutdown()


def test_webhook_delivers_signed_alerts(receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = receiver
    monkeypatch.setenv("MLSIEM_WEBHOOK_SECRET", "hook-secret-123")
    hook = Webhook(WebhookConfig(url=url, min_severity="high", insecure=True))
    assert hook.wants("critical") and not hook.wants("medium")
    alert = {"rule": {"id": "r"}, "mlsiem": {"alert": {"severity": "high"}}}
    assert hook.send(alert)
    headers, body = handler.received[0]
    assert json.loads(body) == alert
    assert verify_signature(b"hook-secret-123", headers, body)
    assert not verify_signature(b"another-secret", headers, body)
    assert not verify_signature(b"hook-secret-123", headers, body + b" ")
    assert "hook-secret-123" not in json.dumps(headers)


def test_webhook_does_not_follow_redirects(receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = receiver
    handler.redirect_to = "http://127.0.0.1:9/elsewhere"
    monkeypatch.setenv("MLSIEM_WEBHOOK_SECRET", "s")
    assert not Webhook(WebhookConfig(url=url, insecure=True, retries=0)).send({"a": 1})
    assert len(handler.received) == 1


def test_webhook_needs_https_unless_insecure_and_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="not HTTPS"):
        WebhookConfig(url="http://controller.example/hook")
    monkeypatch.delenv("MLSIEM_WEBHOOK_SECRET", raising=False)
    from mlsiem.errors import ConfigError

    with pytest.raises(ConfigError, match="MLSIEM_WEBHOOK_SECRET"):
        Webhook(WebhookConfig(url="https://controller.example/hook"))
