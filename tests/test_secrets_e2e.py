"""Redaction is on by default, proved against the engine: the demo scenario's planted secrets, shipped
with the real `mlsiem ship` and its default settings, appear in no index of the engine; the Sigma rule
for secrets in prompts still fires on the redacted events."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.scenario import Manifest, ScenarioConfig, write_scenario
from detections.sigma.executor import Executor
from detections.sigma.pack import load_pack
from detections.sigma.queries import lucene, time_range
from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.local_engine import LocalEngine
from tests.shipping import ship_process


@pytest.fixture(scope="module")
def shipped(
    tmp_path_factory: pytest.TempPathFactory, local_engine: LocalEngine, engine: Engine
) -> tuple[Manifest, str, Path]:
    """A one-hour scenario shipped once with default settings (only where to and which namespace)."""
    directory = tmp_path_factory.mktemp("scenario")
    manifest = write_scenario(directory, ScenarioConfig(hours=1))
    namespace = "secrets" + directory.name[-6:].replace("_", "").lower()
    files = [str(directory / name) for name in manifest.files]
    proc = ship_process(directory, local_engine.url, namespace, *files, "--json")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    stats = json.loads(out)
    assert stats["shipped"] == sum(f.events for f in manifest.files.values()) and stats["dead_lettered"] == 0
    engine.request("POST", "/_refresh", params={"expand_wildcards": "all"})
    return manifest, namespace, directory


def test_the_scenario_plants_secrets_in_its_telemetry(shipped: tuple[Manifest, str, Path]) -> None:
    manifest, _, directory = shipped
    raw = "".join((directory / name).read_text() for name in manifest.files)
    assert len(manifest.planted_secrets) >= 10
    assert all(secret in raw for secret in manifest.planted_secrets)


def _phrase(secret: str) -> str:
    return '"' + secret.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_no_planted_secret_is_found_by_searching_every_index(
    shipped: tuple[Manifest, str, Path], engine: Engine
) -> None:
    manifest, _, _ = shipped
    for secret in manifest.planted_secrets:
        for query in (
            {"query_string": {"query": _phrase(secret), "default_field": "*", "lenient": True}},
            {"multi_match": {"query": secret, "type": "phrase", "fields": ["*"], "lenient": True}},
        ):
            body = {"size": 1, "query": query}
            found = engine.request("POST", "/*/_search", body, params={"expand_wildcards": "all"})
            assert found["hits"]["total"]["value"] == 0, (secret[:6], found["hits"]["hits"])


def _all_documents(engine: Engine, index: str) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"size": 2000, "sort": [{"event.id": "asc"}], "query": {"match_all": {}}}
        if after is not None:
            body["search_after"] = after
        hits = engine.search(index, body)["hits"]["hits"]
        documents += [hit["_source"] for hit in hits]
        if len(hits) < 2000:
            return documents
        after = hits[-1]["sort"]


def test_no_planted_secret_is_in_any_stored_document(
    shipped: tuple[Manifest, str, Path], engine: Engine
) -> None:
    manifest, namespace, _ = shipped
    documents = _all_documents(engine, f"logs-mlsiem.*-{namespace}")
    assert len(documents) == sum(f.events for f in manifest.files.values())
    text = "\n".join(json.dumps(document, ensure_ascii=False) for document in documents)
    leaked = [secret[:6] + "..." for secret in manifest.planted_secrets if secret in text]
    assert not leaked
    assert text.count("[REDACTED:aws_secret_key]") >= 4 and "[REDACTED:url_password]" in text


def test_the_secret_in_prompt_rule_fires_on_the_redacted_prompts(
    shipped: tuple[Manifest, str, Path], engine: Engine
) -> None:
    manifest, namespace, _ = shipped
    incident = next(i for i in manifest.incidents if i.kind == "secrets_in_prompts")
    pack = load_pack()
    executor = Executor(engine, pack)
    rule = pack.rule("llm_secret_in_prompt")
    start, end = incident.start, incident.end + timedelta(seconds=1)
    hits = executor.run_detection(rule, namespace, start, end)  # type: ignore[arg-type]
    assert sum(hit.event_count for hit in hits) == incident.event_count == 7
    assert {hit.group["user.name"] for hit in hits} == {incident.entity["user.name"]}
    query = {"bool": {"filter": [time_range(start, end), lucene(executor.book.query(str(rule.id)))]}}
    matched = engine.search(inference_stream(namespace), {"size": 20, "query": query})["hits"]["hits"]
    prompts = [hit["_source"]["mlsiem"]["llm"]["prompt"] for hit in matched]
    assert len(prompts) == 7 and all("[REDACTED:" in prompt for prompt in prompts)
    whole = executor.run_detection(rule, namespace, manifest.timeline.start, manifest.timeline.end)  # type: ignore[arg-type]
    assert sum(hit.event_count for hit in whole) == 7  # and nowhere else in the scenario
