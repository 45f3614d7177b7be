"""An analyst's own Sigma rule folder (`--rules DIR`): checked like the pack, tested on the real engine,
run by `mlsiem detect` whose alerts then carry its hits (examples/sigma_rules/ is the documented folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from detections.config import load_config
from detections.sigma.checks import extra_rule_problems
from detections.sigma.examples import to_document
from detections.sigma.pack import load_pack
from detections.sigma.queries import index_for
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError
from mlsiem.indices import alerts_alias
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sigma_rules"
RULE = "llm_prompt_names_confidential_project"
CORRELATION = "llm_confidential_project_prompts_repeated"
runner = CliRunner()


def test_the_example_folder_joins_the_pack_and_passes_its_checks() -> None:
    pack = load_pack(extra=[EXAMPLE])
    own = [r.name for r in pack.rules if pack.extra_root(r) == EXAMPLE]
    assert sorted(own) == [CORRELATION, RULE]
    assert len(pack.rules) == len(load_pack().rules) + 2
    assert extra_rule_problems(pack) == []
    assert (pack.playbook(pack.rule(RULE)) or "").startswith("# LLM Prompt Names")


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    shutil.copytree(EXAMPLE, folder)
    return folder


def test_problems_name_the_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "rules" / f"{RULE}.yml"
    rule = yaml.safe_load(path.read_text())
    rule["detection"]["selection"] = {"promt|contains": ["x"]}
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    problems = extra_rule_problems(load_pack(extra=[folder]))
    assert problems and all(p.startswith(f"{folder}/") for p in problems), problems
    assert f"{path}: [fields] field 'promt' is not in the pack's field mapping" in problems
    correlation = folder / "correlations" / f"{CORRELATION}.yml"
    assert f"{correlation}: [convert] esql: refers to {RULE}, which does not convert" in problems
    rule["logsource"]["category"] = "webserver"
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    problems = extra_rule_problems(load_pack(extra=[folder]))
    assert problems == [
        f"{path}: logsource category 'webserver' is not one of ('inference', 'llm', 'pipeline')"
    ]


def test_ids_and_names_must_not_collide_with_the_pack(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "rules" / f"{RULE}.yml"
    rule = yaml.safe_load(path.read_text())
    rule["id"] = "871338fc-1453-422c-96ef-68b5f5658145"  # llm_jailbreak_persona's
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    with pytest.raises(ConfigError, match=rf"{path}: id 871338fc-\S+ is already the id of the rule in \S+"):
        load_pack(extra=[folder])
    with pytest.raises(ConfigError, match="does not exist or is not a folder"):
        load_pack(extra=[tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"holds no Sigma rules \(\*\.yml files\)"):
        load_pack(extra=[tmp_path / "empty"])


def test_the_detector_config_takes_rule_folders(tmp_path: Path) -> None:
    config = tmp_path / "detect.yaml"
    config.write_text(f"rules: [{EXAMPLE}]\n")
    assert load_config(config).rules == [EXAMPLE]
    assert load_config(None).rules == []


def test_detect_refuses_a_broken_rule_folder_naming_the_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "rules" / f"{RULE}.yml"
    path.write_text(path.read_text().replace("prompt|contains", "promt|contains"))
    command = [sys.executable, "-m", "mlsiem", "detect", "--once", "--url", "http://127.0.0.1:9"]
    out = subprocess.run(
        [*command, "--rules", str(folder)], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 2, out.stderr
    assert f"{path}: [fields] field 'promt' is not in the pack's field mapping" in out.stderr


def test_rules_test_runs_the_folders_examples_on_the_engine(engine: Engine, local_engine: Any) -> None:
    args = ["rules", "test", "--url", local_engine.url, "--rules", str(EXAMPLE), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sorted((r["rule"], r["ok"], r["checked"] > 0) for r in report["results"]) == [
        (CORRELATION, True, True),
        (RULE, True, True),
    ]


def test_rules_test_fails_on_a_wrong_example(local_engine: Any, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "tests" / f"{RULE}.yaml"
    path.write_text(path.read_text().replace("What is a bluefin tuna?", "Project Bluefin tuna?"))
    result = runner.invoke(app, ["rules", "test", "--url", local_engine.url, "--rules", str(folder)])
    assert result.exit_code == 1, result.output
    assert "negatives that matched" in result.output


def test_detect_runs_the_analysts_rules_and_their_hits_become_alerts(
    engine: Engine, local_engine: Any, namespace: str
) -> None:
    run_setup(engine, SetupConfig(namespace=namespace))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    lines = []
    for i in range(4):
        fields = {
            "event.outcome": "success",
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "mlsiem.model.name": "support-bot",
            "mlsiem.model.type": "llm",
            "user.name": "erin",
            "source.ip": "198.51.100.77",
            "event.id": f"own-{i}",
            "mlsiem.llm.prompt": f"Rewrite the PROJECT NIGHTINGALE memo, draft {i}",
        }
        document = to_document("llm", fields, start + timedelta(minutes=5 + 5 * i), f"own-{i}")
        lines += [json.dumps({"create": {"_index": index_for("llm", namespace)}}), json.dumps(document)]
    assert not engine.bulk(("\n".join(lines) + "\n").encode(), refresh="true")["errors"]
    now = (start + timedelta(hours=1, minutes=1)).isoformat()  # a first run judges the last window
    args = ["detect", "--once", "--url", local_engine.url, "--namespace", namespace, "--now", now]
    result = runner.invoke(app, [*args, "--rules", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    engine.refresh(alerts_alias(namespace))
    hits = engine.search(alerts_alias(namespace), {"size": 100, "query": {"match_all": {}}})["hits"]["hits"]
    alerts = {h["_source"]["rule"]["name"]: h["_source"] for h in hits}
    single = alerts["LLM Prompt Names A Confidential Project"]
    burst = alerts["Repeated Prompts Naming A Confidential Project"]
    assert single["mlsiem"]["evidence"]["event_count"] == 4 and single["user"]["name"] == "erin"
    assert burst["mlsiem"]["alert"]["severity"] == "high"
    assert single["mlsiem"]["alert"]["playbook"].startswith("# LLM Prompt Names A Confidential Project")
    assert single["threat"]["technique"]["id"] == ["AML.T0057"]
    pivot = {"query": {"query_string": {"query": single["mlsiem"]["evidence"]["query"]}}}
    assert engine.search(f"logs-mlsiem.*-{namespace}", pivot)["hits"]["total"]["value"] == 4
