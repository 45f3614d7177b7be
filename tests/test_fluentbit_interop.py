"""The real Fluent Bit as the forward client of `--listen forward://` (the `tail-to-forward.conf` shape).

Fluent Bit tails a JSON-lines file and sends it with the forward protocol, acknowledgements on, into a
forward server whose pipeline ships into the real engine: raw lines (`{"log": line}`), parsed maps with
`Time_Keep On` and `Off` (Off moves the record's time into the entry's EventTime only), the shared-key
handshake with the right and a wrong key. Every record must reach the engine exactly once, and Fluent
Bit must count every record as sent without a retry (it counts a chunk only once it is acknowledged).

The binary is `../shared/peers/fluent-bit/fluent-bit` relative to the repository root, or the file
`MLSIEM_FLUENT_BIT` names; without it these tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from mlsiem.adapter import Engine
from mlsiem.indices import inference_stream
from mlsiem.installer import run_setup
from mlsiem.local_engine import free_port
from mlsiem.templates import SetupConfig
from shipper.deadletter import DeadLetterWriter
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.pipeline import Pipeline, PipelineConfig
from shipper.sinks.engine import EngineSink
from shipper.sources.forward import ForwardSource
from shipper.sources.forward_auth import ForwardSecurity
from shipper.sources.forward_settings import ForwardSettings
from tests.shipping import count, exactly_once, wait_for

ROOT = Path(__file__).resolve().parent.parent
FLUENT_BIT = Path(os.environ.get("MLSIEM_FLUENT_BIT") or ROOT.parent / "shared/peers/fluent-bit/fluent-bit")
pytestmark = pytest.mark.skipif(
    not FLUENT_BIT.is_file(), reason=f"no Fluent Bit binary at {FLUENT_BIT} (set MLSIEM_FLUENT_BIT)"
)
KEY = "fluent-interop-key"
PARSERS = """\
[PARSER]
    Name        json_keep
    Format      json
    Time_Key    ts
    Time_Format %Y-%m-%dT%H:%M:%S.%LZ
    Time_Keep   On

[PARSER]
    Name        json_nokeep
    Format      json
    Time_Key    ts
    Time_Format %Y-%m-%dT%H:%M:%S.%LZ
"""


def stamp(seq: int) -> str:
    return f"2026-11-25T10:{(seq // 60) % 60:02d}:{seq % 60:02d}.{seq % 1000:03d}Z"


def line(seq: int) -> str:
    """A native event whose `ts` has the milliseconds Fluent Bit's parser format asks for."""
    record = {
        "type": "inference",
        "ts": stamp(seq),
        "model": {"name": "credit-scorer", "version": "3", "type": "classification"},
        "features": {"seq": seq, "income": 40000 + seq % 1000},
        "prediction": {"label": "approve", "score": 0.5},
        "user": "alice",
    }
    return json.dumps(record)


def config(path: Path, port: int, http_port: int, parser: str | None, key: str | None) -> str:
    parser_line = f"    Parser         {parser}\n" if parser else ""
    auth = f"    Shared_Key           {key}\n    Self_Hostname        fluent-bit-host\n" if key else ""
    return f"""\
[SERVICE]
    Flush        0.2
    Log_Level    info
    Parsers_File parsers.conf
    HTTP_Server  On
    HTTP_Listen  127.0.0.1
    HTTP_Port    {http_port}

[INPUT]
    Name           tail
    Path           {path}
    Read_from_Head On
    Tag            ml.inference
    Mem_Buf_Limit  32MB
{parser_line}
[OUTPUT]
    Name                 forward
    Match                *
    Host                 127.0.0.1
    Port                 {port}
    Require_ack_response On
    Retry_Limit          no_limits
{auth}"""


class FluentBit:
    def __init__(self, process: subprocess.Popen, http_port: int, log: Path) -> None:
        self.process, self.http_port, self.log = process, http_port, log

    def output(self) -> dict:
        """The forward output's counters: `proc_records` counts records sent AND acknowledged."""
        url = f"http://127.0.0.1:{self.http_port}/api/v1/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())["output"]["forward.0"]
        except OSError:
            return {}


@pytest.fixture
def fluent_bit(tmp_path: Path) -> Iterator[Callable[..., FluentBit]]:
    """Starts Fluent Bit tailing a file of `lines` into the forward port; stops it afterwards."""
    started: list[FluentBit] = []

    def start(port: int, seqs: range, parser: str | None = None, key: str | None = None) -> FluentBit:
        work = tmp_path / f"fluent-bit-{len(started)}"
        work.mkdir()
        data = work / "events.jsonl"
        data.write_text("".join(line(seq) + "\n" for seq in seqs))
        (work / "parsers.conf").write_text(PARSERS)
        http_port = free_port()
        (work / "fluent-bit.conf").write_text(config(data, port, http_port, parser, key))
        log = work / "fluent-bit.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(FLUENT_BIT), "-c", "fluent-bit.conf"], cwd=work, stdout=out, stderr=subprocess.STDOUT
            )
        started.append(FluentBit(process, http_port, log))
        return started[-1]

    yield start
    for running in started:
        running.process.terminate()
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


