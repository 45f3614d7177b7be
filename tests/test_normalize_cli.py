"""`mlsiem normalize` as a user runs it: ECS NDJSON on stdout, a summary and a dead-letter file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from shipper.normalize.ids import file_identity
from tests import commands
from tests.normalizing import EXAMPLES, MAPPINGS


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return commands.run("normalize", *args, cwd=cwd, stdin=stdin)


def test_files_to_ndjson_with_dead_letters(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"type": "inference", "ts": 1, "model": "m"}\nnot json at all\n\n{"x": 1}\n')
    out = run(str(EXAMPLES / "native.jsonl"), str(EXAMPLES / "litellm.jsonl"), str(broken), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    documents = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(documents) == 6 + 3 + 1
    assert {d["mlsiem"]["source"]["format"] for d in documents} == {"native", "litellm"}
    assert documents[-1]["log"]["file"]["path"] == str(broken)
    dead_letter = tmp_path / "mlsiem-dead-letter.ndjson"
    assert out.stderr.splitlines()[-1] == (
        "mlsiem normalize: 12 lines read, 10 events, 2 rejected "
        "(written with their reasons to mlsiem-dead-letter.ndjson)"
    )
    assert f"{broken}:2: not JSON: " in out.stderr
    letters = [json.loads(line) for line in dead_letter.read_text().splitlines()]
    assert [(d["raw"], d["offset"], d["path"]) for d in letters] == [
        ("not json at all", 45, str(broken)),
        ('{"x": 1}', 62, str(broken)),
    ]
    assert letters[0]["reason"].startswith("not JSON: ")
    assert letters[1]["reason"].startswith("format not recognised (keys: x)")
    assert letters[0]["source"] == f"file:{file_identity(broken.read_bytes())}"  # as `ship` names it

    again = run(str(EXAMPLES / "native.jsonl"), cwd=tmp_path)  # same file, same ids
    first_ids = [d["event"]["id"] for d in documents[:6]]
    assert [json.loads(line)["event"]["id"] for line in again.stdout.splitlines()] == first_ids


def test_stdin_mapping_and_content_policy(tmp_path: Path) -> None:
    kserve = (MAPPINGS / "kserve.jsonl").read_text()
    out = run(
        "--format", "mapping", "--mapping", str(MAPPINGS / "kserve.yaml"), "-", cwd=tmp_path, stdin=kserve
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 3
    assert out.stderr.strip() == "mlsiem normalize: 2 lines read, 3 events, 0 rejected"
    assert not (tmp_path / "mlsiem-dead-letter.ndjson").exists()  # created only when needed

    hashed = run("--content-policy", "hash", str(EXAMPLES / "litellm.jsonl"), cwd=tmp_path)
    llm = [json.loads(line)["mlsiem"]["llm"] for line in hashed.stdout.splitlines()]
    assert all("prompt" not in block and len(block["prompt_sha256"]) == 64 for block in llm)
    assert "sk-proj" not in hashed.stdout


def test_bad_options_and_unreadable_files_exit_2(tmp_path: Path) -> None:
    sample = str(EXAMPLES / "native.jsonl")
    bad_format = run("--format", "csv", sample, cwd=tmp_path)
    assert bad_format.returncode == 2
    assert bad_format.stderr.startswith("mlsiem: error: --format: Input should be 'auto', 'native'")
    missing = run(sample, str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stdout == ""
    assert f"cannot read {tmp_path / 'nope.jsonl'}: No such file or directory" in missing.stderr
    mapping = tmp_path / "m.yaml"
    mapping.write_text("timestamp: ts\nfields: {user.nam: who}\n")
    bad_mapping = run("--mapping", str(mapping), sample, cwd=tmp_path)
    assert bad_mapping.returncode == 2
    assert f"mapping file {mapping}: fields.user.nam: not a field of inference events" in bad_mapping.stderr
    no_mapping = run("--format", "mapping", sample, cwd=tmp_path)
    assert no_mapping.returncode == 2 and "format `mapping` needs mapping_file" in no_mapping.stderr
    directory = run(str(tmp_path), cwd=tmp_path)
    assert directory.returncode == 2 and "is a directory" in directory.stderr.lower()
    assert "Traceback" not in bad_format.stderr + missing.stderr + bad_mapping.stderr + directory.stderr
