"""The one engine adapter: OpenSearch 2.x (`opensearch-py`) and Elasticsearch 8.x/9.x (`elasticsearch`).

Everything above this module talks to `Engine` and never asks which server it is. The two servers share
the REST paths we use (`_bulk`, `_search`, `_index_template`, `_component_template`, `_data_stream`,
aliases); they differ in lifecycle management (ISM vs ILM) and a few mapping types, and those
differences stay here.

Detection asks `GET /` through opensearch-py (it does not insist on a product header), then builds
the client that fits. The Elasticsearch client keeps its product check: a server that claims to be
Elasticsearch without the `X-Elastic-Product` header is refused with a clear error.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import orjson

from mlsiem.config import ConnectionSettings
from mlsiem.errors import EngineError, EngineUnreachable
from mlsiem.lifecycle import LifecyclePolicy, to_ilm, to_ism


class EngineKind(StrEnum):
    OPENSEARCH = "opensearch"
    ELASTICSEARCH = "elasticsearch"


# Elasticsearch's REST compatibility media types: an 8.x client speaks to 8.x and 9.x servers.
_ES_JSON = "application/vnd.elasticsearch+json; compatible-with=8"
_ES_NDJSON = "application/vnd.elasticsearch+x-ndjson; compatible-with=8"


def _fast_json_serializer() -> Any:
    """opensearch-py's serializer, reading responses with orjson: the detector job's multi-search answers
    run to megabytes, and the standard library parser was a large share of the job's own CPU."""
    from opensearchpy.serializer import JSONSerializer

    class FastJSONSerializer(JSONSerializer):
        def loads(self, s: str) -> Any:
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:  # e.g. integers beyond 64 bits: the standard parser takes them
                return super().loads(s)

    return FastJSONSerializer()