@pytest.fixture
def serve(engine: Engine, namespace: str, tmp_path: Path) -> Iterator[Callable[..., ForwardSource]]:
    """A forward server shipping through a real pipeline into the engine."""
    run_setup(engine, SetupConfig(namespace=namespace))
    running: list[tuple[Pipeline, threading.Thread]] = []

    def start(settings: ForwardSettings | None = None) -> ForwardSource:
        source = ForwardSource("forward://127.0.0.1:0", settings)
        pipeline = Pipeline(
            [source],
            Normalizer(NormalizeConfig()),
            EngineSink(engine, namespace=namespace),
            DeadLetterWriter(tmp_path / "dead.ndjson"),
            config=PipelineConfig(flush_interval=0.2),
        )
        runner = threading.Thread(target=pipeline.run, daemon=True)
        runner.start()
        running.append((pipeline, runner))
        return source

    yield start
    for pipeline, runner in running:
        pipeline.stop()
        runner.join(timeout=30)
        assert not runner.is_alive()


def delivered_once(engine: Engine, namespace: str, client: FluentBit, seqs: range, tmp_path: Path) -> None:
    """Every record in the engine exactly once, none dead-lettered, all acknowledged without a retry."""
    wait_for(lambda: count(engine, namespace) >= len(seqs), timeout=90)
    wait_for(lambda: client.output().get("proc_records") == len(seqs), timeout=30)
    time.sleep(0.5)  # anything sent twice would arrive now
    assert count(engine, namespace) == len(seqs) and exactly_once(engine, namespace, seqs)
    assert not (tmp_path / "dead.ndjson").exists() or not (tmp_path / "dead.ndjson").read_text()
    output = client.output()
    assert output.get("retries", 0) == 0 and output.get("errors", 0) == 0, output


def timestamps(engine: Engine, namespace: str, seqs: range) -> dict[int, str]:
    stream = inference_stream(namespace)
    body = {"size": len(seqs), "_source": ["@timestamp", "mlsiem.features.seq"]}
    hits = engine.search(stream, body)["hits"]["hits"]
    return {int(h["_source"]["mlsiem"]["features"]["seq"]): h["_source"]["@timestamp"] for h in hits}


def test_raw_lines(
    serve: Callable, fluent_bit: Callable, engine: Engine, namespace: str, tmp_path: Path
) -> None:
    seqs = range(3000)
    client = fluent_bit(serve().port, seqs)
    delivered_once(engine, namespace, client, seqs, tmp_path)


@pytest.mark.parametrize("parser", ["json_keep", "json_nokeep"])
def test_parsed_maps_keep_their_time(
    parser: str, serve: Callable, fluent_bit: Callable, engine: Engine, namespace: str, tmp_path: Path
) -> None:
    """Time_Keep Off sends the time only as the entry's EventTime: it becomes the event's @timestamp."""
    seqs = range(2000)
    client = fluent_bit(serve().port, seqs, parser=parser)
    delivered_once(engine, namespace, client, seqs, tmp_path)
    got = timestamps(engine, namespace, range(0, 2000, 97))
    assert {seq: value[:23] for seq, value in got.items()} == {seq: stamp(seq)[:23] for seq in got}


def settings_with_key() -> ForwardSettings:
    return ForwardSettings(security=ForwardSecurity(shared_key=SecretStr(KEY), self_hostname="mlsiem"))


def test_shared_key(
    serve: Callable, fluent_bit: Callable, engine: Engine, namespace: str, tmp_path: Path
) -> None:
    seqs = range(1000)
    client = fluent_bit(serve(settings_with_key()).port, seqs, parser="json_keep", key=KEY)
    delivered_once(engine, namespace, client, seqs, tmp_path)


def test_a_wrong_shared_key_ships_nothing(
    serve: Callable, fluent_bit: Callable, engine: Engine, namespace: str
) -> None:
    source = serve(settings_with_key())
    client = fluent_bit(source.port, range(100), key="not-the-key")
    failures = "mlsiem_shipper_forward_auth_failures_total"
    wait_for(lambda: (source.metrics.registry.get_sample_value(failures) or 0) >= 1, timeout=60)
    time.sleep(1.0)
    assert count(engine, namespace) == 0
    assert client.output().get("proc_records", 0) == 0
