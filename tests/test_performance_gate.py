"""`mlsiem drift|gate --label --prediction [--score]`: the offline performance check as CI runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from detections.gate import GateConfig, compare_files, evaluate, load_gate_config
from detections.performance_check import PerformanceConfig
from detections.statistics import performance as perf
from tests.commands import run


def labelled(rng: np.random.Generator, n: int, accuracy: float, exact: bool = True) -> pa.Table:
    """A binary classifier's file: two features, the label `y`, the prediction `yhat`, the score `p`.
    With `exact`, exactly round(accuracy * n) predictions are right."""
    y = rng.integers(0, 2, n)
    right = np.zeros(n, dtype=bool)
    if exact:
        right[rng.permutation(n)[: round(accuracy * n)]] = True
    else:
        right = rng.random(n) < accuracy
    yhat = np.where(right, y, 1 - y)
    p = np.clip(np.where(yhat == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    return pa.table(
        {
            "age": rng.normal(40, 10, n),
            "channel": rng.choice(np.array(["web", "ios"], dtype=object), n),
            "y": y,
            "yhat": yhat,
            "p": p,
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("performance")
    rng = np.random.default_rng(14)
    tables = {
        "reference": labelled(rng, 5_000, 0.942),
        "dropped": labelled(rng, 5_000, 0.912),
        "same": labelled(rng, 5_000, 0.942, exact=False),
    }
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.csv"
        pa_csv.write_csv(table, paths[name])
    return paths


def test_three_point_accuracy_drop_fails_the_gate_naming_metric_values_and_p(files: dict[str, Path]) -> None:
    result = run(
        "gate", "-r", str(files["reference"]), "-c", str(files["dropped"]),
        "--label", "y", "--prediction", "yhat", "--score", "p",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    reasons = [line for line in result.stdout.splitlines() if line.strip().startswith("- performance")]
    accuracy = next(line for line in reasons if "accuracy" in line)
    assert "0.942 -> 0.912" in accuracy and "p=" in accuracy and "-3.0 points" in accuracy
    assert "roc_auc" in result.stdout and "macro_f1" in result.stdout
    assert "feature(s) drifted" not in result.stdout  # the drop, not the columns, fails the gate


def test_same_accuracy_on_a_new_sample_passes(files: dict[str, Path]) -> None:
    result = run(
        "gate", "-r", str(files["reference"]), "-c", str(files["same"]),
        "--label", "y", "--prediction", "yhat", "--score", "p",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate: PASS" in result.stdout and "accuracy" in result.stdout


def test_json_carries_the_metrics_and_the_labelled_columns_are_not_features(files: dict[str, Path]) -> None:
    result = run(
        "drift", "-r", str(files["reference"]), "-c", str(files["dropped"]),
        "--label", "y", "--prediction", "yhat", "--score", "p", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [f["feature"] for f in document["features"]] == ["age", "channel"]
    performance = document["performance"]
    assert performance["task"] == "classification" and performance["positive_label"] == "1"
    metrics = {m["metric"]: m for m in performance["metrics"]}
    assert set(metrics) == {"accuracy", "macro_f1", "roc_auc"}
    assert metrics["accuracy"]["reference"] == pytest.approx(0.942) and metrics["accuracy"]["tier"] == "watch"
    assert metrics["accuracy"]["change"] == pytest.approx(-0.03)
    assert {d["feature"] for d in performance["drift"]} == {"y", "yhat", "p"}


def test_a_named_column_missing_from_a_file_is_exit_2_naming_file_and_column(
    files: dict[str, Path], tmp_path: Path
) -> None:
    result = run(
        "gate", "-r", str(files["reference"]), "-c", str(files["dropped"]),
        "--label", "y", "--prediction", "prediction",
    )  # fmt: skip
    assert result.returncode == 2
    assert str(files["reference"]) in result.stderr and "'prediction' (prediction)" in result.stderr
    config = tmp_path / "gate.yaml"
    config.write_text("performance: {label: y}\n", encoding="utf-8")
    result = run("gate", "-r", str(files["reference"]), "-c", str(files["dropped"]), "--config", str(config))
    assert result.returncode == 2 and "performance.prediction" in result.stderr
    result = run("gate", "-r", str(files["reference"]), "-c", str(files["dropped"]), "--label", "y")
    assert result.returncode == 2 and "--prediction is required" in result.stderr


def test_yaml_performance_section_and_fail_on(files: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text(
        "performance: {label: y, prediction: yhat, score: p, practical_drop: 0.02, watch_drop: 0.01}\n",
        encoding="utf-8",
    )
    settings = load_gate_config(config)
    comparison = compare_files(files["reference"], files["dropped"], settings)
    accuracy = next(m for m in comparison.performance.metrics if m.metric == "accuracy")
    assert accuracy.tier == "act" and accuracy.severity == "medium"  # 3 points >= the configured 2
    assert not evaluate(comparison, settings).passed
    quiet = settings.model_copy(
        update={"fail_on": settings.fail_on.model_copy(update={"performance": False})}
    )
    assert evaluate(comparison, quiet).passed
    defaults = GateConfig(performance=PerformanceConfig(label="y", prediction="yhat"))
    watch_only = compare_files(files["reference"], files["dropped"], defaults)
    assert evaluate(watch_only, defaults).passed is False  # min_severity low: watch fails
    medium = defaults.model_copy(
        update={"fail_on": defaults.fail_on.model_copy(update={"min_severity": "medium"})}
    )
    assert evaluate(watch_only, medium).passed  # a watch-tier (low) loss does not fail at medium


def test_regression_mae_rise_fails_the_gate_and_the_task_follows_the_types(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    paths = []
    for name, noise in (("reference", 1.0), ("current", 1.4)):
        truth = rng.normal(100, 20, 2_000)
        table = pa.table(
            {"size": truth / 2, "price": truth, "predicted": truth + rng.normal(0, noise, 2_000)}
        )
        paths.append(tmp_path / f"{name}.parquet")
        import pyarrow.parquet as pq

        pq.write_table(table, paths[-1])
    result = run(
        "gate", "-r", str(paths[0]), "-c", str(paths[1]), "--label", "price", "--prediction", "predicted"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "performance act" in result.stdout and "mae rose" in result.stdout and "rmse rose" in result.stdout
    forced = run(
        "drift", "-r", str(paths[0]), "-c", str(paths[1]),
        "--label", "price", "--prediction", "predicted", "--task", "classification", "--json",
    )  # fmt: skip
    assert json.loads(forced.stdout)["performance"]["task"] == "classification"


def test_text_labels_are_classification_and_regression_on_text_is_an_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    classes = np.array(["cat", "dog", "bird"], dtype=object)
    paths = []
    for name in ("reference", "current"):
        y = rng.choice(classes, 600)
        yhat = np.where(rng.random(600) < 0.8, y, rng.choice(classes, 600))
        paths.append(tmp_path / f"{name}.csv")
        pa_csv.write_csv(pa.table({"x": rng.normal(size=600), "y": y, "yhat": yhat}), paths[-1])
    comparison = compare_files(
        paths[0], paths[1], GateConfig(performance=PerformanceConfig(label="y", prediction="yhat"))
    )
    assert comparison.performance.task == "classification"
    expected = perf.classification_changes(
        perf.confusion(*_columns(paths[0])), perf.confusion(*_columns(paths[1]))
    )
    assert [m.current for m in comparison.performance.metrics] == [m.current for m in expected]
    result = run("gate", "-r", str(paths[0]), "-c", str(paths[1]), "--label", "y", "--prediction", "yhat",
                 "--task", "regression")  # fmt: skip
    assert result.returncode == 2 and "regression needs numeric" in result.stderr


def _columns(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pa_csv.read_csv(path)
    return np.array(table["yhat"].to_pylist(), dtype=str), np.array(table["y"].to_pylist(), dtype=str)
