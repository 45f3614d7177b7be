"""Import the generated saved objects through Kibana's or OpenSearch Dashboards' import API.

`POST <url>[/s/<space>]/api/saved_objects/_import[?overwrite=true]` with the NDJSON as a multipart
`file` and the app's anti-CSRF header (`kbn-xsrf` for Kibana, `osd-xsrf` for OpenSearch Dashboards).
All selected dashboards go in one request, with each shared data view once, so a first import without
`--overwrite` does not trip over its own data views. The apps answer per object; the report keeps
that, so one refused object is named with its reason while the rest still land.

The dashboards app is not the search engine, so this is a small `requests` client of its own, but it
takes credentials and TLS from the same `ConnectionSettings` (MLSIEM_API_KEY, MLSIEM_USERNAME /
MLSIEM_PASSWORD, MLSIEM_CA_CERTS, --insecure): Kibana and OpenSearch Dashboards accept the engine's
users and API keys. Secrets go only into request headers, never into a message.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from dashboards.spec import DASHBOARDS_DIR, Flavor
from mlsiem.config import ConnectionSettings
from mlsiem.errors import ConfigError, MlsiemError

XSRF_HEADER: dict[str, str] = {"kibana": "kbn-xsrf", "opensearch": "osd-xsrf"}
APP_NAME: dict[str, str] = {"kibana": "Kibana", "opensearch": "OpenSearch Dashboards"}
IMPORT_PATH = "/api/saved_objects/_import"
TENANT_HEADER = "securitytenant"  # OpenSearch security plugin: which tenant the objects go to


class DashboardsImportError(MlsiemError):
    """The dashboards app could not be reached or refused the import request as a whole."""


@dataclass(frozen=True)
class ObjectResult:
    type: str
    id: str
    title: str
    outcome: str  # created | overwritten | error
    error: str | None = None


@dataclass
class ImportReport:
    url: str
    flavor: Flavor
    space: str | None
    objects: list[ObjectResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.outcome != "error" for o in self.objects)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def saved_object_files(
    flavor: Flavor, names: list[str] | None = None, folder: Path | None = None
) -> list[Path]:
    """The flavor's NDJSON files (all, or those named, e.g. `mlsiem-drift`)."""
    folder = folder or DASHBOARDS_DIR / flavor
    available = {p.stem: p for p in sorted(folder.glob("*.ndjson"))}
    if not available:
        raise ConfigError(
            f"{folder}: no saved-object files (*.ndjson) found; run python dashboards/generate.py"
        )
    if not names:
        return list(available.values())
    unknown = [n for n in names if n.removesuffix(".ndjson") not in available]
    if unknown:
        raise ConfigError(f"unknown dashboard file(s) {unknown}; available: {sorted(available)}")
    return [available[n.removesuffix(".ndjson")] for n in names]


def merged_payload(files: list[Path]) -> tuple[bytes, list[dict[str, Any]]]:
    """One NDJSON body of all objects, each (type, id) once, in file order; and the objects."""
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
            if not isinstance(obj, dict) or "type" not in obj or "id" not in obj:
                raise ConfigError(f"{path}:{number}: a saved object needs a type and an id")
            objects.setdefault((obj["type"], obj["id"]), obj)
    body = "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=False) + "\n" for o in objects.values())
    return body.encode("utf-8"), list(objects.values())


def _session(settings: ConnectionSettings, flavor: Flavor, tenant: str | None) -> requests.Session:
    session = requests.Session()
    session.headers[XSRF_HEADER[flavor]] = "true"
    if tenant:
        session.headers[TENANT_HEADER] = tenant
    if settings.api_key:
        session.headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
    elif settings.username and settings.password:
        session.auth = (settings.username, settings.password.get_secret_value())
    return session


def _verify(settings: ConnectionSettings) -> bool | str:
    """TLS verification as `requests` takes it, passed on the call itself: a session-level value loses
    to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment, and MLSIEM_CA_CERTS and --insecure
    must win."""
    if not settings.verify_tls:
        return False
    return str(settings.ca_certs) if settings.ca_certs else True


def _describe_error(error: dict[str, Any]) -> str:
    kind = error.get("type", "unknown")
    if kind == "conflict":
        return "already exists; pass --overwrite to replace it"
    if kind == "ambiguous_conflict":
        return "matches several existing objects; pass --overwrite or resolve it in the app"
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')}/{r.get('id')}" for r in error.get("references", []))
        return f"refers to objects that are neither in the file nor on the server: {refs}"
    if kind == "unsupported_type":
        return "this server does not know the object type (wrong --flavor?)"
    message = error.get("message") or error.get("error") or json.dumps(error)[:300]
    status = error.get("statusCode")
    return f"{message} ({status})" if status else str(message)


