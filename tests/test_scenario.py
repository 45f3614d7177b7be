"""The demo scenario generator: reproducible files the shipper reads without a rejection, a clean
control period, every incident after it with the effect it is designed to have, and (on the real
engine) the Sigma pack firing on exactly the security and pipeline incidents."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from pydantic import ValidationError

from demo.scenario import MANIFEST_FILE, Manifest, ScenarioConfig, generate, write_scenario
from demo.scenario.attacks import MARKERS
from demo.scenario.catalogue import SPECS, plan
from demo.scenario.common import Emitted, streams
from demo.scenario.rules import DETECTOR, SIGMA
from demo.scenario.timeline import Timeline
from shipper.records import Normalized
from tests.normalizing import assert_conforms, get, normalize_lines

ROOT = Path(__file__).resolve().parent.parent
FORMATS = {
    "classifier.jsonl": "native",
    "pipeline.jsonl": "native",
    "litellm.jsonl": "litellm",
    "otlp.jsonl": "otlp",
}
KINDS = {spec.kind for spec in SPECS}


CONFIG = ScenarioConfig(seed=11, hours=2)  # the test-sized run the demo's test uses


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    directory = tmp_path_factory.mktemp("scenario")
    return directory, write_scenario(directory, CONFIG)


@pytest.fixture(scope="module")
def generated() -> tuple[Manifest, dict[str, list[Emitted]]]:
    """The same run again, in memory, with each line's incident (which the files do not show)."""
    return generate(CONFIG)


@pytest.fixture(scope="module")
def documents(scenario: tuple[Path, Manifest]) -> dict[str, list[Normalized]]:
    directory, _ = scenario
    out = {}
    for name in FORMATS:
        lines = (directory / name).read_bytes().splitlines()
        events, rejected = normalize_lines(lines, source=f"file:{name}", path=str(directory / name))
        assert rejected == [], f"{name}: {rejected[0].reason}"
        out[name] = events
    return out


