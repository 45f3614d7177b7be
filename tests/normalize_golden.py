"""The normalizer's golden inputs, and the digests of what it made of them (in tests/data/).

The documents are pinned byte for byte (`orjson.dumps`), with their event ids, kinds and every rejection's
reason, for: every example file and recorded OTLP export, a list of edge cases (features, timestamps,
redaction, limits, bad input; as lines and as decoded dicts) under each content policy and tight limits,
3,000 events of the shipping benchmark's input and 1,000 lines of the normalize benchmark's mix.
A change that should leave every document as it was (a faster normalizer) must keep them equal; a change
that means to alter documents regenerates the file, from the tree whose documents are the reference
(PYTHONPATH=<its checkout> to take its packages while running this script):

    .venv/bin/python tests/normalize_golden.py
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the repository's packages (after PYTHONPATH's)
    sys.path.append(str(ROOT))

from benchmarks.normalize import generate  # noqa: E402
from benchmarks.ship_events import write_events  # noqa: E402
from shipper.normalizer import NormalizeConfig, Normalizer  # noqa: E402
from shipper.records import Origin  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "normalize_golden.json.gz"
EXAMPLES = ROOT / "shipper" / "examples"
MAPPINGS = EXAMPLES / "mappings"
OTLP_RECORDINGS = ROOT / "tests" / "data" / "otlp"
SECRET = "My card 4111 1111 1111 1111 was charged twice, please email me at jane.doe@example.com. "


class _Name(str):
    """A str subclass, as a producer's own key type would be: not a plain feature name."""


def _ts(i: int) -> str:
    return f"2026-12-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"


PROMPTS = [
    SECRET,
    "write to foo.bar+baz@sub.example.co.uk or x@@y.com or @example.com or user@localhost, a@b.c",
    "cards 5500-0000-0000-0004 and 4111111111111111 and 12 4111 1111 1111 1111 34; id 1234567",
    "call +49 30 1234567 or (030) 123-4567 or 555-123-4567; not 2024-01-02, 10.0.0.1, 1999 - 2024",
    "Größe 4111 1111 1111 1111 ☎ +49 30 1234567, mail jörg@example.com",
    "keys sk-abcdefghijklmnopqrstuvwx AKIAABCDEFGHIJKLMNOP password=hunter2 Bearer abcdefghijklmnop",
    "postgres://admin:s3cret@db.internal:5432/app and https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX",
    "a run AbCdEfGhIjKlMnOpQrStUv but nothing else, six digits 123 456",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and token: 'abc' api_key=${KEY}",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- then eyJhbGc.eyJzdWI.sig",
    "plain text with no secret at all, just words and punctuation: (see above).",
    "x" * 1500 + " jane@example.com " + "4111 1111 1111 1111",
]
TIMES: list[Any] = [
    "2024-02-29T10:00:00Z",
    "2023-02-29T10:00:00Z",
    "2026-04-31T00:00:00.5Z",
    "2026-04-30T23:59:59.123456789Z",
    "2026-12-01T10:00:00.1234567890Z",
    "2026-12-01T10:00:00+02:00",
    "2026-12-01 10:00:00",
    "2026-12-01T10:00:00",
    "２０２６-12-01T10:00:00Z",
    "1733000000.5",
    1733000000,
    1733000000123,
    1733000000123456789,
    "yesterday",
    -1e20,
]


def edge_records() -> list[dict[str, Any]]:
    """Records that take the less common paths (each a JSON object)."""
    records: list[dict[str, Any]] = []
    for i, ts in enumerate(TIMES):
        records.append({"type": "inference", "ts": ts, "model": "m", "prediction": i})
    features: list[Any] = [
        {"a": 1.5, "b": "x", "c": True, "d": 3},
        {"a.b": 1, "": 2, "c": None, "d": {"e": 1}, "f": [1], "g": 2**63, "h": -(2**63), "i": 2**63 - 1},
        {f"f{k:03d}": k * 0.5 for k in range(260)},
        {"z": 1, "y": 2, "x.w": 3, "v": 1e308},
        [1, 2],
        "not a map",
        {},
    ]
    for i, values in enumerate(features):
        records.append({"type": "inference", "ts": _ts(i), "model": {"name": "m"}, "features": values})
    for i, prompt in enumerate(PROMPTS):
        records.append(
            {
                "type": "inference",
                "ts": _ts(i),
                "service": "bot",
                "latency_ms": [12, 12.5, "7", -1, 1e13, True, None, "x", 0, 9.2e12 - 1, 0.0000004, 2.5][i],
                "llm": {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "prompt": [{"role": "user", "content": prompt}] if i % 2 else prompt,
                    "completion": prompt[::-1],
                    "guardrail": {"action": "blocked" if i == 3 else "allowed"},
                },
                "error": {"type": "E", "message": prompt} if i % 3 == 0 else None,
                "message": f"request from {prompt[:60]}",
                "labels": {"mlsiem_truncated": "forged", "a.b": 1, "ok": "yes", "bad": [1]},
            }
        )
    records += [
        {"type": "pipeline", "ts": _ts(1), "action": "model_deployed", "actor": "alice", "approved": "yes"},
        {"type": "pipeline", "ts": _ts(2), "action": "Bad Action", "model": "m"},
        {"type": "inference", "ts": _ts(3), "duration_ns": 1500, "http": {"status_code": "200"}},
        {"type": "inference", "ts": _ts(4), "latency_ms": 3.5, "duration_ms": 9, "http": "x", "llm": 5},
        {"type": "inference", "ts": _ts(5), "id": "own-id", "model": 7, "user": {"id": 5, "name": "u"}},
        {"type": "inference", "ts": _ts(6), "id": "i" * 300, "outcome": "FAILURE", "tags": ["a", 1]},
        {"type": "other", "ts": _ts(7)},
        {"type": "inference"},
        {"something": "else"},
    ]
    return records


