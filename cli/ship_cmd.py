"""`mlsiem ship`: telemetry from files, stdin, the forward protocol or OTLP into the engine, a file or fluent.

The command is a mapping of its flags onto `shipper.config.ShipperConfig` (laid over `--config FILE`
when one is given: flags win) and a call of `shipper.build.build`; it only adds the progress bar, the
signals and the summary. Every default lives in the config models; a flag left out leaves the file's
value (or the model's default) alone.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import EngineOption, InsecureOption, JsonOption, UrlOption, console, err_console, print_json
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
)
from mlsiem.errors import ConfigError
from shipper.build import build
from shipper.config import ENGINE_OUTPUTS, Output, ShipperConfig, SpoolSettings, config_from, read_config_file
from shipper.pipeline import Pipeline, PipelineConfig, ShipStats
from shipper.sources.forward_settings import ForwardInput, forward_tls

# Flag (parameter name) -> (where it lands in ShipperConfig, the flag as typed). Sections that only exist
# with an input (`inputs.files.*`, `inputs.forward.*`) are set only when that input is configured.
_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "fmt": (("normalize", "format"), "--format"),
    "mapping": (("normalize", "mapping_file"), "--mapping"),
    "content_policy": (("normalize", "content_policy"), "--content-policy"),
    "max_line_bytes": (("normalize", "max_line_bytes"), "--max-line-bytes"),
    "max_depth": (("normalize", "max_depth"), "--max-depth"),
    "max_fields": (("normalize", "max_fields"), "--max-fields"),
    "max_features": (("normalize", "max_features"), "--max-features"),
    "max_labels": (("normalize", "max_labels"), "--max-labels"),
    "max_string_chars": (("normalize", "max_string_chars"), "--max-string-chars"),
    "namespace": (("normalize", "namespace"), "--namespace"),
    "output": (("output", "to"), "--output"),
    "url": (("output", "url"), "--url"),
    "dead_letter": (("output", "dead_letter"), "--dead-letter"),
    "retry_seconds": (("output", "retry_seconds"), "--retry-seconds"),
    "spool_dir": (("spool", "dir"), "--spool-dir"),
    "spool_max_mb": (("spool", "max_mb"), "--spool-max-mb"),
    "batch_size": (("pipeline", "batch_events"), "--batch-size"),
    "workers": (("pipeline", "workers"), "--workers"),
    "metrics_port": (("metrics", "port"), "--metrics-port"),
    "registry": (("inputs", "files", "registry"), "--registry"),
    "listen": (("inputs", "forward", "listen"), "--listen"),
    "forward_users_file": (("inputs", "forward", "users_file"), "--forward-users-file"),
    "forward_max_message_mb": (("inputs", "forward", "max_message_mb"), "--forward-max-message-mb"),
    "forward_max_records": (("inputs", "forward", "max_records"), "--forward-max-records"),
    "forward_max_connections": (("inputs", "forward", "max_connections"), "--forward-max-connections"),
    "forward_handshake_timeout": (("inputs", "forward", "handshake_timeout"), "--forward-handshake-timeout"),
    "forward_rate_events": (("inputs", "forward", "rate_events"), "--forward-rate-events"),
    "forward_rate_mb": (("inputs", "forward", "rate_mb"), "--forward-rate-mb"),
}


def _default(model: type, field: str) -> Any:
    """A model's default, for the help text (the value itself is set in the model only)."""
    return model.model_fields[field].default  # type: ignore[attr-defined]


