"""The `mlsiem` command line as a user runs it (a subprocess), against the session's engine."""

from __future__ import annotations

import json

from mlsiem.local_engine import LocalEngine
from tests.commands import run


def test_setup_reports_json_and_is_idempotent(local_engine: LocalEngine) -> None:
    run("setup", "--url", local_engine.url)
    again = run("setup", "--url", local_engine.url, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["engine"].startswith("opensearch 2.19.")
    assert {a["action"] for a in report["actions"]} <= {"unchanged", "skipped"}


def test_bad_url_is_one_clear_line_and_exit_2() -> None:
    out = run("setup", "--url", "ftp://nowhere")
    assert out.returncode == 2
    assert out.stderr.startswith("mlsiem: error: engine connection settings are not usable: url:")
    assert "Traceback" not in out.stderr


def test_unreachable_engine_is_named_without_secrets() -> None:
    out = run(
        "setup", "--url", "http://127.0.0.1:9", env={"MLSIEM_USERNAME": "u", "MLSIEM_PASSWORD": "topsecret99"}
    )
    assert out.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in out.stderr
    assert "topsecret99" not in out.stderr + out.stdout


def test_bad_namespace_is_refused() -> None:
    out = run("setup", "--namespace", "Bad-Name", "--url", "http://127.0.0.1:9")
    assert out.returncode == 2 and "namespace 'Bad-Name' is not valid" in out.stderr
