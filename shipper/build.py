"""The one place the shipper is assembled: a `ShipperConfig` in, a ready `Pipeline` out.

`mlsiem ship`, the demo and the benchmark all call `build`, so they run the same sources, normalizer,
dead-letter writer, spool, sink and metrics. Secrets are loaded here (never held in the config): the
forward shared key from its file or variable, the forward users from their file, the engine's
credentials from the `MLSIEM_*` environment.

Engine outputs: with an `Engine` given, it is used (and set up unless `output.setup` is off). Otherwise
one is connected from `output.url`; if it does not answer yet, the shipper starts anyway (like
Filebeat or Fluent Bit), reads on and holds events in the spool until it does. Refused credentials or
TLS fail at once: waiting would not help.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import SecretStr

from mlsiem.adapter import Engine
from mlsiem.config import load_settings
from mlsiem.errors import ConfigError, EngineUnreachable
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig
from shipper.config import ShipperConfig
from shipper.deadletter import DeadLetterWriter
from shipper.metrics import ShipperMetrics
from shipper.normalizer import Normalizer
from shipper.pipeline import Pipeline
from shipper.sinks.base import Sink
from shipper.sinks.engine import EngineSink
from shipper.sinks.file import FileSink
from shipper.sources.base import Source
from shipper.sources.files import FileSource
from shipper.sources.forward_auth import load_shared_key, load_users
from shipper.sources.forward_settings import exposure_warning, parse_listen_url
from shipper.sources.registry import Registry
from shipper.sources.stdin import StdinSource
from shipper.spool import Spool

# The network inputs and the forward output (asyncio, msgpack, grpc, the OTLP protobuf classes) are
# imported where they are built: a shipper that reads files into the engine does not pay their start-up
# (about 0.15-0.3 s of CPU, measured with `python -X importtime`).

log = logging.getLogger("mlsiem.shipper")
Warn = Callable[[str], None]


def build(
    config: ShipperConfig,
    engine: Engine | Callable[[], Engine] | None = None,
    *,
    metrics: ShipperMetrics | None = None,
    stdin: BinaryIO | None = None,
    warn: Warn = log.warning,
) -> Pipeline:
    """The pipeline `config` describes; `engine` (or a function that connects one) for engine outputs,
    `stdin` to read another stream than standard input, `warn` for what the user should know."""
    metrics = metrics or ShipperMetrics()
    normalizer: Any = Normalizer(config.normalize)
    dead_letters: Any = DeadLetterWriter(config.dead_letter_path)
    spooled: list[Spool] = []
    sources = _sources(config, metrics, stdin, warn)
    sources += _otlp_sources(config, metrics, lambda: _nearly_full(spooled, config), warn)
    if config.inputs.otlp:  # an OTLP answer reports what was dead-lettered (partial_success)
        from shipper.sources.otlp_intake import DeadLetterCounter, RejectionCounter

        normalizer, dead_letters = RejectionCounter(normalizer), DeadLetterCounter(dead_letters)
    try:
        sink = _sink(config, engine, metrics, warn)
    except BaseException:
        for source in sources:
            source.close()
        raise
    spool = None
    if isinstance(sink, EngineSink) and config.spool.enabled:
        spool = Spool(config.spool_dir, config.spool.max_mb << 20)
        spooled.append(spool)
    if config.metrics.port is not None:
        metrics.serve(config.metrics.port)
    return Pipeline(
        sources,
        normalizer,
        sink,
        dead_letters,
        spool=spool,
        config=config.pipeline,
        metrics=metrics,
    )


def _sources(
    config: ShipperConfig, metrics: ShipperMetrics, stdin: BinaryIO | None, warn: Warn
) -> list[Source]:
    inputs, max_line_bytes = config.inputs, config.normalize.max_line_bytes
    sources: list[Source] = []
    if inputs.files is not None:
        files = FileSource(
            inputs.files.paths,
            Registry(config.registry_path),
            max_line_bytes=max_line_bytes,
            follow=inputs.files.follow,
        )
        metrics.bytes_behind.set_function(lambda: files.bytes_behind)
        sources.append(files)
    if inputs.stdin:
        sources.append(StdinSource(max_line_bytes=max_line_bytes, stream=stdin))
    forward = inputs.forward
    if forward is not None:
        shared_key = load_shared_key(forward.shared_key_file, env=forward.shared_key_env)
        try:
            settings = forward.settings(shared_key, load_users(forward.users_file))
        except ValueError as exc:
            raise ConfigError(f"inputs.forward: {exc}") from None
        if warning := exposure_warning(parse_listen_url(forward.listen)[0], settings):
            warn(warning)
        from shipper.sources.forward import ForwardSource

        sources.append(ForwardSource(forward.listen, settings, metrics))
    return sources


def _otlp_sources(
    config: ShipperConfig, metrics: ShipperMetrics, congested: Callable[[], bool], warn: Warn
) -> list[Source]:
    """The OTLP receivers (HTTP and gRPC), sharing one set of metrics; each loads its own secrets."""
    receivers: list[Source] = []
    if not config.inputs.otlp:
        return receivers
    from shipper.sources.otlp_auth import Authenticator, load_token
    from shipper.sources.otlp_auth import load_users as load_otlp_users
    from shipper.sources.otlp_grpc import OtlpGrpcSource
    from shipper.sources.otlp_http import OtlpHttpSource
    from shipper.sources.otlp_intake import OtlpMetrics
    from shipper.sources.otlp_settings import exposure_warning as otlp_exposure_warning
    from shipper.sources.otlp_settings import parse_otlp_url

    otlp_metrics = OtlpMetrics(metrics.registry)
    try:
        for settings in config.inputs.otlp:
            auth = Authenticator(
                load_token(settings.token_file, settings.token_env), load_otlp_users(settings.users_file)
            )
            if warning := otlp_exposure_warning(settings.listen, settings, auth.required):
                warn(warning)
            kind = OtlpHttpSource if parse_otlp_url(settings.listen)[0] == "http" else OtlpGrpcSource
            receivers.append(kind(settings, otlp_metrics, auth, config.normalize.max_line_bytes, congested))
    except BaseException:
        for receiver in receivers:
            receiver.close()
        raise
    return receivers


def _nearly_full(spooled: list[Spool], config: ShipperConfig) -> bool:
    """Whether the spool could not take one more batch: OTLP receivers then answer 503."""
    return bool(spooled) and spooled[0].size + config.pipeline.batch_bytes > spooled[0].max_bytes


def _sink(
    config: ShipperConfig, engine: Engine | Callable[[], Engine] | None, metrics: ShipperMetrics, warn: Warn
) -> Sink:
    output = config.output
    if output.to.startswith("file:"):
        return FileSink(Path(output.to[5:]))
    if output.to.startswith("fluent://"):
        from shipper.sinks.fluent import FluentSink

        shared_key: SecretStr | None = load_shared_key(output.shared_key_file, env=output.shared_key_env)
        return FluentSink(output.to, retry_budget=output.retry_seconds, shared_key=shared_key)
    namespace = config.normalize.namespace
    target = engine if engine is not None else _connector(config, warn)

    def ready() -> Engine:
        connected = target if isinstance(target, Engine) else target()
        if output.setup:
            run_setup(connected, SetupConfig(namespace=namespace))
        return connected

    try:
        usable: Engine | Callable[[], Engine] = ready()
    except EngineUnreachable as exc:
        warn(f"{exc}; reading on, events wait until it answers")
        usable = ready
    latency = metrics.bulk_latency.observe
    return EngineSink(usable, namespace=namespace, retry_budget=output.retry_seconds, on_latency=latency)


def _connector(config: ShipperConfig, warn: Warn) -> Callable[[], Engine]:
    output = config.output
    kind = None if output.to == "engine" else output.to
    settings = load_settings(url=output.url, engine=kind, insecure=output.insecure)  # type: ignore[arg-type]
    if output.insecure:
        warn("TLS certificate verification is off (--insecure)")  # output.insecure in a config
    return lambda: Engine.connect(settings)