def _refused(
    response: requests.Response, url: str, flavor: Flavor, space: str | None
) -> DashboardsImportError:
    status = response.status_code
    try:
        body = response.json()
        detail = body.get("message") or body.get("error") or json.dumps(body)[:300]
    except ValueError:
        detail = response.text[:300].strip() or response.reason
    if status in (401, 403):
        hint = (
            "check MLSIEM_USERNAME / MLSIEM_PASSWORD or MLSIEM_API_KEY (and the user's saved-object rights)"
        )
        return DashboardsImportError(f"{url} refused the credentials ({status}): {detail}; {hint}")
    if status == 404:
        where = f" or the space {space!r} does not exist" if space else ""
        return DashboardsImportError(
            f"{url}: no saved-objects import API here ({status}){where}; give the Kibana / OpenSearch "
            "Dashboards address (usually port 5601, including any base path), not the engine's"
        )
    if status == 413:
        return DashboardsImportError(f"{url}: the import is larger than the server accepts (413): {detail}")
    if status == 400 and "no handler found" in str(detail):
        return DashboardsImportError(f"{url} looks like the search engine, not {APP_NAME[flavor]}: {detail}")
    return DashboardsImportError(f"{url} refused the import ({status}): {detail}")


def _results(answer: dict[str, Any], sent: list[dict[str, Any]]) -> list[ObjectResult]:
    titles = {(o["type"], o["id"]): str(o.get("attributes", {}).get("title", "")) for o in sent}
    done: dict[tuple[str, str], ObjectResult] = {}
    for item in answer.get("successResults") or []:
        key = (item.get("type", ""), item.get("id", ""))
        outcome = "overwritten" if item.get("overwrite") else "created"
        done[key] = ObjectResult(key[0], key[1], titles.get(key, ""), outcome)
    for item in answer.get("errors") or []:
        key = (item.get("type", ""), item.get("id", ""))
        title = item.get("title") or (item.get("meta") or {}).get("title") or titles.get(key, "")
        done[key] = ObjectResult(key[0], key[1], title, "error", _describe_error(item.get("error") or {}))
    for key, title in titles.items():
        if key not in done:
            # Older servers answer only with successCount; a clean answer means every object landed.
            if answer.get("success") and not answer.get("errors"):
                done[key] = ObjectResult(key[0], key[1], title, "created")
            else:
                done[key] = ObjectResult(key[0], key[1], title, "error", "not reported back by the server")
    return [done[key] for key in titles] + [r for k, r in done.items() if k not in titles]


def import_saved_objects(
    settings: ConnectionSettings,
    flavor: Flavor,
    files: list[Path],
    *,
    space: str | None = None,
    tenant: str | None = None,
    overwrite: bool = False,
) -> ImportReport:
    """Send the files' objects in one import request and report each object's outcome."""
    if space and flavor != "kibana":
        raise ConfigError("--space is a Kibana feature; OpenSearch Dashboards uses tenants (--tenant)")
    if tenant and flavor != "opensearch":
        raise ConfigError("--tenant is an OpenSearch Dashboards feature; Kibana uses spaces (--space)")
    payload, sent = merged_payload(files)
    prefix = f"/s/{requests.utils.quote(space, safe='')}" if space else ""
    url = f"{settings.url}{prefix}{IMPORT_PATH}"
    params = {"overwrite": "true"} if overwrite else None
    session = _session(settings, flavor, tenant)
    try:
        response = session.post(
            url,
            params=params,
            files={"file": ("mlsiem-dashboards.ndjson", payload, "application/ndjson")},
            timeout=settings.timeout,
            verify=_verify(settings),
        )
    except requests.exceptions.SSLError:
        raise DashboardsImportError(
            f"TLS to {settings.safe_url} failed; check MLSIEM_CA_CERTS, or pass --insecure to skip "
            "verification knowingly"
        ) from None
    except requests.exceptions.Timeout:
        raise DashboardsImportError(
            f"{settings.safe_url} did not answer within {settings.timeout:g} s"
        ) from None
    except requests.exceptions.ConnectionError:
        raise DashboardsImportError(
            f"cannot reach {settings.safe_url} (is {APP_NAME[flavor]} running there?)"
        ) from None
    finally:
        session.close()
    if response.status_code != 200:
        raise _refused(response, f"{settings.safe_url}{prefix}", flavor, space)
    try:
        answer = response.json()
    except ValueError:
        raise DashboardsImportError(f"{settings.safe_url} answered 200 but not with JSON") from None
    return ImportReport(settings.safe_url, flavor, space, _results(answer, sent))