def ship(
    paths: Annotated[list[str] | None, typer.Argument(help="Files or globs to read, or - for stdin.")] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Shipper config (YAML; format: docs/formats.md). Flags given on the command line "
            "override the file's values.",
        ),
    ] = None,
    fmt: FormatOption = None,
    mapping: MappingOption = None,
    content_policy: ContentPolicyOption = None,
    max_line_bytes: MaxLineBytesOption = None,
    max_depth: MaxDepthOption = None,
    max_fields: MaxFieldsOption = None,
    max_features: MaxFeaturesOption = None,
    max_labels: MaxLabelsOption = None,
    max_string_chars: MaxStringCharsOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading new lines and files (rotation-safe).")
    ] = False,
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            help="Network input, repeatable: forward://HOST:PORT (Fluentd forward), otlp://HOST:4318 "
            "(OTLP/HTTP), otlp+grpc://HOST:4317 (OTLP gRPC).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            help=f"engine (detect) | opensearch | elasticsearch | file:PATH | fluent://H:P "
            f"(default {_default(Output, 'to')})",
        ),
    ] = None,
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Data stream namespace.")] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="File registry (offsets per file).")
    ] = None,
    dead_letter: Annotated[
        Path | None, typer.Option("--dead-letter", help="Where rejected records go.")
    ] = None,
    spool_dir: Annotated[
        Path | None, typer.Option("--spool-dir", help="Disk spool while the engine is down.")
    ] = None,
    spool_max_mb: Annotated[
        int | None,
        typer.Option(
            "--spool-max-mb", help=f"Spool size limit (default {_default(SpoolSettings, 'max_mb')})."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help=f"Events per bulk request (default {_default(PipelineConfig, 'batch_events')}).",
        ),
    ] = None,
    retry_seconds: Annotated[
        float | None,
        typer.Option(
            "--retry-seconds",
            help="Retry a failing bulk this long, then spool it "
            f"(default {_default(Output, 'retry_seconds')}).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help=f"Concurrent bulk requests (default {_default(PipelineConfig, 'workers')})."
        ),
    ] = None,
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
        float | None,
        typer.Option(
            "--forward-max-message-mb",
            help="Largest forward message accepted (MiB) "
            f"(default {_default(ForwardInput, 'max_message_mb')}).",
        ),
    ] = None,
    forward_max_records: Annotated[
        int | None,
        typer.Option(
            "--forward-max-records",
            help=f"Most records in one forward message (default {_default(ForwardInput, 'max_records')}).",
        ),
    ] = None,
    forward_max_connections: Annotated[
        int | None,
        typer.Option(
            "--forward-max-connections",
            help=f"Most forward connections at a time (default {_default(ForwardInput, 'max_connections')}).",
        ),
    ] = None,
    forward_handshake_timeout: Annotated[
        float | None,
        typer.Option(
            "--forward-handshake-timeout",
            help="Seconds a forward peer has to authenticate "
            f"(default {_default(ForwardInput, 'handshake_timeout')}).",
        ),
    ] = None,
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
    otlp_token_file: Annotated[
        Path | None,
        typer.Option(
            "--otlp-token-file", help="OTLP receivers: bearer token (first line); else $MLSIEM_OTLP_TOKEN."
        ),
    ] = None,
    otlp_users_file: Annotated[
        Path | None,
        typer.Option("--otlp-users-file", help="OTLP receivers: username:password lines (basic auth)."),
    ] = None,
    otlp_tls_cert: Annotated[
        Path | None, typer.Option("--otlp-tls-cert", help="OTLP receivers over TLS: certificate (PEM).")
    ] = None,
    otlp_tls_key: Annotated[
        Path | None, typer.Option("--otlp-tls-key", help="Private key (PEM) of --otlp-tls-cert.")
    ] = None,
    otlp_tls_client_ca: Annotated[
        Path | None,
        typer.Option("--otlp-tls-client-ca", help="Require OTLP clients' certificates from this CA."),
    ] = None,
) -> None:
    """Ship telemetry, normalized to ECS, with nothing lost and nothing duplicated.

    With --config FILE it runs what the file describes; flags given on the command line override it.
    """
    arguments = dict(locals())
    values = {name: value for name, value in arguments.items() if name in _FLAGS and value is not None}
    raw = read_config_file(config_file) if config_file is not None else {}
    overrides, names = _overrides(raw, values, paths or [])
    _flag_overrides(overrides, names, raw, follow, insecure, no_setup, engine, forward_key_file)
    if forward_tls_cert or forward_tls_key or forward_tls_client_ca:
        tls = forward_tls(forward_tls_cert, forward_tls_key, forward_tls_client_ca)
        if _has(overrides, raw, "inputs", "forward"):
            _put(overrides, ("inputs", "forward", "tls"), tls.model_dump() if tls else None)
            names[("inputs", "forward", "tls")] = "--forward-tls-cert"
    _otlp_overrides(
        overrides, raw, otlp_token_file, otlp_users_file, otlp_tls_cert, otlp_tls_key, otlp_tls_client_ca
    )
    config = config_from(raw, overrides, config_file, names)
    pipeline = build(config, warn=lambda message: err_console.print(f"[yellow]warning:[/] {message}"))
    _on_signals(pipeline)
    files = config.inputs.files
    listening = config.inputs.forward or config.inputs.otlp
    show_progress = not (no_progress or as_json or listening or files is None or files.follow)
    try:
        stats = _run_with_progress(pipeline, files.paths) if show_progress and files else pipeline.run()
    finally:
        pipeline.sink.close()
    _report(config, stats, as_json)


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _has(overrides: dict[str, Any], raw: dict[str, Any], *section: str) -> bool:
    """Whether the section is configured, by the file or by a flag already laid over it."""
    for tree in (overrides, raw):
        node: Any = tree
        for key in section:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return True
    return False