def _opensearch_client(settings: ConnectionSettings) -> Any:
    from opensearchpy import OpenSearch, RequestsHttpConnection

    kwargs: dict[str, Any] = {
        "hosts": [settings.url],
        "timeout": settings.timeout,
        "verify_certs": settings.verify_tls,
        "ssl_show_warn": settings.verify_tls,
        # requests-based connections: one HTTP stack for both engines (and for `responses` in tests).
        "connection_class": RequestsHttpConnection,
        "http_compress": False,
        "serializer": _fast_json_serializer(),
    }
    if settings.ca_certs:
        kwargs["ca_certs"] = str(settings.ca_certs)
    if settings.username and settings.password:
        kwargs["http_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.api_key:
        kwargs["headers"] = {"Authorization": f"ApiKey {settings.api_key.get_secret_value()}"}
    client = OpenSearch(**kwargs)
    _pin_tls_settings(c.session for c in client.transport.connection_pool.connections)
    return client


def _elasticsearch_client(settings: ConnectionSettings) -> Any:
    from elasticsearch import Elasticsearch

    kwargs: dict[str, Any] = {
        "hosts": [settings.url],
        "request_timeout": settings.timeout,
        "verify_certs": settings.verify_tls,
        "ssl_show_warn": settings.verify_tls,
        "node_class": "requests",
    }
    if settings.ca_certs:
        kwargs["ca_certs"] = str(settings.ca_certs)
    if settings.username and settings.password:
        kwargs["basic_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.api_key:
        kwargs["api_key"] = settings.api_key.get_secret_value()
    client = Elasticsearch(**kwargs)
    _pin_tls_settings(node.session for node in client.transport.node_pool.all())
    return client


def _pin_tls_settings(sessions: Iterable[Any]) -> None:
    """Our TLS settings must win: requests otherwise lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the
    CA file and even turn verification back on under --insecure. Proxies are then not read from the
    environment either (set them explicitly if a SIEM sits behind one)."""
    for session in sessions:
        session.trust_env = False


def _error_from(exc: Exception, what: str, settings: ConnectionSettings) -> EngineError:
    """A readable EngineError from either client's exception, without credentials."""
    status = getattr(exc, "status_code", None)
    meta = getattr(exc, "meta", None)
    if status is None and meta is not None:
        status = getattr(meta, "status", None)
    if not isinstance(status, int):
        status = None
    body = getattr(exc, "info", None) or getattr(exc, "body", None)
    reason = None
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            root = (err.get("root_cause") or [err])[0]
            reason = f"{root.get('type')}: {root.get('reason')}"
        elif err:
            reason = str(err)
    name = type(exc).__name__
    if status == 401 and not (settings.api_key or settings.username):
        return EngineError(
            f"{what}: {settings.safe_url} asks for credentials (401) and none are set; set MLSIEM_USERNAME "
            "and MLSIEM_PASSWORD (or MLSIEM_PASSWORD_FILE), or MLSIEM_API_KEY (or MLSIEM_API_KEY_FILE)",
            status,
        )
    if status == 401:
        hint = "check MLSIEM_USERNAME / MLSIEM_PASSWORD or MLSIEM_API_KEY"
        return EngineError(f"{what}: {settings.safe_url} refused the credentials ({status}); {hint}", status)
    if status == 403:
        # Authenticated, but the role lacks a privilege: name the request and the engine's reason.
        because = f": {reason}" if reason else ""
        return EngineError(
            f"{what}: {settings.safe_url} accepted the credentials but denied this request (403){because}; "
            "the user or API key needs a role that allows it (see docs/security.md)",
            status,
        )
    if "SSL" in name or "Tls" in name or "SSL" in str(exc)[:200] or "certificate" in str(exc).lower():
        return EngineError(f"{what}: {_tls_problem(str(exc), settings)}", status)
    if status == 400 and settings.url.startswith("http://") and _asks_for_https(str(exc)):
        return EngineError(
            f"{what}: {settings.safe_url} answered 400 to plain HTTP and asks for HTTPS; use an https:// URL",
            status,
        )
    if "Connection" in name or "ConnectionError" in name:
        return EngineUnreachable(f"{what}: cannot reach {settings.safe_url} ({name})", status)
    if "UnsupportedProduct" in name:
        return EngineError(
            f"{what}: {settings.safe_url} does not identify itself as Elasticsearch "
            "(missing X-Elastic-Product "
            "header); use --engine opensearch if it is OpenSearch",
            status,
        )
    detail = reason or str(exc)[:300]
    return EngineError(f"{what}: the engine answered {status or name}: {detail}", status, body)


def _asks_for_https(text: str) -> bool:
    """A proxy's answer to plain HTTP on its TLS port (nginx: "The plain HTTP request was sent to HTTPS
    port"; Go servers: "Client sent an HTTP request to an HTTPS server")."""
    lowered = text.lower()
    return "https port" in lowered or "https server" in lowered


def _tls_problem(text: str, settings: ConnectionSettings) -> str:
    """Why the TLS handshake failed, in words: the verification reason and the CAs it was checked with."""
    verify = re.search(r"certificate verify failed: (.+?)(?: \(_ssl\.c:\d+\)|['\"]\)|$)", text)
    if verify:
        reason = verify.group(1).rstrip(".")
        if "hostname mismatch" in reason.lower():
            return (
                f"the TLS certificate of {settings.safe_url} does not name that host ({reason}); "
                "use a host name the certificate carries in the URL"
            )
        trusted = (
            f"the CA file MLSIEM_CA_CERTS={settings.ca_certs}"
            if settings.ca_certs
            else "the system CA store (MLSIEM_CA_CERTS is not set)"
        )
        return (
            f"the TLS certificate of {settings.safe_url} failed verification ({reason}) against {trusted}; "
            "point MLSIEM_CA_CERTS at the CA that signed it, or pass --insecure to skip verification "
            "knowingly"
        )
    if "WRONG_VERSION_NUMBER" in text and settings.url.startswith("https://"):
        return f"{settings.safe_url} does not speak TLS; use an http:// URL if it serves plain HTTP"
    detail = re.search(r"\[SSL: [A-Z0-9_]+\] ([^'\"(]+)", text)
    reason = f" ({detail.group(1).strip()})" if detail else ""
    return (
        f"TLS to {settings.safe_url} failed{reason}; check MLSIEM_CA_CERTS, or pass --insecure to skip "
        "verification knowingly"
    )


class Engine:
    """A connected OpenSearch or Elasticsearch cluster."""

    def __init__(self, settings: ConnectionSettings, kind: EngineKind, client: Any, info: dict) -> None:
        self.settings = settings
        self.kind = kind
        self.client = client
        self.info = info

    @classmethod
    def connect(cls, settings: ConnectionSettings) -> Engine:
        """Connect, find out which server this is (unless `settings.engine` says) and check it answers."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # --insecure warns once at the CLI, not per request
            if settings.engine in ("auto", "opensearch"):
                probe = _opensearch_client(settings)
                try:
                    info = probe.info()
                except Exception as exc:
                    raise _error_from(exc, "connecting", settings) from None
                distribution = info.get("version", {}).get("distribution")
                is_opensearch = distribution == "opensearch"
                if settings.engine == "opensearch" or is_opensearch:
                    return cls(settings, EngineKind.OPENSEARCH, probe, info)
            client = _elasticsearch_client(settings)
            try:
                info = dict(client.info())
            except Exception as exc:
                raise _error_from(exc, "connecting", settings) from None
            return cls(settings, EngineKind.ELASTICSEARCH, client, info)

    @property
    def version(self) -> str:
        return str(self.info.get("version", {}).get("number", "unknown"))

    @property
    def description(self) -> str:
        return f"{self.kind.value} {self.version} at {self.settings.safe_url}"

    # -- the one primitive ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        what: str | None = None,
        ignore: Iterable[int] = (),
    ) -> Any:
        """Send one REST request and return the decoded body; statuses in `ignore` give None, not an error."""
        ignore = tuple(ignore)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.kind is EngineKind.OPENSEARCH:
                    # Query parameters go into the URL: opensearch-py would take `timeout` (a parameter
                    # of several APIs) as its own request timeout.
                    query = f"?{urlencode(params)}" if params else ""
                    return self.client.transport.perform_request(method, path + query, body=body)
                headers = {"accept": _ES_JSON}
                if body is not None:
                    headers["content-type"] = _ES_JSON
                return self.client.perform_request(
                    method, path, params=params, headers=headers, body=body
                ).body
        except Exception as exc:
            error = _error_from(exc, what or f"{method} {path}", self.settings)
            if error.status is not None and error.status in ignore:
                return None
            raise error from None

    def bulk(self, ndjson: bytes, refresh: bool | str = False, filter_path: str | None = None) -> dict:
        """Send a prepared `_bulk` body (NDJSON bytes, ending in a newline); `filter_path` trims the
        answer to what the caller reads (less for the engine to write and for us to parse)."""
        params: dict[str, str] = {"refresh": "true" if refresh is True else refresh} if refresh else {}
        if filter_path:
            params["filter_path"] = filter_path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.kind is EngineKind.OPENSEARCH:
                    return self.client.transport.perform_request(
                        "POST",
                        "/_bulk",
                        params=params or None,
                        body=ndjson,
                        headers={"content-type": "application/x-ndjson"},
                    )
                headers = {"accept": _ES_JSON, "content-type": _ES_NDJSON}
                return self.client.perform_request(
                    "POST", "/_bulk", params=params or None, headers=headers, body=ndjson
                ).body
        except Exception as exc:
            raise _error_from(exc, "bulk request", self.settings) from None

    def msearch(self, ndjson: bytes) -> dict:
        """Send a prepared `_msearch` body (header and search lines, NDJSON bytes ending in a newline)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.kind is EngineKind.OPENSEARCH:
                    return self.client.transport.perform_request(
                        "POST", "/_msearch", body=ndjson, headers={"content-type": "application/x-ndjson"}
                    )
                headers = {"accept": _ES_JSON, "content-type": _ES_NDJSON}
                return self.client.perform_request("POST", "/_msearch", headers=headers, body=ndjson).body
        except Exception as exc:
            raise _error_from(exc, "multi-search request", self.settings) from None

    # -- conveniences built on `request` ----------------------------------------------------------

    def search(self, index: str, body: Mapping[str, Any], **params: Any) -> dict:
        return self.request(
            "POST", f"/{index}/_search", body=dict(body), params=params or None, what=f"search {index}"
        )

    def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": dict(query)} if query else None
        result = self.request("POST", f"/{index}/_count", body=body, what=f"count {index}")
        return int(result["count"])

    def refresh(self, index: str) -> None:
        self.request("POST", f"/{index}/_refresh", what=f"refresh {index}")

    def get_document(self, index: str, doc_id: str) -> dict | None:
        return self.request("GET", f"/{index}/_doc/{doc_id}", what=f"get {index}/{doc_id}", ignore=(404,))

    def create_document(
        self, index: str, doc_id: str, document: Mapping[str, Any], refresh: bool = False
    ) -> bool:
        """`op_type: create` with our deterministic id. False when the document already exists (409)."""
        params = {"refresh": "true"} if refresh else None
        result = self.request(
            "PUT",
            f"/{index}/_create/{doc_id}",
            body=dict(document),
            params=params,
            what=f"create {index}/{doc_id}",
            ignore=(409,),
        )
        return result is not None

    def index_document(
        self, index: str, doc_id: str, document: Mapping[str, Any], refresh: bool = False
    ) -> dict:
        """Create or overwrite (for updatable indices: alerts, baselines, state)."""
        params = {"refresh": "true"} if refresh else None
        return self.request(
            "PUT", f"/{index}/_doc/{doc_id}", body=dict(document), params=params, what=f"index {index}"
        )

    def exists(self, path: str) -> bool:
        """Whether an index, alias or data stream exists at `path` (GET: no HEAD for OpenSearch streams)."""
        return self.request("GET", path, what=f"look up {path}", ignore=(404,)) is not None

    def mapping(self, index: str) -> dict:
        return self.request("GET", f"/{index}/_mapping", what=f"mapping of {index}")

    # -- lifecycle management: the one place where the two engines' APIs differ --------------------

    def has_lifecycle_management(self) -> bool:
        """ILM is built into Elasticsearch; ISM is a plugin that a bare OpenSearch node may lack."""
        if self.kind is EngineKind.ELASTICSEARCH:
            return True
        plugins = self.request("GET", "/_cat/plugins", params={"format": "json"}, what="list plugins") or []
        return any(p.get("component") == "opensearch-index-management" for p in plugins)

    def ensure_lifecycle_policy(self, policy: LifecyclePolicy, fingerprint: str) -> str:
        """Create or update `policy` (ILM or ISM); "unchanged" when the stored one has this fingerprint."""
        meta = {"managed_by": "mlsiem", "mlsiem_fingerprint": fingerprint}
        if self.kind is EngineKind.ELASTICSEARCH:
            found = self.request("GET", f"/_ilm/policy/{policy.name}", what="get ILM policy", ignore=(404,))
            stored = ((found or {}).get(policy.name) or {}).get("policy", {}).get("_meta", {})
            if stored.get("mlsiem_fingerprint") == fingerprint:
                return "unchanged"
            self.request(
                "PUT", f"/_ilm/policy/{policy.name}", body=to_ilm(policy, meta), what="put ILM policy"
            )
            return "updated" if found else "created"
        path = f"/_plugins/_ism/policies/{policy.name}"
        found = self.request("GET", path, what="get ISM policy", ignore=(404,))
        if found and f"mlsiem_fingerprint={fingerprint}" in found.get("policy", {}).get("description", ""):
            return "unchanged"
        params = {"if_seq_no": found["_seq_no"], "if_primary_term": found["_primary_term"]} if found else None
        self.request("PUT", path, body=to_ism(policy, meta), params=params, what="put ISM policy")
        return "updated" if found else "created"

    def lifecycle_index_settings(self, policy_name: str, rollover_alias: str | None = None) -> dict[str, str]:
        """Index settings that attach a policy (ILM names it; ISM attaches by pattern and needs the alias)."""
        if self.kind is EngineKind.ELASTICSEARCH:
            settings = {"index.lifecycle.name": policy_name}
            if rollover_alias:
                settings["index.lifecycle.rollover_alias"] = rollover_alias
            return settings
        if rollover_alias:
            return {"plugins.index_state_management.rollover_alias": rollover_alias}
        return {}


def dumps(document: Mapping[str, Any]) -> str:
    """Compact JSON as the engines receive it (one line, UTF-8 kept)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
