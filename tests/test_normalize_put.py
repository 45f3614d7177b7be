"""The dotted-path setter, the compiled field tables and the format registry."""

from __future__ import annotations

import pytest

from shipper.formats.auto import detector
from shipper.formats.registry import FORMAT_HELP, FORMAT_NAMES, FORMATS, claimed_names
from shipper.normalize.put import INT, LIST, LONG, STR, at, choice, first, put, table, truthy
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin


def test_put_nests_and_notes_unfit_values() -> None:
    doc: dict = {"event": {"kind": "event"}}
    bad: list[str] = []
    put(doc, "gen_ai.usage.input_tokens", "12", INT, bad)
    put(doc, "event.duration", 5, LONG, bad)
    put(doc, "gen_ai.usage.output_tokens", 2**31, INT, bad)  # beyond an ECS integer
    put(doc, "user.name", None, STR, bad)  # absent: no object, no note
    assert doc == {"event": {"kind": "event", "duration": 5}, "gen_ai": {"usage": {"input_tokens": 12}}}
    assert bad == ["gen_ai.usage.output_tokens"]


def test_table_copies_in_row_order_without_empty_objects() -> None:
    copy = table(
        (at("user", "id"), "user.id", STR),
        (at("user", "name", short=True), "user.name", STR),
        ("team", "user.group.name", STR),
        (first("input_tokens", "prompt_tokens"), "gen_ai.usage.input_tokens", INT),
        (truthy("end_user", at("meta", "end_user")), "labels.end_user", STR),
        ("tags", "tags", LIST),
        ("outcome", "event.outcome", choice(frozenset({"success", "failure"}))),
    )
    doc: dict = {"event": {"kind": "event"}}
    bad: list[str] = []
    record = {
        "user": "alice",
        "team": "fraud",
        "input_tokens": None,
        "prompt_tokens": 7,
        "end_user": "",
        "meta": {"end_user": "bob"},
        "tags": [1, "a", {}],
        "outcome": "FAILURE",
    }
    copy(record, doc, bad)
    assert doc == {
        "event": {"kind": "event", "outcome": "failure"},
        "user": {"name": "alice", "group": {"name": "fraud"}},
        "gen_ai": {"usage": {"input_tokens": 7}},
        "labels": {"end_user": "bob"},
        "tags": ["1", "a"],
    }
    assert list(doc) == ["event", "user", "gen_ai", "labels", "tags"]
    assert bad == []

    doc, bad = {"event": {}}, []
    unfit = {"user": {"id": ["x"], "name": "carol"}, "prompt_tokens": -1, "outcome": "maybe", "tags": {}}
    copy(unfit, doc, bad)
    assert doc == {"event": {}, "user": {"name": "carol"}}
    assert bad == ["user.id", "gen_ai.usage.input_tokens", "tags", "event.outcome"]


def test_table_reads_an_object_member_only_from_an_object() -> None:
    copy = table((at("service", "version"), "service.version", STR))
    doc: dict = {}
    bad: list[str] = []
    copy({"service": "billing"}, doc, bad)  # the short form names the service, not its version
    assert doc == {} and bad == []


def test_registry_drives_names_help_and_detection() -> None:
    names = [f.name for f in FORMATS]
    assert ("auto", *names) == FORMAT_NAMES
    assert all(f"{name}: " in FORMAT_HELP for name in names)
    assert claimed_names() == "native, otlp, litellm or ecs"
    detect = detector(names)
    both = {"resourceSpans": [], "type": "inference", "call_type": "completion", "startTime": 1}
    assert detect(both) == "otlp"  # the most specific claim wins, whatever the registry's order
    assert detect({"call_type": "completion", "response_cost": 0.1, "type": "pipeline"}) == "litellm"
    assert detect({"anything": 1}) == "mapping"
    assert detector([n for n in names if n != "mapping"])({"anything": 1}) is None


def test_config_accepts_exactly_the_registered_names() -> None:
    for name in FORMAT_NAMES:
        if name != "mapping":
            assert NormalizeConfig(format=name).format == name
    with pytest.raises(ValueError, match="Input should be 'auto', 'native'"):
        NormalizeConfig(format="csv")


def test_unrecognised_record_names_the_claiming_formats() -> None:
    _, rejected = Normalizer().normalize(b'{"hello": 1}', Origin("file:x", 0, "/x"))
    assert rejected[0].reason == (
        "format not recognised (keys: hello): not native, otlp, litellm or ecs; give a mapping file "
        "(--mapping) for other JSON logs"
    )