def _time(document: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(document["@timestamp"].replace("Z", "+00:00"))


def _in(documents: list[Normalized], begin: datetime, end: datetime, **where: Any) -> list[dict[str, Any]]:
    return [
        e.document
        for e in documents
        if begin <= _time(e.document) < end
        and all(get(e.document, k.replace("__", ".")) == v for k, v in where.items())
    ]


# ------------------------------------------------------------------------------------ files


def test_same_seed_same_bytes_other_seed_other_data(
    scenario: tuple[Path, Manifest], generated: tuple[Manifest, dict[str, list[Emitted]]]
) -> None:
    directory, written = scenario
    again, files = generated
    for name, lines in files.items():
        assert (directory / name).read_bytes() == b"".join(
            orjson.dumps(line.record) + b"\n" for line in lines
        )
    assert again == written
    assert not list(directory.glob("*.partial"))
    other, other_files = generate(CONFIG.model_copy(update={"seed": 12}))
    assert [i.start for i in other.incidents] != [i.start for i in written.incidents]
    assert other_files["classifier.jsonl"][0].record != files["classifier.jsonl"][0].record


def test_every_line_normalizes_in_its_format_with_the_fields_detections_use(
    documents: dict[str, list[Normalized]], scenario: tuple[Path, Manifest]
) -> None:
    _, manifest = scenario
    for name, events in documents.items():
        assert_conforms(events)
        assert {e.document["mlsiem"]["source"]["format"] for e in events} == {FORMATS[name]}
        assert len(events) == manifest.files[name].events
        assert not [e for e in events if "malformed_fields" in e.document.get("labels", {})]

    classifier = [e.document for e in documents["classifier.jsonl"]]
    predictions = [d for d in classifier if get(d, "mlsiem.prediction.label")]
    assert all(
        get(d, "mlsiem.model.name") == "credit-scorer" and get(d, "mlsiem.model.version") for d in classifier
    )
    assert all(
        get(d, "mlsiem.features.income") and get(d, "mlsiem.features.employment_type") for d in predictions
    )
    assert all(get(d, "source.ip") and get(d, "user.name") and get(d, "event.duration") for d in classifier)
    assert {get(d, "mlsiem.prediction.label") for d in predictions} == {"good", "bad"}
    labelled = [d for d in predictions if get(d, "mlsiem.ground_truth.label")]
    assert 0.25 < len(labelled) / len(predictions) < 0.45  # the labelled share, minus labels not yet arrived
    failures = [d for d in classifier if get(d, "event.outcome") == "failure"]
    assert failures and all(
        get(d, "error.type") and get(d, "http.response.status_code") == 503 for d in failures
    )

    llm = [e.document for e in documents["litellm.jsonl"]]
    assert all(get(d, "gen_ai.request.model") and get(d, "source.ip") and get(d, "user.name") for d in llm)
    assert all(get(d, "mlsiem.llm.prompt_sha256") and get(d, "event.duration") is not None for d in llm)
    assert all(get(d, "mlsiem.llm.cost_usd") is not None for d in llm)
    assert {get(d, "mlsiem.llm.guardrail.action") for d in llm} >= {"allowed", "blocked"}
    assert {get(d, "http.response.status_code") for d in llm} >= {400, 401}

    spans = [e.document for e in documents["otlp.jsonl"]]
    assert {get(d, "gen_ai.operation.name") for d in spans} == {"chat", "embeddings", "execute_tool"}
    chats = [d for d in spans if get(d, "gen_ai.operation.name") == "chat"]
    assert all(get(d, "mlsiem.llm.prompt") and get(d, "source.ip") and get(d, "user.name") for d in chats)
    assert all(get(d, "service.name") == "support-assistant" for d in spans)

    pipeline = [e.document for e in documents["pipeline.jsonl"]]
    actions = Counter(get(d, "event.action") for d in pipeline)
    assert {"training_started", "data_validation_passed", "model_registered", "model_deployed"} <= set(
        actions
    )
    assert all(
        get(d, "mlsiem.deployment.approved") is not None
        for d in pipeline
        if get(d, "event.action") == "model_deployed"
    )


def _line_time(record: dict[str, Any]) -> float:
    if "ts" in record:
        return datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
    if "startTime" in record:
        return record["startTime"]
    return int(record["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"]) / 1e9


def test_files_are_time_ordered(scenario: tuple[Path, Manifest]) -> None:
    directory, manifest = scenario
    for name in FORMATS:
        times = [_line_time(orjson.loads(line)) for line in (directory / name).read_bytes().splitlines()]
        assert times == sorted(times), name
        assert (
            manifest.timeline.start.timestamp() <= times[0] and times[-1] < manifest.timeline.end.timestamp()
        )


# ------------------------------------------------------------------------------------ timeline


@pytest.mark.parametrize("hours", [1, 2, 6, 24, 72])
def test_every_incident_lies_after_the_control_period_inside_the_timeline(hours: float) -> None:
    config = ScenarioConfig(seed=5, hours=hours)
    timeline = Timeline.of(config.start, hours, 0.35, None)
    incidents = plan(timeline, streams(config.seed, "plan")["plan"])
    assert set(incidents) == KINDS
    control_end = datetime.fromtimestamp(timeline.control_end, tz=UTC)
    end = datetime.fromtimestamp(timeline.end, tz=UTC)
    assert control_end - config.start == timedelta(hours=hours * 10 / 24)
    for incident in incidents.values():
        assert control_end <= incident.start < incident.end <= end, incident.id
    # The classifier's distribution incidents never overlap: each gets its own windows.
    own = sorted(
        (i.start, i.end)
        for i in incidents.values()
        if i.kind
        in {
            "feature_drift",
            "multi_feature_drift",
            "prediction_drift",
            "performance_drop",
            "model_extraction",
        }
    )
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(own))
    # Drift, performance and operational incidents span two detector windows (slots).
    for incident in incidents.values():
        if incident.category in ("drift", "performance", "operational"):
            assert (incident.end - incident.start).total_seconds() >= 2 * timeline.slot_seconds - 1