def edge_lines() -> list[bytes]:
    """The edge records as lines, and lines that are not usable records."""
    lines = [orjson.dumps(record) for record in edge_records()]
    deep = b'{"type":"inference","ts":"2026-12-01T10:00:00Z","x":' + b"[" * 70 + b"]" * 70 + b"}"
    wide = orjson.dumps({"type": "inference", "ts": _ts(1), **{f"k{i}": i for i in range(1100)}})
    long = orjson.dumps({"type": "inference", "ts": _ts(1), "message": "m" * 2000})
    return [
        *lines,
        deep,
        wide,
        long,
        b"",
        b"   ",
        b"{}",
        b"[1, 2]",
        b"not json",
        b'{"type": "inference", "ts": "2026-12-01T10:00:00Z", "message": "bad \xff\xfe bytes"}',
        '{"type": "inference", "ts": "2026-12-01T10:00:00Z", "message": "é ☎ \\ud800"}'.encode(),
    ]


def edge_dicts() -> list[dict[str, Any]]:
    """Records that arrive decoded (the SDK, forward maps): values no JSON text can hold."""
    nan, inf = float("nan"), float("inf")
    return [
        {"type": "inference", "ts": _ts(1), "features": {"a": nan, "b": inf, "c": -inf, "d": 1.0}},
        {"type": "inference", "ts": _ts(2), "features": {_Name("a"): 1, "b": 2}},
        {"type": "inference", "ts": _ts(3), "features": {1: 1, "b": 2}, "labels": {2: "x"}},
        {"type": "inference", "ts": _ts(4), "latency_ms": nan, "prediction": {"score": inf}},
        {"type": "inference", "ts": _ts(5), "llm": {"prompt": SECRET, "completion": SECRET}},
        {"type": "pipeline", "ts": _ts(6), "action": "model_deployed", "actor": {"name": "a"}},
    ]


TIGHT = {
    "max_line_bytes": 1024,
    "max_depth": 4,
    "max_fields": 16,
    "max_features": 5,
    "max_labels": 2,
    "max_string_chars": 1024,
}
FILE_ORIGIN = ("file:golden", "/var/log/golden.jsonl")


def _example_lines() -> list[bytes]:
    files = [EXAMPLES / name for name in ("native.jsonl", "litellm.jsonl", "otlp-genai.jsonl")]
    files += sorted(OTLP_RECORDINGS.glob("*.jsonl"))
    return [line for path in files for line in path.read_bytes().splitlines()]


def _benchmark_lines(folder: Path) -> list[bytes]:
    path = folder / "ship-events.ndjson"
    write_events(path, 3000)
    return path.read_bytes().splitlines()


def input_sets(folder: Path) -> Iterator[tuple[str, dict[str, Any], list[Any], bool]]:
    """(name, configuration, records, with a file origin) for every set; `folder` for scratch files."""
    examples = _example_lines()
    for policy in ("redacted", "full", "hash", "none"):
        yield f"examples-{policy}", {"content_policy": policy}, examples, True
    yield "examples-original", {"keep_original": True, "content_policy": "full"}, examples, True
    yield "examples-all-otlp", {"otlp_genai_only": False}, examples, False
    for name in ("classifier", "kserve"):
        lines = (MAPPINGS / f"{name}.jsonl").read_bytes().splitlines()
        yield f"mapping-{name}", {"mapping_file": MAPPINGS / f"{name}.yaml"}, lines, True
    edges = edge_lines()
    for policy in ("redacted", "full", "hash", "none"):
        yield f"edge-{policy}", {"content_policy": policy}, edges, True
    yield "edge-original", {"keep_original": True}, edges, True
    yield "edge-tight", TIGHT, edges, True
    yield "edge-stdin", {}, edges, False
    yield "dicts", {}, edge_dicts(), True
    yield "dicts-tight", TIGHT, edge_dicts(), True
    yield "benchmark-ship", {}, _benchmark_lines(folder), True
    mixed = generate(1000)
    yield "benchmark-mixed", {"mapping_file": MAPPINGS / "classifier.yaml"}, mixed, True
    yield (
        "benchmark-mixed-full",
        {"mapping_file": MAPPINGS / "classifier.yaml", "content_policy": "full"},
        mixed,
        True,
    )


def digest(events: list[Any], rejected: list[Any]) -> str:
    """What one record became: kinds, ids and document bytes of its events, reasons and texts of its
    rejections (12 hex digits of a sha256)."""
    made = [(e.kind, e.event_id, orjson.dumps(e.document)) for e in events]
    kept = [(r.reason, r.raw, r.origin) for r in rejected]
    return hashlib.sha256(repr((made, kept)).encode("utf-8", "surrogatepass")).hexdigest()[:12]


def digests(folder: Path) -> dict[str, list[str]]:
    """Every set's records through a fresh normalizer, with byte offsets as a file source gives them."""
    result: dict[str, list[str]] = {}
    for name, config, records, file_origin in input_sets(folder):
        normalizer = Normalizer(NormalizeConfig(**config))
        source, path = FILE_ORIGIN if file_origin else ("stdin", None)
        offset = 0
        out = result[name] = []
        for record in records:
            origin = Origin(source, offset if file_origin else None, path)
            events, rejected = normalizer.normalize(record, origin)
            out.append(digest(events, rejected))
            offset += len(record) + 1 if isinstance(record, bytes) else 1
    return result


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        found = digests(Path(folder))
    GOLDEN.write_bytes(gzip.compress(json.dumps(found, indent=0).encode(), mtime=0))
    print(f"{GOLDEN}: {sum(map(len, found.values()))} records in {len(found)} sets")


if __name__ == "__main__":
    main()
