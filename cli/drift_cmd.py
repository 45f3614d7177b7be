"""`mlsiem drift` and `mlsiem gate`: offline drift between two data files, and a CI/CD release gate.

`drift` reports (exit 0 whatever it finds); `gate` decides: exit 0 pass, 1 drift, 2 bad input (an
unreadable file, no common columns, a bad config), so a pipeline step can block a release on it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.common import JsonOption, print_json
from detections.datafiles import DataFileError
from detections.gate import (
    FileComparison,
    GateConfig,
    GateVerdict,
    compare_files,
    evaluate,
    load_gate_config,
    with_performance,
)

ReferenceOption = Annotated[
    Path, typer.Option("--reference", "-r", help="Reference data (training data): CSV, Parquet or NDJSON.")
]
CurrentOption = Annotated[
    Path, typer.Option("--current", "-c", help="Current data to check: CSV, Parquet or NDJSON.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Gate config (YAML): features, thresholds, allowed_to_drift, fail_on."),
]
LabelOption = Annotated[
    str | None, typer.Option("--label", help="Ground-truth column: the performance check (not a feature).")
]
PredictionOption = Annotated[
    str | None, typer.Option("--prediction", help="The model's prediction column (with --label).")
]
ScoreOption = Annotated[
    str | None, typer.Option("--score", help="A binary classifier's score column: ROC AUC (with --label).")
]
TaskOption = Annotated[
    str | None, typer.Option("--task", help="classification or regression (default: from the column types).")
]
# A CI log is not a terminal: rich would fold the table to 80 columns; 120 keeps every cell readable.
console = Console(width=None if Console().is_terminal else 120)
VERDICT_STYLE = {None: "[green]ok[/]", "watch": "[yellow]WATCH[/]", "act": "[bold red]DRIFT[/]"}
SEVERITY_STYLE = {
    "none": "dim",
    "low": "yellow",
    "medium": "dark_orange",
    "high": "red",
    "critical": "bold red",
}


def _number(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.{digits}g}"
    return f"{value:.2e}"


def _run(reference: Path, current: Path, config: GateConfig) -> FileComparison:
    try:
        return compare_files(reference, current, config)
    except ValueError as exc:  # data the statistics cannot use, reported like any other bad input
        raise DataFileError(str(exc)) from None


def _print_report(comparison: FileComparison) -> None:
    report = comparison.report
    table = Table(
        title=f"drift: {comparison.current} vs reference {comparison.reference}", title_justify="left"
    )
    for name, justify in (
        ("feature", "left"),
        ("kind", "left"),
        ("metric", "left"),
        ("score", "right"),
        ("threshold", "right"),
        ("p adj", "right"),
        ("verdict", "left"),
        ("severity", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    notes: list[str] = []
    for f in report.features:
        style = SEVERITY_STYLE[f.severity]
        metric, score, threshold = f.decided_by  # a watch call shows the effect that made it
        table.add_row(
            f.feature,
            f.kind,
            metric,
            _number(score),
            _number(threshold),
            _number(f.adjusted_p_value, 2),
            VERDICT_STYLE[f.tier],
            f"[{style}]{f.severity}[/]",
        )
        if f.note:
            notes.append(f"{f.feature}: {f.note}")
    console.print(table)
    _print_quality(comparison)
    _print_performance(comparison)
    for note in notes + [f"{n}: {why}" for n, why in comparison.notes.items()]:
        console.print(f"  note {note}", markup=False)
    if comparison.only_in_reference:
        console.print(f"  only in the reference: {', '.join(comparison.only_in_reference)}", markup=False)
    if comparison.only_in_current:
        console.print(f"  only in the current file: {', '.join(comparison.only_in_current)}", markup=False)
    summary = report.summary()
    line = (
        f"{summary['drifted']} of {summary['features']} features drifted "
        f"({summary['act']} act, {summary['watch']} watch) "
        f"(reference {report.reference_rows} rows, current {report.current_rows} rows, "
        f"alpha {report.alpha:g})"
    )
    if report.multivariate is not None:
        m = report.multivariate
        verdict = f"DRIFT ({m.tier}, {m.severity}: {m.reason})" if m.drifted else "ok"
        shift = "" if math.isnan(m.mean_shift) else f", mean shift {m.mean_shift:.2f} sigma"
        line += (
            f"; multivariate over {len(m.features)} features: {verdict} "
            f"(reconstruction error {m.score:+.1%}{shift})"
        )
    console.print(line, markup=False)
    _print_outliers(comparison)


def _print_outliers(comparison: FileComparison) -> None:
    """The isolation forest's outlier share and the current file's most anomalous rows."""
    report = comparison.outliers
    if report is None:
        return
    test = report.test
    verdict = f"HIGH ({test.tier}, {test.severity})" if test.called else "ok"
    scored = "" if report.scored_rows == report.current_rows else f" (evenly spaced of {report.current_rows})"
    console.print(
        f"outliers (isolation forest over {len(report.features)} features): {verdict}: {test.outliers} of "
        f"{test.rows} rows{scored} above the reference's {test.expected_share:.1%} threshold "
        f"({test.share:.2%}, p={test.p_value:.2g})",
        markup=False,
    )
    for row in report.top_rows[:5]:
        values = ", ".join(f"{n}={row[n]}" for n in report.features)
        console.print(f"  row {row['row']} (anomaly {row['anomaly_score']:.3f}): {values}", markup=False)


def _print_quality(comparison: FileComparison) -> None:
    """The data-quality table (missing values, range, stuck features, new categories): failed checks only."""
    failed = [r for r in comparison.quality if r.failed]
    if not failed:
        console.print(f"data quality: {len(comparison.quality)} checks, none failed", markup=False)
        return
    table = Table(title="data quality", title_justify="left")
    for name, justify in (
        ("feature", "left"),
        ("check", "left"),
        ("reference", "right"),
        ("current", "right"),
        ("p adj", "right"),
        ("tier", "left"),
        ("severity", "left"),
        ("reason", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in failed:
        style = SEVERITY_STYLE[r.severity]
        table.add_row(
            r.feature,
            r.check,
            _cell(r.reference_value),
            _cell(r.current_value),
            _number(r.p_value, 2),
            r.tier or "-",
            f"[{style}]{r.severity}[/]",
            escape(r.reason),
        )
    console.print(table)


def _cell(value: float | str | None) -> str:
    if value is None:
        return "-"
    return escape(str(value)) if isinstance(value, str) else _number(value)


def _print_performance(comparison: FileComparison) -> None:
    """The performance comparison (labelled rows in both files)."""
    performance = comparison.performance
    if performance is None:
        return
    table = Table(
        title=(
            f"performance ({performance.task}): {performance.prediction} vs label {performance.label}, "
            f"{performance.reference_labelled} / {performance.current_labelled} labelled rows"
        ),
        title_justify="left",
    )
    for name, justify in (
        ("metric", "left"),
        ("reference", "right"),
        ("current", "right"),
        ("change", "right"),
        ("p adj", "right"),
        ("tier", "left"),
        ("severity", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in performance.metrics:
        style = SEVERITY_STYLE[m.severity]
        change = f"x{m.ratio:.3g}" if m.metric in ("mae", "rmse") else f"{100 * m.change:+.1f} pt"
        table.add_row(
            m.metric,
            _number(m.reference),
            _number(m.current),
            change,
            _number(m.adjusted_p_value, 2),
            m.tier or "[green]ok[/]",
            f"[{style}]{m.severity}[/]",
        )
    console.print(table)
    for f in performance.drift:
        role = (
            "label"
            if f.feature == performance.label
            else "score"
            if f.feature == performance.score
            else "prediction"
        )
        verdict = "DRIFT" if f.drifted else "ok"
        console.print(
            f"  {role} drift {f.feature}: {f.metric} {_number(f.score)} "
            f"(p adj {_number(f.adjusted_p_value, 2)}) {verdict}, reported only",
            markup=False,
        )
    for note in performance.notes:
        console.print(f"  note performance: {note}", markup=False)


def drift(
    reference: ReferenceOption,
    current: CurrentOption,
    config: ConfigOption = None,
    label: LabelOption = None,
    prediction: PredictionOption = None,
    score: ScoreOption = None,
    task: TaskOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drift of every common column between two data files (a report; exit 0)."""
    settings = with_performance(load_gate_config(config), label, prediction, score, task)
    comparison = _run(reference, current, settings)
    if as_json:
        print_json(comparison.to_dict())
        return
    _print_report(comparison)


def _print_verdict(verdict: GateVerdict) -> None:
    if verdict.passed:
        console.print("[bold green]gate: PASS[/]")
    else:
        console.print("[bold red]gate: FAIL[/]")
        for reason in verdict.reasons:
            console.print(f"  - {reason}", markup=False)
    if verdict.allowed:
        console.print(f"  drifted but allowed: {', '.join(verdict.allowed)}", markup=False)


def gate(
    reference: ReferenceOption,
    current: CurrentOption,
    config: ConfigOption = None,
    label: LabelOption = None,
    prediction: PredictionOption = None,
    score: ScoreOption = None,
    task: TaskOption = None,
    as_json: JsonOption = False,
) -> None:
    """Release gate: exit 0 when the current data passes, 1 on drift or a performance drop, 2 on bad input."""
    settings = with_performance(load_gate_config(config), label, prediction, score, task)
    comparison = _run(reference, current, settings)
    verdict = evaluate(comparison, settings)
    if as_json:
        print_json({"verdict": verdict.to_dict(), **comparison.to_dict()})
    else:
        _print_report(comparison)
        _print_verdict(verdict)
    if not verdict.passed:
        raise typer.Exit(1)