def test_short_run_keeps_every_incident_with_its_events(scenario: tuple[Path, Manifest]) -> None:
    _, manifest = scenario
    assert {i.kind for i in manifest.incidents} == KINDS
    assert len({i.id for i in manifest.incidents}) == len(manifest.incidents)
    assert manifest.control.end <= min(i.start for i in manifest.incidents)
    assert all(i.event_count > 0 for i in manifest.incidents)
    assert manifest.detector_window_seconds == 300
    assert Manifest.read(scenario[0] / MANIFEST_FILE) == manifest


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ScenarioConfig(start=datetime(2025, 3, 3, 9))
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        ScenarioConfig(hours=0.5)
    with pytest.raises(ValidationError, match="extra"):
        ScenarioConfig(hour=2)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------ rules


def _sigma_pack() -> dict[str, str]:
    rules = {}
    for path in (ROOT / "sigma_rules").rglob("*.yml"):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and "id" in document:
                rules[str(document["id"])] = document.get("name", "")
    return rules


def test_expected_sigma_rules_exist_in_the_pack(scenario: tuple[Path, Manifest]) -> None:
    pack = _sigma_pack()
    for name, rule_id in SIGMA.items():
        assert pack.get(rule_id) == name, f"{name} ({rule_id}) is not in sigma_rules/"
    _, manifest = scenario
    for incident in manifest.incidents:
        for rule_id in incident.expected_rules + incident.related_rules:
            assert rule_id in pack or rule_id in DETECTOR, (incident.kind, rule_id)
        if incident.category in ("security", "pipeline"):
            assert all(rule_id in pack for rule_id in incident.expected_rules), incident.kind


def test_ordinary_traffic_carries_no_attack_marker(
    generated: tuple[Manifest, dict[str, list[Emitted]]],
) -> None:
    manifest, files = generated
    control_end = manifest.control.end.timestamp()
    attack_lines: Counter[str] = Counter()
    for name, lines in files.items():
        for line in lines:
            text = orjson.dumps(line.record).decode().lower()
            found = [m for m in MARKERS if m in text]
            if line.time < control_end:
                assert line.incident is None, (name, line.incident)
            if line.incident is None:
                assert not found, (name, found, text[:300])
                assert '"approved":false' not in text and "logging_config_changed" not in text
                assert '"error_code":"401"' not in text and '"error_code":"403"' not in text
            elif found:
                attack_lines[line.incident] += 1
    for kind in (
        "prompt_injection",
        "jailbreak",
        "system_prompt_extraction",
        "secrets_in_prompts",
        "denied_model_burst",
    ):
        assert attack_lines[kind] >= 3, kind


# ------------------------------------------------------------------------------------ effects


