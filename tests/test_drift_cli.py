"""`mlsiem drift` and `mlsiem gate` as a CI job runs them: a subprocess, exit codes, output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from tests.commands import run


def _table(rng: np.random.Generator, n: int, shift: float = 0.0, new_channel: bool = False) -> pa.Table:
    channel = rng.choice(np.array(["web", "ios", "android"], dtype=object), size=n, p=[0.5, 0.3, 0.2])
    if new_channel:
        channel[: n // 5] = "kiosk"
    return pa.table(
        {
            "age": rng.normal(40 + 10 * shift, 10, n),
            "amount": rng.lognormal(3, 0.5, n),
            "channel": channel,
            "score": rng.beta(2, 5, n),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("drift")
    paths = {
        "reference": folder / "train.parquet",
        "same": folder / "same.csv",
        "shifted": folder / "shifted.csv",
        "nested": folder / "events.ndjson",
        "other": folder / "other.csv",
    }
    pq.write_table(_table(rng, 20_000), paths["reference"])
    pa_csv.write_csv(_table(rng, 2_000), paths["same"])
    pa_csv.write_csv(_table(rng, 2_000, shift=0.5, new_channel=True), paths["shifted"])
    with paths["nested"].open("w") as out:
        for row in _table(rng, 800).to_pylist():
            out.write(
                json.dumps({"age": row["age"], "amount": row["amount"], "meta": {"channel": row["channel"]}})
                + "\n"
            )
    pa_csv.write_csv(pa.table({"unrelated": [1, 2, 3]}), paths["other"])
    return paths


def test_drift_reports_a_table_and_exits_zero(files: dict[str, Path]) -> None:
    out = run("drift", "--reference", str(files["reference"]), "--current", str(files["shifted"]))
    assert out.returncode == 0, out.stderr
    for word in ("feature", "threshold", "age", "channel", "DRIFT", "kiosk"):
        assert word in out.stdout
    assert "features drifted" in out.stdout


def test_gate_passes_unchanged_data(files: dict[str, Path]) -> None:
    out = run("gate", "-r", str(files["reference"]), "-c", str(files["same"]))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "gate: PASS" in out.stdout and "0 of 4 features drifted" in out.stdout


def test_gate_fails_on_drift_with_json_verdict(files: dict[str, Path]) -> None:
    out = run("gate", "-r", str(files["reference"]), "-c", str(files["shifted"]), "--json")
    assert out.returncode == 1, out.stderr
    document = json.loads(out.stdout)
    assert document["verdict"]["passed"] is False
    assert set(document["verdict"]["counted"]) == {"age", "channel"}
    assert document["summary"]["drifted"] == 2 and document["summary"]["features"] == 4
    feature = next(f for f in document["features"] if f["feature"] == "age")
    for key in (
        "metric",
        "score",
        "threshold",
        "p_value",
        "adjusted_p_value",
        "drifted",
        "severity",
        "metrics",
    ):
        assert key in feature
    assert (
        feature["metric"] == "psi"
        and feature["test"] == "ks"
        and feature["severity"] in ("low", "medium", "high")
    )
    assert set(feature["metrics"]) == {"psi", "js", "ks", "wasserstein"}
    assert document["multivariate"] is not None


def test_gate_config_allows_drift_and_sets_thresholds(files: dict[str, Path], tmp_path: Path) -> None:
    """A raised act threshold leaves age (0.5 sigma, PSI about 0.25) a watch-tier call: it fails the gate
    by default (min_severity low) and passes when only act-tier calls (medium and up) fail."""
    config = tmp_path / "gate.yaml"
    settings = "allowed_to_drift: [channel]\nthresholds: {psi: 0.5}\nexclude: [score]\n"
    config.write_text(settings)
    out = run("gate", "-r", str(files["reference"]), "-c", str(files["shifted"]), "--config", str(config))
    assert out.returncode == 1 and "age" in out.stdout, out.stdout + out.stderr
    config.write_text(settings + "fail_on: {min_severity: medium}\n")
    out = run("gate", "-r", str(files["reference"]), "-c", str(files["shifted"]), "--config", str(config))
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        "drifted but allowed: channel" in out.stdout
        and "score" not in out.stdout.split("gate:")[0].split("┃")[-1]
    )


def test_gate_fails_on_a_share_of_features(files: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text("fail_on: {drifted_features: null, share: 0.5}\n")
    out = run("gate", "-r", str(files["reference"]), "-c", str(files["shifted"]), "--config", str(config))
    assert out.returncode == 1 and "2/4 features drifted (fail at share 0.5)" in out.stdout


def test_nested_ndjson_is_flattened_and_missing_features_fail_the_gate(files: dict[str, Path]) -> None:
    out = run("gate", "-r", str(files["reference"]), "-c", str(files["nested"]), "--json")
    document = json.loads(out.stdout)
    assert out.returncode == 1
    assert document["only_in_current"] == ["meta.channel"]
    assert "feature(s) missing from the current file: channel, score" in document["verdict"]["reasons"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-c", "{same}", "-r", "/nonexistent/train.csv"],
            "reference file /nonexistent/train.csv: no such file",
        ),
        (["-r", "{reference}", "-c", "{other}"], "no common columns to compare"),
        (
            ["-r", "{reference}", "-c", "{same}", "--config", "{bad_config}"],
            "fail_on.share: Input should be less than or equal to 1",
        ),
        (["-r", "{reference}", "-c", "{broken}"], "current file"),
    ],
)
def test_bad_input_is_exit_2_with_one_clear_line(
    files: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("fail_on:\n  share: 1.5\n")
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("fail_on: [unclosed\n")
    broken = tmp_path / "broken.ndjson"
    broken.write_text('{"age": 1}\nnot json at all\n')
    names = {
        **{k: str(v) for k, v in files.items()},
        "bad_config": str(bad_config),
        "bad_yaml": str(bad_yaml),
        "broken": str(broken),
    }
    out = run("gate", *[a.format(**names) for a in args])
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert out.stderr.startswith("mlsiem: error: ") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr
