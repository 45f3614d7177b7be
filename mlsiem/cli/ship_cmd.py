"""`mlsiem ship`: telemetry from files, stdin or the forward protocol into the engine, a file or fluent."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mlsiem.cli.common import (
    EngineOption,
    InsecureOption,
    JsonOption,
    UrlOption,
    connect,
    console,
    print_json,
)
from mlsiem.errors import ConfigError
from mlsiem.installer import run_setup
from mlsiem.paths import state_dir
from mlsiem.templates import SetupConfig
from shipper.deadletter import DeadLetterWriter
from shipper.metrics import ShipperMetrics
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig, ShipStats
from shipper.sinks.engine import EngineSink
from shipper.sinks.file import FileSink
from shipper.sinks.fluent import FluentSink
from shipper.sources.base import Source
from shipper.sources.files import FileSource
from shipper.sources.forward import ForwardSource
from shipper.sources.registry import Registry
from shipper.sources.stdin import StdinSource
from shipper.spool import Spool


def _sink(
    output: str,
    url: str | None,
    engine: str | None,
    insecure: bool,
    namespace: str,
    setup: bool,
    retry: float,
    metrics: ShipperMetrics,
):
    if output.startswith("file:"):
        return FileSink(Path(output[5:]))
    if output.startswith("fluent://"):
        return FluentSink(output, retry_budget=retry)
    if output not in ("engine", "opensearch", "elasticsearch"):
        raise ConfigError(
            f"--output {output!r}: expected opensearch, elasticsearch, file:PATH or fluent://host:port"
        )
    target = connect(url, engine or (None if output == "engine" else output), insecure)
    if setup:
        run_setup(target, SetupConfig(namespace=namespace))
    return EngineSink(
        target, namespace=namespace, retry_budget=retry, on_latency=metrics.bulk_latency.observe
    )


def ship(
    paths: Annotated[list[str] | None, typer.Argument(help="Files or globs to read, or - for stdin.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto | native | otlp | litellm | mapping")] = "auto",
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML field mapping (--format mapping).")
    ] = None,
    content_policy: Annotated[
        str, typer.Option("--content-policy", help="Prompts/completions: full | redacted | hash | none.")
    ] = "redacted",
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading new lines and files (rotation-safe).")
    ] = False,
    listen: Annotated[
        str | None, typer.Option("--listen", help="Accept the Fluentd forward protocol, forward://HOST:PORT.")
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output", help="engine (detect) | opensearch | elasticsearch | file:PATH | fluent://H:P"
        ),
    ] = "engine",
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    namespace: Annotated[str, typer.Option("--namespace", help="Data stream namespace.")] = "default",
    registry: Annotated[
        Path | None, typer.Option("--registry", help="File registry (offsets per file).")
    ] = None,
    dead_letter: Annotated[
        Path | None, typer.Option("--dead-letter", help="Where rejected records go.")
    ] = None,
    spool_dir: Annotated[
        Path | None, typer.Option("--spool-dir", help="Disk spool while the engine is down.")
    ] = None,
    spool_max_mb: Annotated[int, typer.Option("--spool-max-mb", help="Spool size limit.")] = 1024,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Events per bulk request.")] = 2000,
    retry_seconds: Annotated[
        float, typer.Option("--retry-seconds", help="Retry a failing bulk this long, then spool it.")
    ] = 30.0,
    workers: Annotated[int, typer.Option("--workers", help="Concurrent bulk requests.")] = 2,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT.")
    ] = None,
    no_setup: Annotated[
        bool, typer.Option("--no-setup", help="Do not install templates before shipping.")
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ship telemetry, normalized to ECS, with nothing lost and nothing duplicated."""
    paths = paths or []
    if not paths and not listen:
        raise ConfigError("nothing to read: give files, - for stdin, or --listen forward://HOST:PORT")
    home = state_dir() / "shipper"
    metrics = ShipperMetrics()
    normalizer = Normalizer(
        NormalizeConfig(
            format=fmt,  # type: ignore[arg-type]
            mapping_file=mapping,
            content_policy=content_policy,  # type: ignore[arg-type]
            namespace=namespace,
        )
    )
    sources: list[Source] = []
    files = [p for p in paths if p != "-"]
    if files:
        file_source = FileSource(files, Registry(registry or home / "registry.json"), follow=follow)
        metrics.bytes_behind.set_function(lambda: file_source.bytes_behind)
        sources.append(file_source)
    if "-" in paths:
        sources.append(StdinSource())
    if listen:
        sources.append(ForwardSource(listen))
    sink = _sink(output, url, engine, insecure, namespace, not no_setup, retry_seconds, metrics)
    dead_letter_path = dead_letter or home / "dead-letter.ndjson"
    if metrics_port is not None:
        metrics.serve(metrics_port)
    spool = Spool(spool_dir or home / "spool", spool_max_mb << 20) if isinstance(sink, EngineSink) else None
    pipeline = Pipeline(
        sources,
        normalizer,
        sink,
        DeadLetterWriter(dead_letter_path),
        spool=spool,
        config=PipelineConfig(batch_events=batch_size, workers=workers),
        metrics=metrics,
    )
    _on_signals(pipeline)
    show_progress = not (no_progress or as_json or follow or listen or not files)
    stats = _run_with_progress(pipeline, files) if show_progress else pipeline.run()
    sink.close()
    if as_json:
        print_json({**stats.as_dict(), "dead_letter_file": str(dead_letter_path)})
        return
    console.print(
        f"read {stats.records} records: {stats.events} events, {stats.shipped} shipped, "
        f"{stats.duplicates} already present, {stats.spooled} spooled, {stats.dead_lettered} dead-lettered"
    )
    if stats.dead_lettered:
        console.print(f"rejected records and their reasons: {dead_letter_path}")


def _on_signals(pipeline: Pipeline) -> None:
    """SIGINT / SIGTERM stop reading; what was read is delivered (or spooled) before exit."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: pipeline.stop())


def _run_with_progress(pipeline: Pipeline, patterns: list[str]) -> ShipStats:
    import glob
    import os

    total = sum(os.path.getsize(p) for pattern in patterns for p in glob.glob(pattern) if os.path.isfile(p))
    columns = (
        TextColumn("shipping"),
        BarColumn(),
        TextColumn("{task.fields[events]} events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("ship", total=total or None, events=0)

        def update(stats: ShipStats) -> None:
            progress.update(task, completed=min(stats.bytes_read, total), events=stats.events)

        return pipeline.run(on_progress=update)
