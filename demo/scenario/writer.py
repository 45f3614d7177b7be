"""`write_scenario`: generate every service's telemetry, write the files and the manifest.

Files are UTF-8 JSON lines in time order (ties keep generation order), written compactly in each
record's own key order: together with the seeded streams, that makes two runs with one seed
byte-identical.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

from demo.scenario import agent, classifier, llm_proxy, pipeline, population
from demo.scenario.catalogue import FILE_CLASSIFIER, FILE_LITELLM, FILE_OTLP, FILE_PIPELINE, plan
from demo.scenario.common import Emitted, streams
from demo.scenario.config import ScenarioConfig
from demo.scenario.manifest import FileFormat, FileSummary, Manifest, Period
from demo.scenario.timeline import Timeline
from mlsiem.errors import ConfigError

GENERATOR_VERSION = "1"
MANIFEST_FILE = "incidents.json"
FORMATS: dict[str, FileFormat] = {
    FILE_CLASSIFIER: "native",
    FILE_PIPELINE: "native",
    FILE_LITELLM: "litellm",
    FILE_OTLP: "otlp",
}


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(round(epoch, 6), tz=UTC)


def generate(config: ScenarioConfig) -> tuple[Manifest, dict[str, list[Emitted]]]:
    """Every file's lines (time-ordered) and the manifest, without touching the disk."""
    timeline = Timeline.of(config.start, config.hours, config.rates.daily_amplitude, config.peak_hour_utc)
    rng = streams(config.seed, "plan", "population", "classifier", "llm", "agent", "pipeline")
    incidents = plan(timeline, rng["plan"])
    people = population.build(rng["population"])
    files = {
        FILE_CLASSIFIER: classifier.generate(rng["classifier"], config, timeline, people, incidents),
        FILE_PIPELINE: pipeline.generate(rng["pipeline"], config, timeline, incidents),
        FILE_LITELLM: llm_proxy.generate(rng["llm"], config, timeline, people, incidents),
        FILE_OTLP: agent.generate(rng["agent"], config, timeline, people, incidents),
    }
    per_incident: Counter[str] = Counter()
    for lines in files.values():
        lines.sort(key=lambda line: line.time)
        for line in lines:
            if line.incident is not None:
                per_incident[line.incident] += line.events
    for incident in incidents.values():
        incident.event_count = per_incident[incident.kind]
    manifest = Manifest(
        generator_version=GENERATOR_VERSION,
        seed=config.seed,
        hours=config.hours,
        timeline=Period(start=_utc(timeline.start), end=_utc(timeline.end)),
        control=Period(start=_utc(timeline.start), end=_utc(timeline.control_end)),
        detector_window_seconds=round(timeline.slot_seconds),
        incidents=sorted(incidents.values(), key=lambda incident: incident.start),
        files={
            name: FileSummary(
                format=FORMATS[name], lines=len(lines), events=sum(line.events for line in lines)
            )
            for name, lines in files.items()
        },
        planted_secrets=sorted(
            {secret for lines in files.values() for line in lines for secret in line.secrets}
        ),
    )
    return manifest, files


def write_scenario(directory: Path, config: ScenarioConfig | None = None) -> Manifest:
    """Write classifier.jsonl, pipeline.jsonl, litellm.jsonl, otlp.jsonl and incidents.json into
    `directory` (created if needed; existing files of these names are replaced)."""
    config = config or ScenarioConfig()
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"scenario directory {directory}: cannot create it ({exc.strerror})") from None
    manifest, files = generate(config)
    for name, lines in files.items():
        _write(directory / name, b"".join(orjson.dumps(line.record) + b"\n" for line in lines))
    _write(directory / MANIFEST_FILE, (manifest.model_dump_json(indent=2) + "\n").encode())
    return manifest


def _write(path: Path, data: bytes) -> None:
    """Whole file or nothing: a reader never sees half a scenario file."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        raise ConfigError(f"scenario file {path}: cannot write it ({exc.strerror})") from None
