"""`mlsiem ship`: telemetry from files, stdin or the forward protocol into the engine, a file or fluent."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import (
    EngineOption,
    InsecureOption,
    JsonOption,
    UrlOption,
    connection_settings,
    console,
    err_console,
    print_json,
)
from cli.normalize_cmd import (
    ContentPolicyOption,
    FormatOption,
    MappingOption,
    MaxDepthOption,
    MaxFeaturesOption,
    MaxFieldsOption,
    MaxLabelsOption,
    MaxLineBytesOption,
    MaxStringCharsOption,
    normalize_config,
)
from mlsiem.adapter import Engine
from mlsiem.errors import ConfigError, EngineUnreachable
from mlsiem.installer import run_setup
from mlsiem.paths import state_dir
from mlsiem.templates import SetupConfig
from shipper.deadletter import DeadLetterWriter
from shipper.metrics import ShipperMetrics
from shipper.normalizer import Normalizer
from shipper.pipeline import Pipeline, PipelineConfig, ShipStats
from shipper.sinks.engine import EngineSink
from shipper.sinks.file import FileSink
from shipper.sinks.fluent import FluentSink
from shipper.sources.base import Source
from shipper.sources.files import FileSource
from shipper.sources.forward import ForwardSource
from shipper.sources.forward_auth import load_shared_key, load_users
from shipper.sources.forward_settings import (
    exposure_warning,
    forward_tls,
    parse_listen_url,
    settings_from_options,
)
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
    shared_key: SecretStr | None = None,
):
    if output.startswith("file:"):
        return FileSink(Path(output[5:]))
    if output.startswith("fluent://"):
        return FluentSink(output, retry_budget=retry, shared_key=shared_key)
    if output not in ("engine", "opensearch", "elasticsearch"):
        raise ConfigError(
            f"--output {output!r}: expected opensearch, elasticsearch, file:PATH or fluent://host:port"
        )
    settings = connection_settings(url, engine or (None if output == "engine" else output), insecure)

    def connected() -> Engine:
        target = Engine.connect(settings)
        if setup:
            run_setup(target, SetupConfig(namespace=namespace))
        return target

    try:
        target: Engine | Callable[[], Engine] = connected()
    except EngineUnreachable as exc:
        # Like Filebeat or Fluent Bit: start anyway, read on, and hold events (in the spool) until the
        # engine answers. Refused credentials or TLS fail here at once instead: waiting would not help.
        err_console.print(f"[yellow]warning:[/] {exc}; reading on, events wait until it answers")
        target = connected
    return EngineSink(
        target, namespace=namespace, retry_budget=retry, on_latency=metrics.bulk_latency.observe
    )


def ship(
    paths: Annotated[list[str] | None, typer.Argument(help="Files or globs to read, or - for stdin.")] = None,
    fmt: FormatOption = "auto",
    mapping: MappingOption = None,
    content_policy: ContentPolicyOption = "redacted",
    max_line_bytes: MaxLineBytesOption = 1 << 20,
    max_depth: MaxDepthOption = 64,
    max_fields: MaxFieldsOption = 1000,
    max_features: MaxFeaturesOption = 200,
    max_labels: MaxLabelsOption = 100,
    max_string_chars: MaxStringCharsOption = 65_536,
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
    forward_key_file: Annotated[
        Path | None,
        typer.Option(
            "--forward-shared-key-file",
            help="Shared key of the forward handshake (--listen and fluent://); "
            "else $MLSIEM_FORWARD_SHARED_KEY.",
        ),
    ] = None,
    forward_max_message_mb: Annotated[
        float, typer.Option("--forward-max-message-mb", help="Largest forward message accepted (MiB).")
    ] = 16,
    forward_max_records: Annotated[
        int, typer.Option("--forward-max-records", help="Most records in one forward message.")
    ] = 250_000,
    forward_max_connections: Annotated[
        int, typer.Option("--forward-max-connections", help="Most forward connections at a time.")
    ] = 256,
    forward_handshake_timeout: Annotated[
        float, typer.Option("--forward-handshake-timeout", help="Seconds a forward peer has to authenticate.")
    ] = 10.0,
    forward_rate_events: Annotated[
        float | None, typer.Option("--forward-rate-events", help="Events/s per forward peer address.")
    ] = None,
    forward_users_file: Annotated[
        Path | None,
        typer.Option("--forward-users-file", help="username:password lines: forward user auth (+ key)."),
    ] = None,
    forward_rate_mb: Annotated[
        float | None, typer.Option("--forward-rate-mb", help="MiB/s per forward peer address.")
    ] = None,
    forward_tls_cert: Annotated[
        Path | None, typer.Option("--forward-tls-cert", help="Forward input over TLS: certificate (PEM).")
    ] = None,
    forward_tls_key: Annotated[
        Path | None, typer.Option("--forward-tls-key", help="Private key (PEM) of --forward-tls-cert.")
    ] = None,
    forward_tls_client_ca: Annotated[
        Path | None,
        typer.Option("--forward-tls-client-ca", help="Require forward peers' certificates from this CA."),
    ] = None,
) -> None:
    """Ship telemetry, normalized to ECS, with nothing lost and nothing duplicated."""
    paths = paths or []
    if not paths and not listen:
        raise ConfigError("nothing to read: give files, - for stdin, or --listen forward://HOST:PORT")
    home = state_dir() / "shipper"
    metrics = ShipperMetrics()
    normalizer = Normalizer(
        normalize_config(
            format=fmt,
            mapping_file=mapping,
            content_policy=content_policy,
            namespace=namespace,
            max_line_bytes=max_line_bytes,
            max_depth=max_depth,
            max_fields=max_fields,
            max_features=max_features,
            max_labels=max_labels,
            max_string_chars=max_string_chars,
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
    shared_key = load_shared_key(forward_key_file)
    if listen:
        settings = settings_from_options(
            shared_key,
            load_users(forward_users_file),
            forward_max_message_mb,
            forward_max_records,
            forward_max_connections,
            forward_handshake_timeout,
            forward_rate_events,
            forward_rate_mb,
            forward_tls(forward_tls_cert, forward_tls_key, forward_tls_client_ca),
        )
        if warning := exposure_warning(parse_listen_url(listen)[0], settings):
            err_console.print(f"[yellow]warning:[/] {warning}")
        sources.append(ForwardSource(listen, settings, metrics))
    sink = _sink(output, url, engine, insecure, namespace, not no_setup, retry_seconds, metrics, shared_key)
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
    if stats.truncated:
        cut = ", ".join(f"{count} at {limit}" for limit, count in sorted(stats.truncated.items()))
        console.print(f"events shipped cut: {cut} (marked in labels.truncated_fields)")


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