def _overrides(
    raw: dict[str, Any], values: dict[str, Any], paths: list[str]
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The flags' values as a tree over the file's, and which flag set each location (for errors)."""
    overrides: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    files = [p for p in paths if p != "-"]
    if files:
        _put(overrides, ("inputs", "files", "paths"), files)
        names[("inputs", "files", "paths")] = "FILES"
    if "-" in paths:
        _put(overrides, ("inputs", "stdin"), True)
    if "listen" in values:
        _listeners(overrides, names, values.pop("listen"))
    for name, value in values.items():
        location, flag = _FLAGS[name]
        if location[:2] in (("inputs", "files"), ("inputs", "forward")) and not _has(
            overrides, raw, *location[:2]
        ):
            continue  # an option of an input that is not there (as before: --registry without files)
        _put(overrides, location, str(value) if isinstance(value, Path) else value)
        names[location] = flag
    return overrides, names


def _listeners(overrides: dict[str, Any], names: dict[tuple[str, ...], str], urls: list[str]) -> None:
    """`--listen` URLs by scheme: one forward listener, any number of OTLP receivers (their list replaces
    the file's)."""
    forward = [url for url in urls if not url.startswith("otlp")]
    otlp = [url for url in urls if url.startswith("otlp")]
    if len(forward) > 1:
        raise ConfigError(f"--listen: one forward listener at most, got {', '.join(forward)}")
    if forward:
        _put(overrides, ("inputs", "forward", "listen"), forward[0])
        names[("inputs", "forward", "listen")] = "--listen"
    if otlp:
        _put(overrides, ("inputs", "otlp"), [{"listen": url} for url in otlp])
        for number in range(len(otlp)):
            names[("inputs", "otlp", str(number), "listen")] = "--listen"


def _otlp_overrides(
    overrides: dict[str, Any],
    raw: dict[str, Any],
    token_file: Path | None,
    users_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
) -> None:
    """The `--otlp-*` flags, applied to every OTLP receiver (from `--listen` or from the file)."""
    options: dict[str, Any] = {}
    if token_file is not None:
        options["token_file"] = str(token_file)
    if users_file is not None:
        options["users_file"] = str(users_file)
    if tls_cert or tls_key or tls_client_ca:
        if tls_cert is None or tls_key is None:
            raise ConfigError("--otlp-tls-cert and --otlp-tls-key go together: give both")
        tls = {"cert_file": str(tls_cert), "key_file": str(tls_key)}
        options["tls"] = {**tls, "client_ca_file": str(tls_client_ca) if tls_client_ca else None}
    if not options:
        return
    inputs = raw.get("inputs") if isinstance(raw.get("inputs"), dict) else {}
    receivers = overrides.get("inputs", {}).get("otlp") or (inputs or {}).get("otlp")
    if isinstance(receivers, list):
        merged = [{**entry, **options} if isinstance(entry, dict) else entry for entry in receivers]
        _put(overrides, ("inputs", "otlp"), merged)


def _flag_overrides(
    overrides: dict[str, Any],
    names: dict[tuple[str, ...], str],
    raw: dict[str, Any],
    follow: bool,
    insecure: bool,
    no_setup: bool,
    engine: str | None,
    forward_key_file: Path | None,
) -> None:
    """The switches and the flags that land in more than one place."""
    if follow and _has(overrides, raw, "inputs", "files"):
        _put(overrides, ("inputs", "files", "follow"), True)
    if insecure:
        _put(overrides, ("output", "insecure"), True)
    if no_setup:
        _put(overrides, ("output", "setup"), False)
    if engine is not None:
        in_file = raw.get("output")
        in_file = in_file if isinstance(in_file, dict) else {}  # not a mapping: validation says so
        target = overrides.get("output", {}).get("to") or in_file.get("to", "engine")
        if target in ENGINE_OUTPUTS:
            _put(overrides, ("output", "to"), engine)
            names[("output", "to")] = "--engine"
    if forward_key_file is not None:
        _put(overrides, ("output", "shared_key_file"), str(forward_key_file))
        if _has(overrides, raw, "inputs", "forward"):
            _put(overrides, ("inputs", "forward", "shared_key_file"), str(forward_key_file))


def _report(config: ShipperConfig, stats: ShipStats, as_json: bool) -> None:
    dead_letter_path = config.dead_letter_path
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