def test_drift_and_performance_incidents_have_their_designed_effect(
    documents: dict[str, list[Normalized]], scenario: tuple[Path, Manifest]
) -> None:
    _, manifest = scenario
    events = documents["classifier.jsonl"]
    control = _in(events, manifest.control.start, manifest.control.end, mlsiem__model__name="credit-scorer")

    def during(kind: str) -> list[dict[str, Any]]:
        incident = next(i for i in manifest.incidents if i.kind == kind)
        return _in(events, incident.start, incident.end)

    def values(docs: list[dict[str, Any]], field: str) -> np.ndarray:
        return np.array([v for d in docs if (v := get(d, field)) is not None], dtype=float)

    income = values(control, "mlsiem.features.income")
    shifted = values(during("feature_drift"), "mlsiem.features.income")
    assert 0.8 < (shifted.mean() - income.mean()) / income.std() < 1.2
    assert (
        abs(
            values(during("feature_drift"), "mlsiem.features.age").mean()
            - values(control, "mlsiem.features.age").mean()
        )
        < 1.5
    )

    multi = during("multi_feature_drift")
    assert "gig_platform" not in {get(d, "mlsiem.features.employment_type") for d in control}
    gig = [d for d in multi if get(d, "mlsiem.features.employment_type") == "gig_platform"]
    assert 0.15 < len(gig) / len(multi) < 0.35
    assert values(multi, "mlsiem.features.age").mean() < values(control, "mlsiem.features.age").mean() - 5
    assert (
        values(multi, "mlsiem.features.debt_to_income").mean()
        > values(control, "mlsiem.features.debt_to_income").mean() + 0.04
    )

    skew = during("prediction_drift")
    assert (
        values(skew, "mlsiem.prediction.score").mean()
        > values(control, "mlsiem.prediction.score").mean() + 0.12
    )
    assert (
        abs(
            values(skew, "mlsiem.features.credit_history_months").mean()
            - values(control, "mlsiem.features.credit_history_months").mean()
        )
        < 10
    )  # the log looks normal

    def accuracy(docs: list[dict[str, Any]]) -> tuple[float, int]:
        pairs = [(get(d, "mlsiem.prediction.label"), get(d, "mlsiem.ground_truth.label")) for d in docs]
        pairs = [p for p in pairs if p[1] is not None]
        return sum(p == t for p, t in pairs) / len(pairs), len(pairs)

    before, labelled_before = accuracy(control)
    after, labelled_after = accuracy(during("performance_drop"))
    assert 0.85 < before < 0.95 and labelled_before > 300
    assert 0.6 < after < 0.78 and labelled_after > 60
    assert (
        abs(
            values(during("performance_drop"), "mlsiem.prediction.score").mean()
            - values(control, "mlsiem.prediction.score").mean()
        )
        < 0.05
    )  # scores look as usual


def test_operational_incidents_have_their_designed_effect(
    documents: dict[str, list[Normalized]], scenario: tuple[Path, Manifest]
) -> None:
    _, manifest = scenario
    llm = documents["litellm.jsonl"]
    spike = manifest.incidents[[i.kind for i in manifest.incidents].index("latency_spike")]
    burst = manifest.incidents[[i.kind for i in manifest.incidents].index("error_burst")]

    def p95(docs: list[dict[str, Any]]) -> float:
        return float(np.percentile([d["event"]["duration"] for d in docs], 95))

    control = _in(llm, manifest.control.start, manifest.control.end, mlsiem__model__name="gpt-4o-mini")
    during = _in(llm, spike.start, spike.end, mlsiem__model__name="gpt-4o-mini")
    assert p95(during) / p95(control) > 3.2
    assert len(during) / 2 > 50  # calls per detector window (the detectors skip thinner windows)

    def error_rate(docs: list[dict[str, Any]]) -> float:
        return sum(d["event"]["outcome"] == "failure" for d in docs) / len(docs)

    scorer = documents["classifier.jsonl"]
    assert error_rate(_in(scorer, manifest.control.start, manifest.control.end)) < 0.01
    assert 0.2 < error_rate(_in(scorer, burst.start, burst.end)) < 0.4


