"""`mlsiem dashboards import` and `mlsiem setup --dashboards` at the wire level.

No Kibana or OpenSearch Dashboards runs here, so `responses` plays the saved-objects import API: a small
store that parses the multipart NDJSON the client sends and answers per object the way the apps do
(created, `overwrite: true`, conflict errors without `?overwrite=true`). The engine side of `setup`
is the real local engine.
"""

from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
import responses
from typer.testing import CliRunner

from cli import app
from dashboards.importer import (
    DashboardsImportError,
    import_saved_objects,
    merged_payload,
    saved_object_files,
)
from mlsiem.config import ConnectionSettings
from mlsiem.errors import ConfigError
from mlsiem.local_engine import LocalEngine

KIBANA = "https://kibana.example:5601"
OSD = "http://osd.example:5601"
runner = CliRunner()


def parse_multipart(request: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """(form field name, file name, objects) of the one file part in a multipart request."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    (part,) = message.iter_parts()
    disposition = part.get("Content-Disposition")
    name = re.search(r' name="([^"]+)"', disposition).group(1)  # type: ignore[union-attr]
    text = part.get_payload(decode=True).decode()
    return name, part.get_filename(), [json.loads(line) for line in text.splitlines()]


class SavedObjectsApi:
    """Answers POST .../api/saved_objects/_import like Kibana 8 / OpenSearch Dashboards 2 do."""

    def __init__(
        self, mock: responses.RequestsMock, base: str, failing: dict[str, dict] | None = None
    ) -> None:
        self.stored: dict[tuple[str, str], dict] = {}
        self.calls: list[dict[str, Any]] = []
        self.failing = failing or {}
        path = re.compile(re.escape(base) + r"(/s/[^/]+)?/api/saved_objects/_import")
        mock.add_callback(responses.POST, path, callback=self.answer, content_type="application/json")

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        field, filename, objects = parse_multipart(request)
        overwrite = "overwrite=true" in request.url
        self.calls.append({"request": request, "field": field, "filename": filename, "objects": objects})
        successes, errors = [], []
        for obj in objects:
            key = (obj["type"], obj["id"])
            meta = {"title": obj["attributes"].get("title"), "icon": "x"}
            if obj["id"] in self.failing:
                errors.append({"type": key[0], "id": key[1], "meta": meta, "error": self.failing[obj["id"]]})
            elif key in self.stored and not overwrite:
                errors.append({"type": key[0], "id": key[1], "meta": meta, "error": {"type": "conflict"}})
            else:
                item = {"type": key[0], "id": key[1], "meta": meta}
                if key in self.stored:
                    item["overwrite"] = True
                self.stored[key] = obj
                successes.append(item)
        body = {"success": not errors, "successCount": len(successes), "successResults": successes}
        if errors:
            body["errors"] = errors
        return 200, {}, json.dumps(body)


def all_files(flavor: str) -> list[Path]:
    return saved_object_files(flavor)  # type: ignore[arg-type]


@responses.activate
def test_kibana_import_sends_one_multipart_ndjson_with_the_xsrf_header() -> None:
    api = SavedObjectsApi(responses.mock, KIBANA)
    settings = ConnectionSettings(url=KIBANA, username="analyst", password="s3cret-pw-123")
    report = import_saved_objects(settings, "kibana", all_files("kibana"), space="soc")

    (call,) = api.calls
    request = call["request"]
    assert request.url == f"{KIBANA}/s/soc/api/saved_objects/_import"
    assert request.headers["kbn-xsrf"] == "true" and "osd-xsrf" not in request.headers
    assert (
        request.headers["Authorization"].startswith("Basic ")
        and "s3cret" not in request.headers["Authorization"]
    )
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert call["field"] == "file" and call["filename"].endswith(".ndjson")
    keys = [(o["type"], o["id"]) for o in call["objects"]]
    assert len(keys) == len(set(keys)), "a data view shared by several dashboards is sent once"
    assert ("index-pattern", "mlsiem-dv-alerts") in keys and len(
        [k for k in keys if k[0] == "dashboard"]
    ) == 4
    assert request.req_kwargs["verify"] not in (False, None)  # on (requests may swap in the system bundle)

    assert report.ok and {o.outcome for o in report.objects} == {"created"}
    assert len(report.objects) == len(keys)
    triage = next(o for o in report.objects if o.id == "mlsiem-dashboard-triage")
    assert triage.title == "mlsiem - Model alerts triage"


@responses.activate
def test_second_import_conflicts_unless_overwrite() -> None:
    api = SavedObjectsApi(responses.mock, OSD)
    settings = ConnectionSettings(url=OSD)
    files = saved_object_files("opensearch", ["mlsiem-drift"])
    import_saved_objects(settings, "opensearch", files)

    again = import_saved_objects(settings, "opensearch", files)
    assert not again.ok
    assert {o.error for o in again.objects} == {"already exists; pass --overwrite to replace it"}

    replaced = import_saved_objects(settings, "opensearch", files, overwrite=True)
    assert replaced.ok and {o.outcome for o in replaced.objects} == {"overwritten"}
    request = api.calls[-1]["request"]
    assert request.url == f"{OSD}/api/saved_objects/_import?overwrite=true"
    assert request.headers["osd-xsrf"] == "true" and "kbn-xsrf" not in request.headers


@responses.activate
def test_per_object_errors_are_named_and_the_rest_still_lands() -> None:
    failing = {
        "mlsiem-vis-drift-heatmap": {"type": "unsupported_type"},
        "mlsiem-dashboard-drift": {
            "type": "missing_references",
            "references": [{"type": "visualization", "id": "mlsiem-vis-gone"}],
        },
        "mlsiem-dv-drift": {"type": "unknown", "message": "mapper exploded", "statusCode": 500},
    }
    SavedObjectsApi(responses.mock, OSD, failing)
    files = saved_object_files("opensearch", ["mlsiem-drift.ndjson"])
    report = import_saved_objects(ConnectionSettings(url=OSD), "opensearch", files)
    errors = {o.id: o.error for o in report.objects if o.outcome == "error"}
    assert errors == {
        "mlsiem-vis-drift-heatmap": "this server does not know the object type (wrong --flavor?)",
        "mlsiem-dashboard-drift": "refers to objects that are neither in the file nor on the server: "
        "visualization/mlsiem-vis-gone",
        "mlsiem-dv-drift": "mapper exploded (500)",
    }
    assert sum(o.outcome == "created" for o in report.objects) == len(report.objects) - 3


@responses.activate
def test_tenant_header_api_key_and_tls_settings(tmp_path: Path) -> None:
    api = SavedObjectsApi(responses.mock, "https://osd.example:5601")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = ConnectionSettings(url="https://osd.example:5601", api_key="aWQ6a2V5", ca_certs=ca)
    import_saved_objects(
        settings, "opensearch", saved_object_files("opensearch", ["mlsiem-drift"]), tenant="soc"
    )
    request = api.calls[-1]["request"]
    assert request.headers["securitytenant"] == "soc"
    assert request.headers["Authorization"] == "ApiKey aWQ6a2V5"
    assert request.req_kwargs["verify"] == str(ca)

    insecure = ConnectionSettings(url="https://osd.example:5601", verify_tls=False, ca_certs=ca)
    import_saved_objects(
        insecure, "opensearch", saved_object_files("opensearch", ["mlsiem-drift"]), overwrite=True
    )
    assert api.calls[-1]["request"].req_kwargs["verify"] is False


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"statusCode": 401, "message": "Unauthorized"}, "refused the credentials (401)"),
        (404, {"statusCode": 404, "message": "Not Found"}, "no saved-objects import API here (404)"),
        (
            400,
            {"error": "no handler found for uri [/api/saved_objects/_import]"},
            "looks like the search engine",
        ),
        (
            413,
            {"message": "Payload content length greater than maximum allowed"},
            "larger than the server accepts",
        ),
        (500, "<html>oops</html>", "refused the import (500): <html>oops</html>"),
    ],
)
@responses.activate
def test_request_level_failures_are_one_clear_error(status: int, body: Any, expected: str) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    responses.add(responses.POST, f"{KIBANA}/api/saved_objects/_import", status=status, **kwargs)
    settings = ConnectionSettings(url=KIBANA, username="analyst", password="s3cret-pw-123")
    with pytest.raises(DashboardsImportError, match=re.escape(expected)) as caught:
        import_saved_objects(settings, "kibana", saved_object_files("kibana", ["mlsiem-drift"]))
    assert "s3cret" not in str(caught.value)


def test_unreachable_server_and_flavor_mismatches() -> None:
    files = saved_object_files("kibana", ["mlsiem-drift"])
    with pytest.raises(
        DashboardsImportError, match=r"cannot reach http://127\.0\.0\.1:9 \(is Kibana running"
    ):
        import_saved_objects(ConnectionSettings(url="http://127.0.0.1:9", timeout=5), "kibana", files)
    with pytest.raises(ConfigError, match="--space is a Kibana feature"):
        import_saved_objects(ConnectionSettings(url=OSD), "opensearch", files, space="soc")
    with pytest.raises(ConfigError, match="--tenant is an OpenSearch Dashboards feature"):
        import_saved_objects(ConnectionSettings(url=KIBANA), "kibana", files, tenant="soc")
    with pytest.raises(ConfigError, match=r"unknown dashboard file\(s\) \['nope'\]"):
        saved_object_files("kibana", ["nope"])


def test_merged_payload_reports_a_broken_line(tmp_path: Path) -> None:
    good = saved_object_files("kibana", ["mlsiem-drift"])[0]
    broken = tmp_path / "broken.ndjson"
    broken.write_text(good.read_text() + "{not json\n")
    with pytest.raises(ConfigError, match=r"broken\.ndjson:\d+: not a JSON object"):
        merged_payload([broken])
    body, objects = merged_payload([good, good])
    assert body.count(b"\n") == len(objects) == len(good.read_text().splitlines())


@responses.activate
def test_cli_prints_each_object_and_exits_1_on_any_error(monkeypatch: pytest.MonkeyPatch) -> None:
    SavedObjectsApi(responses.mock, KIBANA, {"mlsiem-vis-llm-finish-reasons": {"type": "unsupported_type"}})
    monkeypatch.setenv("MLSIEM_USERNAME", "analyst")
    monkeypatch.setenv("MLSIEM_PASSWORD", "s3cret-pw-123")
    result = runner.invoke(
        app,
        ["dashboards", "import", "--url", KIBANA, "--flavor", "kibana", "--dashboard", "mlsiem-llm-usage"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 1, result.output
    assert "mlsiem-vis-llm-finish-reasons" in result.output and "wrong --flavor?" in result.output
    assert "imported, 1 failed" in result.output and "s3cret" not in result.output

    monkeypatch.setenv("MLSIEM_DASHBOARDS_URL", KIBANA)
    result = runner.invoke(app, ["dashboards", "import", "--flavor", "kibana", "--overwrite", "--json"])
    report = json.loads(result.output)
    assert report["url"] == KIBANA and report["flavor"] == "kibana" and report["ok"] is False
    assert {o["outcome"] for o in report["objects"]} == {"created", "overwritten", "error"}


def test_cli_refuses_a_url_with_credentials() -> None:
    result = runner.invoke(
        app, ["dashboards", "import", "--url", "http://u:p@kibana:5601", "--flavor", "kibana"]
    )
    assert isinstance(result.exception, ConfigError) and "carries credentials" in str(result.exception)


@responses.activate
def test_setup_imports_the_dashboards_of_the_engines_flavor(local_engine: LocalEngine) -> None:
    responses.add_passthru(local_engine.url)
    api = SavedObjectsApi(responses.mock, OSD)
    args = ["setup", "--url", local_engine.url, "--dashboards", OSD, "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)["dashboards"]
    assert report["flavor"] == "opensearch" and report["ok"]
    sent = {o["id"] for o in api.calls[0]["objects"]}
    expected = {o["id"] for o in merged_payload(saved_object_files("opensearch"))[1]}
    assert sent == expected

    again = runner.invoke(app, args)  # setup is idempotent: our own objects are replaced, not refused
    assert again.exit_code == 0, again.output
    assert api.calls[1]["request"].url.endswith("?overwrite=true")
    assert {o["outcome"] for o in json.loads(again.output)["dashboards"]["objects"]} == {"overwritten"}


def test_a_bad_dashboards_url_is_named_as_such() -> None:
    result = runner.invoke(app, ["setup", "--url", "http://127.0.0.1:9", "--dashboards", "ftp://kibana"])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith("dashboards connection settings are not usable: url:")
