"""`mlsiem baseline create|show` and `mlsiem detect --once|--every`: reference profiles, the detector job."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import (
    EngineOption,
    InsecureOption,
    JsonOption,
    UrlOption,
    connect,
    console,
    err_console,
    print_json,
)
from detections import baselines
from detections.config import DetectConfig, load_config, parse_duration
from detections.job import DetectorJob, FindingSource, JobReport
from detections.sigma.checks import extra_rule_problems
from detections.sigma.executor import Executor
from detections.sigma.pack import PACK_ROOT, Pack, load_pack
from detections.sigma.runner import sigma_sources
from detections.window import Window
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig

baseline_app = typer.Typer(help="Reference profiles per model (mlsiem-baselines).", no_args_is_help=True)
NamespaceOption = Annotated[str, typer.Option("--namespace", help="Data stream namespace.")]


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name} {text!r} is not an ISO 8601 time such as 2026-11-25T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@baseline_app.command("create")
def baseline_create(
    model: Annotated[str, typer.Option("--model", help="Model name (mlsiem.model.name).")],
    version: Annotated[str | None, typer.Option("--version", help="Model version; default: any.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Training data: CSV, Parquet or NDJSON.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="From shipped events since (ISO 8601).")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="... until (ISO 8601).")] = None,
    bucket: Annotated[str, typer.Option("--bucket", help="Operational baseline bucket.")] = "5m",
    namespace: NamespaceOption = "default",
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Store a model's reference profile, from a training-data file or a known-good time range."""
    begin, finish = _time(start, "--start"), _time(end, "--end")
    if (file is None) == (begin is None or finish is None):
        raise ConfigError("give either --file, or both --start and --end")
    target = connect(url, engine, insecure)
    run_setup(target, SetupConfig(namespace=namespace))
    if file is not None:
        profile = baselines.profile_from_file(str(file), model)
    else:
        assert begin is not None and finish is not None
        window = Window(model, version, begin, finish)
        profile = baselines.profile_from_events(target, window, namespace, bucket=parse_duration(bucket))
    doc_id = baselines.store(target, model, version, profile, datetime.now(UTC))
    summary = {
        "baseline": doc_id,
        "rows": profile.rows,
        "features": sorted(profile.features),
        "operational": sorted(profile.operational),
        "multivariate": profile.multivariate is not None,
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"baseline {doc_id}: {profile.rows} rows, {len(profile.features)} features "
            f"({', '.join(sorted(profile.features))}), operational series: "
            f"{', '.join(sorted(profile.operational)) or 'none'}"
        )


@baseline_app.command("show")
def baseline_show(
    model: Annotated[str, typer.Option("--model")],
    version: Annotated[str | None, typer.Option("--version")] = None,
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Print a stored reference profile as JSON."""
    profile = baselines.load(connect(url, engine, insecure), model, version)
    if profile is None:
        raise ConfigError(f"no baseline for model {model!r} (version {version or 'any'})")
    print_json(profile.to_dict())


def _print_report(report: JobReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    if report.error:
        err_console.print(f"[red]detector run failed:[/] {report.error} (retrying on the next run)")
        return
    if report.findings:
        table = Table(title="alerts")
        for column in ("window", "severity", "rule", "group", "reason"):
            table.add_column(column)
        for f in report.findings:
            group = ", ".join(f"{v}" for v in f.group.values())
            table.add_row(f.window_start.strftime("%Y-%m-%d %H:%M"), f.severity, f.rule.id, group, f.reason)
        console.print(table)
    created = report.alerts["created"]
    console.print(
        f"{report.windows} window(s), {created} new alert(s), {report.alerts['updated']} updated, "
        f"{report.metrics} drift metric(s)"
        + (f" ({len(report.held)} unit(s) left to other instances)" if report.held else "")
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")


def detect(
    once: Annotated[bool, typer.Option("--once", help="Run the due windows once and exit.")] = False,
    every: Annotated[str | None, typer.Option("--every", help="Run on a schedule, e.g. 5m.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Detector configuration (YAML).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Pretend it is this time (ISO 8601).")] = None,
    window: Annotated[str | None, typer.Option("--window", help="Window size, e.g. 1h.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Data stream namespace.")] = None,
    delay: Annotated[
        str | None, typer.Option("--delay", help="Judge a window once it closed this long ago, e.g. 2m.")
    ] = None,
    no_sigma: Annotated[bool, typer.Option("--no-sigma", help="Do not run the Sigma rule pack.")] = False,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="A folder of your own Sigma rules and correlations; repeat for more."),
    ] = None,
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """The detector job: drift, performance and operational detectors (and the Sigma pack) into alerts."""
    if once == bool(every):
        raise ConfigError("give exactly one of --once or --every DURATION")
    settings = load_config(
        config, window=window, namespace=namespace, delay=delay, sigma=False if no_sigma else None
    )
    folders = [*settings.rules, *(rules or [])]
    if folders and not settings.sigma:
        raise ConfigError(
            "--rules (or rules: in the config) needs the Sigma pack; drop --no-sigma / sigma: false"
        )
    pack = load_pack(PACK_ROOT, folders) if settings.sigma else None
    if pack is not None and folders and (problems := extra_rule_problems(pack)):
        raise ConfigError("your Sigma rules do not pass the pack's checks:\n  " + "\n  ".join(problems))
    target = connect(url, engine, insecure)
    run_setup(target, SetupConfig(namespace=settings.namespace))
    job = DetectorJob(target, settings, extra_sources=_sigma_source(target, settings, pack))
    if once:
        _print_report(job.run_once(_time(now, "--now")), as_json)
        return
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    job.run_forever(parse_duration(every or "5m"), lambda r: _print_report(r, as_json), stopping.is_set)


def _sigma_source(target: Engine, settings: DetectConfig, pack: Pack | None) -> dict[str, FindingSource]:
    """The Sigma pack (with the analyst's rules) as extra finding sources of the job, one per rule group
    (each with its own checkpoint and lease, same windows)."""
    if pack is None:
        return {}
    return sigma_sources(Executor(target, pack), settings.namespace, settings.suppression)