def test_abuse_incidents_cross_their_rule_thresholds(
    documents: dict[str, list[Normalized]], scenario: tuple[Path, Manifest]
) -> None:
    _, manifest = scenario
    by_kind = {i.kind: i for i in manifest.incidents}
    extraction = by_kind["model_extraction"]
    probes = _in(
        documents["classifier.jsonl"],
        extraction.start,
        extraction.end,
        source__ip=extraction.entity["source.ip"],
    )
    assert len([d for d in probes if get(d, "mlsiem.prediction.label")]) >= 1000
    assert extraction.end - extraction.start <= timedelta(hours=1)
    # No ordinary caller comes near the extraction volume within an hour.
    ordinary = Counter(
        get(e.document, "source.ip")
        for e in documents["classifier.jsonl"]
        if _time(e.document) < manifest.control.end
    )
    assert max(ordinary.values()) < 400

    harvest = by_kind["cost_harvesting"]
    spend = _in(
        documents["litellm.jsonl"],
        harvest.start,
        harvest.end,
        user__name=harvest.entity["user.name"],
        source__ip=harvest.entity["source.ip"],
    )
    assert sum(get(d, "mlsiem.llm.cost_usd") for d in spend) >= 50
    assert harvest.end - harvest.start <= timedelta(hours=1)
    assert all(get(d, "mlsiem.llm.prompt_length") >= 8192 for d in spend)

    denied = by_kind["denied_model_burst"]
    refused = _in(
        documents["litellm.jsonl"],
        denied.start,
        denied.end,
        user__name=denied.entity["user.name"],
        http__response__status_code=401,
    )
    assert len(refused) >= 5 and denied.end - denied.start <= timedelta(minutes=9)
    assert len({get(d, "gen_ai.request.model") for d in refused}) >= 4

    pipeline = documents["pipeline.jsonl"]
    unapproved = [e.document for e in pipeline if get(e.document, "mlsiem.deployment.approved") is False]
    assert len(unapproved) == 1
    assert (
        by_kind["unapproved_deployment"].start <= _time(unapproved[0]) < by_kind["unapproved_deployment"].end
    )


# ------------------------------------------------------------------------------------ on the engine


def test_sigma_pack_fires_on_the_attacks_and_stays_quiet_otherwise(engine, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """The shortest timeline (one hour) through the shipper's normalizer into the real engine, and the
    whole Sigma pack over it: nothing in the control period, the meant rule on every security and
    pipeline incident's entity, and no alert that no incident explains."""
    from detections.sigma.executor import Executor
    from mlsiem.installer import SetupConfig, run_setup
    from shipper.sinks.base import encode
    from shipper.sinks.engine import EngineSink

    manifest, files = generate(ScenarioConfig(seed=11, hours=1))
    run_setup(engine, SetupConfig(namespace=namespace))
    sink = EngineSink(engine, namespace)
    for name, lines in files.items():
        events, rejected = normalize_lines(
            [orjson.dumps(line.record) for line in lines], source=f"file:{name}"
        )
        assert not rejected
        for i in range(0, len(events), 2000):
            assert not sink.send(encode(events[i : i + 2000])).rejected
    engine.refresh(f"logs-mlsiem.*-{namespace}")

    found = Executor(engine).run(
        namespace, manifest.timeline.start, manifest.timeline.end + timedelta(seconds=1)
    )
    assert not found.errors, found.errors
    assert [(h.rule.name, h.group) for h in found.hits if h.last_seen < manifest.control.end] == []

    def matches(hit, incident) -> bool:  # type: ignore[no-untyped-def]
        shared = set(hit.group) & set(incident.entity)
        return bool(shared) and all(hit.group[k] == incident.entity[k] for k in shared)

    def overlaps(hit, incident) -> bool:  # type: ignore[no-untyped-def]
        return hit.first_seen <= incident.end and hit.last_seen >= incident.start

    for incident in manifest.incidents:
        if incident.category in ("security", "pipeline"):
            hits = [h for h in found.hits if h.rule.id in incident.expected_rules and matches(h, incident)]
            assert [h for h in hits if overlaps(h, incident)], (
                f"{incident.kind}: no {incident.expected_rule_names}"
            )
    for hit in found.hits:
        owners = [
            i
            for i in manifest.incidents
            if hit.rule.id in i.expected_rules + i.related_rules and matches(hit, i) and overlaps(hit, i)
        ]
        assert owners, f"unexplained hit: {hit.rule.name} {hit.group} at {hit.first_seen}"
