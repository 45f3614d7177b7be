"""The shipper's configuration: a YAML file validated with messages naming the file and field, flags laid
over it, secrets only by reference, and `build` assembling what `mlsiem ship` runs from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlsiem.errors import ConfigError
from shipper.build import build
from shipper.config import config_from, load_config
from shipper.pipeline import PipelineConfig
from shipper.sinks.file import FileSink
from shipper.sources.files import FileSource
from shipper.sources.forward_settings import ForwardInput
from shipper.sources.stdin import StdinSource
from tests.shipping import native_line

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def problem(path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(path)
    return str(error.value)


def test_defaults_are_the_models_own() -> None:
    config = config_from({"inputs": {"stdin": True}})
    assert config.pipeline == PipelineConfig()
    assert (config.output.to, config.output.setup, config.spool.enabled, config.metrics.port) == (
        "engine",
        True,
        True,
        None,
    )
    assert config.normalize.max_line_bytes == 1 << 20 and config.inputs.files is None


def test_the_documented_example_holds_the_defaults(tmp_path: Path) -> None:
    """docs/formats.md's annotated file parses, and every value it calls a default is the model's."""
    text = (ROOT / "docs" / "formats.md").read_text()
    section = text[text.index("## Shipper configuration") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))]
    documented = load_config(write(tmp_path / "doc.yaml", example))
    defaults = config_from({"inputs": {"stdin": True}})
    for part in ("normalize", "output", "spool", "pipeline", "metrics"):
        assert getattr(documented, part) == getattr(defaults, part), part
    forward = documented.inputs.forward
    assert forward is not None and forward == ForwardInput(), "the forward input's defaults"
    assert documented.inputs.files is not None and not documented.inputs.files.follow


def test_problems_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml", "inputs:\n  files: {paths: [a.log], folow: true}\npipeline: {workers: 0}\n"
    )
    message = problem(path)
    assert f"shipper config {path}: inputs.files.folow: Extra inputs are not permitted" in message
    assert f"shipper config {path}: pipeline.workers: Input should be greater than or equal to 1" in message
    path = write(tmp_path / "s.yaml", "inputs: {stdin: true}\noutput: {to: 'kafka://x'}\n")
    assert "output.to: 'kafka://x': expected opensearch, elasticsearch, file:PATH" in problem(path)
    path = write(tmp_path / "s.yaml", "inputs: {}\n")
    assert f"shipper config {path}: inputs: nothing to read" in problem(path)
    path = write(tmp_path / "s.yaml", "inputs: {forward: {listen: 'http://x:1', max_message_mb: 0.0001}}\n")
    message = problem(path)
    assert "inputs.forward.listen: expected forward://HOST:PORT" in message
    path = write(tmp_path / "s.yaml", "inputs: {forward: {max_message_mb: 0.0001}}\n")
    assert (
        "inputs.forward: max_message_mb: Input should be greater than or equal to 1024 (in bytes)"
        in problem(path)
    )
    with pytest.raises(
        ConfigError, match=r"shipper config s\.yaml: output: Input should be a valid dictionary"
    ):
        config_from(
            {"inputs": {"stdin": True}, "output": "engine"}, {"output": {"to": "opensearch"}}, Path("s.yaml")
        )
    path = write(tmp_path / "s.yaml", "- a list\n")
    assert problem(path) == f"shipper config {path}: expected a mapping at the top level"


def test_the_file_is_read_with_the_yaml_limits(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    assert f"shipper config {tmp_path / 'bomb.yaml'}" in problem(write(tmp_path / "bomb.yaml", bomb))


def test_secrets_are_referenced_never_written_inline(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", "inputs:\n  forward: {shared_key: hunter2-secret}\n")
    message = problem(path)
    assert "inputs.forward.shared_key: Extra inputs are not permitted" in message
    assert "hunter2" not in message
    path = write(tmp_path / "s.yaml", "inputs: {stdin: true}\noutput: {password: hunter2-secret}\n")
    assert "hunter2" not in problem(path)
    key = write(tmp_path / "key", "the-key\n")
    config = config_from({"inputs": {"forward": {"listen": "forward://127.0.0.1:0", "shared_key_file": key}}})
    output = config.output.model_copy(update={"to": f"file:{tmp_path / 'out'}"})
    pipeline = build(config.model_copy(update={"output": output}))
    (source,) = pipeline.sources
    assert source.settings.security.shared_key.get_secret_value() == "the-key"  # type: ignore[attr-defined]
    assert "the-key" not in config.model_dump_json()
    source.close()
    pipeline.sink.close()


def test_build_assembles_the_configured_topology(tmp_path: Path) -> None:
    log = write(tmp_path / "a.jsonl", native_line(1) + "\n")
    config = config_from(
        {
            "inputs": {"files": {"paths": [str(log)], "registry": tmp_path / "r.json"}, "stdin": True},
            "normalize": {"max_line_bytes": 4096, "namespace": "built"},
            "output": {"to": f"file:{tmp_path / 'out.ndjson'}", "dead_letter": tmp_path / "dead.ndjson"},
            "pipeline": {"batch_events": 7, "flush_interval": 0.5},
        }
    )
    pipeline = build(config)
    files, stdin = pipeline.sources
    assert isinstance(files, FileSource) and isinstance(stdin, StdinSource)
    assert files.max_line_bytes == stdin.max_line_bytes == 4096  # the normalizer's limit reaches the sources
    assert isinstance(pipeline.sink, FileSink) and pipeline.spool is None  # a spool only holds engine events
    assert pipeline.config.batch_events == 7 and pipeline.normalizer.config.namespace == "built"  # type: ignore[attr-defined]
    assert pipeline.metrics is not None
    pipeline.sink.close()


def test_flags_override_the_file(tmp_path: Path) -> None:
    log = write(tmp_path / "a.jsonl", "".join(native_line(s) + "\n" for s in range(3)))
    out = tmp_path / "out.ndjson"
    config = write(
        tmp_path / "shipper.yaml",
        f"inputs: {{files: {{paths: ['{log}'], registry: '{tmp_path / 'r.json'}'}}}}\n"
        "normalize: {namespace: fromfile}\n"
        f"output: {{to: 'file:{out}', dead_letter: '{tmp_path / 'dead.ndjson'}'}}\n",
    )
    env = {**os.environ, "MLSIEM_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "mlsiem", "ship", "--config", str(config), "--json"]
    run = subprocess.run([*command, "--namespace", "fromflag"], env=env, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["shipped"] == 3
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert {d["data_stream"]["namespace"] for d in documents} == {"fromflag"}  # the flag wins
    assert json.loads(run.stdout)["dead_letter_file"] == str(tmp_path / "dead.ndjson")  # the file's value
    bad = subprocess.run(
        [*command, "--batch-size", "0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2
    assert "--batch-size: Input should be greater than or equal to 1" in bad.stderr
