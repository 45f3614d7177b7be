"""Alert actions: a signed webhook POST, so a deployment controller can halt a canary or roll back.

The body is the alert document as JSON. `X-Mlsiem-Timestamp` carries the send time (Unix seconds) and
`X-Mlsiem-Signature` is `sha256=` + HMAC-SHA256(secret, timestamp + "." + body): a receiver recomputes
it with `verify_signature` and refuses stale timestamps, which stops replays. The secret comes from
the environment (or a file), never from configuration files or the command line. Only HTTPS unless the
configuration says `insecure: true`; redirects are never followed (a redirect could carry the signed
alert to another host).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from mlsiem.ecs.findings import SeverityLabel
from mlsiem.errors import ConfigError

_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    min_severity: SeverityLabel = "high"
    secret_env: str = "MLSIEM_WEBHOOK_SECRET"  # the variable holding the secret (or NAME_FILE naming a file)
    timeout: float = 5.0
    retries: int = 3
    insecure: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("the webhook URL must not carry credentials; the HMAC secret signs each request")
        return url

    @model_validator(mode="after")
    def _https(self) -> WebhookConfig:
        if urlsplit(self.url).scheme != "https" and not self.insecure:
            raise ValueError(
                f"webhook {self.url} is not HTTPS; set insecure: true to allow plain HTTP knowingly"
            )
        return self


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, headers: dict[str, str], body: bytes, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """For receivers: the signature matches and the timestamp is fresh."""
    timestamp = headers.get("X-Mlsiem-Timestamp", "")
    signature = headers.get("X-Mlsiem-Signature", "")
    try:
        age = abs((now or time.time()) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _secret(name: str) -> bytes:
    value = os.environ.get(name)
    if not value and os.environ.get(f"{name}_FILE"):
        value = Path(os.environ[f"{name}_FILE"]).read_text().strip()
    if not value:
        raise ConfigError(f"the webhook secret is not set: put it in {name} (or a file named by {name}_FILE)")
    return value.encode()


class Webhook:
    def __init__(self, config: WebhookConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.secret = _secret(config.secret_env)
        self.session = session or requests.Session()

    def wants(self, severity: str) -> bool:
        return _RANK[severity] >= _RANK[self.config.min_severity]

    def send(self, alert: dict[str, Any]) -> bool:
        """POST the alert; True once the receiver answered 2xx. Retries 5xx and connection errors."""
        body = json.dumps(alert, separators=(",", ":"), sort_keys=True).encode()
        for attempt in range(self.config.retries + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Mlsiem-Timestamp": timestamp,
                "X-Mlsiem-Signature": sign(self.secret, timestamp, body),
            }
            try:
                response = self.session.post(
                    self.config.url,
                    data=body,
                    headers=headers,
                    timeout=self.config.timeout,
                    allow_redirects=False,
                )
                if 200 <= response.status_code < 300:
                    return True
                if response.status_code < 500 and response.status_code != 429:
                    return False  # refused (or a redirect we will not follow): retrying will not help
            except requests.RequestException:
                pass
            time.sleep(random.uniform(0, min(5.0, 0.2 * 2**attempt)))
        return False
